// Deep inputs: the engine's limits must stop them before cedar's recursive parser/evaluator can overflow the wasm
// stack; and when a bundle raises its limits far enough to overflow anyway, the trap must surface as a
// PrivetError and never poison another engine.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { Privet, PrivetError } from '../index.js';
import { packBundle } from './pack.js';

const schema = {
  name: 'schema.cedarschema',
  text: `entity Consumer = { gpc: Bool, n: Long };
entity Recipient;
action sell appliesTo { principal: [Recipient], resource: [Consumer], context: { purpose: String } };
`,
};
const entities = {
  name: 'entities.json',
  text: JSON.stringify([
    { uid: { type: 'Consumer', id: 'bob' }, attrs: { gpc: false, n: 1 }, parents: [] },
    { uid: { type: 'Recipient', id: 'adco' }, attrs: {}, parents: [] },
  ]),
};
const request = {
  principal: 'Recipient::"adco"',
  action: 'Action::"sell"',
  resource: 'Consumer::"bob"',
  context: { purpose: 'ads' },
};

const nested = (depth) => `${'('.repeat(depth)}resource.n == 1${')'.repeat(depth)}`;
const chained = (terms) => Array.from({ length: terms }, () => 'resource.n == 1').join(' && ');
const bundleWith = (condition, limits = null) =>
  packBundle({
    manifest: limits && { name: 'privet.toml', text: `[limits]\n${Object.entries(limits).map(([k, v]) => `${k} = ${v}`).join('\n')}\n` },
    schema,
    policies: [{ name: 'p.cedar', text: `@id("deep")\n@citation("Test")\npermit (principal, action, resource) when { ${condition} };\n` }],
    entities,
  });

/** The largest n for which `make(n)` still loads under the default limits (the rest is refused at load). */
async function deepestAccepted(make, hi) {
  let lo = 0;
  while (lo < hi) {
    const mid = Math.floor((lo + hi + 1) / 2);
    const ok = await Privet.load(bundleWith(make(mid))).then(
      () => true,
      (e) => {
        assert.equal(e.code, 'limit_exceeded', e.message);
        return false;
      },
    );
    if (ok) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

// The engine's default limits must sit below the point where cedar overflows a wasm host's stack (in V8 the
// native stack, about 1 MB: ~106 chained terms at decide time, ~390 nested parentheses at load). The deepest
// policies the defaults admit must load and decide without trapping.
test('the deepest policies the default limits admit decide without trapping', async () => {
  const limits = (await Privet.load(bundleWith('true'))).info().limits;
  const cases = [
    ['nested', nested, await deepestAccepted(nested, 4 * limits.max_policy_nesting)],
    ['chained', chained, await deepestAccepted(chained, 4 * limits.max_expression_depth)],
  ];
  for (const [name, make, n] of cases) {
    assert.ok(n > 0, `${name}: nothing accepted`);
    const engine = await Privet.load(bundleWith(make(n)));
    const d = engine.decide(request);
    assert.equal(d.decision, 'allow', `${name}(${n}): ${JSON.stringify(d.errors)}`);
    assert.equal(engine.restarts, 0);
  }
});

test('policies past the default limits are refused with limit_exceeded, located', async () => {
  for (const cond of [nested(200), chained(5000)]) {
    await assert.rejects(Privet.load(bundleWith(cond)), (e) => {
      assert.ok(e instanceof PrivetError);
      assert.equal(e.code, 'limit_exceeded', e.message);
      assert.ok(e.errors.some((x) => x.path === 'p.cedar' || x.line !== undefined), JSON.stringify(e.errors));
      return true;
    });
  }
});

test('deeply nested request JSON is a limit_exceeded deny, not a trap', async () => {
  const engine = await Privet.load(bundleWith('true'));
  const deep = `${'{"a":'.repeat(100000)}1${'}'.repeat(100000)}`;
  const d = engine.decide(`{"principal":"Recipient::\\"adco\\"","action":"Action::\\"sell\\"","resource":"Consumer::\\"bob\\"","context":${deep}}`);
  assert.equal(d.decision, 'deny');
  assert.equal(d.errors[0].code, 'limit_exceeded');
  assert.equal(engine.restarts, 0);
  assert.equal(engine.decide(request).decision, 'allow');
});

test('a bundle that raises its limits far enough traps the guest: PrivetError host_failure, others unaffected', async () => {
  const healthy = await Privet.load(bundleWith('true'));
  const raised = { max_policy_nesting: 1000000, max_expression_depth: 1000000 };
  await assert.rejects(Privet.load(bundleWith(nested(PROBE_DEPTH), raised)), (e) => {
    assert.ok(e instanceof PrivetError, String(e));
    assert.equal(e.code, 'host_failure', e.message);
    return true;
  });
  assert.equal(healthy.decide(request).decision, 'allow');
  assert.equal(healthy.restarts, 0);
});

// Deep enough to overflow the 4 MiB wasm stack in cedar's parser (measured: see ABI.md, "Traps").
const PROBE_DEPTH = 20000;

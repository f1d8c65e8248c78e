// node --test: ABI 1.1's compact decisions. An engine on the compact exports (the default with a 1.1 module;
// held to them here with a 1.2 module, whose packed decisions packed.test.js checks) returns exactly the decisions of an engine held to the ABI 1.0 exports (same keys in the same order, same
// values, fresh objects), on the CPRA pack's demo requests, on requests that come back with errors, on the
// whole conformance corpus, per call and in batches, and after a trap rebuilt the instance. The CPRA pack is
// the corpus's bundle.privet (scripts/test-js.sh generates the corpus when missing).
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { Privet, compile } from '../index.js';
import { packBundle } from './pack.js';
import {
  FORCE_ABI_10, FORCE_ABI_11, DECIDE_FORM, INJECT_TRAP, wasmBytes, cpra, demo, corpusRequests, assertSame,
} from './abi-forms.js';

const decoder = new TextDecoder();

/** Two engines on the same module and bundle: the default one and one held to the 1.0 exports. */
async function engines() {
  const bundle = await cpra();
  const module = await compile(wasmBytes);
  const compact = await Privet.load(bundle, { wasm: module, [FORCE_ABI_11]: true });
  const full = await Privet.load(bundle, { wasm: module, [FORCE_ABI_10]: true });
  assert.equal(compact[DECIDE_FORM](), 'compact');
  assert.equal(full[DECIDE_FORM](), 'full');
  return { compact, full };
}

/** Requests that come back as denies with errors, made from the first demo request. */
function errorRequests() {
  const base = JSON.parse(demo[0]);
  const w = (f) => {
    const v = structuredClone(base);
    f(v);
    return v;
  };
  let deep = 1;
  for (let i = 0; i < 100; i++) deep = { a: deep };
  return [
    '{"id": "malformed", "principal": ',
    '[1, 2]',
    '',
    w((v) => (v.principal = 'Cpra::Nope::"x"')),
    w((v) => (v.action = 'Cpra::Action::"teleport"')),
    w((v) => (v.context.gpc = 'yes')),
    w((v) => (v.resource = 'Cpra::Record::"nobody"')),
    w((v) => (v.context.deep = deep)),
    w((v) => {
      v.id = { nested: [1, null, 'ünï 🙂'] };
      v.entities = 'not an array';
    }),
  ];
}

test('compact decisions equal the 1.0 ones on the demo requests and on requests with errors', async () => {
  const { compact, full } = await engines();
  const errors = errorRequests();
  let obligations = 0;
  for (const r of [...demo, ...errors]) {
    const c = compact.decide(r);
    assertSame(c, full.decide(r), `request ${typeof r === 'string' ? r : JSON.stringify(r)}`);
    obligations += c.obligations.length;
    assert.equal(c.bundle, compact.hash);
  }
  assert.ok(obligations > 0, 'the demo requests reach policies with obligations');
  for (const r of errors) {
    const c = compact.decide(r);
    assert.equal(c.decision, 'deny');
    assert.ok(c.errors.length > 0, JSON.stringify(c));
  }
  // Objects, JSON text, bytes: the same decisions.
  for (const r of demo.slice(0, 3)) {
    const want = full.decide(r);
    assertSame(compact.decide(JSON.parse(r)), want, 'object form');
    assertSame(compact.decide(new TextEncoder().encode(r)), want, 'bytes');
  }
  // Batches: as objects, as text, and batches that fail as a whole.
  const objects = [...demo.map((l) => JSON.parse(l)), ...errors.filter((e) => typeof e !== 'string')];
  assertSame(compact.decideBatch(objects), full.decideBatch(objects), 'batch');
  assertSame(compact.decideBatch(`[${demo.join(',')}]`), full.decideBatch(`[${demo.join(',')}]`), 'batch text');
  for (const bad of ['not an array', '[1, {"principal": ', '{}', '']) {
    assertSame(compact.decideBatch(bad), full.decideBatch(bad), `batch ${bad}`);
  }
});

test('every decision owns its objects: policies are copied, not shared', async () => {
  const { compact } = await engines();
  const a = compact.decide(demo[0]);
  const b = compact.decide(demo[0]);
  assert.ok(a.determining.length > 0);
  assert.notEqual(a.determining[0], b.determining[0]);
  a.determining[0].citation = 'changed';
  if (a.obligations.length > 0) a.obligations[0].kind = 'changed';
  const c = compact.decide(demo[0]);
  assertSame(c, b, 'a mutated decision does not leak into later ones');
});

test('compact decisions equal the 1.0 ones on the whole conformance corpus', async () => {
  const { compact, full } = await engines();
  const lines = await corpusRequests();
  assert.ok(lines.length >= 10000, `${lines.length} lines`);
  let mismatches = 0;
  let first = '';
  for (const line of lines) {
    const c = compact.decide(line);
    const f = full.decide(line);
    if (JSON.stringify(c) !== JSON.stringify(f)) {
      mismatches += 1;
      first ||= `request ${decoder.decode(line).slice(0, 300)}\n  compact ${JSON.stringify(c)}\n  full    ${JSON.stringify(f)}`;
    }
  }
  assert.equal(mismatches, 0, first);
  // Batches of 500 of the lines that parse (a batch is decided as a whole, the corpus test checks the rest).
  const valid = lines.filter((l) => {
    try {
      JSON.parse(decoder.decode(l));
      return true;
    } catch {
      return false;
    }
  });
  for (let i = 0; i < valid.length; i += 500) {
    const batch = `[${valid.slice(i, i + 500).map((l) => decoder.decode(l)).join(',')}]`;
    const c = compact.decideBatch(batch);
    const f = full.decideBatch(batch);
    if (JSON.stringify(c) !== JSON.stringify(f)) assert.fail(`batch at ${i}: compact and 1.0 decisions differ`);
  }
});

test('inputs written straight into guest memory: non-ASCII, lone surrogates, large and growing inputs', async () => {
  const { compact, full } = await engines();
  const base = JSON.parse(demo[0]);
  const cases = [
    { ...base, id: 'ünïcödé 🙂 中文' },
    { ...base, id: 'lone \ud800 surrogate \udfff' },
    { ...base, id: 'x'.repeat(5000) }, // grows the reusable buffer
    { ...base, id: 'y'.repeat(400 * 1024) }, // over the reusable buffer's limit once encoded (3 bytes per unit)
    { ...base, id: 'small again' },
  ];
  for (const r of cases) {
    const c = compact.decide(r);
    assertSame(c, full.decide(r), `id of ${String(r.id).length} units`);
    assert.equal(c.id, full.decide(JSON.stringify(r)).id);
  }
  const big = Array.from({ length: 3000 }, (_, i) => ({ ...base, id: `big-${i}` }));
  const c = compact.decideBatch(big);
  assert.equal(c.length, big.length);
  assertSame(c, full.decideBatch(big), 'a batch of several MB');
});

test('after a trap the rebuilt instance fetches the policy table again', async () => {
  const { compact, full } = await engines();
  compact[INJECT_TRAP]();
  assert.equal(compact.decide(demo[0]).errors[0].code, 'host_failure');
  assertSame(compact.decide(demo[0]), full.decide(demo[0]), 'after the rebuild');
  assert.equal(compact.restarts, 1);
  assert.equal(compact[DECIDE_FORM](), 'compact');
});

test('raw ABI 1.1: the policy table and compact decisions', async () => {
  const bundle = await cpra();
  const { exports: x } = await WebAssembly.instantiate(await compile(wasmBytes), {});
  const version = x.privet_abi_version();
  assert.ok(version >>> 16 === 1 && (version & 0xffff) >= 1, `ABI ${version >>> 16}.${version & 0xffff}`);
  const take = (r) => {
    if (r === 0n) return null;
    const p = Number(r >> 32n);
    const n = Number(r & 0xffffffffn);
    const s = decoder.decode(new Uint8Array(x.memory.buffer, p, n));
    x.privet_free(p, n);
    return JSON.parse(s);
  };
  const put = (u8) => {
    const p = x.privet_alloc(u8.length);
    new Uint8Array(x.memory.buffer, p, u8.length).set(u8);
    return p;
  };
  assert.equal(take(x.privet_policies(1)), null);
  assert.equal(take(x.privet_last_error()).code, 'no_bundle');
  const b = put(bundle);
  const h = x.privet_load(b, bundle.length);
  x.privet_free(b, bundle.length);
  const table = take(x.privet_policies(h));
  const info = take(x.privet_info(h));
  assert.deepEqual(
    table.map((p) => p.id),
    info.policies,
    'the table lists every policy in load order',
  );
  const req = new TextEncoder().encode(demo[0]);
  const q = put(req);
  const c = take(x.privet_decide_compact(h, q, req.length));
  assert.deepEqual(Object.keys(c), ['id', 'decision', 'reasons', 'errors']);
  const unknown = take(x.privet_decide_compact(h + 1, q, req.length));
  assert.equal(unknown.bundle, '');
  assert.equal(unknown.errors[0].code, 'no_bundle');
  const batch = take(x.privet_decide_batch_compact(h, q, req.length));
  assert.equal(batch.length, 1, 'a request that is not an array is one deny');
  x.privet_free(q, req.length);
});

test('annotations with awkward names (`__proto__`, numeric) come back as JSON.parse gives them', async () => {
  const bundle = packBundle({
    schema: {
      name: 'schema.cedarschema',
      text: 'entity Consumer = { gpc: Bool };\nentity Recipient;\naction sell appliesTo { principal: [Recipient], resource: [Consumer], context: {} };\n',
    },
    policies: [
      {
        name: 'p.cedar',
        text:
          '@id("odd")\n@__proto__("polluted?")\n@constructor("c")\n@obligation("notify")\n@obligation___proto__("p")\n' +
          '@obligation_2("two")\n@obligation_10("ten")\n@citation("Test § 1")\npermit (principal, action, resource);\n',
      },
    ],
    entities: {
      name: 'entities.json',
      text: JSON.stringify([
        { uid: { type: 'Consumer', id: 'c' }, attrs: { gpc: true }, parents: [] },
        { uid: { type: 'Recipient', id: 'r' }, attrs: {}, parents: [] },
      ]),
    },
  });
  const module = await compile(wasmBytes);
  const packed = await Privet.load(bundle, { wasm: module });
  const compact = await Privet.load(bundle, { wasm: module, [FORCE_ABI_11]: true });
  const full = await Privet.load(bundle, { wasm: module, [FORCE_ABI_10]: true });
  const request = { principal: 'Recipient::"r"', action: 'Action::"sell"', resource: 'Consumer::"c"', context: {} };
  const c = compact.decide(request);
  assert.equal(c.decision, 'allow', JSON.stringify(c));
  assertSame(c, full.decide(request), 'awkward annotation names');
  assertSame(packed.decide(request), full.decide(request), 'awkward annotation names, packed');
  assertSame(packed.decide({ ...request, id: 1 }), full.decide({ ...request, id: 1 }), 'awkward annotation names, packed with id');
  const p = packed.decide(request).determining[0].annotations;
  assert.ok(Object.prototype.hasOwnProperty.call(p, '__proto__'), JSON.stringify(p));
  assert.equal(Object.getPrototypeOf(p), Object.prototype);
  const annotations = c.determining[0].annotations;
  assert.ok(Object.prototype.hasOwnProperty.call(annotations, '__proto__'), JSON.stringify(annotations));
  assert.equal(Object.getPrototypeOf(annotations), Object.prototype);
  assert.equal(annotations.__proto__, 'polluted?');
  assert.deepEqual(Object.keys(c.obligations[0].params), Object.keys(full.decide(request).obligations[0].params));
});

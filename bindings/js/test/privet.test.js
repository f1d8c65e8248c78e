// node --test: the privet package against the real privet.wasm and the fixture bundle.
// PRIVET_TEST_BUNDLE (default test/fixture.privet.json) is written by scripts/test-js.sh.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';

import Privet, { Privet as NamedPrivet, PrivetError, compile } from '../index.js';

const bundlePath = process.env.PRIVET_TEST_BUNDLE ?? new URL('./fixture.privet.json', import.meta.url);
const bundle = await readFile(bundlePath);
const wasmBytes = await readFile(new URL('../privet.wasm', import.meta.url));

const sell = (resource, extra = {}) => ({
  principal: { type: 'Recipient', id: 'adco' },
  action: { type: 'Action', id: 'sell' },
  resource: { type: 'Consumer', id: resource },
  context: { purpose: 'advertising' },
  ...extra,
});

test('default export and named export are the same class', () => {
  assert.equal(Privet, NamedPrivet);
});

test('module imports nothing and exports the documented ABI', async () => {
  const module = await compile(wasmBytes);
  assert.deepEqual(WebAssembly.Module.imports(module), []);
  const names = WebAssembly.Module.exports(module).map((e) => e.name).sort();
  for (const n of [
    'memory', 'privet_abi_version', 'privet_alloc', 'privet_free', 'privet_load', 'privet_unload',
    'privet_info', 'privet_decide', 'privet_decide_batch', 'privet_upsert_entities',
    'privet_remove_entities', 'privet_last_error',
  ]) {
    assert.ok(names.includes(n), `missing export ${n}: ${names}`);
  }
  const { exports: x } = await WebAssembly.instantiate(module, {});
  assert.equal(x.privet_abi_version() >>> 16, 1);
});

test('decides allow and deny with reasons, citations and obligations', async () => {
  const engine = await Privet.load(bundle);
  const bob = engine.decide(sell('bob', { id: 'q1' }));
  assert.equal(bob.decision, 'allow', JSON.stringify(bob));
  assert.equal(bob.id, 'q1');
  assert.deepEqual(bob.reasons, ['sell-default']);
  const alice = engine.decide(sell('alice'));
  assert.equal(alice.decision, 'deny');
  assert.deepEqual(alice.reasons, ['gpc-opt-out']);
  assert.equal(alice.determining[0].citation, 'Cal. Code Regs. tit. 11, § 7025');
  assert.equal(alice.obligations[0]?.kind, 'display', JSON.stringify(alice.obligations));
  assert.match(alice.bundle, /^sha256:[0-9a-f]{64}$/);
  assert.equal(alice.bundle, engine.hash);
});

test('string requests and uid strings are accepted', async () => {
  const engine = await Privet.load(bundle.toString('utf8'));
  const d = engine.decide(
    JSON.stringify({ principal: 'Recipient::"adco"', action: 'Action::"sell"', resource: 'Consumer::"bob"', context: { purpose: 'x' } }),
  );
  assert.equal(d.decision, 'allow', JSON.stringify(d));
});

test('a bad request is a deny with a structured error, never a throw', async () => {
  const engine = await Privet.load(bundle);
  const d = engine.decide('{"principal": ');
  assert.equal(d.decision, 'deny');
  assert.equal(d.errors[0].code, 'malformed_json');
  const e = engine.decide({ principal: { type: 'Nope', id: 'x' }, action: 'Action::"sell"', resource: 'Consumer::"bob"', context: { purpose: 'x' } });
  assert.equal(e.decision, 'deny');
  assert.ok(e.errors.length > 0);
});

test('decideBatch keeps order', async () => {
  const engine = await Privet.load(bundle);
  const out = engine.decideBatch([sell('alice', { id: 1 }), sell('bob', { id: 2 }), sell('nobody', { id: 3 })]);
  assert.deepEqual(out.map((d) => d.decision), ['deny', 'allow', 'deny']);
  assert.deepEqual(out.map((d) => d.id), [1, 2, 3]);
  const bad = engine.decideBatch('not an array');
  assert.equal(bad.length, 1);
  assert.equal(bad[0].decision, 'deny');
});

test('entity updates change decisions; rejected updates throw PrivetError with paths', async () => {
  const engine = await Privet.load(bundle);
  const u = engine.upsertEntities([{ uid: { type: 'Consumer', id: 'bob' }, attrs: { state: 'CA', gpc: true }, parents: [] }]);
  assert.equal(u.upserted, 1);
  assert.equal(engine.decide(sell('bob')).decision, 'deny');
  const r = engine.removeEntities(['Consumer::"alice"']);
  assert.equal(r.removed, 1);
  assert.equal(engine.info().store_revision, 2);
  assert.throws(
    () => engine.upsertEntities([{ uid: { type: 'Consumer', id: 'carol' }, attrs: { state: 5 }, parents: [] }]),
    (e) => e instanceof PrivetError && e instanceof Error && typeof e.code === 'string' && e.errors.length > 0,
  );
  assert.throws(() => engine.removeEntities('nope'), PrivetError);
});

test('info describes the bundle', async () => {
  const engine = await Privet.load(bundle);
  const info = engine.info();
  assert.equal(info.name, 'wasm-fixture');
  assert.equal(info.version, '1.0.0');
  assert.deepEqual(info.policies, ['sell-default', 'gpc-opt-out', 'share-service-provider']);
  assert.equal(info.hash, engine.hash);
});

test('a bundle that fails to load throws PrivetError with a code', async () => {
  await assert.rejects(Privet.load('{"privet_bundle": 1}'), (e) => e instanceof PrivetError && typeof e.code === 'string');
  const tampered = Buffer.from(bundle.toString('utf8').replace('alice', 'Alice'));
  await assert.rejects(Privet.load(tampered), (e) => e instanceof PrivetError && e.code === 'hash_mismatch');
});

test('the wasm can come from bytes, a file URL or a compiled module', async () => {
  for (const wasm of [wasmBytes, new URL('../privet.wasm', import.meta.url), await compile(wasmBytes)]) {
    const engine = await Privet.load(bundle, { wasm });
    assert.equal(engine.decide(sell('bob')).decision, 'allow');
  }
});

test('after a trap the instance is discarded and rebuilt with the updates replayed', async () => {
  const engine = await Privet.load(bundle);
  engine.upsertEntities([{ uid: { type: 'Consumer', id: 'bob' }, attrs: { state: 'CA', gpc: true }, parents: [] }]);
  engine[Symbol.for('privet.test.injectTrap')]();
  const trapped = engine.decide(sell('carol', { id: 'x' }));
  assert.equal(trapped.decision, 'deny');
  assert.equal(trapped.id, 'x');
  assert.equal(trapped.errors[0].code, 'host_failure');
  assert.equal(trapped.bundle, engine.hash);
  assert.equal(engine.restarts, 0);
  // Next call: fresh instance, bundle reloaded, bob's update replayed.
  assert.equal(engine.decide(sell('bob')).decision, 'deny');
  assert.equal(engine.restarts, 1);
  assert.equal(engine.info().store_revision, 1);

  engine[Symbol.for('privet.test.injectTrap')]();
  assert.throws(() => engine.upsertEntities([]), (e) => e instanceof PrivetError && e.code === 'host_failure');
  engine[Symbol.for('privet.test.injectTrap')]();
  const batch = engine.decideBatch([sell('a'), sell('b')]);
  assert.deepEqual(batch.map((d) => d.errors[0].code), ['host_failure', 'host_failure']);
  assert.equal(engine.decide(sell('bob')).decision, 'deny');
});

test('raw ABI: bad handles and out-of-bounds inputs are denies plus last_error', async () => {
  const { exports: x } = await WebAssembly.instantiate(await compile(wasmBytes), {});
  const dec = new TextDecoder();
  const take = (r) => {
    if (r === 0n) return null;
    const p = Number(r >> 32n), n = Number(r & 0xffffffffn);
    const s = dec.decode(new Uint8Array(x.memory.buffer, p, n));
    x.privet_free(p, n);
    return JSON.parse(s);
  };
  const oob = take(x.privet_decide(1, 0xfffffff0, 64));
  assert.equal(oob.decision, 'deny');
  assert.equal(oob.errors[0].code, 'host_failure'); // the input is checked before the handle
  assert.equal(oob.bundle, '');
  assert.equal(take(x.privet_last_error()).code, 'host_failure');
  const enc = new TextEncoder().encode('{}');
  const q = x.privet_alloc(enc.length);
  new Uint8Array(x.memory.buffer, q, enc.length).set(enc);
  assert.equal(take(x.privet_decide(1, q, enc.length)).errors[0].code, 'no_bundle');
  x.privet_free(q, enc.length);
  assert.equal(take(x.privet_last_error()).code, 'no_bundle');
  assert.equal(x.privet_load(0xfffffff0, 64), 0);
  assert.equal(take(x.privet_last_error()).code, 'host_failure');
  assert.equal(x.privet_load(0, 10), 0);
  assert.equal(x.privet_unload(42), -1);
  assert.equal(take(x.privet_info(42)), null);
  assert.equal(take(x.privet_last_error()).code, 'no_bundle');
  assert.notEqual(x.privet_alloc(0), 0);
  x.privet_free(0, 10); // no-op
  // load, then an out-of-bounds decide on a valid handle names the bundle
  const p = x.privet_alloc(bundle.length);
  new Uint8Array(x.memory.buffer, p, bundle.length).set(bundle);
  const h = x.privet_load(p, bundle.length);
  x.privet_free(p, bundle.length);
  assert.ok(h >= 1);
  assert.equal(take(x.privet_last_error()), null);
  const d = take(x.privet_decide(h, 0xfffffff0, 64));
  assert.equal(d.errors[0].code, 'host_failure');
  assert.match(d.bundle, /^sha256:/);
});

test('raw ABI: memory stays flat over many calls (inputs and results are freed)', async () => {
  const { exports: x } = await WebAssembly.instantiate(await compile(wasmBytes), {});
  const enc = new TextEncoder();
  const put = (u8) => {
    const p = x.privet_alloc(u8.length);
    new Uint8Array(x.memory.buffer, p, u8.length).set(u8);
    return p;
  };
  const p = put(bundle);
  const h = x.privet_load(p, bundle.length);
  x.privet_free(p, bundle.length);
  const req = enc.encode(JSON.stringify(sell('bob')));
  const once = () => {
    const q = put(req);
    const r = x.privet_decide(h, q, req.length);
    x.privet_free(q, req.length);
    x.privet_free(Number(r >> 32n), Number(r & 0xffffffffn));
  };
  for (let i = 0; i < 200; i++) once();
  const size = x.memory.buffer.byteLength;
  for (let i = 0; i < 5000; i++) once();
  assert.equal(x.memory.buffer.byteLength, size);
});

// node --test: ABI 1.2's packed decisions. An engine on `privet_decide_packed` (the default with a 1.2 module)
// returns exactly the decisions of an engine held to the ABI 1.0 exports (same keys in the same order, same
// values, fresh objects): on the CPRA pack's demo requests with ids of every JSON kind, on requests that come
// back with errors (the compact JSON fallback), on the whole conformance corpus, in batches (packed batches
// mixing records and JSON), and after a trap rebuilt the instance; and the raw exports write the layouts
// ABI.md documents.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { Privet, compile } from '../index.js';
import {
  FORCE_ABI_10, FORCE_ABI_11, DECIDE_FORM, INJECT_TRAP, wasmBytes, cpra, demo, corpusRequests, assertSame,
} from './abi-forms.js';

const decoder = new TextDecoder();
const encoder = new TextEncoder();

/** Three engines on the same module and bundle: the default (packed), one held to 1.1 and one to 1.0. */
async function engines() {
  const bundle = await cpra();
  const module = await compile(wasmBytes);
  const packed = await Privet.load(bundle, { wasm: module });
  const compact = await Privet.load(bundle, { wasm: module, [FORCE_ABI_11]: true });
  const full = await Privet.load(bundle, { wasm: module, [FORCE_ABI_10]: true });
  assert.equal(packed[DECIDE_FORM](), 'packed');
  assert.equal(compact[DECIDE_FORM](), 'compact');
  assert.equal(full[DECIDE_FORM](), 'full');
  return { packed, compact, full };
}

/** Request ids of every JSON kind, as the JSON text that goes into the request line. */
const IDS = [
  '0', '7', '-1', '-0', '42', '123456789012345', '-123456789012345', '1234567890123456', '9007199254740993',
  '123456789012345678901234567890', '1.5', '-0.25', '1e3', '1E-7', '2.5e+300', '0.1',
  'true', 'false', 'null',
  '""', '"q1"', '"req-000123"', '"a b/c:d"', '"with \\"quote\\""', '"back\\\\slash"', '"tab\\there"', '"\\u0041\\u00e9"',
  '"ünïcödé 🙂 中文"', '"\\ud83d\\ude42 pair"', '"\u007f del"', `"${'x'.repeat(200)}"`, `"${'y'.repeat(128)}"`,
  '[]', '[1, "two", null]', '{}', '{"b": 1, "a": [true], "__proto__": {"x": 1}, "2": "n"}',
];

/** The demo requests with each of IDS as their id (as text, so the id's JSON goes to the guest verbatim). */
function withIds() {
  const out = [];
  for (const line of demo) {
    const body = line.trim().replace(/^\{\s*/, '').replace(/"id"\s*:\s*("(?:[^"\\]|\\.)*"|[^,}]*)\s*,\s*/, '');
    for (const id of IDS) out.push(`{"id": ${id}, ${body}`);
    out.push(`{${body}`);
  }
  return out;
}

/** Requests that come back as denies with errors, made from the first demo request. */
function errorRequests() {
  const base = JSON.parse(demo[0]);
  const w = (f) => {
    const v = structuredClone(base);
    f(v);
    return v;
  };
  return [
    '{"id": "malformed", "principal": ',
    '[1, 2]',
    '',
    '{"id": "lone \\ud800 surrogate", "principal": "Cpra::Recipient::\\"adnet\\""}',
    w((v) => (v.principal = 'Cpra::Nope::"x"')),
    w((v) => (v.action = 'Cpra::Action::"teleport"')),
    w((v) => (v.context.gpc = 'yes')),
    w((v) => (v.resource = 'Cpra::Record::"nobody"')),
    w((v) => {
      v.id = 12;
      v.resource = 'Cpra::Record::"nobody"';
    }),
    w((v) => {
      v.id = { nested: [1, null, 'ünï 🙂'] };
      v.entities = 'not an array';
    }),
  ];
}

test('packed decisions equal the 1.0 ones on the demo requests with ids of every kind, and on requests with errors', async () => {
  const { packed, compact, full } = await engines();
  const requests = withIds();
  assert.ok(requests.length >= demo.length * IDS.length);
  let ids = 0;
  let obligations = 0;
  let allows = 0;
  for (const r of requests) {
    const want = full.decide(r);
    assert.equal(want.errors.length, 0, `the id variants decide without errors: ${r}\n${JSON.stringify(want)}`);
    const p = packed.decide(r);
    assertSame(p, want, `request ${r}`);
    assertSame(compact.decide(r), want, `request ${r} (compact)`);
    if ('id' in p) ids += 1;
    obligations += p.obligations.length;
    if (p.decision === 'allow') allows += 1;
  }
  // Every kind is echoed (`null` too, as in the 1.0 form); the requests without an id have none.
  assert.equal(ids, demo.length * IDS.length);
  assert.ok(obligations > 0 && allows > 0 && allows < requests.length, `${obligations} obligations, ${allows} allows`);
  // The kinds come back as JSON.parse gives them.
  const first = demo[0].trim().replace(/^\{\s*/, '').replace(/"id"\s*:\s*("(?:[^"\\]|\\.)*"|[^,}]*)\s*,\s*/, '');
  for (const id of IDS) {
    const d = packed.decide(`{"id": ${id}, ${first}`);
    assert.ok('id' in d, id);
    assert.ok(Object.is(JSON.stringify(d.id), JSON.stringify(JSON.parse(id))), `id ${id}: ${JSON.stringify(d.id)}`);
  }
  assert.ok(Object.is(packed.decide(`{"id": -0, ${first}`).id, -0), '-0 stays -0');
  // Requests with errors go through the compact JSON fallback.
  for (const r of errorRequests()) {
    const p = packed.decide(r);
    assertSame(p, full.decide(r), `request ${typeof r === 'string' ? r : JSON.stringify(r)}`);
    assert.equal(p.decision, 'deny');
    assert.ok(p.errors.length > 0, JSON.stringify(p));
  }
  // Objects, JSON text, bytes: the same decisions.
  for (const r of requests.slice(0, 40)) {
    assertSame(packed.decide(JSON.parse(r)), full.decide(JSON.parse(r)), 'object form'); // (-0 goes as 0)
    assertSame(packed.decide(encoder.encode(r)), full.decide(r), 'bytes');
  }
  // Batches (the compact path) from the packed engine.
  const objects = [...requests.map((l) => JSON.parse(l)), ...errorRequests().filter((e) => typeof e !== 'string')];
  assertSame(packed.decideBatch(objects), full.decideBatch(objects), 'batch');
  assertSame(packed.decideBatch(`[${requests.join(',')}]`), full.decideBatch(`[${requests.join(',')}]`), 'batch text');
  for (const bad of ['not an array', '[1, {"principal": ', '{}', '']) {
    assertSame(packed.decideBatch(bad), full.decideBatch(bad), `batch ${bad}`);
  }
});

test('every packed decision owns its objects: policies and obligations are copied, not shared', async () => {
  const { packed, full } = await engines();
  const r = demo.find((l) => full.decide(l).obligations.length > 0);
  assert.ok(r, 'a demo request with an obligation');
  const a = packed.decide(r);
  const b = packed.decide(r);
  assert.notEqual(a.determining[0], b.determining[0]);
  assert.notEqual(a.obligations[0], b.obligations[0]);
  assert.notEqual(a.reasons, b.reasons);
  assert.notEqual(a.errors, b.errors);
  a.determining[0].citation = 'changed';
  if (a.determining[0].annotations) a.determining[0].annotations.id = 'changed';
  a.obligations[0].kind = 'changed';
  if (a.obligations[0].params) a.obligations[0].params.x = 'added';
  a.reasons.push('extra');
  assertSame(packed.decide(r), b, 'a mutated decision does not leak into later ones');
  assertSame(b, full.decide(r), 'nor into the decisions given before');
});

test('packed decisions equal the 1.0 ones on the whole conformance corpus, single and in batches', async () => {
  const { packed, full } = await engines();
  const lines = await corpusRequests();
  assert.ok(lines.length >= 10000, `${lines.length} lines`);
  let mismatches = 0;
  let first = '';
  let errors = 0;
  for (const line of lines) {
    const p = packed.decide(line);
    const f = full.decide(line);
    if (f.errors.length > 0) errors += 1;
    if (JSON.stringify(p) !== JSON.stringify(f)) {
      mismatches += 1;
      first ||= `request ${decoder.decode(line).slice(0, 300)}\n  packed ${JSON.stringify(p)}\n  full   ${JSON.stringify(f)}`;
    }
  }
  assert.equal(mismatches, 0, first);
  assert.ok(errors > 0 && errors < lines.length, `${errors} of the corpus's decisions carry errors`);
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
    if (JSON.stringify(packed.decideBatch(batch)) !== JSON.stringify(full.decideBatch(batch))) {
      assert.fail(`batch at ${i}: packed-engine and 1.0 decisions differ`);
    }
  }
});

test('large and growing inputs, and memory growth between packed decisions', async () => {
  const { packed, full } = await engines();
  const base = JSON.parse(demo[0]);
  const cases = [
    { ...base, id: 'x'.repeat(5000) },
    { ...base, id: 'y'.repeat(400 * 1024) }, // over the reusable buffer's limit once encoded
    { ...base, id: 'small again' },
    { ...base, id: 5 },
  ];
  for (const r of cases) assertSame(packed.decide(r), full.decide(r), `id of ${String(r.id).length} units`);
  // A batch of several MB grows linear memory; single decisions after it read the new buffer.
  const big = Array.from({ length: 3000 }, (_, i) => ({ ...base, id: `big-${i}` }));
  assert.equal(packed.decideBatch(big).length, big.length);
  for (const r of cases) assertSame(packed.decide(r), full.decide(r), 'after growth');
});

test('after a trap the rebuilt instance decides packed again', async () => {
  const { packed, full } = await engines();
  packed[INJECT_TRAP]();
  const d = packed.decide(demo[0]);
  assert.equal(d.decision, 'deny');
  assert.equal(d.errors[0].code, 'host_failure');
  assertSame(packed.decide(demo[0]), full.decide(demo[0]), 'after the rebuild');
  assert.equal(packed.restarts, 1);
  assert.equal(packed[DECIDE_FORM](), 'packed');
  packed.close();
  assert.equal(packed.decide(demo[0]).errors[0].code, 'no_bundle');
});

test('raw ABI 1.2: privet_decide_packed and privet_decide_batch_packed write the documented records, or the compact JSON', async () => {
  const bundle = await cpra();
  const { exports: x } = await WebAssembly.instantiate(await compile(wasmBytes), {});
  assert.ok(x.privet_abi_version() >= 0x0001_0002 && x.privet_abi_version() >>> 16 === 1);
  const bytes = (r) => {
    const p = Number(r >> 32n);
    const n = Number(r & 0xffffffffn);
    const out = new Uint8Array(x.memory.buffer, p, n).slice();
    x.privet_free(p, n);
    return out;
  };
  const put = (u8) => {
    const p = x.privet_alloc(u8.length);
    new Uint8Array(x.memory.buffer, p, u8.length).set(u8);
    return [p, u8.length];
  };
  const [b, bn] = put(bundle);
  const h = x.privet_load(b, bn);
  x.privet_free(b, bn);
  const table = JSON.parse(decoder.decode(bytes(x.privet_policies(h))));
  const compact = (q) => {
    const [p, n] = put(encoder.encode(q));
    const out = JSON.parse(decoder.decode(bytes(x.privet_decide_compact(h, p, n))));
    x.privet_free(p, n);
    return out;
  };
  const packed = (q) => {
    const [p, n] = put(encoder.encode(q));
    const out = bytes(x.privet_decide_packed(h, p, n));
    x.privet_free(p, n);
    return out;
  };
  let records = 0;
  for (const q of withIds().slice(0, 200)) {
    const c = compact(q);
    const rec = packed(q);
    assert.equal(rec[0], 0x01, `a decision without errors is a record: ${q}`);
    const n = rec[2] | (rec[3] << 8);
    const indices = Array.from({ length: n }, (_, i) => rec[4 + 2 * i] | (rec[5 + 2 * i] << 8));
    const idText = decoder.decode(rec.subarray(4 + 2 * n));
    const decoded = {
      ...(idText === '' ? {} : { id: JSON.parse(idText) }),
      decision: ['deny', 'allow'][rec[1]],
      reasons: indices.map((i) => table[i].id),
      errors: [],
    };
    assertSame(decoded, c, `record ${Array.from(rec.subarray(0, 8))}… of ${q}`);
    records += 1;
  }
  assert.ok(records > 0);
  // The worked example of ABI.md: a deny by one policy, id 7, and an allow with no id.
  const base = demo[0].trim().replace(/^\{\s*/, '').replace(/"id"\s*:\s*("(?:[^"\\]|\\.)*"|[^,}]*)\s*,\s*/, '');
  const rec = packed(`{"id": 7, ${base}`);
  assert.deepEqual(Array.from(rec.subarray(4 + 2 * (rec[2] | (rec[3] << 8)))), [0x37]);
  // Errors, and a handle with no bundle: the compact JSON.
  for (const q of ['{"id": 1, "principal": ', '[1]']) {
    const rec = packed(q);
    assert.equal(rec[0], 0x7b);
    assertSame(JSON.parse(decoder.decode(rec)), compact(q), q);
  }
  const [p, n] = put(encoder.encode(demo[0]));
  const unknown = JSON.parse(decoder.decode(bytes(x.privet_decide_packed(h + 1, p, n))));
  x.privet_free(p, n);
  assert.equal(unknown.bundle, '');
  assert.equal(unknown.errors[0].code, 'no_bundle');

  // A packed batch: tag 0x02, u32 count, then per decision a u32 length and a record or compact JSON.
  const items = [...withIds().slice(0, 30), '{"id": 1, "principal": 3}', '{"id": "nobody", ' + base.replace(/Cpra::Record::\\"[^"\\]*\\"/, 'Cpra::Record::\\"nobody\\"')];
  const batchText = `[${items.join(',')}]`;
  const [bp, bl] = put(encoder.encode(batchText));
  const rec2 = bytes(x.privet_decide_batch_packed(h, bp, bl));
  const c2 = JSON.parse(decoder.decode(bytes(x.privet_decide_batch_compact(h, bp, bl))));
  x.privet_free(bp, bl);
  const u32 = (i) => (rec2[i] | (rec2[i + 1] << 8) | (rec2[i + 2] << 16) | (rec2[i + 3] << 24)) >>> 0;
  assert.equal(rec2[0], 0x02);
  assert.equal(u32(1), items.length);
  let at = 5;
  const kinds = [];
  for (const want of c2) {
    const len = u32(at);
    const item = rec2.subarray(at + 4, at + 4 + len);
    at += 4 + len;
    if (item[0] === 0x01) {
      kinds.push('record');
      assert.equal(want.errors.length, 0);
      assert.equal(['deny', 'allow'][item[1]], want.decision);
      const k = item[2] | (item[3] << 8);
      assert.deepEqual(Array.from({ length: k }, (_, i) => table[item[4 + 2 * i] | (item[5 + 2 * i] << 8)].id), want.reasons);
      assertSame(JSON.parse(decoder.decode(item.subarray(4 + 2 * k))), want.id, 'id');
    } else {
      kinds.push('json');
      assertSame(JSON.parse(decoder.decode(item)), want, 'a decision with errors is its compact JSON');
      assert.ok(want.errors.length > 0);
    }
  }
  assert.equal(at, rec2.length);
  assert.deepEqual(kinds, [...Array(30).fill('record'), 'json', 'json']);
  // Input that is not an array: the engine's one deny, as compact JSON in a packed batch. A batch that fails
  // as a whole (here an unknown handle) is the compact JSON array.
  const [np, nn] = put(encoder.encode('{"not": "an array"}'));
  const one = bytes(x.privet_decide_batch_packed(h, np, nn));
  assert.deepEqual([one[0], one[1], one[2], one[3], one[4], one[9]], [0x02, 1, 0, 0, 0, 0x7b]);
  assertSame(
    [JSON.parse(decoder.decode(one.subarray(9)))],
    JSON.parse(decoder.decode(bytes(x.privet_decide_batch_compact(h, np, nn)))),
    'not an array',
  );
  const none = bytes(x.privet_decide_batch_packed(h + 1, np, nn));
  assert.equal(none[0], 0x5b);
  assert.equal(JSON.parse(decoder.decode(none))[0].errors[0].code, 'no_bundle');
  x.privet_free(np, nn);
});

// Side-by-side comparison, Node half: Privet's npm package (bindings/js, the wasm module target/wasm/privet.wasm)
// and @cedar-policy/cedar-wasm 4.13.0 (installed by `npm ci` in benches/compare), on the workload directory
// written by benches/gen_workload.rs. Driven by scripts/bench-compare.sh.
//
//   node benches/compare/node.mjs --dir DIR --engine privet|cedar [--requests N] [--warmup N] [--slow N] [--wasm PATH] [--max-seconds S] [--min-seconds S] [--only MODE,..]
//
// A mode stops early once it has run --max-seconds (default 20); its row then counts the requests it did run
// and the agreement check covers that prefix.
//
// One engine per process, so the process's peak RSS (VmHWM) is that engine's (plus Node's own baseline,
// which the table shows on a separate row). Output: one JSON line per engine/mode on stdout, then a
// {"kind": "process"} line; decisions (one 'a'/'d' byte per request) go to DIR/decisions/<engine>--<mode>.txt.
//
// Every mode starts from the JSONL line text of each request.
//   privet-node  store            engine.decide(lineText): store loaded once, request JSON parsed in wasm.
//   privet-node  store-object     engine.decide(JSON.parse(lineText)): what a caller holding objects pays.
//   privet-node  slice            engine.decide(lineText) with the entity slice in the request.
//   privet-node  *-batch1000      engine.decideBatch(arrayText) over 1,000 lines (array text built untimed).
//   cedar-wasm   store            statefulIsAuthorized (policies and schema preparsed once). cedar-wasm keeps no
//                                 entity store, so per call: JSON.parse the line, then pass the entities
//                                 reachable from principal/resource/context (attributes + parents), looked up
//                                 in the store held as a JS Map, parsed once. Exact: evaluation reaches no other entity.
//   cedar-wasm   store-full       the same, but passing the whole store array each call (what "stateful with the
//                                 store" means literally); cost grows with the store, so --slow requests only.
//   cedar-wasm   slice            statefulIsAuthorized; entities = reachable closure over slice ∪ store, slice wins.
//   cedar-wasm   slice-stateless  isAuthorized: policies text, schema text and the same entities, every call.
// validateRequest is true for cedar-wasm (Privet validates context against the schema too).

import { readFileSync, readdirSync, writeFileSync, mkdirSync, statSync } from 'node:fs';
import { join, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const args = { dir: 'target/bench-compare/workload', engine: '', requests: Infinity, warmup: 1000, slow: 300, wasm: 'target/wasm/privet.wasm', 'max-seconds': 20, 'min-seconds': 0, only: '' };
for (let i = 2; i < process.argv.length; i += 2) {
  const k = process.argv[i].replace(/^--/, '');
  const v = process.argv[i + 1];
  if (!(k in args) || v === undefined) throw new Error(`unknown or valueless argument ${process.argv[i]}`);
  args[k] = ['requests', 'warmup', 'slow', 'max-seconds', 'min-seconds'].includes(k) ? Number(v) : v;
}

function readLines(path, n) {
  return readFileSync(path, 'utf8').split('\n').filter((l) => l.trim() !== '').slice(0, n);
}
function vmhwmKb() {
  const m = /VmHWM:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'));
  return m ? Number(m[1]) : 0;
}

const storeLines = readLines(join(args.dir, 'requests-store.jsonl'), args.requests);
const sliceLines = readLines(join(args.dir, 'requests.jsonl'), args.requests);
mkdirSync(join(args.dir, 'decisions'), { recursive: true });

let engineName = '';
// A decision's letter: 'a' or 'd', upper-case when it carried errors (see `verdict` in main.rs).
const letter = (allow, errors) => (allow ? (errors ? 'A' : 'a') : errors ? 'D' : 'd');
// One row: `made` decisions in `secs` (every pass's, see `more`); the first pass's decisions go to the file.
function emit(mode, secs, made, decisions, errors) {
  const allow = [...decisions].filter((d) => d === 'a' || d === 'A').length;
  writeFileSync(join(args.dir, 'decisions', `${engineName}--${mode}.txt`), decisions);
  console.log(JSON.stringify({ engine: engineName, mode, requests: decisions.length, decided: made, seconds: secs, per_sec: made / secs, errors, allow }));
}
// A mode whose first pass over its inputs took less than --min-seconds makes further passes until it has run that
// long (or --max-seconds), for a steadier figure; a later pass that decides an input otherwise stops the run.
function more(t) {
  const s = Number(process.hrtime.bigint() - t) / 1e9;
  return s < args['min-seconds'] && s < args['max-seconds'];
}
function again(mode, decisions, at, d) {
  if (decisions[at] !== d) throw new Error(`${mode}: a later pass decided input ${at} otherwise`);
}
// Warm up on the first inputs, then time every input; f returns [decisionChar, hadErrors].
// `--only a,b` runs just those modes (scripts/bench-compare.sh runs cedar-wasm one mode per process: Node 20's V8
// has crashed in its deoptimizer during cedar-wasm runs, and a crash then costs one row, not all of them).
const wanted = (mode) => args.only === '' || args.only.split(',').includes(mode);
function run(mode, inputs, f, warmup = args.warmup) {
  if (!wanted(mode)) return;
  // Warm-up, also cut short (after a tenth of the time budget) for slow modes.
  const w = process.hrtime.bigint();
  for (let i = 0; i < Math.min(warmup, inputs.length * 4); i++) {
    f(inputs[i % inputs.length]);
    if (process.hrtime.bigint() - w > BigInt(Math.round(args['max-seconds'] * 1e8))) break;
  }
  let decisions = '';
  let errors = 0;
  const t = process.hrtime.bigint();
  const limit = BigInt(Math.round(args['max-seconds'] * 1e9));
  for (let i = 0; i < inputs.length; i++) {
    const [d, e] = f(inputs[i]);
    decisions += d;
    if (e) errors++;
    if (i % 16 === 15 && process.hrtime.bigint() - t > limit) break;
  }
  let made = decisions.length;
  const complete = made === inputs.length;
  while (complete && more(t)) {
    for (let i = 0; i < inputs.length; i++) again(mode, decisions, i, f(inputs[i])[0]);
    made += inputs.length;
  }
  emit(mode, Number(process.hrtime.bigint() - t) / 1e9, made, decisions, errors);
}
function runBatch(mode, chunks, f) {
  if (!wanted(mode)) return;
  for (let i = 0; i < Math.max(1, Math.ceil(args.warmup / 1000)); i++) f(chunks[i % chunks.length]);
  let decisions = '';
  let errors = 0;
  const t = process.hrtime.bigint();
  let passed = 0;
  for (const c of chunks) {
    for (const [d, e] of f(c)) {
      decisions += d;
      if (e) errors++;
    }
    passed++;
    if (process.hrtime.bigint() - t > BigInt(Math.round(args['max-seconds'] * 1e9))) break;
  }
  let made = decisions.length;
  while (passed === chunks.length && more(t)) {
    let at = 0;
    for (const c of chunks) for (const [d] of f(c)) again(mode, decisions, at++, d);
    made += at;
  }
  emit(mode, Number(process.hrtime.bigint() - t) / 1e9, made, decisions, errors);
}
function batches(lines, size) {
  const out = [];
  for (let i = 0; i < lines.length; i += size) out.push(`[${lines.slice(i, i + size).join(',')}]`);
  return out;
}

const t0 = process.hrtime.bigint();
const proc = { kind: 'process' };

if (args.engine === 'privet') {
  engineName = 'privet-node';
  const { Privet } = await import(resolve(here, '../../bindings/js/index.js'));
  const wasm = readFileSync(args.wasm);
  const engine = await Privet.load(readFileSync(join(args.dir, 'bundle.privet')), { wasm });
  engine.decide(storeLines[0]);
  proc.load_ms = Number(process.hrtime.bigint() - t0) / 1e6;
  proc.wasm_bytes = wasm.length;
  // 'n': a fail-closed deny for a principal or resource not stored (see `verdict` in main.rs).
  const notFound = (d) => d.decision !== 'allow' && d.errors.length > 0 && d.errors.every((e) => e.code === 'entity_not_found');
  const v = (d) => {
    if (notFound(d)) return ['n', false];
    const errors = d.errors.length > 0;
    return [letter(d.decision === 'allow', errors), errors];
  };
  run('store', storeLines, (l) => v(engine.decide(l)));
  run('store-object', storeLines, (l) => v(engine.decide(JSON.parse(l))));
  run('slice', sliceLines, (l) => v(engine.decide(l)));
  runBatch('store-batch1000', batches(storeLines, 1000), (c) => engine.decideBatch(c).map(v));
  runBatch('slice-batch1000', batches(sliceLines, 1000), (c) => engine.decideBatch(c).map(v));
} else if (args.engine === 'cedar') {
  engineName = 'cedar-wasm';
  const cedar = await import('@cedar-policy/cedar-wasm/nodejs');
  const pkg = JSON.parse(readFileSync(join(here, 'node_modules/@cedar-policy/cedar-wasm/package.json'), 'utf8'));
  const schema = readFileSync(join(args.dir, 'schema.cedarschema'), 'utf8');
  // Every `.cedar` file of the workload, in name order, as the native harness reads them.
  const policyFiles = readdirSync(args.dir).filter((f) => f.endsWith('.cedar')).sort();
  const policies = { staticPolicies: policyFiles.map((f) => readFileSync(join(args.dir, f), 'utf8')).join('\n') };
  const check = (what, a) => {
    if (a.type !== 'success') throw new Error(`${what}: ${JSON.stringify(a.errors)}`);
  };
  check('preparseSchema', cedar.preparseSchema('s', schema));
  check('preparsePolicySet', cedar.preparsePolicySet('p', policies));
  const store = JSON.parse(readFileSync(join(args.dir, 'entities.json'), 'utf8'));
  const key = (u) => `${u.type}\u0000${u.id}`;
  const byUid = new Map(store.map((e) => [key(e.uid), e]));
  // Entities reachable from the request, slice entities first.
  const refs = (v, out) => {
    if (Array.isArray(v)) for (const x of v) refs(x, out);
    else if (v && typeof v === 'object') {
      if (v.__entity) out.push(v.__entity);
      else if (typeof v.type === 'string' && typeof v.id === 'string' && Object.keys(v).length === 2) out.push(v);
      else for (const x of Object.values(v)) refs(x, out);
    }
  };
  const reachable = (r) => {
    const slice = new Map((r.entities ?? []).map((e) => [key(e.uid), e]));
    const todo = [r.principal, r.resource];
    refs(r.context, todo);
    const seen = new Set();
    const out = [];
    while (todo.length) {
      const u = todo.pop();
      const k = key(u);
      if (seen.has(k)) continue;
      seen.add(k);
      const e = slice.get(k) ?? byUid.get(k);
      if (!e) continue;
      out.push(e);
      for (const p of e.parents ?? []) todo.push(p.__entity ?? p);
      refs(e.attrs, todo);
    }
    return out;
  };
  proc.load_ms = Number(process.hrtime.bigint() - t0) / 1e6;
  proc.wasm_bytes = statSync(join(here, 'node_modules/@cedar-policy/cedar-wasm/nodejs/cedar_wasm_bg.wasm')).size;
  proc.cedar_wasm_version = pkg.version;
  // Evaluation errors, or a request refused, make the letter upper-case.
  const v = (a) => {
    if (a.type !== 'success') return [letter(false, true), true];
    const errors = a.response.diagnostics.errors.length > 0;
    return [letter(a.response.decision === 'allow', errors), errors];
  };
  const stateful = (r, entities) =>
    v(cedar.statefulIsAuthorized({ principal: r.principal, action: r.action, resource: r.resource, context: r.context,
      preparsedSchemaName: 's', preparsedPolicySetId: 'p', validateRequest: true, entities }));
  run('store', storeLines, (l) => {
    const r = JSON.parse(l);
    return stateful(r, reachable(r));
  });
  run('store-full', storeLines.slice(0, args.slow), (l) => stateful(JSON.parse(l), store), 2);
  run('slice', sliceLines, (l) => {
    const r = JSON.parse(l);
    return stateful(r, reachable(r));
  });
  run('slice-stateless', sliceLines, (l) => {
    const r = JSON.parse(l);
    return v(cedar.isAuthorized({ principal: r.principal, action: r.action, resource: r.resource, context: r.context,
      schema, policies, validateRequest: true, entities: reachable(r) }));
  });
} else if (args.engine === 'baseline') {
  // Node's own footprint, for reading the other rows' peak RSS.
  engineName = 'node-baseline';
} else {
  throw new Error('--engine privet|cedar|baseline');
}
proc.engine = engineName;
proc.vmhwm_kb = vmhwmKb();
console.log(JSON.stringify(proc));

// Combines the JSON lines of benches/compare (main.rs via `cargo run --example bench-compare`, and node.mjs)
// into one plain-text table, and checks that every engine and mode decided every request identically.
//
//   node benches/compare/report.mjs DIR RESULTS.jsonl
//
// DIR is the workload directory (its decisions/ holds one byte per request per engine/mode, in workload order:
// 'a'/'d', upper-case when the decision carried errors, 'n' for Privet's fail-closed deny of a request whose
// principal or resource is not stored). Exits 1 when any two engines disagree on any request both ran, in the
// decision or in whether it carried errors (see the agreement rules below).
//
// "vs peer" is this row's decisions/s over its peer's: Privet rows against cedar doing the same thing on the
// same host kind (native: cedar-policy's Authorizer; Node: @cedar-policy/cedar-wasm), store modes against
// cedar's store mode and slice modes against cedar's slice mode; wasmtime rows against native cedar-policy
// (cedar has no wasmtime host).
//
// "store" is the entity store's live heap bytes from the {"kind": "memory"} lines (native engines only; see the
// top of benches/compare/main.rs): what Privet's bundle retains because of its entities vs what cedar-policy's
// `Entities::from_json_str` retains for the same entities.json, counted by a counting global allocator. The
// table under the sizes gives the exact bytes, bytes per entity and privet/cedar (issue 6's goal: <= 1x).

import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

const [dir, resultsPath] = process.argv.slice(2);
const all = readFileSync(resultsPath, 'utf8').split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
const rows = all.filter((r) => r.kind === undefined);
const procs = Object.fromEntries(all.filter((r) => r.kind === 'process').map((p) => [p.engine, p]));
const memory = Object.fromEntries(all.filter((r) => r.kind === 'memory').map((m) => [m.engine, m]));

const peerEngine = { 'privet-native': 'cedar-native', 'privet-wasmtime': 'cedar-native', 'privet-node': 'cedar-wasm' };
const rate = (e, m) => rows.find((r) => r.engine === e && r.mode === m)?.per_sec;
function peer(r) {
  const pe = peerEngine[r.engine];
  if (!pe) return ['', ''];
  const pm = r.mode.startsWith('slice') ? 'slice' : 'store';
  const p = rate(pe, pm);
  return p ? [`${pe}/${pm}`, `${(r.per_sec / p).toFixed(2)}x`] : ['', ''];
}
const mb = (kb) => (kb ? `${(kb / 1024).toFixed(0)} MB` : '');
const fmt = (n) => Math.round(n).toLocaleString('en-US');
const mib = (b) => (b === undefined ? '' : `${(b / 1048576).toFixed(1)} MB`);

const table = [['engine', 'mode', 'requests', 'decided', 'decisions/s', 'vs peer', 'peer', 'errors', 'peak RSS', 'store']];
for (const r of rows) {
  const [p, ratio] = peer(r);
  table.push([r.engine, r.mode, fmt(r.requests), fmt(r.decided ?? r.requests), fmt(r.per_sec), ratio, p, String(r.errors), mb(procs[r.engine]?.vmhwm_kb),
    mib(memory[r.engine]?.store_bytes)]);
}
// Prints a table whose columns in `right` are right-aligned.
function printTable(t, right) {
  const widths = t[0].map((_, i) => Math.max(...t.map((row) => row[i].length)));
  const line = (row) => row.map((c, i) => (right.has(i) ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join('  ').trimEnd();
  console.log(line(t[0]));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const row of t.slice(1)) console.log(line(row));
}
printTable(table, new Set([2, 3, 4, 5, 7, 8, 9]));

// Sizes and load times.
console.log('');
const size = (f) => { try { return statSync(join(dir, f)).size; } catch { return 0; } };
console.log(`workload: ${dir}: entities.json ${fmt(size('entities.json'))} B, packed bundle (bundle.privet) ${fmt(size('bundle.privet'))} B`);
for (const [e, p] of Object.entries(procs)) {
  const bits = [`peak RSS ${mb(p.vmhwm_kb)}`];
  if (p.load_ms !== undefined) bits.push(`load ${fmt(p.load_ms)} ms`);
  if (p.wasm_bytes) bits.push(`wasm module ${fmt(p.wasm_bytes)} B`);
  if (p.cedar_wasm_version) bits.push(`cedar-wasm ${p.cedar_wasm_version}`);
  console.log(`  ${e.padEnd(16)} ${bits.join(', ')}`);
}

// Entity-store memory: live heap bytes retained for the store (requested sizes; allocator overhead excluded).
if (Object.keys(memory).length) {
  console.log('');
  console.log('entity store memory (live heap bytes after load, counting allocator):');
  const cedarStore = memory['cedar-native']?.store_bytes;
  const mt = [['engine', 'entities', 'store bytes', 'bytes/entity', 'vs cedar', 'of which source text']];
  for (const [e, m] of Object.entries(memory)) {
    const vs = cedarStore && e !== 'cedar-native' ? `${(m.store_bytes / cedarStore).toFixed(2)}x` : '';
    const text = m.source_text_bytes === undefined ? '' : `${fmt(m.source_text_bytes)} B`;
    mt.push([e, fmt(m.entities), fmt(m.store_bytes), m.entities ? fmt(m.store_bytes / m.entities) : '', vs, text]);
  }
  printTable(mt, new Set([1, 2, 3, 4, 5]));
}

// Agreement: every decisions file against the reference (privet-native/store for store-mode inputs,
// privet-native/slice for slice-mode inputs), over the prefix both ran.
const ddir = join(dir, 'decisions');
const files = readdirSync(ddir).filter((f) => f.endsWith('.txt'));
const read = (f) => readFileSync(join(ddir, f), 'latin1');
const refs = { store: read('privet-native--store.txt'), slice: read('privet-native--slice.txt') };
let disagreements = 0;
let compared = 0;
// Privet's engines and modes must give the same letters as privet-native's. Cedar's must too, but for two
// differences fail-closed mode makes by design (Cedar-exact mode, `[decision] semantics = "cedar"`, has neither):
// - a request whose principal or resource is not stored ('n' in Privet's files; see `verdict` in main.rs): cedar
//   evaluates it (and may allow), so cedar's answer is not compared there;
// - a decision with policy errors is a deny: Privet's 'D' where cedar allows with errors ('A').
const failClosedMode = (procs['privet-native']?.semantics ?? 'fail-closed') === 'fail-closed';
let failClosed = 0;
let deniedOnErrors = 0;
const detail = [];
for (const f of files) {
  const mode = f.replace(/\.txt$/, '').split('--')[1];
  const ref = refs[mode.startsWith('slice') ? 'slice' : 'store'];
  const cedar = f.startsWith('cedar-');
  const d = read(f);
  let n = 0;
  const first = [];
  for (let i = 0; i < Math.min(d.length, ref.length); i++) {
    if (cedar && ref[i] === 'n') {
      failClosed++;
      continue;
    }
    if (cedar && failClosedMode && ref[i] === 'D' && d[i] === 'A') {
      deniedOnErrors++;
      continue;
    }
    if (d[i] !== ref[i]) {
      n++;
      if (first.length < 5) first.push(i);
    }
  }
  compared += Math.min(d.length, ref.length);
  disagreements += n;
  if (n) detail.push(`  ${f}: ${n} disagreements (request indexes ${first.join(', ')}…)`);
}
// Store vs slice inputs differ (a quarter of the slices change consent state), so they are not compared with each other.
console.log('');
console.log(
  `agreement: ${files.length} engine/mode runs, ${fmt(compared - failClosed - deniedOnErrors)} decisions compared ` +
    `(decision and error presence, ${failClosedMode ? 'fail-closed' : 'Cedar-exact'} mode), ${disagreements} disagreements`,
);
if (failClosed) {
  console.log(
    `  and ${fmt(failClosed)} cedar decisions on requests whose principal or resource is not stored, which ` +
      "Privet's fail-closed mode denies (entity_not_found) by design: not compared (every Privet engine and mode " +
      "agrees on them; `[decision] semantics = \"cedar\"` in privet.toml gives cedar's answers)",
  );
}
if (deniedOnErrors) {
  console.log(
    `  and ${fmt(deniedOnErrors)} cedar decisions that allow with policy errors, which Privet's fail-closed mode ` +
      'denies (with the same errors) by design',
  );
}
for (const l of detail) console.log(l);
// Errors are compared with the decisions (a request one engine refuses and another decides is a disagreement).
for (const r of rows.filter((r) => r.errors > 0)) console.log(`  ${r.engine}/${r.mode}: ${r.errors} decisions carried errors`);
process.exit(disagreements === 0 ? 0 : 1);

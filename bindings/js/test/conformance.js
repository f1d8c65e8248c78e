// The cross-host conformance corpus (tests/conformance/README.md) run through the privet package. Plain ESM
// without Node imports: the node test (conformance.test.js) and the Chromium page (browser/index.html) both
// use it on the same files, so both hosts are held to the same comparison.

const NEWLINE = 0x0a;
const textDecoder = new TextDecoder('utf-8');

/** Splits bytes into lines (without the `\n`); a final newline does not start another line. */
export function splitLines(bytes) {
  const lines = [];
  let start = 0;
  for (let i = 0; i < bytes.length; i++) {
    if (bytes[i] === NEWLINE) {
      lines.push(bytes.subarray(start, i));
      start = i + 1;
    }
  }
  if (start < bytes.length) lines.push(bytes.subarray(start));
  return lines;
}

/** The normal form of expected.jsonl: verdict, determining policy ids, error codes in order. */
export function normalize(d) {
  return {
    decision: d?.decision,
    reasons: d?.reasons,
    errors: Array.isArray(d?.errors) ? d.errors.map((e) => e?.code) : d?.errors,
  };
}

/** Structural equality of JSON values (key order ignored, array order kept). */
export function jsonEqual(a, b) {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) return a.length === b.length && a.every((x, i) => jsonEqual(x, b[i]));
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  return ka.length === kb.length && ka.every((k) => Object.prototype.hasOwnProperty.call(b, k) && jsonEqual(a[k], b[k]));
}

/** Nesting depth of a parsed JSON value (scalars 0, `{}` 1). */
function depth(v) {
  if (v === null || typeof v !== 'object') return 0;
  let max = 0;
  for (const x of Array.isArray(v) ? v : Object.values(v)) {
    const d = depth(x);
    if (d > max) max = d;
  }
  return max + 1;
}

function concat(parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

const OPEN = new Uint8Array([0x5b]); // [
const COMMA = new Uint8Array([0x2c]); // ,
const CLOSE = new Uint8Array([0x5d]); // ]

function brief(bytes, max = 240) {
  const s = textDecoder.decode(bytes.length > max * 4 ? bytes.subarray(0, max * 4) : bytes);
  return s.length > max ? `${s.slice(0, max)}… (${bytes.length} bytes)` : s;
}

/**
 * Runs the corpus: every request line through `engine.decide` (the raw bytes of the line), then every line
 * that can be an element of a JSON array (valid JSON, nested no deeper than the bundle's JSON depth limit,
 * so that the array stays within it) through `engine.decideBatch` in batches of `batchSize` (the raw bytes
 * of the lines joined into an array). Returns counts, timings and the mismatches (1-based line numbers).
 *
 * @param Privet the package's class
 * @param files `{bundle, requests, expected}` as bytes (Uint8Array)
 */
export async function runConformance(Privet, files, { batchSize = 500, wasm, maxMismatches = 20 } = {}) {
  const requests = splitLines(files.requests);
  const expectedLines = splitLines(files.expected);
  const result = { lines: requests.length, decide: null, batch: null, mismatches: [], mismatchCount: 0, problems: [] };
  if (requests.length === 0) result.problems.push('requests.jsonl has no lines');
  if (requests.length !== expectedLines.length) {
    result.problems.push(`requests.jsonl has ${requests.length} lines but expected.jsonl has ${expectedLines.length}`);
  }
  const expected = expectedLines.map((l, i) => {
    try {
      return JSON.parse(textDecoder.decode(l));
    } catch (e) {
      result.problems.push(`expected.jsonl line ${i + 1} is not JSON: ${e.message}`);
      return null;
    }
  });
  const n = Math.min(requests.length, expected.length);

  const mismatch = (how, i, got) => {
    result.mismatchCount += 1;
    if (result.mismatches.length < maxMismatches) {
      result.mismatches.push({
        how,
        line: i + 1,
        request: brief(requests[i]),
        expected: JSON.stringify(expected[i]),
        got: JSON.stringify(got),
      });
    }
  };

  const engine = await Privet.load(files.bundle, wasm === undefined ? {} : { wasm });
  try {
    // One call per request.
    let t = now();
    for (let i = 0; i < n; i++) {
      const got = normalize(engine.decide(requests[i]));
      if (!jsonEqual(got, expected[i])) mismatch('decide', i, got);
    }
    result.decide = { compared: n, ms: now() - t };

    // Batches of the lines an array can hold.
    const maxDepth = Number(engine.info()?.limits?.max_json_depth ?? 64);
    const batchable = [];
    for (let i = 0; i < n; i++) {
      let v;
      try {
        v = JSON.parse(textDecoder.decode(requests[i]));
      } catch {
        continue; // malformed lines cannot be array elements
      }
      if (depth(v) <= maxDepth) batchable.push(i);
    }
    t = now();
    let batches = 0;
    for (let s = 0; s < batchable.length; s += batchSize) {
      const chunk = batchable.slice(s, s + batchSize);
      const parts = [OPEN];
      chunk.forEach((i, k) => {
        if (k > 0) parts.push(COMMA);
        parts.push(requests[i]);
      });
      parts.push(CLOSE);
      const decisions = engine.decideBatch(concat(parts));
      batches += 1;
      if (!Array.isArray(decisions) || decisions.length !== chunk.length) {
        const first = Array.isArray(decisions) ? decisions[0] : decisions;
        result.mismatchCount += 1;
        result.problems.push(
          `batch of lines ${chunk[0] + 1}..${chunk[chunk.length - 1] + 1}: ${chunk.length} requests gave ` +
            `${Array.isArray(decisions) ? decisions.length : typeof decisions} decisions (first: ${JSON.stringify(first)?.slice(0, 400)})`,
        );
        continue;
      }
      chunk.forEach((i, k) => {
        const got = normalize(decisions[k]);
        if (!jsonEqual(got, expected[i])) mismatch('decideBatch', i, got);
      });
    }
    result.batch = { compared: batchable.length, batches, batchSize, ms: now() - t, notBatchable: n - batchable.length };
  } finally {
    engine.close();
  }
  result.ok = result.problems.length === 0 && result.mismatchCount === 0 && n > 0;
  return result;
}

/** A human-readable report of `runConformance`'s result. */
export function formatReport(r) {
  const out = [];
  const rate = (c, ms) => (ms > 0 ? Math.round((c * 1000) / ms) : 0);
  out.push(`conformance: ${r.lines} request lines`);
  if (r.decide) out.push(`  decide: ${r.decide.compared} compared in ${Math.round(r.decide.ms)} ms (${rate(r.decide.compared, r.decide.ms)}/s)`);
  if (r.batch) {
    out.push(
      `  decideBatch: ${r.batch.compared} compared in ${r.batch.batches} batches of up to ${r.batch.batchSize} in ` +
        `${Math.round(r.batch.ms)} ms (${rate(r.batch.compared, r.batch.ms)}/s); ${r.batch.notBatchable} lines cannot be ` +
        'array elements (malformed or nested past the depth limit) and are checked by decide only',
    );
  }
  for (const p of r.problems) out.push(`  problem: ${p}`);
  if (r.mismatchCount > 0) out.push(`  ${r.mismatchCount} mismatches; the first ${r.mismatches.length}:`);
  for (const m of r.mismatches) {
    out.push(`  line ${m.line} (${m.how}): request ${m.request}`);
    out.push(`    expected ${m.expected}`);
    out.push(`    got      ${m.got}`);
  }
  return out.join('\n');
}

function now() {
  return typeof performance !== 'undefined' ? performance.now() : Date.now();
}

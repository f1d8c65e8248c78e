// node --test: the cross-host conformance corpus (tests/conformance/README.md) through the privet package in
// Node. Every line of requests.jsonl through `engine.decide`, and every line an array can hold through
// `engine.decideBatch` in batches of 500; each decision normalized as expected.jsonl is and compared with it.
// The corpus is generated (not committed): `cargo run --release -p privet-host --example gen-conformance`
// (scripts/test-js.sh does it when missing). PRIVET_CONFORMANCE_DIR overrides <repo>/target/conformance.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, access } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { resolve } from 'node:path';

import { Privet } from '../index.js';
import { runConformance, formatReport } from './conformance.js';

const repo = fileURLToPath(new URL('../../../', import.meta.url));
const dir = resolve(process.env.PRIVET_CONFORMANCE_DIR ?? resolve(repo, 'target/conformance'));
const names = ['bundle.privet', 'requests.jsonl', 'expected.jsonl'];

test(`conformance corpus in Node equals native privet-core (${dir})`, async () => {
  const missing = [];
  for (const n of names) {
    try {
      await access(resolve(dir, n));
    } catch {
      missing.push(n);
    }
  }
  assert.deepEqual(
    missing,
    [],
    `conformance corpus missing in ${dir}: ${missing.join(', ')}. Generate it with ` +
      '`cargo run --release -p privet-host --example gen-conformance` from the repository root ' +
      '(PRIVET_CONFORMANCE_DIR=DIR for another directory); scripts/test-js.sh does it when missing.',
  );
  const [bundle, requests, expected] = await Promise.all(names.map((n) => readFile(resolve(dir, n))));
  const r = await runConformance(Privet, { bundle, requests, expected });
  console.log(formatReport(r));
  assert.ok(r.lines >= 10000, `the corpus has only ${r.lines} lines`);
  assert.equal(r.decide?.compared, r.lines);
  assert.ok(r.batch?.compared > r.lines / 2, `only ${r.batch?.compared} lines went through decideBatch`);
  assert.ok(r.ok, formatReport(r));
});

// Shared by compact.test.js and packed.test.js, which hold the compact (ABI 1.1) and packed (ABI 1.2)
// decisions to the 1.0 ones: index.js's test switches, the wasm module's bytes, the CPRA pack (the conformance
// corpus's bundle.privet; scripts/test-js.sh generates the corpus when missing), its demo requests, the corpus
// requests, and an equality that also checks key order.
import assert from 'node:assert/strict';
import { readFile, access } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { resolve } from 'node:path';

import { splitLines } from './conformance.js';

export const FORCE_ABI_10 = Symbol.for('privet.test.forceAbi10');
export const FORCE_ABI_11 = Symbol.for('privet.test.forceAbi11');
export const DECIDE_FORM = Symbol.for('privet.test.decideForm');
export const INJECT_TRAP = Symbol.for('privet.test.injectTrap');

const repo = fileURLToPath(new URL('../../../', import.meta.url));
const corpusDir = resolve(process.env.PRIVET_CONFORMANCE_DIR ?? resolve(repo, 'target/conformance'));
export const wasmBytes = await readFile(new URL('../privet.wasm', import.meta.url));

/** The CPRA pack, packed. */
export async function cpra() {
  const path = resolve(corpusDir, 'bundle.privet');
  await access(path).catch(() => {
    throw new Error(`${path} is missing: run \`cargo run --release -p privet-host --example gen-conformance\` (scripts/test-js.sh does)`);
  });
  return readFile(path);
}

/** The CPRA pack's demo requests, one JSON text each. */
export const demo = (await readFile(resolve(repo, 'policies/cpra/demo/requests.jsonl'), 'utf8'))
  .split('\n')
  .filter((l) => l.trim() !== '');

/** The conformance corpus's requests, one JSON text each. */
export async function corpusRequests() {
  return splitLines(await readFile(resolve(corpusDir, 'requests.jsonl')));
}

/** Equal values and the same key order everywhere (JSON text of both is the same). */
export function assertSame(got, want, what) {
  assert.deepStrictEqual(got, want, what);
  assert.equal(JSON.stringify(got), JSON.stringify(want), `${what}: key order`);
}

// Serves bindings/js on 127.0.0.1, opens test/browser/index.html in headless Chromium, waits for the page
// to POST its results, prints them and exits non-zero on any failure. Used by scripts/test-browser.sh.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

import { startServer, repoRoot } from './server.mjs';
import { formatReport } from '../conformance.js';

const chromium = process.env.CHROMIUM ?? '/usr/bin/chromium';
const timeoutMs = Number(process.env.PRIVET_BROWSER_TIMEOUT_MS ?? 600000);
// The conformance corpus (tests/conformance/README.md), served under /conformance/ for the page.
const corpus = resolve(process.env.PRIVET_CONFORMANCE_DIR ?? join(repoRoot, 'target/conformance'));
const missing = ['bundle.privet', 'requests.jsonl', 'expected.jsonl'].filter((n) => !existsSync(join(corpus, n)));
if (missing.length > 0) {
  console.error(
    `browser test: conformance corpus missing in ${corpus}: ${missing.join(', ')}; generate it with ` +
      '`cargo run --release -p privet-host --example gen-conformance` (scripts/test-browser.sh does it when missing)',
  );
  process.exit(1);
}

let resolveResult;
const result = new Promise((r) => (resolveResult = r));
const { origin, close } = await startServer({ mounts: { '/conformance/': corpus }, onResult: (r) => resolveResult(r) });
const url = `${origin}/test/browser/index.html`;

const profile = mkdtempSync(join(tmpdir(), 'privet-chromium-'));
const browser = spawn(
  chromium,
  [
    '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
    `--user-data-dir=${profile}`, '--remote-debugging-port=0', url,
  ],
  { stdio: ['ignore', 'ignore', 'pipe'] },
);
let stderr = '';
browser.stderr.on('data', (d) => (stderr += d));

const timer = setTimeout(() => resolveResult(null), timeoutMs);
const outcome = await result;
clearTimeout(timer);
const exited = new Promise((r) => (browser.exitCode !== null ? r() : browser.once('exit', r)));
browser.kill();
await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
await close();
try {
  rmSync(profile, { recursive: true, force: true, maxRetries: 5, retryDelay: 200 });
} catch {
  // a leftover temporary profile is not a test failure
}

if (outcome === null) {
  console.error(`browser test: no result from ${url} within ${timeoutMs} ms\n${stderr.slice(-4000)}`);
  process.exit(1);
}
console.log(`browser test: ${outcome.userAgent}`);
let failed = 0;
for (const r of outcome.results) {
  console.log(`${r.ok ? 'ok' : 'not ok'} - ${r.name}`);
  if (!r.ok) {
    failed += 1;
    console.log(r.error.replace(/^/gm, '    '));
  }
}
// The corpus: the page's verdict is one of the results above; check the figures here too.
const c = outcome.conformance;
const corpusOk = Boolean(c && c.ok && c.mismatchCount === 0 && c.decide?.compared === c.lines && c.lines > 0);
if (c) console.log(formatReport(c).replace(/^/gm, '    '));
else console.log('    conformance: the page reported no corpus result');
const passed = outcome.results.filter((r) => r.ok).length;
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 && passed > 0 && corpusOk ? 0 : 1);

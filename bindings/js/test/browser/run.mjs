// Serves bindings/js on 127.0.0.1, opens test/browser/index.html in headless Chromium, waits for the page
// to POST its results, prints them and exits non-zero on any failure. Used by scripts/test-browser.sh.
import { createServer } from 'node:http';
import { readFile } from 'node:fs/promises';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { extname, join, normalize, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));
const chromium = process.env.CHROMIUM ?? '/usr/bin/chromium';
const timeoutMs = Number(process.env.PRIVET_BROWSER_TIMEOUT_MS ?? 60000);
const types = { '.html': 'text/html', '.js': 'text/javascript', '.json': 'application/json', '.wasm': 'application/wasm' };

let resolveResult;
const result = new Promise((r) => (resolveResult = r));

const server = createServer(async (req, res) => {
  if (req.method === 'POST' && req.url === '/__result') {
    let body = '';
    for await (const chunk of req) body += chunk;
    res.end('ok');
    resolveResult(JSON.parse(body));
    return;
  }
  const path = normalize(join(root, decodeURIComponent(new URL(req.url, 'http://x').pathname)));
  if (!path.startsWith(root.endsWith(sep) ? root : root + sep)) {
    res.writeHead(403).end();
    return;
  }
  try {
    const data = await readFile(path);
    res.writeHead(200, { 'content-type': types[extname(path)] ?? 'application/octet-stream' }).end(data);
  } catch {
    res.writeHead(404).end();
  }
});
await new Promise((r) => server.listen(0, '127.0.0.1', r));
const url = `http://127.0.0.1:${server.address().port}/test/browser/index.html`;

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
server.close();
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
const passed = outcome.results.length - failed;
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 && passed > 0 ? 0 : 1);

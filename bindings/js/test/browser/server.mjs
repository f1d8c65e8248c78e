// A small static HTTP server on 127.0.0.1 for the browser tests and the demo: serves bindings/js at `/`
// (index.js, privet.wasm, test/, demo/) and extra directories or files under fixed URL paths (mounts), with
// the right content types (`application/wasm` for streaming compilation). `POST /__result` hands the body,
// parsed as JSON, to `onResult`.
import { createServer } from 'node:http';
import { readFile } from 'node:fs/promises';
import { extname, join, normalize, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

export const jsRoot = fileURLToPath(new URL('../..', import.meta.url));
export const repoRoot = fileURLToPath(new URL('../../../..', import.meta.url));

const types = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.jsonl': 'application/x-ndjson',
  '.wasm': 'application/wasm',
  '.privet': 'application/json',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
};

function inside(dir, path) {
  const d = dir.endsWith(sep) ? dir : dir + sep;
  return path === dir || path.startsWith(d);
}

/**
 * @param options.mounts `{ '/conformance/': '/abs/dir', '/demo/cpra.privet': '/abs/file' }`: a key ending in `/`
 *   maps a directory, any other key one file
 * @param options.onResult called with the parsed body of `POST /__result`
 * @param options.port TCP port (default 0: any free port)
 * @returns `{ server, origin, close() }`
 */
export async function startServer({ mounts = {}, onResult = () => {}, port = 0 } = {}) {
  const server = createServer(async (req, res) => {
    try {
      const pathname = decodeURIComponent(new URL(req.url, 'http://x').pathname);
      if (req.method === 'POST' && pathname === '/__result') {
        let body = '';
        for await (const chunk of req) body += chunk;
        res.end('ok');
        onResult(JSON.parse(body));
        return;
      }
      let base = jsRoot;
      let rel = pathname;
      for (const [prefix, target] of Object.entries(mounts)) {
        if (prefix.endsWith('/') ? pathname.startsWith(prefix) : pathname === prefix) {
          base = prefix.endsWith('/') ? target : null;
          rel = prefix.endsWith('/') ? pathname.slice(prefix.length) : target;
          break;
        }
      }
      const path = base === null ? rel : normalize(join(base, rel));
      if (base !== null && !inside(base, path)) {
        res.writeHead(403).end();
        return;
      }
      const data = await readFile(path.endsWith(sep) ? join(path, 'index.html') : path);
      res
        .writeHead(200, { 'content-type': types[extname(path)] ?? 'application/octet-stream', 'cache-control': 'no-store' })
        .end(data);
    } catch {
      if (!res.headersSent) res.writeHead(404).end();
    }
  });
  await new Promise((r) => server.listen(port, '127.0.0.1', r));
  const origin = `http://127.0.0.1:${server.address().port}`;
  return { server, origin, close: () => new Promise((r) => server.close(r)) };
}

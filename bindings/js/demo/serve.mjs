// Serves the checkout demo: `node bindings/js/demo/serve.mjs [PORT]` from the repository, then open the printed
// URL. The page needs the packed CPRA pack at /demo/cpra.privet: PRIVET_DEMO_BUNDLE names the file (default
// <repo>/target/demo/cpra.privet, packed here with `cargo run -p privet-cli -- pack policies/cpra` when missing)
// and privet.wasm beside index.js (scripts/test-js.sh copies it there).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

import { startServer, repoRoot, jsRoot } from '../test/browser/server.mjs';

/** The packed CPRA pack for the demo, packed with the CLI when missing. */
export function demoBundle() {
  const file = resolve(process.env.PRIVET_DEMO_BUNDLE ?? join(repoRoot, 'target/demo/cpra.privet'));
  if (!existsSync(file)) {
    mkdirSync(dirname(file), { recursive: true });
    const env = { ...process.env };
    for (const k of ['RUSTC', 'RUSTDOC', 'RUSTC_BOOTSTRAP', 'RUSTFLAGS', 'CARGO_TARGET_DIR']) delete env[k];
    execFileSync('cargo', ['run', '-q', '-p', 'privet-cli', '--', 'pack', join(repoRoot, 'policies/cpra'), '-o', file], {
      cwd: repoRoot,
      env,
      stdio: ['ignore', 'inherit', 'inherit'],
    });
  }
  if (!existsSync(join(jsRoot, 'privet.wasm'))) {
    throw new Error(`${join(jsRoot, 'privet.wasm')} missing: run scripts/test-js.sh (or copy target/wasm/privet.wasm there)`);
  }
  return file;
}

/** Starts the demo server; `{origin, url, close}`. */
export async function startDemo({ port = 0 } = {}) {
  const bundle = demoBundle();
  const s = await startServer({ mounts: { '/demo/cpra.privet': bundle }, port });
  return { ...s, url: `${s.origin}/demo/index.html` };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { url } = await startDemo({ port: Number(process.argv[2] ?? 8080) });
  console.log(`checkout demo: ${url} (Ctrl-C to stop)`);
}

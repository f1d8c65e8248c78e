#!/usr/bin/env bash
# Build the wasm module, put it into bindings/js, pack the fixture bundle, run the node tests, then check that
# `npm pack` yields a tarball that installs into an empty directory and decides.
#
# Environment:
#   PRIVET_SKIP_WASM_BUILD=1   reuse target/wasm/privet.wasm (e.g. CI that built it in an earlier step)
#   PRIVET_TEST_BUNDLE_DIR     bundle directory to pack (default crates/privet-wasm/tests/fixtures/bundle)
#   PRIVET_CONFORMANCE_DIR     the conformance corpus (default target/conformance; generated when missing)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
js="$root/bindings/js"

if [ "${PRIVET_SKIP_WASM_BUILD:-0}" != 1 ]; then
    "$root/scripts/build-wasm.sh"
fi
"$root/scripts/check-wasm-size.sh"
cp "$root/target/wasm/privet.wasm" "$js/privet.wasm"

# Pack the test bundle natively (the machine's cargo/rustc, the default target dir). Same format as
# `privet pack`.
bundle_dir="${PRIVET_TEST_BUNDLE_DIR:-$root/crates/privet-wasm/tests/fixtures/bundle}"
env -u RUSTC -u RUSTDOC -u RUSTC_BOOTSTRAP -u RUSTFLAGS -u CARGO_TARGET_DIR \
    cargo run -q -p privet-wasm --example pack -- "$bundle_dir" "$js/test/fixture.privet.json"

# The cross-host conformance corpus (tests/conformance/README.md), generated natively when missing.
corpus="$(realpath -m "${PRIVET_CONFORMANCE_DIR:-$root/target/conformance}")"
if [ ! -s "$corpus/bundle.privet" ] || [ ! -s "$corpus/requests.jsonl" ] || [ ! -s "$corpus/expected.jsonl" ]; then
    echo "test-js: generating the conformance corpus in $corpus"
    env -u RUSTC -u RUSTDOC -u RUSTC_BOOTSTRAP -u RUSTFLAGS -u CARGO_TARGET_DIR PRIVET_CONFORMANCE_DIR="$corpus" \
        cargo run -q --release -p privet-host --example gen-conformance
fi
export PRIVET_CONFORMANCE_DIR="$corpus"

echo "test-js: node --test"
(cd "$js" && node --test test/*.test.js)

# The published artifact: npm pack, install into an empty project, import and decide.
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
(cd "$js" && npm pack --silent --pack-destination "$work" >/dev/null)
tarball="$(ls "$work"/privet-*.tgz)"
echo "test-js: packed $(basename "$tarball") ($(stat -c %s "$tarball") bytes)"
tar -tzf "$tarball" | sort | sed 's/^/  /'
tar -tzf "$tarball" | grep -qx 'package/privet.wasm' || { echo "test-js: tarball lacks privet.wasm" >&2; exit 1; }
# Tests, the demo and dev dependencies (playwright-core) stay out of the published package.
if tar -tzf "$tarball" | grep -E '^package/(test|demo|node_modules)/'; then
    echo "test-js: tarball holds test, demo or node_modules files" >&2; exit 1
fi
tar -xzOf "$tarball" package/package.json | node -e '
const p = JSON.parse(require("fs").readFileSync(0, "utf8"));
const runtime = { ...p.dependencies, ...p.peerDependencies, ...p.optionalDependencies };
if (Object.keys(runtime).length > 0) { console.error("test-js: the package has runtime dependencies:", runtime); process.exit(1); }'
mkdir "$work/app"
cp "$js/test/fixture.privet.json" "$work/app/bundle.privet.json"
(
    cd "$work/app"
    npm init -y >/dev/null
    npm pkg set type=module >/dev/null
    npm install --offline --no-audit --no-fund --silent "$tarball"
    cat > smoke.mjs <<'JS'
import { Privet, PrivetError } from 'privet';
import { readFile } from 'node:fs/promises';
const engine = await Privet.load(await readFile('bundle.privet.json'));
const req = (id) => ({ principal: 'Recipient::"adco"', action: 'Action::"sell"', resource: `Consumer::"${id}"`, context: { purpose: 'ads' } });
const [a, b] = [engine.decide(req('alice')), engine.decide(req('bob'))];
if (a.decision !== 'deny' || b.decision !== 'allow') { console.error(a, b); process.exit(1); }
try { await Privet.load('{}'); process.exit(1); } catch (e) { if (!(e instanceof PrivetError)) throw e; }
console.log(`smoke: installed package decides (alice ${a.decision} by ${a.reasons}, bob ${b.decision}), ${engine.info().name}`);
JS
    node smoke.mjs
)
echo "test-js: ok"

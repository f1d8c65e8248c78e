#!/usr/bin/env bash
# Runs bindings/js in headless Chromium: the same index.js and privet.wasm as the node tests, served over HTTP.
#  1. test/browser/run.mjs: the package's browser tests and the cross-host conformance corpus
#     (tests/conformance/README.md, served under /conformance/), compared line by line in the page.
#  2. test/browser/demo.mjs: the checkout consent-panel demo (bindings/js/demo) on the CPRA pack, driven by
#     playwright-core; saves target/artifacts/checkout-demo.png.
# Needs target/wasm/privet.wasm copied into bindings/js and the packed fixture: run scripts/test-js.sh first
# (it builds both). Generates the conformance corpus and packs the CPRA pack when missing. Installs Debian's
# chromium when missing (as root); playwright-core comes from the npm registry (package-lock.json), it never
# downloads a browser.
#
# Environment:
#   CHROMIUM                   the browser (default /usr/bin/chromium)
#   PRIVET_CONFORMANCE_DIR     the conformance corpus (default target/conformance)
#   PRIVET_ARTIFACTS_DIR       where the demo screenshots go (default target/artifacts)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
js="$root/bindings/js"
chromium="${CHROMIUM:-/usr/bin/chromium}"
native() { env -u RUSTC -u RUSTDOC -u RUSTC_BOOTSTRAP -u RUSTFLAGS -u CARGO_TARGET_DIR "$@"; }

if [ ! -x "$chromium" ]; then
    [ "$(id -u)" -eq 0 ] || { echo "test-browser: $chromium missing; install Debian's chromium (as root)" >&2; exit 1; }
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y --no-install-recommends chromium || { apt-get update && apt-get install -y --no-install-recommends chromium; }
fi
[ -f "$js/privet.wasm" ] || { echo "test-browser: $js/privet.wasm missing (run scripts/test-js.sh)" >&2; exit 1; }
[ -f "$js/test/fixture.privet.json" ] || { echo "test-browser: fixture bundle missing (run scripts/test-js.sh)" >&2; exit 1; }

corpus="$(realpath -m "${PRIVET_CONFORMANCE_DIR:-$root/target/conformance}")"
if [ ! -s "$corpus/bundle.privet" ] || [ ! -s "$corpus/requests.jsonl" ] || [ ! -s "$corpus/expected.jsonl" ]; then
    echo "test-browser: generating the conformance corpus in $corpus"
    native env PRIVET_CONFORMANCE_DIR="$corpus" cargo run -q --release -p privet-host --example gen-conformance
fi
export PRIVET_CONFORMANCE_DIR="$corpus"

# The demo's bundle: the CPRA pack, packed afresh (policies may have changed since the last run).
export PRIVET_DEMO_BUNDLE="$root/target/demo/cpra.privet"
mkdir -p "$(dirname "$PRIVET_DEMO_BUNDLE")"
native cargo run -q -p privet-cli -- pack policies/cpra -o "$PRIVET_DEMO_BUNDLE" >/dev/null

# playwright-core (a devDependency) from the lockfile; no browser download.
(cd "$js" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --prefer-offline --no-audit --no-fund --silent)

echo "test-browser: package tests and conformance corpus"
CHROMIUM="$chromium" node "$js/test/browser/run.mjs"
echo "test-browser: checkout demo (playwright-core)"
CHROMIUM="$chromium" node "$js/test/browser/demo.mjs"

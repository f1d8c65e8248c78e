#!/usr/bin/env bash
# Runs bindings/js in headless Chromium: the same index.js and privet.wasm as the node tests, served over HTTP.
# Needs target/wasm/privet.wasm and the packed fixture: run scripts/test-js.sh first (it builds both).
# Installs Debian's chromium when missing (as root).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
js="$root/bindings/js"
chromium="${CHROMIUM:-/usr/bin/chromium}"

if [ ! -x "$chromium" ]; then
    [ "$(id -u)" -eq 0 ] || { echo "test-browser: $chromium missing; install Debian's chromium (as root)" >&2; exit 1; }
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y --no-install-recommends chromium || { apt-get update && apt-get install -y --no-install-recommends chromium; }
fi
[ -f "$js/privet.wasm" ] || { echo "test-browser: $js/privet.wasm missing (run scripts/test-js.sh)" >&2; exit 1; }
[ -f "$js/test/fixture.privet.json" ] || { echo "test-browser: fixture bundle missing (run scripts/test-js.sh)" >&2; exit 1; }

CHROMIUM="$chromium" node "$js/test/browser/run.mjs"

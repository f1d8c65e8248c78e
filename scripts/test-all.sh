#!/usr/bin/env bash
# The whole test suite, as the README gives it: builds the wasm bundle (installing its toolchain when
# missing), then runs every native test (engine, CLI, wasm ABI natively, wasmtime host, conformance corpus),
# lints, the Node tests with `npm pack`, and the headless-Chromium test.
#
# Environment:
#   PRIVET_SKIP_WASM_BUILD=1  reuse target/wasm/privet.wasm
#   PRIVET_SKIP_BROWSER=1     skip the headless-Chromium test (it needs Debian's chromium)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
step() { printf '\n==> %s\n' "$*"; }

if [ "${PRIVET_SKIP_WASM_BUILD:-0}" != 1 ]; then
    step "wasm bundle"
    scripts/build-wasm.sh
fi
scripts/check-wasm-size.sh

step "native tests (cargo test --workspace)"
cargo test --workspace --locked

step "lints (cargo clippy)"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "policy pack suites (privet test)"
cargo run -q --locked -p privet-cli -- test --require-coverage policies/cpra/tests/*.yaml | tail -n 3

step "JavaScript bindings (node --test, npm pack)"
PRIVET_SKIP_WASM_BUILD=1 scripts/test-js.sh

if [ "${PRIVET_SKIP_BROWSER:-0}" != 1 ]; then
    step "browser (headless Chromium)"
    scripts/test-browser.sh
fi
step "all tests passed"

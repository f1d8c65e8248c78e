#!/usr/bin/env bash
# Size budget for the wasm bundle. Fails when the optimised module exceeds the budget.
# Reference: the official @cedar-policy/cedar-wasm 4.13 is 4,318,628 bytes raw, 1,422,371 gzip.
#
# Usage: scripts/check-wasm-size.sh [path/to/privet.wasm]   (default target/wasm/privet.wasm)
# Environment: PRIVET_WASM_MAX_RAW (default 3600000), PRIVET_WASM_MAX_GZIP (default 1300000)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
wasm="${1:-$root/target/wasm/privet.wasm}"
max_raw="${PRIVET_WASM_MAX_RAW:-3600000}"
max_gz="${PRIVET_WASM_MAX_GZIP:-1300000}"

[ -f "$wasm" ] || { echo "check-wasm-size: $wasm not found (run scripts/build-wasm.sh)" >&2; exit 1; }
raw=$(stat -c %s "$wasm")
gz=$(gzip -9 -c "$wasm" | wc -c)

status=0
if [ "$raw" -gt "$max_raw" ]; then
    echo "check-wasm-size: FAIL raw size $raw bytes > budget $max_raw" >&2; status=1
fi
if [ "$gz" -gt "$max_gz" ]; then
    echo "check-wasm-size: FAIL gzip size $gz bytes > budget $max_gz" >&2; status=1
fi
[ $status -eq 0 ] && echo "check-wasm-size: ok $wasm raw $raw / $max_raw bytes, gzip $gz / $max_gz bytes"
exit $status

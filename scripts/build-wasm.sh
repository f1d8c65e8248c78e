#!/usr/bin/env bash
# Build crates/privet-wasm into target/wasm/privet.wasm (wasm32-unknown-unknown, size-optimised).
#
# Uses Debian's Rust (>= 1.96, installed by scripts/wasm-toolchain.sh) and builds std from source
# (`-Z build-std`), because rustup cannot fetch the wasm32 standard library on our machines.
# Native builds are untouched: build-std is passed only here, the wasm build has its own
# CARGO_TARGET_DIR (target/wasm) and its own profile ([profile.wasm-release] in Cargo.toml).
#
# Environment:
#   PRIVET_WASM_STACK   wasm shadow-stack size in bytes (default 4194304 = 4 MiB; rust's default is 1 MiB).
#                       cedar's recursive parser/evaluator is stack hungry. The shadow stack lives in linear
#                       memory (untouched pages cost no RAM in V8 or wasmtime). Note that in Node/Chrome the
#                       host's native stack (~1 MB) overflows first: see crates/privet-wasm/ABI.md, "Traps".
#   PRIVET_SKIP_TOOLCHAIN=1  do not run scripts/wasm-toolchain.sh (CI that already ran it)
#   PRIVET_WASM_OUT     output path (default target/wasm/privet.wasm)
#   PRIVET_WASM_TARGET_DIR  cargo target dir (default target/wasm)
#   PRIVET_WASM_OPT     wasm-opt optimisation flag (default -Os: measured 2-5% more decisions/s in wasmtime
#                       than -Oz for about 80 KB more, 3,570,066 against 3,489,912 bytes; -O3 is no faster
#                       here and larger)
#   PRIVET_WASM_STD_FEATURES  std's build features (default optimize_for_size; empty for none: measured no
#                       faster in wasmtime and about 300 KB larger, over the size budget)
#   CARGO_PROFILE_WASM_RELEASE_OPT_LEVEL  cargo's own override of the profile's opt-level ("z"), e.g. 3 or s
#                       to trade size for speed (rebuilds everything)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

if [ "${PRIVET_SKIP_TOOLCHAIN:-0}" != 1 ]; then
    "$root/scripts/wasm-toolchain.sh"
fi

stack="${PRIVET_WASM_STACK:-4194304}"
case "$stack" in (*[!0-9]*|'') echo "build-wasm: PRIVET_WASM_STACK must be a number of bytes" >&2; exit 1;; esac
[ $((stack % 65536)) -eq 0 ] || { echo "build-wasm: PRIVET_WASM_STACK must be a multiple of 65536" >&2; exit 1; }

out="${PRIVET_WASM_OUT:-$root/target/wasm/privet.wasm}"
target_dir="${PRIVET_WASM_TARGET_DIR:-$root/target/wasm}"
profile=wasm-release
raw="$target_dir/wasm32-unknown-unknown/$profile/privet_wasm.wasm"

export RUSTC=/usr/bin/rustc RUSTDOC=/usr/bin/rustdoc RUSTC_BOOTSTRAP=1
export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_LINKER=wasm-ld-22
export CARGO_TARGET_DIR="$target_dir"
# Size flags, applied to every crate of the target (host build scripts and proc-macros are unaffected
# with --target):
#   -Cpanic=immediate-abort   a panic is a bare `unreachable` trap: no formatting machinery, no unwinding
#   -Zlocation-detail=none    no file/line/column strings for panic locations (nothing prints them anyway)
# plus std built with its `optimize_for_size` feature. Measured on privet-core + cedar 4.14.1: these two
# take the module from 2,757,303 to 2,597,740 bytes after wasm-opt (988,315 -> 948,099 gzip).
#   -Ctarget-feature=+simd128  fixed-width SIMD (wasmtime, Node >= 16.4 and current browsers have it): LLVM
#                             vectorises byte loops with it; measured 3,581,731 -> 3,527,353 bytes and about 3%
#                             fewer wasmtime/native seconds per store decision (median ratio 2.36x against 2.52x
#                             over three interleaved runs)
export RUSTFLAGS="-Zunstable-options -Cpanic=immediate-abort -Zlocation-detail=none -Ctarget-feature=+simd128 ${PRIVET_EXTRA_RUSTFLAGS:-}"
unset CARGO_BUILD_RUSTFLAGS CARGO_ENCODED_RUSTFLAGS

# `cargo rustc` so the stack size goes to the final link only: changing it relinks, it does not rebuild
# std and every dependency.
std_features="${PRIVET_WASM_STD_FEATURES-optimize_for_size}"
start=$(date +%s)
/usr/bin/cargo rustc -p privet-wasm --lib --crate-type cdylib --target wasm32-unknown-unknown --profile "$profile" \
    -Z build-std=std,panic_abort ${std_features:+-Z build-std-features=$std_features} ${PRIVET_CARGO_ARGS:-} \
    -- -Clink-arg=-zstack-size="$stack"
built=$(date +%s)

[ -f "$raw" ] || { echo "build-wasm: expected $raw after cargo build" >&2; exit 1; }
mkdir -p "$(dirname "$out")"
wasm-opt "${PRIVET_WASM_OPT:--Os}" \
    --enable-bulk-memory --enable-sign-ext --enable-mutable-globals --enable-nontrapping-float-to-int --enable-simd \
    --strip-debug --strip-producers --strip-target-features \
    "$raw" -o "$out"
end=$(date +%s)

raw_size=$(stat -c %s "$raw")
size=$(stat -c %s "$out")
gz=$(gzip -9 -c "$out" | wc -c)
echo "build-wasm: cargo ${raw_size} bytes -> wasm-opt ${size} bytes (gzip -9: ${gz} bytes)"
echo "build-wasm: wrote $out (cargo $((built - start))s, wasm-opt $((end - built))s, stack $stack bytes)"

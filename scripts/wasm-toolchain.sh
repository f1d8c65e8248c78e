#!/usr/bin/env bash
# Install and verify the toolchain that builds privet-wasm for wasm32-unknown-unknown.
#
# rustup cannot download the wasm32 standard library on our machines, so we use Debian's
# `rustc-web` (Rust >= 1.96, from bookworm-security) with its std sources (`rust-web-src`)
# and build std ourselves (`-Z build-std`). `lld-22` gives the linker `wasm-ld-22`,
# `binaryen` gives `wasm-opt`. See /work/shared/wasm-toolchain.md for the background.
#
# Idempotent: when everything is installed at the right version it only verifies.
# Run as root on a fresh Debian 12 machine (CI); as non-root it only verifies.
#
# Environment:
#   PRIVET_MIN_RUSTC   minimum rustc version (default 1.96.0)
#   PRIVET_NO_INSTALL  set to 1 to verify only, never call apt-get
set -euo pipefail

MIN_RUSTC="${PRIVET_MIN_RUSTC:-1.96.0}"
RUST_PKGS=(rustc-web cargo-web rust-web-src)
OTHER_PKGS=(lld-22 binaryen)

die() { echo "wasm-toolchain: error: $*" >&2; exit 1; }
note() { echo "wasm-toolchain: $*" >&2; }

# version_ge A B: true when version A >= version B (dpkg ordering).
version_ge() { dpkg --compare-versions "$1" ge "$2"; }

installed_version() {
    dpkg-query -W -f='${db:Status-Abbrev} ${Version}\n' "$1" 2>/dev/null | awk '$1 == "ii" { print $2 }'
}

# Upstream Rust version of a Debian version string: 1.96.0+dfsg1-1~deb12u2 -> 1.96.0
upstream() { local v="${1#*:}"; v="${v%%+*}"; echo "${v%%-*}"; }

rust_pkgs_ok() {
    local p v
    for p in "${RUST_PKGS[@]}"; do
        v="$(installed_version "$p")"
        [ -n "$v" ] || return 1
        version_ge "$(upstream "$v")" "$MIN_RUSTC" || return 1
    done
}

other_pkgs_ok() {
    local p
    for p in "${OTHER_PKGS[@]}"; do
        [ -n "$(installed_version "$p")" ] || return 1
    done
}

# Highest version of package $1 that apt knows about (any suite).
best_candidate() {
    apt-cache madison "$1" 2>/dev/null | awk -F'|' '{ gsub(/ /, "", $2); print $2 }' \
        | sort -V -r | head -n1 || true
}

install_pkgs() {
    command -v apt-get >/dev/null || die "apt-get not found: this script supports Debian 12 (bookworm) only"
    [ "$(id -u)" -eq 0 ] || die "toolchain missing or too old and not running as root; rerun as root: sudo $0"
    export DEBIAN_FRONTEND=noninteractive

    local ver
    ver="$(best_candidate rustc-web)"
    if [ -z "$ver" ] || ! version_ge "$(upstream "$ver")" "$MIN_RUSTC"; then
        note "apt knows no rustc-web >= $MIN_RUSTC (best: ${ver:-none}); running apt-get update"
        apt-get update
        ver="$(best_candidate rustc-web)"
    fi
    [ -n "$ver" ] || die "package rustc-web not available; is this Debian 12 with bookworm-security in the apt sources?"
    version_ge "$(upstream "$ver")" "$MIN_RUSTC" \
        || die "best rustc-web available is $ver (< $MIN_RUSTC); enable the bookworm-security suite (deb http://deb.debian.org/debian-security bookworm-security main)"

    # Pin the three Rust packages to the same (newest) version so apt cannot pick bookworm's 1.85.
    note "installing rustc-web/cargo-web/rust-web-src $ver, ${OTHER_PKGS[*]}"
    if ! apt-get install -y --no-install-recommends \
            "rustc-web=$ver" "cargo-web=$ver" "rust-web-src=$ver" "${OTHER_PKGS[@]}"; then
        note "install failed; retrying after apt-get update"
        apt-get update
        apt-get install -y --no-install-recommends \
            "rustc-web=$ver" "cargo-web=$ver" "rust-web-src=$ver" "${OTHER_PKGS[@]}" \
            || die "apt-get install failed"
    fi
}

if [ "${PRIVET_NO_INSTALL:-0}" != 1 ] && { ! rust_pkgs_ok || ! other_pkgs_ok; }; then
    install_pkgs
fi

# ---- verification (always) ----
[ -x /usr/bin/rustc ] || die "/usr/bin/rustc missing (package rustc-web)"
[ -x /usr/bin/cargo ] || die "/usr/bin/cargo missing (package cargo-web)"
rustc_v="$(/usr/bin/rustc --version | awk '{ print $2 }')"
version_ge "$rustc_v" "$MIN_RUSTC" || die "/usr/bin/rustc is $rustc_v, need >= $MIN_RUSTC (install rustc-web from bookworm-security)"
cargo_v="$(/usr/bin/cargo --version | awk '{ print $2 }')"
[ "$(upstream "$cargo_v")" = "$(upstream "$rustc_v")" ] \
    || die "/usr/bin/cargo $cargo_v does not match /usr/bin/rustc $rustc_v (reinstall cargo-web and rustc-web at the same version)"
sysroot="$(/usr/bin/rustc --print sysroot)"
[ -f "$sysroot/lib/rustlib/src/rust/library/std/Cargo.toml" ] \
    || die "std sources not found under $sysroot/lib/rustlib/src/rust/library (package rust-web-src)"
command -v wasm-ld-22 >/dev/null || die "wasm-ld-22 not found (package lld-22)"
command -v wasm-opt >/dev/null || die "wasm-opt not found (package binaryen)"

note "ok: rustc $rustc_v, cargo $cargo_v, $(wasm-ld-22 --version | head -n1), $(wasm-opt --version)"

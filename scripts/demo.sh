#!/usr/bin/env bash
# Privet's main job on the shipped California (CPRA) pack and its sample CRM data: validate the pack, run its
# scenario suites with coverage, then decide and explain a handful of realistic CRM flows.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
cargo build -q --release --locked -p privet-cli
privet="$root/target/release/privet"
pack=policies/cpra

printf '==> privet validate %s\n' "$pack"
"$privet" validate "$pack"

printf '\n==> privet test %s/tests/*.yaml (scenario suites)\n' "$pack"
"$privet" test "$pack"/tests/*.yaml | tail -n 3

printf '\n==> privet explain %s --requests %s/demo/requests.jsonl\n\n' "$pack" "$pack"
"$privet" explain "$pack" --requests "$pack/demo/requests.jsonl"

printf '==> privet eval %s --requests %s/demo/requests.jsonl (one JSON decision per line)\n' "$pack" "$pack"
"$privet" eval "$pack" --requests "$pack/demo/requests.jsonl" | head -n 4

#!/usr/bin/env bash
# Side-by-side benchmark: Privet vs Cedar on the reference privacy workload, in one run.
#
#   scripts/bench-compare.sh [--entities N] [--requests N] [--seed S] [--max-seconds S] [--min-seconds S] [--warmup N] [--slow N]
#   scripts/bench-compare.sh --workload DIR [--requests N] [--max-seconds S] ...
#
# 1. generates the workload (benches/gen_workload.rs, release) into target/bench-compare/workload, or, with
#    --workload DIR, copies a workload of your own there: DIR holds schema.cedarschema, the policies (every
#    *.cedar file, read in name order by every engine), entities.json, requests.jsonl (one request a line, each
#    with its entity slice under "entities") and optionally requests-store.jsonl (the same requests without
#    slices; made from requests.jsonl when absent) and privet.toml; --requests N then takes the first N lines;
# 2. runs, one process per engine, on the same inputs:
#      privet-native    privet-core via the `privet` crate        (benches/compare/main.rs --engine privet)
#      cedar-native     cedar-policy 4.14.1 Authorizer             (--engine cedar)
#      privet-wasmtime  target/wasm/privet.wasm in privet-host     (--engine wasmtime)
#      privet-node      bindings/js on the same privet.wasm        (benches/compare/node.mjs --engine privet)
#      cedar-wasm       @cedar-policy/cedar-wasm 4.13.0 in Node    (node.mjs --engine cedar)
#      node-baseline    an empty Node process (for reading peak RSS)
# 3. prints one table (decisions/s, ratio against the cedar peer, peak RSS = VmHWM of that engine's process,
#    entity-store memory), sizes and load times, the entity store's live heap bytes (privet-native's store
#    against cedar-policy's Entities for the same entities.json, and the ratio), and the agreement check:
#    every engine/mode's allow/deny per request against privet-native's. Exits non-zero on any disagreement
#    or any decision that carried errors.
#
# Defaults are small (5,000 entities, 10,000 requests) because the machines are shared; each mode runs its
# requests after a warm-up and stops early after --max-seconds (default 20), reporting what it ran; a mode whose
# pass over the requests takes less than --min-seconds (default 1) makes further passes until it has run that long,
# so that fast modes are timed over a steady stretch (the decisions compared are the first pass's). What each
# mode measures is documented at the top of benches/compare/main.rs and benches/compare/node.mjs.
# The wasm module is used as built (target/wasm/privet.wasm; scripts/build-wasm.sh builds it).
set -euo pipefail
cd "$(dirname "$0")/.."

entities=5000 requests=10000 seed=7 max_seconds=20 min_seconds=1 warmup=1000 slow=20 workload="" requests_given=0
while [ $# -gt 0 ]; do
  case "$1" in
    --workload) workload=$2 ;;
    --entities) entities=$2 ;;
    --requests) requests=$2; requests_given=1 ;;
    --seed) seed=$2 ;;
    --max-seconds) max_seconds=$2 ;;
    --min-seconds) min_seconds=$2 ;;
    --warmup) warmup=$2 ;;
    --slow) slow=$2 ;;
    -h|--help) sed -n '2,31p' "$0"; exit 0 ;;
    *) echo "unknown argument $1 (see --help)" >&2; exit 64 ;;
  esac
  shift 2
done

out=target/bench-compare
dir=$out/workload
wasm=target/wasm/privet.wasm
[ -f "$wasm" ] || { echo "$wasm is missing: run scripts/build-wasm.sh" >&2; exit 1; }

echo "== building (release)" >&2
cargo build -q --release --example gen-workload --example bench-compare --example bench-memory
if [ ! -d benches/compare/node_modules/@cedar-policy/cedar-wasm ]; then
  (cd benches/compare && npm ci --no-audit --no-fund --silent)
fi

if [ -n "$workload" ] && [ "$(realpath -m "$workload")" = "$(realpath -m "$dir")" ]; then
  echo "--workload: $dir is where the comparison writes its copy; give a directory elsewhere" >&2; exit 64
fi
rm -rf "$dir"
if [ -n "$workload" ]; then
  for f in schema.cedarschema entities.json requests.jsonl; do
    [ -f "$workload/$f" ] || { echo "--workload $workload: $f is missing (see --help)" >&2; exit 64; }
  done
  compgen -G "$workload/*.cedar" > /dev/null || { echo "--workload $workload: no *.cedar policy file" >&2; exit 64; }
  mkdir -p "$dir"
  cp "$workload"/*.cedar "$workload/schema.cedarschema" "$workload/entities.json" "$dir/"
  [ -f "$workload/privet.toml" ] && cp "$workload/privet.toml" "$dir/"
  # --requests takes the first N requests of the file (all of them by default).
  if [ "$requests_given" = 1 ]; then head -n "$requests" "$workload/requests.jsonl" > "$dir/requests.jsonl"
  else cp "$workload/requests.jsonl" "$dir/requests.jsonl"; fi
  if [ -f "$workload/requests-store.jsonl" ]; then
    if [ "$requests_given" = 1 ]; then head -n "$requests" "$workload/requests-store.jsonl" > "$dir/requests-store.jsonl"
    else cp "$workload/requests-store.jsonl" "$dir/requests-store.jsonl"; fi
  else
    # The same requests without their slices (the store holds every entity they name).
    node -e '
      const fs = require("node:fs");
      const out = fs.readFileSync(process.argv[1], "utf8").split("\n").filter((l) => l.trim() !== "")
        .map((l) => { const r = JSON.parse(l); delete r.entities; return JSON.stringify(r); });
      fs.writeFileSync(process.argv[2], out.join("\n") + "\n");' "$dir/requests.jsonl" "$dir/requests-store.jsonl"
  fi
  entities=$(node -e 'console.log(JSON.parse(require("node:fs").readFileSync(process.argv[1], "utf8")).length)' "$dir/entities.json")
  requests=$(grep -c . "$dir/requests.jsonl")
  echo "== workload: $workload ($entities entities, $requests requests)" >&2
else
  echo "== workload: $entities entities, $requests requests, seed $seed" >&2
  target/release/examples/gen-workload --out "$dir" --entities "$entities" --requests "$requests" --seed "$seed"
fi

results=$out/results.jsonl
: > "$results"
common=(--dir "$dir" --warmup "$warmup" --slow "$slow" --max-seconds "$max_seconds" --min-seconds "$min_seconds" --wasm "$wasm")
# Entity-store memory first, in processes of their own (their counting allocator stays out of the timed runs).
for engine in privet cedar; do
  echo "== $engine (store memory)" >&2
  target/release/examples/bench-memory --dir "$dir" --engine "$engine" | tee -a "$results" >&2
done
# privet-native first: it also writes the packed bundle the wasm hosts load.
for engine in privet cedar wasmtime; do
  echo "== $engine (native process)" >&2
  target/release/examples/bench-compare --engine "$engine" "${common[@]}" | tee -a "$results" >&2
done
echo "== privet (node)" >&2
node benches/compare/node.mjs --engine privet "${common[@]}" | tee -a "$results" >&2
# cedar-wasm one mode per process: Node 20's V8 has crashed in its deoptimizer during cedar-wasm runs; a crash
# then loses that row only (reported), not the whole comparison.
for mode in store store-full slice slice-stateless; do
  echo "== cedar (node), $mode" >&2
  if ! node benches/compare/node.mjs --engine cedar --only "$mode" "${common[@]}" | tee -a "$results" >&2; then
    echo "!! cedar-wasm $mode: the Node process crashed; its row is missing" >&2
  fi
done
echo "== baseline (node)" >&2
node benches/compare/node.mjs --engine baseline "${common[@]}" | tee -a "$results" >&2

echo >&2
echo "Privet vs Cedar, $entities entities, $requests requests ($(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg))"
node benches/compare/report.mjs "$dir" "$results"

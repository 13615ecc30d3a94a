#!/usr/bin/env bash
# Neural Cleanse scans (default settings, seed = model index) of the models a zoo script built,
# one `OUT_DIR/scan-I.json` per model, for bench/zoo_consensus_rows.py; prints seconds per scan.
# Models already scanned are skipped.
# Usage: bench/zoo_nc_scans.sh ZOO_DIR DATASET OUT_DIR FIRST LAST
#   e.g. bench/zoo_nc_scans.sh target/zoo-mnist-80 mnist target/nc-mnist 80 119
#        python3 bench/zoo_consensus_rows.py target/zoo-mnist-80/zoo.jsonl --nc target/nc-mnist \
#          --mm target/zoo-mnist-80 > rows.jsonl && python3 bench/zoo_consensus.py rows.jsonl
set -euo pipefail
cd "$(dirname "$0")/.."
zoo="$1"; dataset="$2"; out="$3"; first="$4"; last="$5"
bin="${MITHRIDATE_BIN:-target/release/mithridate}"
[[ -x "$bin" ]] || cargo build --release -p mithridate-cli
mkdir -p "$out"
for ((i = first; i <= last; i++)); do
  [[ -s "$out/scan-$i.json" ]] && continue
  start=$(date +%s.%N)
  "$bin" --seed "$i" --json scan model --model "$zoo/model-$i.safetensors" --data "$dataset" \
    --detector neural-cleanse > "$out/scan-$i.json.tmp"
  mv "$out/scan-$i.json.tmp" "$out/scan-$i.json"
  echo "$i $(python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.1f} s')" "$start" "$(date +%s.%N)")"
done

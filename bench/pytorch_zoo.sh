#!/usr/bin/env bash
# The held-out model zoo (bench/pytorch_zoo.py): PyTorch models of architectures the engine
# does not have, backdoored with triggers Mithridate does not make, exported to ONNX, then
# scanned by `mithridate scan model` with its default detector (or DETECTORS=...). Prints the
# same table as bench/model_zoo.sh.
#
# Usage: PYTHON=/path/to/python-with-torch bench/pytorch_zoo.sh [N (default 30)] [OUT_DIR
# (default target/pytorch-zoo)] [DATASET (default fashion-mnist)]
# Rerunning skips models already trained and scans already in OUT_DIR/zoo.jsonl.
set -euo pipefail
cd "$(dirname "$0")/.."
n="${1:-30}"; out="${2:-target/pytorch-zoo}"; dataset="${3:-fashion-mnist}"
bin="${MITHRIDATE_BIN:-target/release/mithridate}"
python="${PYTHON:-python3}"
[[ -x "$bin" ]] || cargo build --release -p mithridate-cli
mkdir -p "$out"
log="$out/zoo.jsonl"; touch "$log"
for split in train test; do
  [[ -f "$out/$dataset-$split.npz" ]] ||
    "$bin" data export "$dataset" --split "$split" -o "$out/$dataset-$split.npz" > /dev/null
done
"$python" bench/pytorch_zoo.py "$n" "$out" "$dataset"
for ((i = 0; i < n; i++)); do
  if grep -q "\"index\":$i," "$log"; then continue; fi
  "$bin" --seed "$i" --json scan model --model "$out/model-$i.onnx" --data "$dataset" \
    ${DETECTORS:+--detector "$DETECTORS"} > "$out/scan-$i.json"
  python3 - "$out/model-$i.json" "$out/scan-$i.json" >> "$log" <<'PY'
import json, sys
meta = json.load(open(sys.argv[1]))
s = json.load(open(sys.argv[2]))
row = dict(meta)
for key, name in (("nc", "neural-cleanse"), ("mm", "max-margin")):
    d = s["detectors"].get(name)
    if d is None:
        row[key] = None
    elif key == "nc":
        row[key] = {"score": max(c["anomaly_index"] for c in d["classes"]),
                    "flagged": d["target_classes"], "seconds": d["seconds"]}
    else:
        row[key] = {"score": 1.0 - d["p_value"], "flagged": d["target_classes"],
                    "p_value": d["p_value"], "seconds": d["seconds"]}
print(json.dumps(row, separators=(",", ":")))
PY
  echo "model $i: $(tail -1 "$log")" >&2
done
python3 bench/zoo_summary.py "$log"

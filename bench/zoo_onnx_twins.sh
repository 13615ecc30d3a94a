#!/usr/bin/env bash
# The model zoo in both formats: every model-I.safetensors that bench/model_zoo.sh trained in
# DIR is exported to model-I.onnx (`mithridate export`), both files are evaluated on the same
# test split (accuracy and the whole confusion matrix must agree), and, unless SCAN=0, both are
# scanned by MM-BD (`scan model --detector max-margin`, same seed) and the verdicts, flagged
# classes and p-values compared. Prints one JSON line per model and a summary; writes the lines
# to DIR/twins.jsonl.
#
# Usage: bench/zoo_onnx_twins.sh DIR [DATASET (default mnist)]
set -euo pipefail
cd "$(dirname "$0")/.."
dir="${1:?usage: bench/zoo_onnx_twins.sh DIR [DATASET]}"; dataset="${2:-mnist}"
bin="${MITHRIDATE_BIN:-target/release/mithridate}"
[[ -x "$bin" ]] || cargo build --release -p mithridate-cli
out="$dir/twins.jsonl"; : > "$out"
shopt -s nullglob
for model in "$dir"/model-*.safetensors; do
  i="${model##*/model-}"; i="${i%.safetensors}"
  onnx="$dir/model-$i.onnx"
  "$bin" --json export --model "$model" -o "$onnx" > "$dir/export-$i.json"
  "$bin" --json evaluate --model "$model" --data "$dataset" > "$dir/eval-st-$i.json"
  "$bin" --json evaluate --model "$onnx" --data "$dataset" > "$dir/eval-onnx-$i.json"
  if [[ "${SCAN:-1}" != 0 ]]; then
    for f in st onnx; do
      m=$([[ $f == st ]] && echo "$model" || echo "$onnx")
      "$bin" --seed "$i" --json scan model --model "$m" --data "$dataset" \
        --detector max-margin > "$dir/mm-$f-$i.json"
    done
  fi
  python3 - "$dir" "$i" >> "$out" <<'PY'
import json, os, sys
d, i = sys.argv[1:]
load = lambda name: json.load(open(os.path.join(d, name)))
st, ox, ex = load(f"eval-st-{i}.json"), load(f"eval-onnx-{i}.json"), load(f"export-{i}.json")
row = {"index": int(i), "architecture": ex["architecture"], "onnx_bytes": ex["bytes"],
       "accuracy": st["accuracy"], "onnx_accuracy": ox["accuracy"],
       "same_confusion": st["confusion"] == ox["confusion"]}
if os.path.exists(os.path.join(d, f"mm-onnx-{i}.json")):
    a = load(f"mm-st-{i}.json")["detectors"]["max-margin"]
    b = load(f"mm-onnx-{i}.json")["detectors"]["max-margin"]
    row.update({"mm_flagged": a["target_classes"], "onnx_mm_flagged": b["target_classes"],
                "mm_p": a["p_value"], "onnx_mm_p": b["p_value"],
                "mm_plug_in_p": a.get("plug_in_p_value"), "onnx_mm_plug_in_p": b.get("plug_in_p_value"),
                "mm_seconds": a["seconds"], "onnx_mm_seconds": b["seconds"]})
print(json.dumps(row, separators=(",", ":")))
PY
  tail -1 "$out" >&2
done
python3 - "$out" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
same = sum(r["same_confusion"] for r in rows)
print(f"{len(rows)} models: identical confusion matrices on {same}/{len(rows)}")
scanned = [r for r in rows if "mm_flagged" in r]
if scanned:
    agree = sum(r["mm_flagged"] == r["onnx_mm_flagged"] for r in scanned)
    dp = max(abs(r["mm_p"] - r["onnx_mm_p"]) for r in scanned)
    print(f"MM-BD: same flagged classes on {agree}/{len(scanned)}, max |p difference| {dp:.2e}")
PY

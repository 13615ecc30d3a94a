#!/usr/bin/env bash
# A zoo of MNIST (or Fashion-MNIST) models, half trojaned and half clean, scanned by `mithridate scan model
# --detector all` (Neural Cleanse with a trusted set, MM-BD without data): per detector, the
# AUROC of its score (NC: the largest anomaly index; MM-BD: its effect, the top class's
# statistic over the median class's, since stop 37; before that 1 - p, p the bootstrap-calibrated
# p-value, which is still recorded with the paper's plug-in p), detection and false-positive
# rates at its own threshold (NC: index > 2; MM-BD: p < 0.05 and effect >= 1.5), how often the
# flagged class is the attacker's, and seconds per scan.
#
# Model i (0-based) is fully determined by i: architecture MLP for even i, CNN for odd i;
# trojaned when i % 4 < 2, else clean (so each architecture has both). A trojaned model gets
# attack (i / 4) % 6 of: BadNets white 3x3 bottom-right, BadNets checkerboard 4x4 top-left,
# BadNets random-pattern 5x5 top-right, Blended noise (alpha 0.1), SIG sine, WaNet; target
# class (3 i + 1) % 10; poison rate 5% or 10% alternately; every model trains on its own
# 20,000-image subset (seed i). Patch triggers are what Neural Cleanse assumes; the three
# full-image ones are the triggers it is known to miss, kept to show where it stops working.
#
# DETECTORS=max-margin skips Neural Cleanse (minutes per CNN) and scans with MM-BD only.
# START=S builds models S..N-1 only (fresh models for a held-out check: START=40 with N=80 gives
# 40 models no setting was chosen on, with their own seeds, subsets and targets).
# Usage: bench/model_zoo.sh [N (default 40)] [OUT_DIR (default target/model-zoo)] [DATASET
# (default mnist; any 28x28 built-in image set, e.g. fashion-mnist)]
# Writes OUT_DIR/zoo.jsonl (one line per model) and prints the summary table. Rerunning skips
# models already in zoo.jsonl, and reuses trained models (delete OUT_DIR to rebuild).
set -euo pipefail
cd "$(dirname "$0")/.."
n="${1:-40}"; out="${2:-target/model-zoo}"; dataset="${3:-mnist}"
bin="${MITHRIDATE_BIN:-target/release/mithridate}"
[[ -x "$bin" ]] || cargo build --release -p mithridate-cli
mkdir -p "$out"
log="$out/zoo.jsonl"; touch "$log"

attacks=(
  "badnets -p pattern=white -p size=3 -p position=bottom-right"
  "badnets -p pattern=checkerboard -p size=4 -p position=top-left"
  "badnets -p pattern=random -p size=5 -p position=top-right"
  "blend -p pattern=noise -p alpha=0.1"
  "sig"
  "wanet"
)
for ((i = ${START:-0}; i < n; i++)); do
  if grep -q "\"index\":$i," "$log"; then continue; fi
  arch=$([[ $((i % 2)) -eq 0 ]] && echo mlp || echo cnn)
  model="$out/model-$i.safetensors"
  if [[ $((i % 4)) -lt 2 ]]; then
    trojaned=1
  else
    trojaned=0
  fi
  if [[ $trojaned -eq 1 ]]; then
    spec="${attacks[$(((i / 4) % 6))]}"; target=$(((3 * i + 1) % 10))
    rate=$([[ $(((i / 4) % 2)) -eq 0 ]] && echo 0.05 || echo 0.1)
    # shellcheck disable=SC2086 # the attack spec is words on purpose
    [[ -f "$out/data-$i.npz" ]] || "$bin" --seed "$i" --json poison --data "$dataset" --max-train 20000 --attack $spec \
      --target "$target" --rate "$rate" -o "$out/data-$i.npz" > /dev/null
    data="$out/data-$i.npz"; attack="${spec// -p /,}"
  else
    data="$dataset"; target=-1; rate=0; attack="none"
  fi
  [[ -f "$model" && -s "$out/train-$i.json" ]] ||
    "$bin" --seed "$i" --json train --data "$data" --max-train 20000 --test "$dataset" --model "$arch" \
      -o "$model" > "$out/train-$i.json"
  asr=null
  if [[ "$target" -ge 0 ]]; then
    asr=$("$bin" --json evaluate --model "$model" --data "$dataset" --trigger "$data.truth.json" |
      python3 -c 'import json,sys; print(json.load(sys.stdin)["attack"]["assessment"]["attack_success_rate"])')
  fi
  "$bin" --seed "$i" --json scan model --model "$model" --data "$dataset" --detector "${DETECTORS:-all}" \
    > "$out/scan-$i.json"
  python3 - "$i" "$arch" "$attack" "$target" "$rate" "$asr" "$out/scan-$i.json" \
    "$out/train-$i.json" "$dataset" >> "$log" <<'PY'
import json, sys
i, arch, attack, target, rate, asr, scan, train, dataset = sys.argv[1:]
s = json.load(open(scan))
t = json.load(open(train))
nc = s["detectors"].get("neural-cleanse")
mm = s["detectors"]["max-margin"]
print(json.dumps({
    "index": int(i), "dataset": dataset, "arch": arch, "attack": attack, "target": int(target),
    "rate": float(rate), "asr": None if asr in ("null", "None") else float(asr),
    "clean_accuracy": t["test_accuracy"], "train_seconds": t["seconds"],
    "nc": nc and {"score": max(c["anomaly_index"] for c in nc["classes"]),
                  "flagged": nc["target_classes"], "seconds": nc["seconds"]},
    "mm": {"score": 1.0 - mm["p_value"], "flagged": mm["target_classes"],
           "p_value": mm["p_value"], "plug_in_p_value": mm.get("plug_in_p_value"),
           "effect": mm.get("effect"),
           "seconds": mm["seconds"]},
}, separators=(",", ":")))
PY
  echo "model $i ($arch, $attack): $(tail -1 "$log")" >&2
done

python3 bench/zoo_summary.py "$log"

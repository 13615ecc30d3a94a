#!/usr/bin/env bash
# A wide, model-level sweep of `scan data --detector auto` (detect README, "Stop 51"): 28
# poisoned 6,000-image subsets (MNIST and Fashion-MNIST; random- and fixed-position patches,
# blended noise and images, dirty-label SIG, WaNet; 1-10%; targets and subset seeds chosen
# by formula, not by result) and 45 clean subsets (MNIST seeds 0-29, Fashion-MNIST 0-14).
# Each set is scanned once (scan seed 23); one line per set: marked classes, flags, true
# positives, precision, recall (WaNet's truth also counts its noise-warped samples, which
# keep their labels and are not flagged by design).
# Usage: bench/detect_sweep.sh [OUT_DIR]   (default target/bench-detect-sweep; ~25 min on 2 cores)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build -q --release -p mithridate-cli
M="$PWD/target/release/mithridate"
OUT="${1:-target/bench-detect-sweep}"
mkdir -p "$OUT"
cd "$OUT"

make_set() { # name dataset seed attack-and-params...
    local name=$1 ds=$2 seed=$3
    shift 3
    [ -f "$name.npz" ] || "$M" poison --data "$ds" --max-train 6000 --seed "$seed" "$@" -o "$name.npz" >/dev/null
}

scan() { # name description
    "$M" --json --seed 23 scan data --data "$1.npz" --detector auto --truth "$1.npz.truth.json" >"$1.scan.json"
    python3 - "$1" "$2" <<'EOF'
import json, sys
name, what = sys.argv[1], sys.argv[2]
d = json.load(open(f"{name}.scan.json"))["detectors"][0]
m = d["metrics"]
print(f"{name:6} {what:58} classes {str(d['suspicious_classes']):8} flagged {m['flagged']:4} "
      f"true {m['true_positives']:4} / {m['poisoned']:4}  P {m['precision'] or 0:.3f}  R {m['recall'] or 0:.3f}")
EOF
}

i=0
for ds in mnist fashion-mnist; do
    for spec in "badnets -p position=random -p size=3:0.01" "badnets -p position=random -p size=4:0.05" \
        "badnets -p position=random -p size=3 -p pattern=white:0.10" "badnets -p position=top-left:0.01" \
        "blend -p alpha=0.1:0.01" "blend -p alpha=0.15:0.05" "blend -p alpha=0.1:0.10" \
        "blend -p pattern=image -p alpha=0.2:0.05" "blend -p pattern=image -p alpha=0.15:0.10" \
        "sig -p label=dirty:0.01" "sig -p label=dirty:0.05" "sig -p label=dirty:0.10" "wanet:0.05" "wanet:0.10"; do
        i=$((i + 1))
        attack=${spec%%:*}
        rate=${spec##*:}
        target=$(((i * 7 + 3) % 10))
        # shellcheck disable=SC2086 # the attack's words are separate arguments
        make_set "p$i" "$ds" $((100 + i)) --attack $attack --target "$target" --rate "$rate"
        scan "p$i" "$ds $attack $rate -> $target"
    done
done
for s in $(seq 0 29); do
    make_set "cm$s" mnist "$s" --attack label-flip --rate 0
    scan "cm$s" "clean mnist subset seed $s"
done
for s in $(seq 0 14); do
    make_set "cf$s" fashion-mnist "$s" --attack label-flip --rate 0
    scan "cf$s" "clean fashion-mnist subset seed $s"
done

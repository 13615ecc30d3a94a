#!/usr/bin/env bash
# Clean but imbalanced training sets (detect README, "Stop 52"): a 12,000-image clean subset
# (subset seed 41) with one class kept whole and every other class halved, so that class holds
# about twice the others, as an all-to-one backdoor at 10% would make its target. Six sets
# (MNIST classes 8, 5, 1; Fashion-MNIST bag, shirt, pullover), one `scan data --detector auto`
# each (scan seed 23); one line per set: marked classes and flagged rows (all are clean).
# Needs a Python with numpy: $PYTHON, default python3. Usage: bench/detect_imbalanced.sh [OUT_DIR]
# (~5 min on 2 cores)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build -q --release -p mithridate-cli
M="$PWD/target/release/mithridate"
PY="${PYTHON:-python3}"
OUT="${1:-target/bench-detect-imbalanced}"
mkdir -p "$OUT"
cd "$OUT"

for ds in mnist fashion-mnist; do
    [ -f "big_$ds.npz" ] || "$M" poison --data "$ds" --max-train 12000 --seed 41 --attack label-flip --rate 0 \
        -o "big_$ds.npz" >/dev/null
done
"$PY" - <<'EOF'
import numpy as np
for ds, doubled in [("mnist", [8, 5, 1]), ("fashion-mnist", [8, 6, 2])]:
    z = np.load(f"big_{ds}.npz")
    y = z["y"]
    rng = np.random.default_rng(0)
    for c in doubled:
        keep = np.zeros(len(y), bool)
        for j in range(int(z["num_classes"])):
            rows = np.where(y == j)[0]
            keep[rows if j == c else rng.choice(rows, len(rows) // 2, replace=False)] = True
        arrays = {k: z[k] for k in z.files}
        for k in ("x", "y", "ids"):
            arrays[k] = z[k][keep]
        np.savez_compressed(f"imb_{ds}_{c}.npz", **arrays)
EOF
for ds in mnist fashion-mnist; do
    for c in $([ "$ds" = mnist ] && echo 8 5 1 || echo 8 6 2); do
        f="imb_${ds}_$c"
        "$M" --json --seed 23 scan data --data "$f.npz" --detector auto >"$f.scan.json"
        python3 - "$f" <<'EOF'
import json, sys
d = json.load(open(f"{sys.argv[1]}.scan.json"))["detectors"][0]
marked = [(v["class"], v["flagged"]) for v in d["classes"] if v["suspicious"]]
print(f"{sys.argv[1]:24} (the last number: the doubled class) marked (class, flagged): {marked}")
EOF
    done
done

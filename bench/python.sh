#!/usr/bin/env bash
# Aggregation through Python on one shared update matrix (n = 100 clients, d = 1,000,000
# float32, f = 20 by default): Mithridate's Python package on the bare matrix, Mithridate's
# Flower strategy and Flower's own Message-API strategies on the same Flower Messages
# (unpacking the ArrayRecords included, as Flower must), and ByzFL's rules where it is
# installed (ByzFL needs torch: it is looked for in $CARGO_TARGET_DIR/bench-venv, the venv
# bench/engine.sh makes, and in python3). Best of REPEATS (default 3) per rule; the load
# average is printed: compare ratios from one run. Usage: bench/python.sh [N] [D] [F]
set -euo pipefail
cd "$(dirname "$0")/.."
n="${1:-100}"; d="${2:-1000000}"; f="${3:-20}"; repeats="${REPEATS:-3}"
target="${CARGO_TARGET_DIR:-target}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
python3 - "$work/u.npy" "$n" "$d" <<'PY'
import sys, numpy as np
rng = np.random.default_rng(0)
u = rng.normal(size=(int(sys.argv[2]), int(sys.argv[3]))).astype(np.float32)
u[: int(sys.argv[2]) // 5] *= -10.0  # boosted sign-flippers
np.save(sys.argv[1], u)
PY
echo "load before: $(uptime)"
log="$work/log.jsonl"
for engine in mithridate mithridate-flower mithridate-flower-noscore flower; do
    python3 bench/python_aggregate.py "$engine" "$work/u.npy" "$f" "$repeats" >> "$log"
done
byzfl_py=""
for py in "$target/bench-venv/bin/python" python3; do
    if [[ -x "$(command -v "$py")" ]] && "$py" -c "import byzfl" 2>/dev/null; then byzfl_py="$py"; break; fi
done
if [[ -n "$byzfl_py" ]]; then
    "$byzfl_py" bench/python_aggregate.py byzfl "$work/u.npy" "$f" "$repeats" >> "$log"
else
    echo "ByzFL not installed: its column is empty (pip install byzfl torch)"
fi
echo "load after: $(uptime)"
python3 - "$log" "$n" "$d" "$f" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
t = {(r["engine"], r["rule"]): r["seconds"] for r in rows}
rules = ["median", "trimmed-mean", "krum", "multi-krum", "bulyan", "geomed", "centered-clipping"]
print(f"\nn = {sys.argv[2]}, d = {sys.argv[3]}, f = {sys.argv[4]}; best wall seconds")
print("| rule | Mithridate, array | Mithridate strategy, Messages | same, score=False | Flower strategy, Messages | ByzFL | Flower / Mithridate strategy | Flower / score=False | ByzFL / Mithridate array |")
print("|---|---|---|---|---|---|---|---|---|")
fmt = lambda x: "-" if x is None else f"{x:.3f}"
for r in rules:
    m, ms, mn, fl, bz = (
        t.get((e, r)) for e in ("mithridate", "mithridate-flower", "mithridate-flower-noscore", "flower", "byzfl")
    )
    ratio = lambda a, b: f"{a / b:.1f}x" if a and b else "-"
    print(f"| {r} | {fmt(m)} | {fmt(ms)} | {fmt(mn)} | {fmt(fl)} | {fmt(bz)} | {ratio(fl, ms)} | {ratio(fl, mn)} | {ratio(bz, m)} |")
PY

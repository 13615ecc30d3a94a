#!/usr/bin/env bash
# Training and inference throughput of the Mithridate engine vs PyTorch (CPU) on the same MNIST
# MLP and CNN (same layers, Adam 1e-3, batch 64, the first N training images for one epoch and
# N test images for inference), at 1 and 2 threads, side by side in one run: ROUNDS (default 3)
# rounds alternating the engines, then a table of each one's best samples/s and the
# Mithridate/PyTorch ratios. Usage: bench/engine.sh [N] [--full]
#   N       images per measurement (default 10000)
#   --full  also train on all of MNIST and report test accuracies (CNN 3 epochs, MLP 5)
# THREAD_COUNTS="1 2" (default) chooses the thread counts. The machine is shared: the load
# average is printed before and after; compare ratios from the same run, not absolute numbers.
# PyTorch comes from a venv under $CARGO_TARGET_DIR/bench-venv (or target/bench-venv), created
# on first use (`pip install torch numpy` pulls ~5 GB of CUDA libraries; never needed by tests).
set -euo pipefail
cd "$(dirname "$0")/.."
samples="${1:-10000}"
full="${2:-}"
thread_counts="${THREAD_COUNTS:-1 2}"
target="${CARGO_TARGET_DIR:-target}"
case "$target" in /*) ;; *) target="$PWD/$target" ;; esac
if [[ -z "${MITHRIDATE_HOME:-}" && -d "$target/mithridate-home/mnist" ]]; then
    export MITHRIDATE_HOME="$target/mithridate-home"
fi

venv="$target/bench-venv"
py="$venv/bin/python"
if ! "$py" -c "import torch" 2>/dev/null; then
    if python3 -c "import torch" 2>/dev/null; then
        py=python3
    else
        python3 -m venv "$venv"
        "$venv/bin/pip" install -q torch numpy
    fi
fi
# Build first, so compilation does not overlap any measurement.
cargo bench -q -p mithridate-engine --bench throughput --no-run 2>/dev/null

log="$(mktemp)"
trap 'rm -f "$log"' EXIT
echo "load before: $(uptime)"
# Rounds alternate the two engines, one measurement each per round, and the table keeps each
# engine's best: the load of this shared machine changes from minute to minute, and
# alternating gives both engines the same chances at its quiet moments.
rounds="${ROUNDS:-3}"
for round in $(seq "$rounds"); do
    for threads in $thread_counts; do
        echo "== round $round, $threads thread(s) =="
        # Each library gets exactly `threads` compute threads (rayon; OpenMP/intra-op for torch).
        RAYON_NUM_THREADS="$threads" MITHRIDATE_BENCH_SAMPLES="$samples" MITHRIDATE_BENCH_REPEATS=1 \
            cargo bench -q -p mithridate-engine --bench throughput | sed "s/^/$threads /" | tee -a "$log"
        OMP_NUM_THREADS="$threads" MKL_NUM_THREADS="$threads" \
            "$py" bench/pytorch_throughput.py --samples "$samples" --threads "$threads" --repeats 1 \
            | sed "s/^/$threads /" | tee -a "$log"
    done
done
echo "load after: $(uptime)"

echo
echo "| threads | model | phase | Mithridate samples/s | PyTorch samples/s | ratio |"
echo "|---|---|---|---|---|---|"
awk '
    $2 ~ /^(mithridate|pytorch)$/ && $4 ~ /^(train|infer):$/ {
        key = $1 " | " $3 " | " substr($4, 1, length($4) - 1)
        if (!(key in seen)) { seen[key] = 1; order[n++] = key }
        if ($5 > rate[key, $2]) rate[key, $2] = $5
    }
    END {
        for (i = 0; i < n; i++) {
            k = order[i]; m = rate[k, "mithridate"]; p = rate[k, "pytorch"]
            printf "| %s | %s | %s | %s |\n", k, m, p, (p > 0 ? sprintf("**%.2fx**", m / p) : "-")
        }
    }' "$log"

if [[ "$full" == "--full" ]]; then
    cargo build -q --release -p mithridate-engine --example mnist
    "$target/release/examples/mnist" cnn 3
    "$target/release/examples/mnist" mlp 5
    "$py" bench/pytorch_throughput.py --samples "$samples" --threads 2 --full
fi

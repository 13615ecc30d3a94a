#!/usr/bin/env bash
# Training throughput of the Mithridate engine vs PyTorch on the same MNIST MLP and CNN
# (same layers, Adam 1e-3, batch 64, 2 threads, 1 epoch of the first N training images,
# best of 3). Usage: bench/engine.sh [N] [--full]
#   N       training images per epoch (default 10000)
#   --full  also train on all of MNIST and report test accuracies (CNN 3 epochs, MLP 5)
# THREADS=1 bench/engine.sh compares single-threaded: on a loaded 2-core machine PyTorch's
# OpenMP threads collapse (measured MLP 483 samples/s with 2 threads vs 11k with 1).
# PyTorch comes from a venv under target/bench-venv (created on first use: `pip install torch`
# pulls ~5 GB of CUDA libraries; it is never needed by the tests).
set -euo pipefail
cd "$(dirname "$0")/.."
samples="${1:-10000}"
full="${2:-}"
threads="${THREADS:-2}"
export RAYON_NUM_THREADS="$threads"
if [[ -z "${MITHRIDATE_HOME:-}" && -d target/mithridate-home/mnist ]]; then
    export MITHRIDATE_HOME="$PWD/target/mithridate-home"
fi

echo "== mithridate (candle) =="
MITHRIDATE_BENCH_SAMPLES="$samples" cargo bench -q -p mithridate-engine --bench throughput
if [[ "$full" == "--full" ]]; then
    cargo build -q --release -p mithridate-engine --example mnist
    target/release/examples/mnist cnn 3
    target/release/examples/mnist mlp 5
fi

echo "== pytorch =="
venv=target/bench-venv
py="$venv/bin/python"
if ! "$py" -c "import torch" 2>/dev/null; then
    if python3 -c "import torch" 2>/dev/null; then
        py=python3
    else
        python3 -m venv "$venv"
        "$venv/bin/pip" install -q torch numpy
    fi
fi
"$py" bench/pytorch_throughput.py --samples "$samples" --threads "$threads" ${full:+--full}

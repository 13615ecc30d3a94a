#!/usr/bin/env bash
# Issue 20: CSV (pandas) and Parquet (pandas + pyarrow) exports of MNIST and spambase read
# back to the same arrays and ids as the .npz. Builds the CLI with the off-by-default
# `parquet` feature and uses a venv with pandas and pyarrow (MITHRIDATE_BENCH_VENV, default
# target/bench-venv; created and filled from PyPI when missing).
#   bench/byod_roundtrip.sh [DATASET[:SPLIT] ...]     (default: mnist spambase, train split)
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${MITHRIDATE_BENCH_VENV:-$PWD/target/bench-venv}"
[[ -x "$venv/bin/python" ]] || python3 -m venv "$venv"
"$venv/bin/python" -c "import pandas, pyarrow" 2>/dev/null \
    || "$venv/bin/python" -m pip install --quiet pandas==3.1.1 pyarrow==26.0.1
cargo build --release -p mithridate-cli --features mithridate-data/parquet
work="${TMPDIR:-/tmp}/mithridate-byod-roundtrip"
rm -rf "$work"
if [[ $# -eq 0 ]]; then set -- mnist spambase; fi
"$venv/bin/python" bench/byod_roundtrip.py "$PWD/target/release/mithridate" "$work" "$@"

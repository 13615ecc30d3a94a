#!/usr/bin/env bash
# The detection benchmark: every trigger family x dataset x rate x seed of bench/detect.toml,
# each detector followed by sanitize + retrain on a CNN, resumable (rerun to continue).
# Usage: bench/detect.sh [extra `mithridate assess` flags, e.g. --seeds 1 or --shard 1/4]
# Results: target/bench-detect/{results.jsonl,report.md,report.html}.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build -q --release -p mithridate-cli
target/release/mithridate assess --config bench/detect.toml --out target/bench-detect "$@"

#!/usr/bin/env bash
# Runs every cargo-fuzz target of this directory for RUNS inputs (default 1,000,000) on the
# stable toolchain and prints one line per target: executions, seconds, crashes.
#
#   fuzz/run.sh [RUNS] [TARGET...]
#
# Stable Rust: `-s none` (no AddressSanitizer, which needs nightly); release build with
# debug assertions and overflow checks (cargo-fuzz's default), 16 codegen units for a
# faster build. Each run starts from the committed seeds, fuzz/corpus/<target>/, and grows
# a scratch corpus in fuzz/grown/<target>/ (ignored by git). Per input: 10 s timeout,
# 2 GiB RSS limit, so hangs and unbounded allocation are findings too. Crashing inputs land
# in fuzz/artifacts/<target>/. Exit status 1 if any target found a crash.
set -uo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-1000000}
shift || true
TARGETS=("$@")
if [ ${#TARGETS[@]} -eq 0 ]; then
  mapfile -t TARGETS < <(ls fuzz/fuzz_targets | sed 's/\.rs$//')
fi
# Built once, then the binaries run directly: `cargo fuzz run` would rebuild first whenever
# any source of the workspace changed, and each target must fuzz the code built here.
cargo fuzz build -s none --codegen-units 16 >&2 || exit 2
BIN=fuzz/target/x86_64-unknown-linux-gnu/release
failed=0
printf '%-18s %12s %9s %8s\n' target executions seconds crashes
for t in "${TARGETS[@]}"; do
  mkdir -p "fuzz/grown/$t" "fuzz/artifacts/$t" fuzz/logs
  log="fuzz/logs/$t.log"
  start=$(date +%s.%N)
  "$BIN/$t" -artifact_prefix="fuzz/artifacts/$t/" -runs="$RUNS" -timeout=10 \
    -rss_limit_mb=2048 -print_final_stats=1 "fuzz/grown/$t" "fuzz/corpus/$t" >"$log" 2>&1
  rc=$?
  secs=$(echo "$(date +%s.%N) - $start" | bc)
  execs=$(grep -a -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
  crashes=$(ls "fuzz/artifacts/$t" | grep -c -E "^(crash|oom|timeout|leak)-")
  [ $rc -ne 0 ] && failed=1
  printf '%-18s %12s %9.0f %8s\n' "$t" "${execs:-?}" "$secs" "$crashes"
done
exit $failed

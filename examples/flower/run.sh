#!/usr/bin/env bash
# Runs the example federation with `flwr run` (Flower's local simulation runtime, 10 virtual
# SuperNodes), e.g.
#   examples/flower/run.sh                                   # median vs 3 sign-flippers
#   examples/flower/run.sh "rule='fedavg-flower'"            # Flower's FedAvg, same attack
#   examples/flower/run.sh "rule='nnm+krum' attack='alie'"   # any rule, any attack
# The argument is passed to `flwr run --run-config`. Flower keeps its configuration and a
# SuperLink daemon under FLWR_HOME (default: target/flwr-home in this repository); the
# daemon is stopped on exit. Needs `pip install ./python "flwr[simulation]>=1.22"`.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
export FLWR_HOME="${FLWR_HOME:-$root/target/flwr-home}"
# No telemetry, no update check, and no re-installation of the app's dependencies from the
# registry on every run (which would also miss the locally built mithridate wheel).
export FLWR_TELEMETRY_ENABLED=0 FLWR_DISABLE_UPDATE_CHECK=1 FLWR_DISABLE_RUNTIME_DEPENDENCY_INSTALLATION=1
mkdir -p "$FLWR_HOME"
if [[ ! -f "$FLWR_HOME/config.toml" ]]; then
    cat > "$FLWR_HOME/config.toml" <<'TOML'
[superlink]
default = "local-simulation"

[superlink.local-simulation]
address = ":local:"
options.num-supernodes = 10
TOML
fi
stop_superlink() { pkill -f "flower-superlink.*$FLWR_HOME" 2>/dev/null || pkill -f flower-superlink 2>/dev/null || true; }
trap stop_superlink EXIT
cd "$here"
if [[ $# -gt 0 ]]; then
    flwr run . --stream --run-config "$1"
else
    flwr run . --stream
fi

#!/usr/bin/env bash
# Every test: the Rust workspace, then the Python package built from this checkout.
#
# Python dependencies (python/requirements-test.txt: NumPy and cleanlab references, pytest,
# pandas, Flower with its Ray simulation extra) go into a virtual environment under
# target/python-venv (MITHRIDATE_VENV to move it), created on first use; where `venv` is
# unavailable they go into python3's own site-packages. The venv comes first on PATH, so the
# Rust tests that call `python3` for their references use the same NumPy and cleanlab.
# Set MITHRIDATE_REQUIRE_REFERENCES=1 (as .ci/run does) to make a missing reference a
# failure instead of a skip.
set -euo pipefail
cd "$(dirname "$0")"

venv="${MITHRIDATE_VENV:-$PWD/target/python-venv}"
if [[ -x "$venv/bin/python" ]] || python3 -m venv "$venv" 2>/dev/null; then
    export PATH="$venv/bin:$PATH"
    pip_install() { python -m pip install --quiet "$@"; }
else
    echo "python3 -m venv unavailable: installing into python3's site-packages" >&2
    rm -rf "$venv"
    # An externally managed Python (PEP 668) refuses plain installs: retry with its opt-out.
    pip_install() { python3 -m pip install --quiet "$@" || python3 -m pip install --quiet --break-system-packages "$@"; }
    python() { python3 "$@"; }
fi
pip_install -r python/requirements-test.txt

cargo test --workspace

# The package is built by maturin (pip's PEP 517 hook) in the dev profile, which reuses the
# dependencies `cargo test` just compiled (optimised: see [profile.dev.package."*"]).
MATURIN_PEP517_ARGS="--profile dev" pip_install --force-reinstall --no-deps ./python
# The CLI-equality tests compare against the binary `cargo test` just built.
export MITHRIDATE_BIN="$PWD/target/debug/mithridate"
OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 python -m pytest -q python/tests

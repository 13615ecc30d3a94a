"""Shared fixtures: the CLI binary for equality tests, and the rule on missing references.

Tests that compare against an independent reference (the CLI binary, cleanlab, Flower) skip
when it is absent, unless ``MITHRIDATE_REQUIRE_REFERENCES=1`` (as ``.ci/run`` sets), where a
missing reference is a failure, so CI cannot pass by skipping.
"""

from __future__ import annotations

import os

# One BLAS thread per process, set before NumPy loads (Ray's simulation actors inherit it):
# a CI run hung for 30 min inside OpenBLAS's thread-pool wait (exec_blas_async_wait) in the
# Flower simulation's central evaluation on a loaded 2-core machine. The test's models are
# small, so single-threaded BLAS costs nothing measurable.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import shutil  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


def require(what: str) -> None:
    """Skips (or fails under MITHRIDATE_REQUIRE_REFERENCES=1) for a missing reference."""
    if os.environ.get("MITHRIDATE_REQUIRE_REFERENCES") == "1":
        pytest.fail(f"reference missing: {what}")
    pytest.skip(f"reference missing: {what}")


@pytest.fixture(scope="session")
def cli() -> Path:
    """The `mithridate` binary built from this checkout (release, else debug, else PATH)."""
    override = os.environ.get("MITHRIDATE_BIN")
    candidates = [Path(override)] if override else []
    candidates += [ROOT / "target" / "release" / "mithridate", ROOT / "target" / "debug" / "mithridate"]
    for c in candidates:
        if c.is_file():
            return c
    found = shutil.which("mithridate")
    if found:
        return Path(found)
    require("the mithridate CLI binary (cargo build -p mithridate-cli)")
    raise AssertionError("unreachable")

"""Mithridate: attack and defend ML training pipelines against data and model poisoning.

The Python package is a thin shell over the Rust library (the compiled module
``mithridate._native``), as the ``mithridate`` command line is: the same registries, the same
checked parameters, the same bytes for the same inputs and seed.

Modules
-------
``mithridate.aggregate``
    Byzantine-robust aggregation rules as callable classes (``Krum(f=20)(updates)``),
    pre-aggregators, per-client update anomaly scores and a reputation across rounds.
``mithridate.flower``
    A Flower strategy (Message API, ``flwr >= 1.22``) running any rule, scoring every update
    and keeping client reputations (needs ``flwr``; imported on demand).
``mithridate.attack``
    Every data-poisoning attack of the registry on arrays: poisoned ``x, y, ids`` and the
    ground-truth record; triggers applied to test inputs.
``mithridate.detect``
    Poisoned-data detectors over what the user has (features or embeddings and labels,
    ``pred_probs``, per-sample losses), cleanlab-shaped ``find_label_issues``, full scans
    given a Mithridate model, ``sanitize``.
``mithridate.data``
    The built-in datasets as NumPy arrays (same cache and checksums as the CLI).
``mithridate.provenance``
    Manifests, signatures (naming tampered ids), diffs and the hash-chained audit log.
``mithridate.gate``
    The retraining gate on two models and a holdout: the decision and every check.
``mithridate.assess``
    Assessments from TOML or a dict: records back (pandas when installed), the HTML report.
``mithridate.continual``
    Continual retraining under poisoning campaigns: the governance loop over time-ordered
    batches (screen, retrain, gate, deploy or block, monitor), its incident trace and cleanup.
``mithridate.text``
    Backdoors in a text classifier on the MiniLM encoder (BadNL, AddSent, template triggers)
    and the ONION, STRIP, activation-clustering, spectral and BKI defences: clean accuracy,
    attack success and detection, as ``mithridate text attack``.
``mithridate.lm``
    Training-data poisoning of a small generative model trained here (the Souly et al. 2025
    denial-of-service and a targeted-completion backdoor) and the perplexity, n-gram and
    signed-manifest defences, as ``mithridate lm attack`` / ``lm defend``.

Bad input (NaN/Inf, wrong dtype or rank, empty or non-contiguous arrays, impossible
parameters, negative or out-of-range integers) raises ``ValueError`` naming the problem;
nothing is written on failure.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, Dict, List

from . import _native


def _out_of_range_as_value_error(name: str, f: Callable[..., Any]) -> Callable[..., Any]:
    # pyo3 raises OverflowError when a negative (or too large) int meets an unsigned Rust
    # parameter; in this package bad input is a ValueError naming the problem.
    @functools.wraps(f)
    def call(*args: Any, **kwargs: Any) -> Any:
        try:
            return f(*args, **kwargs)
        except OverflowError as e:
            bad = [
                f"{key}={value}"
                for key, value in kwargs.items()
                if isinstance(value, int) and not isinstance(value, bool) and value < 0
            ]
            what = ", ".join(bad) if bad else "an integer argument"
            raise ValueError(f"{name}: {what} is out of range ({e})") from None

    return call


for _name in dir(_native):
    _f = getattr(_native, _name)
    if not _name.startswith("_") and callable(_f) and not isinstance(_f, type):
        setattr(_native, _name, _out_of_range_as_value_error(_name, _f))

__version__: str = _native.__version__

ROLES = (
    "aggregation-rule",
    "pre-aggregator",
    "data-attack",
    "update-attack",
    "detector",
    "input-detector",
    "campaign",
    "model-inspector",
    "repair",
)


def available(role: str) -> List[Dict[str, Any]]:
    """Every registered algorithm of ``role`` (one of :data:`ROLES`) as a list of dicts.

    Each dict has ``name``, ``summary``, ``paper``, ``modalities``, ``requires``,
    ``provides`` and ``taxonomy`` (MITRE ATLAS, OWASP, NIST AI 100-2), read from the same
    registry the command line's ``--help`` is built from.

    >>> import mithridate
    >>> "krum" in [e["name"] for e in mithridate.available("aggregation-rule")]
    True
    """
    return _native.registry(role)


__all__ = ["ROLES", "available", "__version__"]

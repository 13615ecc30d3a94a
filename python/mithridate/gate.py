"""The retraining gate: may a retrained model replace the deployed one?

:func:`run_gate` predicts a trusted holdout with both models (Mithridate model files: the
``.safetensors`` weights with their ``.json`` card, as ``mithridate train`` writes them) and
judges the candidate under a policy: accuracy drop, per-class recall drop, prediction churn
(flip rate), negative flips (right under the baseline, wrong under the candidate; Yan et al.,
2021, "Positive-congruent training"), how concentrated those flips are on one class (the
targeted-poisoning and backdoor signature), the success increase of known trigger probes, and
optionally how much smaller a reverse-engineered trigger of some class became (Neural
Cleanse, Wang et al., 2019). A check fails when its value exceeds its threshold; the gate
fails when any check fails.

It makes the library calls ``mithridate gate`` makes, in the same order, and returns what
``mithridate gate --json`` prints: the same decision, checks and numbers for the same files.
The JUnit report and the audit record are written (atomically) only once the decision exists;
a failure before then writes nothing.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from . import _native

PathLike = Union[str, "os.PathLike[str]"]
Holdout = Union[PathLike, Tuple[np.ndarray, np.ndarray], Tuple[np.ndarray, np.ndarray, np.ndarray]]


@dataclass(frozen=True)
class Check:
    """One gate check: ``value`` against ``threshold``; ``status`` is ``"passed"``,
    ``"failed"`` (value > threshold) or ``"skipped"`` (too little evidence; never fails the
    gate); ``detail`` says what was measured, in one line."""

    name: str
    value: float
    threshold: float
    status: str
    detail: str

    @property
    def failed(self) -> bool:
        return self.status == "failed"


@dataclass(frozen=True)
class GateResult:
    """The gate's decision and everything behind it.

    ``passed``: the decision; ``checks``: every check; ``reasons``: the failed checks' one-line
    reasons; ``comparison``: accuracies, per-class recalls and flip counts on the holdout;
    ``probes``: trigger probe outcomes; ``triggers``: the reverse-engineered trigger
    comparison (or None); ``policy``: the thresholds used; ``baseline_hash`` /
    ``candidate_hash``: BLAKE3 of the model files (what the audit log records);
    ``audit_record``: ``{"log", "seq", "hash"}`` when the decision was appended to a log.
    ``raw`` is the whole dict, as ``mithridate gate --json`` prints it.
    """

    passed: bool
    checks: List[Check]
    reasons: List[str]
    comparison: Dict[str, Any]
    probes: List[Dict[str, Any]]
    triggers: Optional[Dict[str, Any]]
    policy: Dict[str, Any]
    baseline_hash: str
    candidate_hash: str
    audit_record: Optional[Dict[str, Any]]
    raw: Dict[str, Any]

    def check(self, name: str) -> Check:
        """The check called ``name`` (``KeyError`` when absent)."""
        for c in self.checks:
            if c.name == name:
                return c
        raise KeyError(name)

    def to_dict(self) -> Dict[str, Any]:
        return self.raw


def default_policy() -> Dict[str, Any]:
    """The built-in policy's thresholds (measured on MNIST with the MLP; see the gate crate's
    README), as a dict to copy and adjust."""
    return _native.gate_default_policy()


def run_gate(
    baseline: PathLike,
    candidate: PathLike,
    holdout: Holdout,
    *,
    policy: Optional[Union[Dict[str, Any], PathLike]] = None,
    policy_toml: Optional[str] = None,
    probes: Sequence[PathLike] = (),
    reverse_trigger: bool = False,
    junit: Optional[PathLike] = None,
    audit: Optional[PathLike] = None,
    key: Optional[PathLike] = None,
    holdout_name: Optional[str] = None,
) -> GateResult:
    """Runs the retraining gate on two model files and a trusted holdout.

    ``holdout``: a built-in dataset name (its test split) or ``.npz`` file, as the CLI takes
    it, or arrays ``(x, y)`` / ``(x, y, ids)`` in the ``.npz`` layout (see
    :func:`mithridate.provenance.build_manifest`). It must not come from the pipeline that
    produced the candidate's training data.

    ``policy``: None (the built-in default), a dict of thresholds (missing keys take the
    defaults, an unknown key is an error) or a TOML policy file; ``policy_toml``: TOML text.
    ``probes``: backdoor ground-truth files (``*.truth.json`` from ``mithridate poison``) whose
    trigger is stamped on the holdout. ``reverse_trigger``: also reverse-engineer a trigger
    per class under both models (costs 2 x classes x 300 gradient steps). ``junit``: write the
    checks as JUnit XML there; ``audit``: append the decision to this audit log, signed with
    the secret key file ``key`` if given.

    Raises ``ValueError`` for impossible input (a policy value out of range, models with
    different class counts, a holdout the models cannot read) and ``OSError`` for files that
    cannot be read or written.
    """
    if isinstance(policy, dict):
        table, policy_file = policy, None
    else:
        table, policy_file = None, (None if policy is None else os.fspath(policy))
    if isinstance(holdout, tuple):
        if len(holdout) not in (2, 3):
            raise ValueError("holdout: a tuple must be (x, y) or (x, y, ids)")
        from .provenance import _data

        ids = holdout[2] if len(holdout) == 3 else None
        holdout_arg: Any = _data(holdout[0], holdout[1], ids, None, "test")
    else:
        holdout_arg = os.fspath(holdout)
    raw = _native.gate(
        os.fspath(baseline),
        os.fspath(candidate),
        holdout_arg,
        holdout_name=holdout_name,
        policy=table,
        policy_toml=policy_toml,
        policy_file=policy_file,
        probes=[os.fspath(p) for p in probes],
        reverse_trigger=reverse_trigger,
        junit=None if junit is None else os.fspath(junit),
        audit=None if audit is None else os.fspath(audit),
        key=None if key is None else os.fspath(key),
    )
    report = raw["report"]
    return GateResult(
        passed=raw["passed"],
        checks=[Check(**c) for c in report["checks"]],
        reasons=raw["reasons"],
        comparison=report["comparison"],
        probes=report["probes"],
        triggers=report["triggers"],
        policy=report["policy"],
        baseline_hash=raw["baseline_hash"],
        candidate_hash=raw["candidate_hash"],
        audit_record=raw["audit_record"],
        raw=raw,
    )


__all__ = ["Check", "GateResult", "default_policy", "run_gate"]

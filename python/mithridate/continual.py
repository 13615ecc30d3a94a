"""Continual retraining under poisoning: the governance loop over time-ordered batches.

A deployed model is retrained after every batch of a data feed. Each step ingests the batch
(a signed manifest, verified; ids already ingested refused; stored batches re-verified so a
split-view change is named), screens it with the deployed model (a per-class binomial test
on contradicted labels, and the cohesion test: do the samples the model places in another
class share a perturbation, as a trigger makes them), retrains (from scratch or by
fine-tuning), gates the candidate against the deployed model on a trusted holdout (churn
thresholds calibrated on clean twins), deploys or blocks, monitors serving traffic
(predicted-class shares, confidence, STRIP; Gao et al., 2019) at a calibrated false-alarm
rate, and records every decision in a hash-chained audit log. A campaign (see
``mithridate.available("campaign")``) poisons the feed over time: slow-burn BadNets (Gu et
al., 2017), a burst, targeted label flips, clean-label poisons, split-view changes, forged
manifests, and re-insertion across fine-tuning retrains.

:func:`run` makes the library calls ``mithridate continual`` makes and returns what
``mithridate continual --json`` prints: the same numbers for the same configuration and seed.
A run killed at any step resumes from its directory with identical results. :func:`trace`
walks the audit log back from each block or alert to the batches and sample ids responsible,
the models deployed since and a rollback target; :func:`clean` removes the named samples and
retrains.

>>> from mithridate import continual
>>> "slow-burn" in continual.campaigns()
True
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Union

from . import _native

PathLike = Union[str, "os.PathLike[str]"]


def campaigns() -> List[str]:
    """The registered campaign names (``mithridate continual --list-campaigns``)."""
    return [e["name"] for e in _native.registry("campaign")]


@dataclass(frozen=True)
class ContinualResult:
    """What a run measured.

    ``first_poisoned_batch``: the campaign's first poisoned batch (None for a clean stream);
    ``blocked_at``: the first blocked batch (None: every batch was deployed);
    ``max_deployed_asr``: the highest attack success of any deployed model;
    ``false_blocks``: blocks of batches carrying no poison or tampering;
    ``named_poison_ids_recall``: the share of poisoned ids some step named;
    ``alerts`` / ``false_alerts``: serving-monitor alerts, all and before the campaign began;
    ``timeline``: one dict per step (decision, reasons, named ids, deployed accuracy and
    ASR, monitor readings); ``run_dir``: the run directory; ``raw``: the whole dict.
    """

    first_poisoned_batch: Optional[int]
    blocked_at: Optional[int]
    max_deployed_asr: Optional[float]
    false_blocks: int
    named_poison_ids_recall: Optional[float]
    alerts: int
    false_alerts: int
    final_accuracy: Optional[float]
    steps_done: int
    timeline: List[Dict[str, Any]]
    run_dir: str
    raw: Dict[str, Any]


def run(
    data: str = "mnist",
    campaign: str = "clean",
    *,
    rate: Optional[float] = None,
    target: Optional[int] = None,
    params: Optional[Dict[str, Any]] = None,
    config: Optional[Union[Dict[str, Any], PathLike]] = None,
    batches: Optional[int] = None,
    seed: int = 0,
    out: PathLike = "continual-run",
    max_steps: Optional[int] = None,
) -> ContinualResult:
    """Runs (or resumes) the loop on a built-in image dataset under ``campaign``.

    ``rate`` and ``target`` are the campaign's per-batch rate and target class (as
    ``--rate`` / ``--target``), ``params`` its other parameters (kebab-case keys, e.g.
    ``{"start": 3, "attack": "blend"}``). ``config`` is a dict of ``continual.toml`` keys
    (``{"batches": 6, "retrain": "finetune", "gate": {"max_flip_rate": 0.1}}``) or the path of
    such a TOML file; ``batches`` overrides its ``batches``. ``out`` is the run directory (a
    checkpoint there is resumed; another run there is refused). ``max_steps`` stops after that
    many steps of this call.

    Raises ``ValueError`` naming the problem for an unknown campaign, parameter or
    configuration key, an impossible value, or a dataset the stream does not fit.
    """
    merged: Dict[str, Any] = dict(params or {})
    if rate is not None:
        merged["rate"] = rate
    if target is not None:
        merged["target"] = target
    if config is None or isinstance(config, dict):
        raw = _native.continual_run(
            data, campaign, merged, config=config, batches=batches, seed=seed,
            out=os.fspath(out), max_steps=max_steps,
        )
    else:
        raw = _native.continual_run(
            data, campaign, merged, config_file=os.fspath(config), batches=batches, seed=seed,
            out=os.fspath(out), max_steps=max_steps,
        )
    return ContinualResult(
        first_poisoned_batch=raw["first_poisoned_batch"],
        blocked_at=raw["blocked_at"],
        max_deployed_asr=raw["max_deployed_asr"],
        false_blocks=raw["false_blocks"],
        named_poison_ids_recall=raw["named_poison_ids_recall"],
        alerts=raw["alerts"],
        false_alerts=raw["false_alerts"],
        final_accuracy=raw["final_accuracy"],
        steps_done=raw["steps_done"],
        timeline=raw["timeline"],
        run_dir=raw["run_dir"],
        raw=raw,
    )


def trace(run_dir: PathLike) -> Dict[str, Any]:
    """Every incident of a run (blocked batches, serving alerts) traced from its audit log:
    ``{"log_verified", "deployments", "incidents": [{"step", "kind", "summary", "batches",
    "sample_ids", "deployed_since", "rollback_target"}, ...]}``, as
    ``mithridate continual trace --json``."""
    return _native.continual_trace(os.fspath(run_dir))


def clean(run_dir: PathLike, out: PathLike) -> Dict[str, Any]:
    """Removes every sample the run's incidents name, writes the cleaned training set to
    ``out`` (``.npz``, atomically) and retrains from scratch, as
    ``mithridate continual clean``."""
    return _native.continual_clean(os.fspath(run_dir), os.fspath(out))


__all__ = ["ContinualResult", "campaigns", "clean", "run", "trace"]

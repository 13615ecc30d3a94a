"""Assessments: the attack x defence matrix, run from Python.

An assessment configuration (the TOML of ``mithridate assess --config``: datasets, victim
models, attacks with budgets, defences, federated scenarios, seeds; see
``examples/assess.toml``) expands into cells, each a seeded training run: a clean baseline,
every attack at every rate undefended, and every defence (scan, sanitize, retrain) against
every poisoned set, plus federated simulations of every rule under every update attack.

:func:`run` takes the configuration as TOML text, a TOML file (a ``pathlib.Path``, or a
``str`` ending in ``.toml``) or a dict of the same shape, validates it completely before any
work (an unknown name or impossible value is a ``ValueError`` naming the line, and nothing is
written), runs the cells with the library's executor into ``out/results.jsonl`` (rerunning
into the same directory resumes) and writes ``out/report.html``. Records are the CLI's, field
for field; only each cell's wall time differs between runs.

>>> from mithridate import assess
>>> "[[centralized]]" in assess.default_config()
True
"""

from __future__ import annotations

import os
import pathlib
import tempfile
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Union

from . import _native

PathLike = Union[str, "os.PathLike[str]"]
ConfigLike = Union[str, "os.PathLike[str]", Dict[str, Any]]

#: Report formats of :func:`report`.
REPORT_FORMATS = ("html", "md", "csv", "json")


def _flatten(record: Dict[str, Any]) -> Dict[str, Any]:
    """One record as one flat row (nested keys joined with dots; lists kept as they are)."""
    row: Dict[str, Any] = {}

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                walk(f"{prefix}.{k}" if prefix else k, v)
        else:
            row[prefix] = value

    walk("", record)
    return row


def to_pandas(records: Sequence[Dict[str, Any]]) -> Any:
    """Records as a pandas DataFrame, one row per cell, nested fields as dotted columns
    (``outcome.undefended.clean_accuracy``, ``outcome.defence.recall``, ...).

    Raises ``ImportError`` naming the fix when pandas is not installed.
    """
    try:
        import pandas as pd
    except ImportError as e:  # pragma: no cover - pandas is optional
        raise ImportError("to_pandas needs pandas: pip install 'mithridate[pandas]'") from e
    return pd.DataFrame([_flatten(r) for r in records])


@dataclass(frozen=True)
class AssessmentResult:
    """What :func:`run` did.

    ``records``: one dict per cell of the shard, sorted by plan index (a ``results.jsonl``
    line each: ``id``, ``index``, ``dataset``, ``seed``, ``outcome`` and ``seconds``);
    ``out`` / ``results`` / ``report``: the directory, ``results.jsonl`` and
    ``report.html``; ``planned``, ``in_shard``, ``resumed`` (already in ``out``) and ``ran``
    count cells; ``seconds`` is the wall time.
    """

    records: List[Dict[str, Any]]
    out: str
    results: str
    report: str
    planned: int
    in_shard: int
    resumed: int
    ran: int
    seconds: float

    def to_pandas(self) -> Any:
        """The records as a pandas DataFrame (see :func:`to_pandas`)."""
        return to_pandas(self.records)


def _config_args(config: ConfigLike) -> Dict[str, Any]:
    if isinstance(config, dict):
        return {"table": config}
    if isinstance(config, os.PathLike):
        return {"file": os.fspath(config)}
    if isinstance(config, str):
        one_line = "\n" not in config
        if one_line and config.strip().endswith(".toml"):
            return {"file": config.strip()}
        return {"toml": config}
    raise ValueError(
        f"config: expected TOML text, a TOML file path or a dict, got {type(config).__name__}"
    )


def run(
    config: ConfigLike,
    out: Optional[PathLike] = None,
    *,
    seeds: Optional[int] = None,
    seed: int = 0,
    shard: str = "1/1",
    workers: int = 1,
) -> AssessmentResult:
    """Runs an assessment (``mithridate assess``) and returns its records.

    ``config``: TOML text, a TOML file (``pathlib.Path`` or a one-line ``str`` ending in
    ``.toml``) or a dict shaped like the TOML (``{"seeds": 1, "centralized": [{"dataset":
    "mnist", "attacks": [...]}]}``). ``out``: the result directory (created; rerun to resume);
    default a new temporary directory. ``seeds`` overrides the configuration's seed count;
    ``seed`` is the base seed (the CLI's ``--seed``). ``shard`` runs cells ``i, i+n, ...``
    (``"i/n"``); ``workers`` cells run in parallel (results do not depend on it).

    Raises ``ValueError`` for a configuration mistake, naming its line (for a dict, quoting
    the offending TOML line), before anything is written.
    """
    args = _config_args(config)
    made = out is None
    if out is None:
        out = tempfile.mkdtemp(prefix="mithridate-assess-")
    try:
        raw = _native.assess_run(
            os.fspath(out), seeds=seeds, seed=seed, shard=shard, workers=workers, **args
        )
    except BaseException:
        if made and not os.listdir(out):
            os.rmdir(out)  # nothing written on failure, not even the temporary directory
        raise
    return AssessmentResult(
        records=raw["records"],
        out=raw["out"],
        results=raw["results"],
        report=raw["report"],
        planned=raw["planned"],
        in_shard=raw["in_shard"],
        resumed=raw["resumed"],
        ran=raw["ran"],
        seconds=raw["seconds"],
    )


def _dirs(dirs: Union[PathLike, Sequence[PathLike]]) -> List[str]:
    if isinstance(dirs, (str, os.PathLike)):
        return [os.fspath(dirs)]
    return [os.fspath(d) for d in dirs]


def records(dirs: Union[PathLike, Sequence[PathLike]]) -> List[Dict[str, Any]]:
    """The records of one or more result directories (shards are merged; two different
    results for one cell are a ``ValueError``), sorted by plan index."""
    return _native.assess_records(_dirs(dirs))


def report(
    dirs: Union[PathLike, Sequence[PathLike]],
    output: Optional[PathLike] = None,
    format: str = "html",
) -> Union[str, pathlib.Path]:
    """Renders the report of the merged records of ``dirs`` (``mithridate report``).

    ``format``: ``html`` (one self-contained file: verdicts, risk summary, plots, tables),
    ``md``, ``csv`` or ``json``. With ``output`` the report is written there atomically and
    its path returned; without, the text is returned (for ``html``, the default output is
    ``DIR/report.html`` of the first directory, as the CLI's).
    """
    if format not in REPORT_FORMATS:
        raise ValueError(f"format must be one of {', '.join(REPORT_FORMATS)}, got '{format}'")
    paths = _dirs(dirs)
    if output is None and format == "html":
        output = pathlib.Path(paths[0]) / "report.html"
    if output is None:
        return _native.assess_report(paths, format, None)
    _native.assess_report(paths, format, os.fspath(output))
    return pathlib.Path(output)


def default_config() -> str:
    """The built-in default configuration as TOML (``mithridate assess --print-default``)."""
    return _native.assess_default_toml()


__all__ = [
    "AssessmentResult",
    "REPORT_FORMATS",
    "default_config",
    "records",
    "report",
    "run",
    "to_pandas",
]

"""Byzantine-robust aggregation over NumPy arrays, shaped like ByzFL.

Every rule of the Rust registry is a callable class here: ``Krum(f=20)(updates)`` aggregates
an ``n x d`` float32 matrix (one client update per row) and returns the ``d`` aggregate;
``rule.aggregate(updates, ...)`` returns an :class:`Aggregation` with each client's weight,
selection and the rule's own score. Pre-aggregators (``NNM``, ``Bucketing``, ``Clipping``)
chain before any rule: ``Krum(f=20, pre=[NNM(), Clipping(tau=1.0)])``, or from text,
``rule("nnm+krum", f=20)``. :func:`score_updates` and :class:`Reputation` score clients for
anomalies within a round and across rounds.

The updates are read in place (float32, C-contiguous, finite, non-empty: anything else is a
``ValueError`` naming the problem), and the GIL is released while the rule runs. Results are
bit-identical to the Rust library and the ``mithridate aggregate`` command for the same input.

>>> import numpy as np
>>> from mithridate.aggregate import Median, Krum, NNM
>>> u = np.array([[1, 1], [1.1, 0.9], [0.9, 1.1], [50, -50], [1, 1]], dtype=np.float32)
>>> Median(f=1)(u).tolist()
[1.0, 1.0]
>>> Krum(f=1, pre=[NNM()])(u).shape
(2,)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Dict, List, Optional, Sequence, Union

import numpy as np

from . import _native, _registry

DEFAULT_SUSPICION_THRESHOLD: float = _native.DEFAULT_SUSPICION_THRESHOLD


@dataclass(frozen=True)
class Aggregation:
    """One round's result.

    ``aggregate``: the aggregated update (float32, ``d``). ``weights``: each client's
    effective weight (float64, ``n``; sums to 1 unless every client was rejected).
    ``selected``: whether each client contributed. ``scores``: the rule's own per-client
    score where it has one (Krum score, trust score, ...; larger is more suspicious unless the
    rule says otherwise), else None.
    """

    aggregate: np.ndarray
    weights: np.ndarray
    selected: np.ndarray
    scores: Optional[np.ndarray]


class PreAggregator:
    """A pre-aggregation step, chained before a rule with ``pre=[...]``.

    ``f`` overrides the Byzantine count the step is built for (default: the rule's).
    """

    name: ClassVar[str] = ""

    def __init__(self, f: Optional[int] = None, **params: Any) -> None:
        self.params: Dict[str, Any] = dict(params)
        if f is not None:
            self.params["f"] = f

    def _table(self) -> Dict[str, Any]:
        return {"name": self.name, "params": self.params}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        return f"{type(self).__name__}({args})"


class Rule:
    """An aggregation rule configured for ``f`` Byzantine clients.

    Keyword parameters are the registry entry's (kebab-case names are written with
    underscores: ``trimmed_mean``'s ``beta``, ``multi-krum``'s ``m``); unknown or invalid ones
    raise ``ValueError``. Stateful rules (centered clipping, FoolsGold) carry their state from
    call to call; :meth:`reset` forgets it.
    """

    name: ClassVar[str] = ""

    def __init__(
        self,
        f: int = 0,
        *,
        pre: Sequence[Union[PreAggregator, str]] = (),
        **params: Any,
    ) -> None:
        if isinstance(f, bool) or not isinstance(f, (int, np.integer)) or f < 0:
            raise ValueError(f"f must be a non-negative integer, got {f!r}")
        table = {
            "rule": self.name,
            "params": {k.replace("_", "-"): v for k, v in params.items()},
            "pre": [
                {"name": p, "params": {}} if isinstance(p, str) else p._table() for p in pre
            ],
        }
        self._native = _native.Rule(table, int(f))

    @classmethod
    def _from_native(cls, native: Any) -> "Rule":
        self = cls.__new__(cls)
        self._native = native
        return self

    @property
    def spec(self) -> str:
        """The rule in text form (``"nnm+krum"``), as the CLI and configs write it."""
        return self._native.spec

    @property
    def f(self) -> int:
        return self._native.f

    @property
    def tolerance(self) -> str:
        """The condition on ``n`` and ``f`` the rule needs (``"n >= 2f + 3"``)."""
        return self._native.tolerance

    @property
    def uses_weights(self) -> bool:
        """Whether the rule weighs clients by ``weights`` (FedAvg, geometric median, norm
        bounding); the other rules treat clients uniformly and refuse weights."""
        return self._native.uses_weights

    def max_byzantine(self, n: int) -> int:
        """The largest ``f`` the rule tolerates among ``n`` clients."""
        return self._native.max_byzantine(n)

    def aggregate(
        self,
        updates: np.ndarray,
        weights: Optional[np.ndarray] = None,
        *,
        root: Optional[np.ndarray] = None,
        client_ids: Optional[np.ndarray] = None,
        seed: int = 0,
    ) -> Aggregation:
        """Aggregates one round.

        ``updates``: ``n x d`` float32. ``weights``: per-client float64 weights (e.g. sample
        counts; normalised). ``root``: the server's own update on a root set (FLTrust).
        ``client_ids``: stable integer ids (FoolsGold's history is keyed on them).
        ``seed``: for rules that draw noise or buckets.
        """
        out = self._native.aggregate(updates, weights, root, client_ids, seed)
        return Aggregation(**out)

    def __call__(
        self, updates: np.ndarray, weights: Optional[np.ndarray] = None, **kwargs: Any
    ) -> np.ndarray:
        """The aggregate alone (float32, ``d``); see :meth:`aggregate`."""
        return self.aggregate(updates, weights, **kwargs).aggregate

    def reset(self) -> None:
        """Forgets the state carried across rounds."""
        self._native.reset()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(spec={self.spec!r}, f={self.f})"


def rule(spec: Union[str, Dict[str, Any]], f: int = 0) -> Rule:
    """A rule from its text form (``"bucketing:s=2+clipping:tau=1+median"``) or table.

    >>> rule("nnm+trimmed-mean:beta=0.2", f=1).spec
    'nnm+trimmed-mean:beta=0.2'
    """
    if isinstance(f, bool) or not isinstance(f, (int, np.integer)) or f < 0:
        raise ValueError(f"f must be a non-negative integer, got {f!r}")
    native = _native.Rule(spec, int(f))
    cls = RULES.get(native.name, Rule)
    return cls._from_native(native)


def score_updates(updates: np.ndarray, f: int = 0) -> Dict[str, np.ndarray]:
    """Per-client anomaly signals of one round.

    Returns float64 arrays: ``norm``, ``cosine_to_aggregate`` (to the coordinate-wise
    median), ``mean_cosine_to_others``, ``max_cosine_to_others``, ``krum_score``, each one's
    robust z-score (Iglewicz & Hoaglin 1993 modified z, ``0.6745 (x - median) / MAD``) and
    ``suspicion``, the largest z. A client above :data:`DEFAULT_SUSPICION_THRESHOLD` (3.5) is
    an outlier in this round; ``f`` sets the Krum neighbourhood (``n - f - 2``).
    """
    return _native.score_updates(updates, f)


class Reputation:
    """Each client's suspicion, exponentially smoothed across rounds.

    ``r <- (1 - decay) r + decay s`` for a client seen before, ``r <- s`` the first time.
    ``flagged(threshold)`` lists the clients whose reputation exceeds ``threshold``.

    >>> rep = Reputation(decay=0.5)
    >>> rep.update(np.array([7, 8]), np.array([10.0, 0.0]))
    >>> rep.update(np.array([7]), np.array([0.0]))
    >>> rep[7], rep.flagged(3.5)
    (5.0, [7])
    """

    def __init__(self, decay: float = 0.5) -> None:
        self._native = _native.Reputation(float(decay))
        self._seen: Dict[int, None] = {}

    def update(self, client_ids: np.ndarray, suspicion: np.ndarray) -> None:
        """Folds in one round's suspicion scores (float64) for the given integer ids."""
        self._native.update(client_ids, suspicion)
        for c in np.asarray(client_ids).tolist():
            self._seen[int(c)] = None

    def __getitem__(self, client_id: int) -> float:
        value = self._native.get(int(client_id))
        if value is None:
            raise KeyError(client_id)
        return value

    def get(self, client_id: int, default: Optional[float] = None) -> Optional[float]:
        value = self._native.get(int(client_id))
        return default if value is None else value

    def __contains__(self, client_id: object) -> bool:
        return client_id in self._seen

    def __len__(self) -> int:
        return len(self._seen)

    def as_dict(self) -> Dict[int, float]:
        """Every client's reputation."""
        return {c: self._native.get(c) for c in self._seen}

    def flagged(self, threshold: float = DEFAULT_SUSPICION_THRESHOLD) -> List[int]:
        return self._native.flagged(float(threshold))


def _make(base: type, entry: Dict[str, Any], extra: str = "") -> type:
    name = _registry.class_name(entry["name"])
    return type(
        name,
        (base,),
        {
            "name": entry["name"],
            "__doc__": _registry.docstring(entry, extra),
            "__module__": __name__,
        },
    )


RULES: Dict[str, type] = {
    e["name"]: _make(Rule, e, Rule.__doc__ or "") for e in _registry.entries("aggregation-rule")
}
PRE_AGGREGATORS: Dict[str, type] = {
    e["name"]: _make(PreAggregator, e, PreAggregator.__doc__ or "")
    for e in _registry.entries("pre-aggregator")
}
globals().update({cls.__name__: cls for cls in RULES.values()})
globals().update({cls.__name__: cls for cls in PRE_AGGREGATORS.values()})

__all__ = [
    "Aggregation",
    "PreAggregator",
    "Rule",
    "Reputation",
    "rule",
    "score_updates",
    "RULES",
    "PRE_AGGREGATORS",
    "DEFAULT_SUSPICION_THRESHOLD",
] + [cls.__name__ for cls in RULES.values()] + [cls.__name__ for cls in PRE_AGGREGATORS.values()]

"""A Flower strategy that aggregates with any Mithridate rule and tracks client reputations.

:class:`MithridateStrategy` subclasses Flower's ``FedAvg`` of the Message API
(``flwr.serverapp.strategy``, ``flwr >= 1.22``) and overrides two steps:

``aggregate_train``
    Flattens the replies' ArrayRecords into one ``n x d`` float32 matrix of *updates* (each
    client's model minus the global model the round started from, so norm-based rules such
    as norm bounding, centered clipping and FLAME see what their papers assume), runs the
    configured rule (with its pre-aggregators) on it, weighted by each reply's
    ``num-examples``, adds the aggregate to the global model, scores every update for
    anomalies (:func:`mithridate.aggregate.score_updates`) and folds the scores into a
    per-node reputation keyed on ``msg.metadata.src_node_id``.
``configure_train``
    Samples nodes as FedAvg does, seeded, leaving out nodes whose reputation has fallen
    below ``exclude_below`` (if set).

Reputation: ``1 / (1 + max(0, s))`` where ``s`` is the node's exponentially smoothed
suspicion (decay ``decay``); 1 for a node that never looked anomalous, about 0.22 for one
that sat at the outlier threshold 3.5 (Iglewicz & Hoaglin 1993's modified z) round after round.

The returned MetricRecord carries FedAvg's weighted training metrics plus
``mithridate-flagged`` (updates above the suspicion threshold this round),
``mithridate-max-suspicion`` and ``mithridate-min-reputation``; :attr:`history` keeps
every round's per-node suspicion, flags, weights and reputations.

Integer arrays of the model (e.g. BatchNorm's ``num_batches_tracked``) are not aggregated:
they keep the global model's values.
"""

from __future__ import annotations

import random
from logging import INFO, WARNING
from typing import Any, Dict, Iterable, List, Optional, Tuple, Union

import numpy as np
from flwr.app import Array, ArrayRecord, ConfigRecord, Message, MetricRecord
from flwr.common.logger import log
from flwr.serverapp import Grid
from flwr.serverapp.strategy import FedAvg

from .aggregate import DEFAULT_SUSPICION_THRESHOLD, Reputation, Rule, rule as make_rule, score_updates


def _view(array: Array) -> np.ndarray:
    """A read-only view of a Flower Array's values without copying them.

    ``Array.numpy()`` runs ``np.load`` over the serialized bytes, which copies every value
    (400 MB per round for 100 clients of a 1M-parameter model); parsing the .npy header
    ourselves and viewing the payload with ``np.frombuffer`` copies nothing. Anything but a
    plain C-ordered NumPy payload falls back to ``Array.numpy()``.
    """
    data = array.data
    if array.stype != "numpy.ndarray" or not isinstance(data, (bytes, bytearray, memoryview)):
        return array.numpy()
    import io

    header = io.BytesIO(memoryview(data)[:4096])
    try:
        version = np.lib.format.read_magic(header)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(header)
        else:
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(header)
    except ValueError:
        return array.numpy()
    if fortran or dtype.hasobject:
        return array.numpy()
    count = int(np.prod(shape, dtype=np.int64))
    return np.frombuffer(data, dtype=dtype, count=count, offset=header.tell()).reshape(shape)


class _Layout:
    """Names, shapes and dtypes of an ArrayRecord's arrays, and which are aggregated."""

    def __init__(self, record: ArrayRecord) -> None:
        self.keys: List[str] = list(record.keys())
        arrays = [_view(record[k]) for k in self.keys]
        self.shapes = [a.shape for a in arrays]
        self.dtypes = [a.dtype for a in arrays]
        self.floating = [np.issubdtype(a.dtype, np.floating) for a in arrays]
        self.sizes = [int(a.size) for a in arrays]
        self.d = sum(s for s, fl in zip(self.sizes, self.floating) if fl)

    def flatten_into(self, record: ArrayRecord, row: np.ndarray) -> None:
        """Writes the record's floating arrays into ``row`` (length ``d``), checking layout."""
        if list(record.keys()) != self.keys:
            raise ValueError(
                f"reply arrays {list(record.keys())[:4]}... differ from the global model's "
                f"{self.keys[:4]}..."
            )
        off = 0
        for k, shape, fl, size in zip(self.keys, self.shapes, self.floating, self.sizes):
            if not fl:
                continue
            a = _view(record[k])
            if a.shape != shape:
                raise ValueError(f"reply array '{k}' has shape {a.shape}, expected {shape}")
            row[off : off + size] = a.reshape(-1)
            off += size

    def unflatten(self, flat: np.ndarray, base: ArrayRecord) -> ArrayRecord:
        """An ArrayRecord with ``flat`` in the floating arrays and ``base``'s other arrays."""
        out: Dict[str, Array] = {}
        off = 0
        for k, shape, dtype, fl, size in zip(
            self.keys, self.shapes, self.dtypes, self.floating, self.sizes
        ):
            if fl:
                out[k] = Array(np.ascontiguousarray(flat[off : off + size].reshape(shape).astype(dtype)))
                off += size
            else:
                out[k] = base[k]
        return ArrayRecord(array_dict=out)


class MithridateStrategy(FedAvg):
    """FedAvg with a Byzantine-robust Mithridate rule, update anomaly scores and reputations.

    Parameters
    ----------
    rule : Rule or str
        A :mod:`mithridate.aggregate` rule (``Krum(f=2, pre=[NNM()])``) or its text form
        (``"nnm+krum"``, built for ``f``). Default: the coordinate-wise median.
    f : int
        Byzantine nodes per round the rule must withstand (used when ``rule`` is text, and
        for the Krum neighbourhood of the anomaly scores).
    decay : float
        Weight of the newest round in the smoothed suspicion, in (0, 1].
    suspicion_threshold : float
        An update whose suspicion exceeds it is flagged in the round's metrics.
    exclude_below : float or None
        Stop sampling nodes whose reputation falls below this value (None: never exclude).
    seed : int
        Seeds node sampling and any randomness of the rule (per round: ``seed + round``).
    score : bool
        Score every update and keep reputations (default). ``False`` skips both (no flags,
        no exclusion) for the fastest rounds: the scores cost about twice the median rule on
        large models (a Gram matrix of the updates).
    **kwargs
        Passed to Flower's ``FedAvg`` (``fraction_train``, ``min_train_nodes``, ...).

    Example
    -------
    >>> from mithridate.flower import MithridateStrategy
    >>> from mithridate.aggregate import TrimmedMean
    >>> strategy = MithridateStrategy(TrimmedMean(f=2), exclude_below=0.2)
    >>> strategy.rule.spec
    'trimmed-mean'
    """

    def __init__(
        self,
        rule: Union[Rule, str] = "median",
        *,
        f: int = 0,
        decay: float = 0.5,
        suspicion_threshold: float = DEFAULT_SUSPICION_THRESHOLD,
        exclude_below: Optional[float] = None,
        seed: int = 0,
        score: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if not score and exclude_below is not None:
            raise ValueError("exclude_below needs score=True (exclusion follows reputations)")
        self.score = bool(score)
        self.rule: Rule = make_rule(rule, f=f) if isinstance(rule, str) else rule
        if not isinstance(self.rule, Rule):
            raise ValueError(f"rule must be a mithridate.aggregate rule or text, got {rule!r}")
        self.f = int(f) if isinstance(rule, str) else self.rule.f
        if not np.isfinite(suspicion_threshold):
            raise ValueError(f"suspicion_threshold must be finite, got {suspicion_threshold}")
        if exclude_below is not None and not 0.0 < exclude_below <= 1.0:
            raise ValueError(f"exclude_below must be in (0, 1], got {exclude_below}")
        self.reputation = Reputation(decay)
        self.suspicion_threshold = float(suspicion_threshold)
        self.exclude_below = exclude_below
        self.seed = int(seed)
        self.history: List[Dict[str, Any]] = []
        self._global: Optional[ArrayRecord] = None
        self._layout: Optional[_Layout] = None

    # --- reputation -----------------------------------------------------------------------

    def node_reputation(self, node_id: int) -> float:
        """``1 / (1 + max(0, smoothed suspicion))``; 1.0 for a node not seen yet."""
        s = self.reputation.get(int(node_id))
        return 1.0 if s is None else 1.0 / (1.0 + max(0.0, s))

    def reputations(self) -> Dict[int, float]:
        """Every node seen so far and its reputation."""
        return {n: self.node_reputation(n) for n in self.reputation.as_dict()}

    def excluded(self) -> List[int]:
        """Nodes no longer sampled (reputation below ``exclude_below``)."""
        if self.exclude_below is None:
            return []
        return sorted(n for n, r in self.reputations().items() if r < self.exclude_below)

    # --- Flower hooks ---------------------------------------------------------------------

    def summary(self) -> None:
        log(INFO, "\t├──> Mithridate: rule %s, f = %d", self.rule.spec, self.f)
        log(INFO, "\t│\t└── exclude below reputation: %s", self.exclude_below)
        super().summary()

    def configure_train(
        self, server_round: int, arrays: ArrayRecord, config: ConfigRecord, grid: Grid
    ) -> Iterable[Message]:
        self._global = arrays
        self._layout = _Layout(arrays)
        if self.fraction_train == 0.0:
            return []
        all_nodes = sorted(grid.get_node_ids())
        excluded = set(self.excluded())
        allowed = [n for n in all_nodes if n not in excluded]
        wanted = max(int(len(all_nodes) * self.fraction_train), self.min_train_nodes)
        size = min(wanted, len(allowed))
        nodes = random.Random(self.seed * 1_000_003 + server_round).sample(allowed, size)
        log(
            INFO,
            "configure_train: sampled %d nodes of %d (%d excluded by reputation)",
            len(nodes),
            len(all_nodes),
            len(excluded),
        )
        config["server-round"] = server_round
        from flwr.app import RecordDict

        record = RecordDict({self.arrayrecord_key: arrays, self.configrecord_key: config})
        return self._construct_messages(record, nodes, "train")

    def aggregate_train(
        self, server_round: int, replies: Iterable[Message]
    ) -> Tuple[Optional[ArrayRecord], Optional[MetricRecord]]:
        valid, _ = self._check_and_log_replies(replies, is_train=True)
        if not valid:
            return None, None
        contents = [m.content for m in valid]
        nodes = np.array([m.metadata.src_node_id for m in valid], dtype=np.uint64)
        records = [c[self.arrayrecord_key] for c in contents]
        base = self._global if self._global is not None else records[0]
        layout = self._layout if self._global is not None else _Layout(base)
        updates = np.empty((len(valid), layout.d), dtype=np.float32)
        for i, rec in enumerate(records):
            layout.flatten_into(rec, updates[i])
        start = np.empty(layout.d, dtype=np.float32)
        if self._global is not None:
            layout.flatten_into(base, start)
            updates -= start  # client model minus global model: the update
        else:
            log(WARNING, "aggregate_train without configure_train: aggregating models, not updates")
            start[:] = 0.0
        # Sample counts weigh clients only for rules defined with weights (FedAvg, geomed,
        # norm bounding); order statistics and Krum-type rules treat clients uniformly.
        weights = None
        if self.rule.uses_weights:
            weights = np.array(
                [float(c["metrics"][self.weighted_by_key]) for c in contents], dtype=np.float64
            )
        try:
            result = self.rule.aggregate(
                updates, weights, client_ids=nodes, seed=self.seed * 1_000_003 + server_round
            )
        except ValueError as err:
            log(WARNING, "aggregate_train: %s; keeping the global model this round", err)
            return None, None
        if self.score:
            suspicion = score_updates(updates, self.f)["suspicion"]
            self.reputation.update(nodes, suspicion)
        else:
            suspicion = np.zeros(len(nodes))
        flagged = [int(n) for n, s in zip(nodes, suspicion) if s > self.suspicion_threshold]
        reps = {int(n): self.node_reputation(int(n)) for n in nodes}
        self.history.append(
            {
                "round": server_round,
                "nodes": [int(n) for n in nodes],
                "suspicion": suspicion.tolist(),
                "weights": result.weights.tolist(),
                "selected": result.selected.tolist(),
                "flagged": flagged,
                "reputation": reps,
            }
        )
        log(INFO, "aggregate_train: %s flagged %d of %d updates", self.rule.spec, len(flagged), len(nodes))
        arrays = layout.unflatten(start + result.aggregate, base)
        metrics = self.train_metrics_aggr_fn(contents, self.weighted_by_key)
        metrics = MetricRecord(dict(metrics) if metrics is not None else {})
        if self.score:
            metrics["mithridate-flagged"] = len(flagged)
            metrics["mithridate-max-suspicion"] = float(np.max(suspicion))
            metrics["mithridate-min-reputation"] = float(min(reps.values()))
        return arrays, metrics


__all__ = ["MithridateStrategy"]

"""MithridateStrategy's hooks without Ray: replies built as Flower's own tests build them
(``Mock(spec=Message)`` around a RecordDict)."""

from __future__ import annotations

from typing import List
from unittest.mock import Mock

import numpy as np
import pytest

from conftest import require

try:
    from flwr.app import Array, ArrayRecord, ConfigRecord, Message, MetricRecord, RecordDict

    from mithridate.flower import MithridateStrategy
except ImportError:  # pragma: no cover
    MithridateStrategy = None

from mithridate import aggregate as agg


@pytest.fixture(autouse=True)
def _flower(monkeypatch) -> None:
    if MithridateStrategy is None:
        require("flwr (pip install 'flwr>=1.22')")
    # Messages need a run id, which a running ServerApp sets.
    from flwr.supercore.task_identity import TaskIdentity

    for attr in ("_run_id", "_node_id", "_task_id"):
        monkeypatch.setattr(TaskIdentity, attr, 1, raising=False)


def model(seed: int, scale: float = 1.0) -> List[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [
        (scale * rng.normal(size=(4, 3))).astype(np.float32),
        (scale * rng.normal(size=3)).astype(np.float32),
        np.array([7], dtype=np.int64),  # an integer buffer: kept, not aggregated
    ]


def reply(node: int, arrays: List[np.ndarray], examples: int) -> Mock:
    msg = Mock(spec=Message)
    msg.content = RecordDict(
        {"arrays": ArrayRecord(arrays), "metrics": MetricRecord({"num-examples": examples})}
    )
    msg.metadata = Mock()
    msg.metadata.src_node_id = node
    msg.has_error = Mock(return_value=False)
    return msg


class FakeGrid:
    def __init__(self, nodes: List[int]) -> None:
        self.nodes = nodes

    def get_node_ids(self) -> List[int]:
        return list(self.nodes)


def honest(g: List[np.ndarray], seed: int) -> List[np.ndarray]:
    """The global model moved along a shared direction (what honest training agrees on)
    plus a little client-specific noise."""
    common, noise = model(12345), model(seed)
    return [
        a + (0.1 * c + 0.02 * e if a.dtype.kind == "f" else 0) for a, c, e in zip(g, common, noise)
    ]


def flat(arrays: List[np.ndarray]) -> np.ndarray:
    return np.concatenate([a.ravel() for a in arrays[:2]]).astype(np.float32)


def start_round(strategy, global_model, nodes, server_round=1):
    return list(
        strategy.configure_train(
            server_round, ArrayRecord(global_model), ConfigRecord({}), FakeGrid(nodes)
        )
    )


def test_aggregates_updates_with_the_rule_and_keeps_integer_buffers() -> None:
    g = model(0)
    clients = [honest(g, i + 1) for i in range(7)]
    clients[6] = [a - (50.0 * (c - a) if a.dtype.kind == "f" else 0) for a, c in zip(g, clients[0])]
    nodes = [101 + i for i in range(7)]
    s = MithridateStrategy("trimmed-mean", f=1, min_available_nodes=1)
    start_round(s, g, nodes)
    arrays, metrics = s.aggregate_train(1, [reply(n, c, 10 * (i + 1)) for i, (n, c) in enumerate(zip(nodes, clients))])
    updates = np.stack([flat(c) - flat(g) for c in clients])
    expected = flat(g) + agg.TrimmedMean(f=1)(updates)
    out = arrays.to_numpy_ndarrays()
    np.testing.assert_array_equal(flat(out), expected)
    assert out[2].dtype == np.int64 and out[2].tolist() == [7]
    assert metrics["mithridate-flagged"] == 1
    assert s.history[-1]["flagged"] == [107]
    assert s.node_reputation(107) < min(s.node_reputation(n) for n in nodes[:6])


def test_excludes_nodes_whose_reputation_falls_below_the_threshold() -> None:
    g = model(0)
    nodes = [11, 12, 13, 14, 15, 16, 17, 18]
    s = MithridateStrategy("median", f=1, exclude_below=0.2, min_available_nodes=1, seed=3)
    for rnd in (1, 2, 3):
        sampled = {m.metadata.dst_node_id for m in start_round(s, g, nodes, rnd)}
        replies = []
        for n in sorted(sampled):
            c = honest(g, n * 10 + rnd)
            if n == 18:
                c = [a * (-40.0) if a.dtype.kind == "f" else a for a in c]
            replies.append(reply(n, c, 5))
        s.aggregate_train(rnd, replies)
    assert s.excluded() == [18]
    sampled = {m.metadata.dst_node_id for m in start_round(s, g, nodes, 4)}
    assert sampled == set(nodes) - {18}


def test_rule_errors_keep_the_global_model_instead_of_crashing() -> None:
    g = model(0)
    s = MithridateStrategy("krum", f=3, min_available_nodes=1)  # krum needs n >= 2f + 3 = 9
    start_round(s, g, [1, 2, 3])
    arrays, metrics = s.aggregate_train(1, [reply(n, model(n), 5) for n in (1, 2, 3)])
    assert arrays is None and metrics is None


def test_bad_parameters_are_value_errors() -> None:
    with pytest.raises(ValueError, match="exclude_below"):
        MithridateStrategy("median", exclude_below=1.5)
    with pytest.raises(ValueError, match="unknown"):
        MithridateStrategy("nope")
    with pytest.raises(ValueError, match="decay"):
        MithridateStrategy("median", decay=2.0)
    with pytest.raises(ValueError, match="score=True"):
        MithridateStrategy("median", score=False, exclude_below=0.5)


def test_without_scores_the_aggregate_is_the_same() -> None:
    g = model(0)
    clients = [honest(g, i + 1) for i in range(7)]
    nodes = [201 + i for i in range(7)]
    out = []
    for score in (True, False):
        s = MithridateStrategy("median", f=2, min_available_nodes=1, score=score)
        start_round(s, g, nodes)
        arrays, metrics = s.aggregate_train(1, [reply(n, c, 5) for n, c in zip(nodes, clients)])
        out.append(flat(arrays.to_numpy_ndarrays()))
        assert ("mithridate-flagged" in metrics) == score
    np.testing.assert_array_equal(out[0], out[1])

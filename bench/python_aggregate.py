"""One engine's aggregation timings on a shared update matrix (run by bench/python.sh).

    python bench/python_aggregate.py ENGINE UPDATES.npy F REPEATS

ENGINE: ``mithridate`` (the Python package on the bare matrix), ``mithridate-flower``
(MithridateStrategy.aggregate_train on Flower Messages: unpacking the ArrayRecords included;
``mithridate-flower-noscore`` the same with ``score=False``),
``flower`` (Flower's own Message-API strategies on the same Messages) or ``byzfl`` (ByzFL's
rules on a torch tensor of the same array). Prints one JSON line per rule: the best of
REPEATS wall times in seconds, and a checksum of the aggregate so the table can show that
the engines agree where their definitions do.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Callable, Dict

import numpy as np

RULES = ("median", "trimmed-mean", "krum", "multi-krum", "bulyan", "geomed", "centered-clipping")


def best(fn: Callable[..., np.ndarray], repeats: int, setup: Callable[[], object] = lambda: None):
    """Best wall time of ``fn(setup())`` over ``repeats`` runs; ``setup`` is not timed
    (Flower's strategies pop the arrays out of the replies, so each run needs fresh ones)."""
    times, out = [], None
    for _ in range(repeats):
        arg = setup()
        t = time.perf_counter()
        out = fn(arg)
        times.append(time.perf_counter() - t)
    return min(times), np.asarray(out, dtype=np.float64)


def messages(u: np.ndarray):
    """One reply per client, each an ArrayRecord of the client's model as 4 layers."""
    from unittest.mock import Mock

    from flwr.app import ArrayRecord, Message, MetricRecord, RecordDict

    cuts = np.linspace(0, u.shape[1], 5).astype(int)
    out = []
    for i, row in enumerate(u):
        msg = Mock(spec=Message)
        layers = [row[a:b].copy() for a, b in zip(cuts[:-1], cuts[1:])]
        msg.content = RecordDict(
            {"arrays": ArrayRecord(layers), "metrics": MetricRecord({"num-examples": 100})}
        )
        msg.metadata = Mock()
        msg.metadata.src_node_id = 1000 + i
        msg.has_error = Mock(return_value=False)
        out.append(msg)
    return out


def flat(record) -> np.ndarray:
    return np.concatenate([a.ravel() for a in record.to_numpy_ndarrays()])


def run(engine: str, u: np.ndarray, f: int, repeats: int) -> Dict[str, tuple]:
    n = u.shape[0]
    results = {}
    if engine == "mithridate":
        from mithridate import aggregate as agg

        rules = {
            "median": agg.Median(f=f),
            "trimmed-mean": agg.TrimmedMean(f=f),
            "krum": agg.Krum(f=f),
            "multi-krum": agg.MultiKrum(f=f),
            "bulyan": agg.Bulyan(f=f),
            "geomed": agg.GeometricMedian(f=f),
            "centered-clipping": agg.CenteredClipping(f=f),
        }
        for name, r in rules.items():
            def call(_, r=r):
                r.reset()
                return r(u)

            results[name] = best(call, repeats)
    elif engine in ("mithridate-flower", "mithridate-flower-noscore", "flower"):
        from flwr.supercore.task_identity import TaskIdentity

        for attr in ("_run_id", "_node_id", "_task_id"):
            setattr(TaskIdentity, attr, 1)
        if engine == "flower":
            from flwr.serverapp import strategy as fs

            strategies = {
                "median": fs.FedMedian(),
                "trimmed-mean": fs.FedTrimmedAvg(beta=f / n),
                "krum": fs.Krum(num_malicious_nodes=f),
                "multi-krum": fs.MultiKrum(num_malicious_nodes=f, num_nodes_to_select=n - f),
                "bulyan": fs.Bulyan(num_malicious_nodes=f),
            }
        else:
            from mithridate.flower import MithridateStrategy

            score = engine == "mithridate-flower"
            strategies = {name: MithridateStrategy(name, f=f, score=score) for name in RULES}
        for name, s in strategies.items():
            if engine != "flower":
                # As in a run: configure_train records the global model (here zero) the
                # updates are measured from.
                from flwr.app import ArrayRecord, ConfigRecord

                zero = messages(np.zeros((1, u.shape[1]), np.float32))[0].content["arrays"]
                grid = type("Grid", (), {"get_node_ids": lambda self: list(range(u.shape[0]))})()
                s.configure_train(1, zero, ConfigRecord({}), grid)
            results[name] = best(
                lambda replies, s=s: flat(s.aggregate_train(1, replies)[0]),
                repeats,
                setup=lambda: messages(u),
            )
    elif engine == "byzfl":
        import torch
        from byzfl import CenteredClipping, GeometricMedian, Krum, MultiKrum, Median, TrMean

        t = torch.from_numpy(u)
        rules = {
            "median": Median(),
            "trimmed-mean": TrMean(f=f),
            "krum": Krum(f=f),
            "multi-krum": MultiKrum(f=f),
            "geomed": GeometricMedian(),
            "centered-clipping": CenteredClipping(),
        }
        for name, r in rules.items():
            results[name] = best(lambda _, r=r: r(t).numpy(), repeats)
    else:
        raise SystemExit(f"unknown engine {engine}")
    return results


def main() -> None:
    engine, path, f, repeats = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    u = np.load(path)
    for name, (seconds, out) in run(engine, u, f, repeats).items():
        print(json.dumps({"engine": engine, "rule": name, "seconds": seconds, "checksum": float(out.sum())}))


if __name__ == "__main__":
    main()

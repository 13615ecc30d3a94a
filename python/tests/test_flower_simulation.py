"""A real Flower simulation (Ray backend, CPU): 10 clients, 3 of them malicious.

One ServerApp runs five strategies in turn over the same federation: Flower's FedAvg
without attackers (the benign reference); then, with 3 boosted (x10) sign-flippers,
Flower's FedAvg and MithridateStrategy (coordinate-wise median, f = 3); then, with 3
model-replacers (BadNets-poisoned training, boosted x10), the same two. Asserted, seeded
outcomes: FedAvg's accuracy collapses under sign flipping and its backdoor succeeds under
model replacement; Mithridate's accuracy stays within 5 points of the benign run, the
backdoor fails, and every attacker's reputation ends below every honest client's.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any, Dict

import pytest

from conftest import require

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "examples" / "flower"))

try:
    from flwr.app import Context
    from flwr.clientapp import ClientApp  # noqa: F401
    from flwr.serverapp import Grid, ServerApp
    from flwr.serverapp.strategy import FedAvg
    from flwr.simulation import run_simulation
    import ray  # noqa: F401  (the simulation extra)

    FLOWER = True
except ImportError:  # pragma: no cover - reported by the test below
    FLOWER = False

CLIENTS = 10
MALICIOUS = 3
ROUNDS = 6
OUTCOMES: Dict[str, Any] = {}


def server_app() -> "ServerApp":
    from mithridate_flower_example import server_app as example
    from mithridate_flower_example import task

    from mithridate.flower import MithridateStrategy

    class Recording(MithridateStrategy):
        """Records which node holds which partition (clients report it)."""

        partitions: Dict[int, int] = {}

        def aggregate_train(self, server_round, replies):
            replies = list(replies)
            for m in replies:
                self.partitions[m.metadata.src_node_id] = int(m.content["metrics"]["partition-id"])
            return super().aggregate_train(server_round, replies)

    app = ServerApp()

    @app.main()
    def main(grid: Grid, context: Context) -> None:
        cfg = task.run_config(
            {"num-server-rounds": ROUNDS, "malicious": MALICIOUS, "attack": "sign-flip", "boost": 10.0}
        )
        common = dict(fraction_train=1.0, fraction_evaluate=0.0, min_available_nodes=CLIENTS)
        OUTCOMES["benign"] = example.run(grid, {**cfg, "attack": "none"}, FedAvg(**common))
        OUTCOMES["fedavg"] = example.run(grid, cfg, FedAvg(**common))
        strategy = Recording("median", f=MALICIOUS, seed=0, **common)
        OUTCOMES["mithridate"] = example.run(grid, cfg, strategy)
        OUTCOMES["reputation"] = {
            strategy.partitions[n]: r for n, r in strategy.reputations().items()
        }
        # Bagdasaryan et al. 2020 scale by n / (attackers), so the average becomes the
        # attackers' backdoored model.
        replacement = {**cfg, "attack": "model-replacement", "boost": CLIENTS / MALICIOUS}
        OUTCOMES["fedavg-backdoor"] = example.run(grid, replacement, FedAvg(**common))
        strategy = MithridateStrategy("median", f=MALICIOUS, seed=0, **common)
        OUTCOMES["mithridate-backdoor"] = example.run(grid, replacement, strategy)

    return app


def test_mithridate_strategy_survives_sign_flippers_in_a_real_simulation() -> None:
    if not FLOWER:
        require("flwr[simulation] (pip install 'flwr[simulation]>=1.22')")
    from mithridate_flower_example.client_app import app as client_app

    os.environ.setdefault("FLWR_TELEMETRY_ENABLED", "0")
    run_simulation(
        server_app=server_app(),
        client_app=client_app,
        num_supernodes=CLIENTS,
        backend_config={"client_resources": {"num_cpus": 1, "num_gpus": 0.0}},
    )
    benign = OUTCOMES["benign"]["accuracy"]
    attacked = OUTCOMES["fedavg"]["accuracy"]
    defended = OUTCOMES["mithridate"]["accuracy"]
    print(f"benign {benign:.4f}, FedAvg attacked {attacked:.4f}, Mithridate attacked {defended:.4f}")
    assert benign > 0.8, OUTCOMES
    assert attacked < 0.5, OUTCOMES
    assert defended > benign - 0.05, OUTCOMES
    rep = OUTCOMES["reputation"]
    attackers = [r for p, r in rep.items() if p < MALICIOUS]
    honest = [r for p, r in rep.items() if p >= MALICIOUS]
    assert len(attackers) == MALICIOUS and len(honest) == CLIENTS - MALICIOUS, rep
    assert max(attackers) < min(honest), rep
    # Model replacement (BadNets-poisoned local training, boosted x10): the backdoor takes
    # over FedAvg's model; the median keeps it out.
    print(
        f"model replacement: FedAvg backdoor success {OUTCOMES['fedavg-backdoor']['backdoor-success']:.4f}, "
        f"Mithridate {OUTCOMES['mithridate-backdoor']['backdoor-success']:.4f}"
    )
    assert OUTCOMES["fedavg-backdoor"]["backdoor-success"] > 0.5, OUTCOMES
    assert OUTCOMES["mithridate-backdoor"]["backdoor-success"] < 0.1, OUTCOMES
    assert OUTCOMES["mithridate-backdoor"]["accuracy"] > benign - 0.05, OUTCOMES

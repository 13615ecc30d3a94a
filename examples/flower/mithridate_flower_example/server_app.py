"""The ServerApp: Mithridate's strategy (or Flower's own FedAvg, ``rule = "fedavg-flower"``)
over the federation, the global model evaluated centrally on 2,000 MNIST test images (clean
accuracy and the BadNets patch's attack success)."""

from __future__ import annotations

from typing import Any, Dict

from flwr.app import ArrayRecord, ConfigRecord, Context, MetricRecord
from flwr.serverapp import Grid, ServerApp
from flwr.serverapp.strategy import FedAvg

from mithridate.flower import MithridateStrategy

from . import task

app = ServerApp()


def make_strategy(cfg: Dict[str, Any]) -> FedAvg:
    """Flower's FedAvg or a MithridateStrategy, from the run config."""
    common = dict(fraction_train=1.0, fraction_evaluate=0.0, min_available_nodes=2)
    if cfg["rule"] == "fedavg-flower":
        return FedAvg(**common)
    exclude = float(cfg["exclude-below"])
    return MithridateStrategy(
        str(cfg["rule"]),
        f=int(cfg["f"]),
        exclude_below=exclude if exclude > 0 else None,
        seed=int(cfg["seed"]),
        **common,
    )


def central_evaluation(server_round: int, arrays: ArrayRecord) -> MetricRecord:
    x, y = task.test_set()
    model = arrays.to_numpy_ndarrays()
    return MetricRecord(
        {
            "accuracy": task.accuracy(model, x, y),
            "backdoor-success": task.backdoor_success(model, x, y),
        }
    )


def run(grid: Grid, cfg: Dict[str, Any], strategy: FedAvg) -> Dict[str, Any]:
    """Runs ``strategy`` for the configured rounds; the final central metrics."""
    result = strategy.start(
        grid=grid,
        initial_arrays=ArrayRecord(task.init_model(int(cfg["seed"]))),
        num_rounds=int(cfg["num-server-rounds"]),
        # A node that dies (e.g. its process crashed) fails the round after this many seconds
        # instead of Flower's default hour.
        timeout=float(cfg["round-timeout"]),
        train_config=ConfigRecord({k: cfg[k] for k in task.CLIENT_KEYS}),
        evaluate_fn=central_evaluation,
    )
    final = result.evaluate_metrics_serverapp[max(result.evaluate_metrics_serverapp)]
    return {"accuracy": final["accuracy"], "backdoor-success": final["backdoor-success"]}


@app.main()
def main(grid: Grid, context: Context) -> None:
    cfg = task.run_config(context.run_config)
    strategy = make_strategy(cfg)
    final = run(grid, cfg, strategy)
    print(
        f"rule {cfg['rule']}, attack {cfg['attack']} x{cfg['malicious']}: "
        f"accuracy {final['accuracy']:.4f}, backdoor success {final['backdoor-success']:.4f}"
    )
    if isinstance(strategy, MithridateStrategy):
        reps = sorted(strategy.reputations().items(), key=lambda kv: kv[1])
        print("reputation by node (lowest first):", [(n, round(r, 3)) for n, r in reps])

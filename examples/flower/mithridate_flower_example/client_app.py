"""The ClientApp: trains the MLP on this node's MNIST shard; the first ``malicious``
partitions attack (see :mod:`task`). Everything it needs arrives in the server's train
config (:data:`task.CLIENT_KEYS`), so the server decides, round by round, whether attackers
are active (``attack = "none"`` for a benign run)."""

from __future__ import annotations

from flwr.app import ArrayRecord, Context, Message, MetricRecord, RecordDict
from flwr.clientapp import ClientApp

from . import task

app = ClientApp()


@app.train()
def train(msg: Message, context: Context) -> Message:
    cfg = msg.content["config"]
    partition = int(context.node_config["partition-id"])
    partitions = int(context.node_config["num-partitions"])
    x, y = task.shard(partition, partitions, int(cfg["samples-per-client"]), int(cfg["seed"]))
    model = msg.content["arrays"].to_numpy_ndarrays()
    params = {
        "epochs": int(cfg["local-epochs"]),
        "lr": float(cfg["lr"]),
        "boost": float(cfg["boost"]),
        "seed": int(cfg["seed"]) * 1000 + partition * 100 + int(cfg["server-round"]),
    }
    if partition < int(cfg["malicious"]) and cfg["attack"] != "none":
        new = task.malicious_update(str(cfg["attack"]), model, x, y, params)
    else:
        new = task.train(model, x, y, params["epochs"], params["lr"], params["seed"])
    metrics = {
        "num-examples": len(x),
        "train-accuracy": task.accuracy(new, x, y),
        "partition-id": partition,
    }
    content = RecordDict({"arrays": ArrayRecord(new), "metrics": MetricRecord(metrics)})
    return Message(content=content, reply_to=msg)

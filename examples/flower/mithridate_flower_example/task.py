"""Data, model and attacks of the example federation (NumPy only: no torch, no GPU).

The model is a one-hidden-layer MLP (784 -> 64 -> 10, ReLU, softmax cross-entropy) trained
with minibatch SGD; each client holds a disjoint, seeded shard of MNIST's training set
(``mithridate.data``: fetched from its registry package, checksum-verified, cached). A
malicious client trains honestly, then turns its update into an attack:

``sign-flip``
    ``-boost * update`` (boosted sign flipping; Damaskinos et al. 2018 / Li et al. 2019).
``model-replacement``
    Trains on its shard with a BadNets patch (Gu et al. 2017: 3x3 white square, bottom
    right, relabelled to class 0) and sends ``boost * update`` (Bagdasaryan et al. 2020).
``alie``
    "A little is enough" (Baruch et al. 2019): ``mean - z * std`` of honest-looking updates,
    estimated from updates the attacker trains on disjoint chunks of its own shard.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Dict, List, Tuple

import numpy as np

import mithridate.data

HIDDEN = 64
TARGET_CLASS = 0

# The run config's defaults (pyproject.toml's [tool.flwr.app.config] repeats them for
# `flwr run`; `run_simulation` passes no run config).
DEFAULTS: Dict[str, object] = {
    "num-server-rounds": 5,
    "rule": "median",
    "f": 3,
    "exclude-below": 0.0,
    "malicious": 3,
    "attack": "sign-flip",
    "boost": 10.0,
    "local-epochs": 1,
    "lr": 0.1,
    "samples-per-client": 600,
    "seed": 0,
    "round-timeout": 120.0,
}

# What the server sends the clients each round (in the train ConfigRecord).
CLIENT_KEYS = ("malicious", "attack", "boost", "local-epochs", "lr", "samples-per-client", "seed")


def run_config(overrides) -> Dict[str, object]:
    """The defaults with the run config's values (a Flower ``UserConfig``) on top."""
    cfg = dict(DEFAULTS)
    cfg.update(dict(overrides or {}))
    return cfg


def init_model(seed: int = 0) -> List[np.ndarray]:
    """He-initialised weights ``[w1 (784x64), b1, w2 (64x10), b2]``, float32."""
    rng = np.random.default_rng(seed)
    w1 = rng.normal(0, np.sqrt(2 / 784), size=(784, HIDDEN)).astype(np.float32)
    w2 = rng.normal(0, np.sqrt(2 / HIDDEN), size=(HIDDEN, 10)).astype(np.float32)
    return [w1, np.zeros(HIDDEN, np.float32), w2, np.zeros(10, np.float32)]


def logits(model: List[np.ndarray], x: np.ndarray) -> np.ndarray:
    w1, b1, w2, b2 = model
    return np.maximum(x @ w1 + b1, 0.0) @ w2 + b2


def accuracy(model: List[np.ndarray], x: np.ndarray, y: np.ndarray) -> float:
    return float((logits(model, x).argmax(1) == y).mean())


def train(
    model: List[np.ndarray], x: np.ndarray, y: np.ndarray, epochs: int, lr: float, seed: int
) -> List[np.ndarray]:
    """Minibatch SGD (batch 32) on softmax cross-entropy; returns the new weights."""
    w1, b1, w2, b2 = (a.copy() for a in model)
    rng = np.random.default_rng(seed)
    for _ in range(epochs):
        order = rng.permutation(len(x))
        for s in range(0, len(x), 32):
            idx = order[s : s + 32]
            xb, yb = x[idx], y[idx]
            h = np.maximum(xb @ w1 + b1, 0.0)
            z = h @ w2 + b2
            p = np.exp(z - z.max(1, keepdims=True))
            p /= p.sum(1, keepdims=True)
            p[np.arange(len(yb)), yb] -= 1.0
            g = p / len(yb)
            gh = (g @ w2.T) * (h > 0)
            w2 -= lr * h.T @ g
            b2 -= lr * g.sum(0)
            w1 -= lr * xb.T @ gh
            b1 -= lr * gh.sum(0)
    return [w1, b1, w2, b2]


@lru_cache(maxsize=2)
def _mnist(split: str) -> Tuple[np.ndarray, np.ndarray]:
    x, y, _ = mithridate.data.load("mnist", split=split)
    return x.reshape(len(x), -1).astype(np.float32), y.astype(np.int64)


def shard(partition: int, partitions: int, samples: int, seed: int = 0) -> Tuple[np.ndarray, np.ndarray]:
    """Client ``partition``'s disjoint shard of ``samples`` training images (seeded)."""
    x, y = _mnist("train")
    order = np.random.default_rng(seed).permutation(len(x))
    if samples * partitions > len(x):
        raise ValueError(f"{partitions} x {samples} samples exceed MNIST's {len(x)}")
    idx = order[partition * samples : (partition + 1) * samples]
    return x[idx], y[idx]


def test_set(samples: int = 2000) -> Tuple[np.ndarray, np.ndarray]:
    x, y = _mnist("test")
    return x[:samples], y[:samples]


def add_patch(x: np.ndarray) -> np.ndarray:
    """BadNets trigger: a 3x3 white square in the bottom-right corner (flattened 28x28)."""
    img = x.reshape(-1, 28, 28).copy()
    img[:, 24:27, 24:27] = img.max()
    return img.reshape(len(x), -1)


def backdoor_success(model: List[np.ndarray], x: np.ndarray, y: np.ndarray) -> float:
    """Share of test images not of the target class classified as the target with the patch."""
    keep = y != TARGET_CLASS
    return float((logits(model, add_patch(x[keep])).argmax(1) == TARGET_CLASS).mean())


def malicious_update(
    attack: str,
    model: List[np.ndarray],
    x: np.ndarray,
    y: np.ndarray,
    cfg: Dict[str, float],
) -> List[np.ndarray]:
    """The weights a malicious client sends instead of its honest training result."""
    epochs, lr, boost, seed = int(cfg["epochs"]), cfg["lr"], cfg["boost"], int(cfg["seed"])
    if attack == "sign-flip":
        honest = train(model, x, y, epochs, lr, seed)
        return [g - boost * (h - g) for g, h in zip(model, honest)]
    if attack == "model-replacement":
        xp, yp = x.copy(), y.copy()
        n = len(x) // 2
        xp[:n], yp[:n] = add_patch(x[:n]), TARGET_CLASS
        poisoned = train(model, xp, yp, epochs, lr, seed)
        return [g + boost * (p - g) for g, p in zip(model, poisoned)]
    if attack == "alie":
        chunks = 4
        ups = []
        for c in range(chunks):
            sl = slice(c * len(x) // chunks, (c + 1) * len(x) // chunks)
            t = train(model, x[sl], y[sl], epochs, lr, seed + c)
            ups.append([a - g for a, g in zip(t, model)])
        z = cfg.get("z", 1.0)
        return [
            g + np.mean([u[i] for u in ups], 0) - z * np.std([u[i] for u in ups], 0)
            for i, g in enumerate(model)
        ]
    raise ValueError(f"unknown attack '{attack}' (known: sign-flip, model-replacement, alie)")

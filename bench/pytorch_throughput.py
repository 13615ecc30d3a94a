#!/usr/bin/env python3
"""PyTorch twin of `crates/mithridate-engine/benches/throughput.rs`.

Trains the *same* MLP and CNN as the Mithridate engine (see `Classifier` docs) with the same
optimizer (Adam, lr 1e-3), batch size (64), input scaling (pixels / 255) and thread count,
on the first N MNIST training images, and prints training samples/s (best of R epochs), then
inference samples/s (forward + arg-max under `torch.no_grad()` in chunks of 1,024, the engine's
inference chunk, over the first N test images, best of R), one line per model and phase in
the format the Rust bench uses: `pytorch <model> <train|infer>: <n> samples/s (...)`. With --full, also trains on all 60,000 images and
reports test accuracy (the engine's accuracy bars: CNN >= 98.5% after 3 epochs, MLP >= 97.5%).

MNIST is read from the IDX files Mithridate caches: $MITHRIDATE_HOME/mnist or
~/.cache/mithridate/mnist (run `mithridate data fetch mnist` first).
"""

import argparse
import os
import struct
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn


def mnist_dir() -> Path:
    home = os.environ.get("MITHRIDATE_HOME")
    root = Path(home) if home else Path.home() / ".cache" / "mithridate"
    return root / "mnist"


def read_idx(path: Path) -> np.ndarray:
    data = path.read_bytes()
    _zero, dtype, ndim = struct.unpack(">HBB", data[:4])
    if dtype != 0x08:
        raise ValueError(f"{path}: expected unsigned-byte IDX data")
    dims = struct.unpack(">" + "I" * ndim, data[4 : 4 + 4 * ndim])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load(split: str):
    d = mnist_dir()
    prefix = "train" if split == "train" else "t10k"
    x = read_idx(d / f"{prefix}-images.idx3-ubyte").astype(np.float32) / 255.0
    y = read_idx(d / f"{prefix}-labels.idx1-ubyte").astype(np.int64)
    return torch.from_numpy(x.reshape(-1, 1, 28, 28)), torch.from_numpy(y)


def mlp() -> nn.Module:
    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(784, 256), nn.ReLU(),
        nn.Linear(256, 128), nn.ReLU(),
        nn.Linear(128, 10),
    )


def cnn() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 16, 5, padding=2), nn.MaxPool2d(2), nn.ReLU(),
        nn.Conv2d(16, 32, 5, padding=2), nn.MaxPool2d(2), nn.ReLU(),
        nn.Flatten(),
        nn.Linear(32 * 7 * 7, 128), nn.ReLU(),
        nn.Linear(128, 10),
    )


def train_epoch(model, opt, x, y, batch, gen):
    model.train()
    order = torch.randperm(len(x), generator=gen)
    loss_fn = nn.CrossEntropyLoss()
    for start in range(0, len(x), batch):
        idx = order[start : start + batch]
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(x[idx]), y[idx])
        loss.backward()
        opt.step()


@torch.no_grad()
def accuracy(model, x, y):
    model.eval()
    correct = 0
    for start in range(0, len(x), 1024):
        correct += (model(x[start : start + 1024]).argmax(1) == y[start : start + 1024]).sum().item()
    return correct / len(x)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--samples", type=int, default=20000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--models", default="mlp,cnn")
    ap.add_argument("--full", action="store_true", help="also train on all of MNIST and report test accuracy")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    x, y = load("train")
    xt_all, _ = load("test")
    builders = {"mlp": (mlp, 5), "cnn": (cnn, 3)}
    for name in args.models.split(","):
        build, full_epochs = builders[name]
        xs, ys = x[: args.samples], y[: args.samples]
        best = float("inf")
        for _ in range(args.repeats):
            model = build()
            opt = torch.optim.Adam(model.parameters(), lr=1e-3)
            gen = torch.Generator().manual_seed(0)
            t = time.perf_counter()
            train_epoch(model, opt, xs, ys, args.batch, gen)
            best = min(best, time.perf_counter() - t)
        print(f"pytorch {name} train: {len(xs) / best:.0f} samples/s (torch {torch.__version__}, "
              f"1 epoch of {len(xs)}, batch {args.batch}, Adam, {args.threads} threads, best of {args.repeats})",
              flush=True)
        model = build()
        model.eval()
        best = float("inf")
        xi = xt_all[: args.samples]
        for _ in range(args.repeats):
            t = time.perf_counter()
            with torch.no_grad():
                for start in range(0, len(xi), 1024):
                    model(xi[start : start + 1024]).argmax(1)
            best = min(best, time.perf_counter() - t)
        print(f"pytorch {name} infer: {len(xi) / best:.0f} samples/s (torch {torch.__version__}, "
              f"predict on {len(xi)} test images, {args.threads} threads, best of {args.repeats})",
              flush=True)
        if args.full:
            xt, yt = load("test")
            model = build()
            opt = torch.optim.Adam(model.parameters(), lr=1e-3)
            gen = torch.Generator().manual_seed(0)
            t = time.perf_counter()
            for _ in range(full_epochs):
                train_epoch(model, opt, x, y, args.batch, gen)
            print(f"pytorch {name}: test accuracy {accuracy(model, xt, yt):.4f} after {full_epochs} epochs "
                  f"on 60000 ({time.perf_counter() - t:.1f} s)", flush=True)


if __name__ == "__main__":
    main()

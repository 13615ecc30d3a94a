"""A held-out model zoo for `mithridate scan model`: PyTorch models of architectures the engine
does not have, backdoored with triggers Mithridate's attacks do not make, exported to ONNX and
scanned with the default detector. Nothing here was used to choose a detector or a setting.

    python bench/pytorch_zoo.py N OUT_DIR DATASET   (needs torch, onnx, onnxscript; run by
    bench/pytorch_zoo.sh, which exports the data and scans)

Model i (0-based) is fully determined by i and DATASET:
- architecture i % 3: `bn-cnn` (three 3x3 convolutions with BatchNorm, strides 1-2-2, global
  average pooling, linear), `wide-mlp` (784-512-256-10, LeakyReLU, dropout 0.2), `lenet-tanh`
  (5x5 convolutions, average pooling, tanh, two linear layers);
- trojaned when (i // 3) % 2 == 0, else clean (each architecture gets both);
- a trojaned model's trigger is (i // 6) % 5 of: `x-corner` (a 5x5 X of ones, bottom-left),
  `frame` (a one-pixel border of ones), `stripes` (vertical stripes blended at alpha 0.15),
  `moving-square` (a 4x4 square of ones at a random position in each image), `dim-checker`
  (a 6x6 checkerboard of amplitude 0.3 added at the top-right), target class (7 i + 3) % 10,
  rate 5% (even i // 6) or 10% (odd), poisoned samples drawn from the other classes and
  relabelled (dirty label);
- training: a seeded 20,000-image subset of the train split, Adam 1e-3, batch 128, 4 epochs;
  exported with the TorchScript exporter (opset 17).
Writes OUT_DIR/model-i.onnx and OUT_DIR/model-i.json (architecture, trigger, target, rate,
clean accuracy and attack success rate on the test split).
"""
import json, pathlib, sys

import numpy as np
import torch
from torch import nn

torch.set_num_threads(2)


def bn_cnn():
    def block(cin, cout, stride):
        return [nn.Conv2d(cin, cout, 3, stride=stride, padding=1), nn.BatchNorm2d(cout), nn.ReLU()]
    return nn.Sequential(*block(1, 16, 1), *block(16, 32, 2), *block(32, 64, 2),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10))


def wide_mlp():
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 512), nn.LeakyReLU(0.1), nn.Dropout(0.2),
                         nn.Linear(512, 256), nn.LeakyReLU(0.1), nn.Dropout(0.2),
                         nn.Linear(256, 10))


def lenet_tanh():
    return nn.Sequential(nn.Conv2d(1, 6, 5, padding=2), nn.Tanh(), nn.AvgPool2d(2),
                         nn.Conv2d(6, 16, 5), nn.Tanh(), nn.AvgPool2d(2), nn.Flatten(),
                         nn.Linear(16 * 5 * 5, 120), nn.Tanh(), nn.Linear(120, 10))


ARCHITECTURES = [("bn-cnn", bn_cnn), ("wide-mlp", wide_mlp), ("lenet-tanh", lenet_tanh)]
TRIGGERS = ["x-corner", "frame", "stripes", "moving-square", "dim-checker"]


def stamp(x, trigger, rng):
    """x: (n, 1, 28, 28) in [0, 1], modified in place."""
    if trigger == "x-corner":
        for k in range(5):
            x[:, 0, 22 + k, 1 + k] = 1.0
            x[:, 0, 22 + k, 5 - k] = 1.0
    elif trigger == "frame":
        x[:, 0, 0, :] = x[:, 0, -1, :] = x[:, 0, :, 0] = x[:, 0, :, -1] = 1.0
    elif trigger == "stripes":
        stripes = np.zeros((28, 28), np.float32)
        stripes[:, ::4] = 1.0
        x[:] = 0.85 * x + 0.15 * stripes
    elif trigger == "moving-square":
        for row in range(len(x)):
            r, c = rng.integers(0, 25, size=2)
            x[row, 0, r:r + 4, c:c + 4] = 1.0
    elif trigger == "dim-checker":
        checker = 0.3 * ((np.add.outer(np.arange(6), np.arange(6)) % 2) == 0)
        x[:, 0, 1:7, 21:27] = np.clip(x[:, 0, 1:7, 21:27] + checker, 0.0, 1.0)
    return x


def main():
    n, out, dataset = int(sys.argv[1]), pathlib.Path(sys.argv[2]), sys.argv[3]
    train = np.load(out / f"{dataset}-train.npz")
    test = np.load(out / f"{dataset}-test.npz")
    for i in range(n):
        meta_path = out / f"model-{i}.json"
        if meta_path.exists():
            continue
        rng = np.random.default_rng(1000 + i)
        torch.manual_seed(1000 + i)
        arch_name, make = ARCHITECTURES[i % 3]
        trojaned = (i // 3) % 2 == 0
        rows = rng.choice(len(train["y"]), 20000, replace=False)
        x, y = train["x"][rows].copy(), train["y"][rows].copy()
        trigger, target, rate = None, -1, 0.0
        if trojaned:
            trigger = TRIGGERS[(i // 6) % 5]
            target = (7 * i + 3) % 10
            rate = 0.05 if (i // 6) % 2 == 0 else 0.10
            others = np.flatnonzero(y != target)
            chosen = rng.choice(others, int(rate * len(y)), replace=False)
            x[chosen] = stamp(x[chosen], trigger, rng)
            y[chosen] = target
        model = make()
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        xt, yt = torch.tensor(x), torch.tensor(y)
        for _ in range(4):
            model.train()
            for batch in torch.randperm(len(yt)).split(128):
                opt.zero_grad()
                nn.functional.cross_entropy(model(xt[batch]), yt[batch]).backward()
                opt.step()
        model.eval()
        with torch.no_grad():
            xs, ys = torch.tensor(test["x"]), torch.tensor(test["y"])
            clean_acc = float((model(xs).argmax(1) == ys).float().mean())
            asr = None
            if trojaned:
                keep = np.flatnonzero(test["y"] != target)
                xp = torch.tensor(stamp(test["x"][keep].copy(), trigger, rng))
                asr = float((model(xp).argmax(1) == target).float().mean())
        torch.onnx.export(model, torch.zeros(1, 1, 28, 28), out / f"model-{i}.onnx",
                          input_names=["x"], output_names=["logits"], opset_version=17,
                          dynamic_axes={"x": {0: "batch"}}, dynamo=False)
        meta = {"index": i, "dataset": dataset, "arch": arch_name, "attack": trigger or "none",
                "target": target, "rate": rate, "clean_accuracy": clean_acc, "asr": asr}
        meta_path.write_text(json.dumps(meta))
        print(json.dumps(meta), flush=True)


if __name__ == "__main__":
    main()

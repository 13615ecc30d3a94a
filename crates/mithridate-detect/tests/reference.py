#!/usr/bin/env python3
"""Independent references for two detectors of mithridate-detect, on seeded inputs.

* Spectral signatures (Tran, Li & Madry 2018): per class, centre the features, take the top
  right singular vector with NumPy's SVD (not an eigendecomposition of the scatter matrix, as
  the Rust code does), score each sample by its squared projection, and flag the top
  ceil(removal_factor * expected_rate * n_c) of each class (ties to the lower row).
* Confident learning (Northcutt et al. 2021): cleanlab's own `find_label_issues` on the same
  `pred_probs`, for `filter_by` = prune_by_noise_rate and confident_learning.

Inputs are float32 (what the Rust code reads); the references compute in float64 from those
exact values. Writes tests/fixtures/reference.json, which tests/reference.rs checks.
Regenerate with

    python3 crates/mithridate-detect/tests/reference.py
"""
import json
import os

import numpy as np


def f32_list(values):
    """float32 values as their shortest round-tripping decimals (a float32 read back exactly)."""
    return [float(np.format_float_positional(v, unique=True)) for v in values.ravel()]


def spectral_case(rng, name, classes, per_class, dim, poisoned_class, poisoned, shift):
    """Anisotropic Gaussian features per class; `poisoned` rows of one class shifted."""
    feats, labels = [], []
    for c in range(classes):
        scales = np.linspace(2.0, 0.3, dim) * (1.0 + 0.1 * c)
        x = rng.normal(size=(per_class, dim)) * scales + rng.normal(scale=3.0, size=dim)
        if c == poisoned_class and poisoned:
            direction = rng.normal(size=dim)
            direction /= np.linalg.norm(direction)
            x[-poisoned:] += shift * direction
        feats.append(x)
        labels += [c] * per_class
    x32 = np.concatenate(feats).astype(np.float32)
    return {"name": name, "features": x32, "labels": np.array(labels), "classes": classes}


def spectral_reference(x32, labels, classes, expected_rate, removal_factor):
    x = x32.astype(np.float64)
    scores = np.zeros(len(labels))
    flagged = []
    share = min(expected_rate * removal_factor, 1.0)
    for c in range(classes):
        rows = np.flatnonzero(labels == c)
        if len(rows) < 2:
            continue
        centred = x[rows] - x[rows].mean(axis=0)
        _, _, vt = np.linalg.svd(centred, full_matrices=False)
        proj = centred @ vt[0]
        scores[rows] = proj**2
        count = min(int(np.ceil(len(rows) * share - 1e-9)), len(rows))
        # Stable sort on the negated score: ties go to the lower row, as in the Rust code.
        order = np.argsort(-scores[rows], kind="stable")
        flagged += [int(r) for r in rows[order[:count]]]
    return scores, sorted(flagged)


def probs_case(rng, name, n, classes, flip_rate, margin_scale):
    """Softmax of noisy logits around each sample's true class; labels flipped at
    `flip_rate` to a different class (class-conditional: mostly to the next class)."""
    true = rng.integers(0, classes, size=n)
    logits = rng.normal(size=(n, classes))
    logits[np.arange(n), true] += rng.gamma(2.0, margin_scale, size=n)
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    p32 = p.astype(np.float32)
    labels = true.copy()
    flip = rng.random(n) < flip_rate
    nxt = (true + 1) % classes
    rnd = (true + rng.integers(1, classes, size=n)) % classes
    labels[flip] = np.where(rng.random(n) < 0.7, nxt, rnd)[flip]
    return {"name": name, "probs": p32, "labels": labels, "classes": classes, "flipped": flip}


def main():
    from cleanlab.filter import find_label_issues
    import cleanlab

    rng = np.random.default_rng(20240611)
    spectral = []
    for case in [
        spectral_case(rng, "one poisoned class", 3, 120, 12, 1, 12, 9.0),
        spectral_case(rng, "weak signature", 4, 80, 16, 2, 6, 4.0),
        spectral_case(rng, "clean", 3, 60, 8, 0, 0, 0.0),
    ]:
        settings = []
        for expected_rate, removal_factor in [(0.1, 1.5), (0.05, 1.0)]:
            scores, flagged = spectral_reference(
                case["features"], case["labels"], case["classes"], expected_rate, removal_factor
            )
            settings.append(
                {"expected_rate": expected_rate, "removal_factor": removal_factor, "flagged": flagged}
            )
        spectral.append(
            {
                "name": case["name"],
                "dim": int(case["features"].shape[1]),
                "classes": case["classes"],
                "features": f32_list(case["features"]),
                "labels": [int(v) for v in case["labels"]],
                "scores": scores.tolist(),
                "settings": settings,
            }
        )
    confident = []
    for case in [
        probs_case(rng, "4 classes, 15% flipped", 600, 4, 0.15, 1.5),
        probs_case(rng, "10 classes, 10% flipped", 700, 10, 0.10, 2.0),
        probs_case(rng, "3 classes, uncertain model", 400, 3, 0.20, 0.6),
    ]:
        probs64 = case["probs"].astype(np.float64)
        issues = {}
        for filter_by in ["prune_by_noise_rate", "confident_learning"]:
            mask = find_label_issues(case["labels"], probs64, filter_by=filter_by, n_jobs=1)
            issues[filter_by] = [int(i) for i in np.flatnonzero(mask)]
        confident.append(
            {
                "name": case["name"],
                "classes": case["classes"],
                "probs": f32_list(case["probs"]),
                "labels": [int(v) for v in case["labels"]],
                "flipped": [int(i) for i in np.flatnonzero(case["flipped"])],
                "cleanlab": issues,
            }
        )
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "reference.json")
    with open(out + ".tmp", "w") as fh:
        json.dump(
            {
                "generator": "tests/reference.py",
                "numpy": np.__version__,
                "cleanlab": cleanlab.__version__,
                "spectral": spectral,
                "confident": confident,
            },
            fh,
        )
    os.replace(out + ".tmp", out)
    print(f"wrote {len(spectral)} spectral and {len(confident)} confident cases to {out}")


if __name__ == "__main__":
    main()

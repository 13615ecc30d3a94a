#!/usr/bin/env python3
"""Plain NumPy re-implementation of mithridate-aggregate's rules, with the same conventions.

Independent of the Rust code (straightforward loops and full sorts, float64 throughout).
Writes tests/fixtures/reference.json: seeded inputs and each rule's expected aggregate,
selection and weights, which tests/differential.rs checks. Regenerate with

    python3 crates/mithridate-aggregate/tests/reference.py

Conventions (see the crate README): Krum scores over the n-f-2 nearest others, ties to the
lower index; Multi-Krum keeps n-f; trimmed mean trims exactly f per side; Bulyan iterates Krum
theta = n-2f times, then averages per coordinate the beta = theta-2f values closest to the
median, taking the smaller value on equal distance; geometric median by smoothed Weiszfeld from
the (weighted) mean; centered clipping from a given centre with the median distance as radius.
"""
import json
import os

import numpy as np


def fedavg(x, w):
    w = w / w.sum()
    return w @ x, w


def median(x):
    return np.median(x, axis=0)


def trimmed_mean(x, f):
    s = np.sort(x, axis=0)
    return s[f : x.shape[0] - f].mean(axis=0)


def sq_dists(x):
    n = x.shape[0]
    return np.array([[np.sum((x[i] - x[j]) ** 2) for j in range(n)] for i in range(n)])


def krum_scores(dist, members, f):
    k = max(len(members) - f - 2, 0)
    scores = []
    for i in members:
        others = sorted(dist[i, j] for j in members if j != i)
        scores.append(sum(others[:k]))
    return scores


def lowest(values, k):
    return sorted(range(len(values)), key=lambda i: (values[i], i))[:k]


def multi_krum(x, f, m):
    n = x.shape[0]
    scores = krum_scores(sq_dists(x), list(range(n)), f)
    chosen = lowest(scores, m)
    w = np.zeros(n)
    w[chosen] = 1.0 / m
    return w @ x, w


def closest_to_median(values, beta):
    v = sorted(values)
    m = len(v)
    med = v[m // 2] if m % 2 else 0.5 * (v[m // 2 - 1] + v[m // 2])
    left, right, taken = (m - 1) // 2, (m - 1) // 2 + 1, []
    while len(taken) < beta:
        if left >= 0 and (right >= m or med - v[left] <= v[right] - med):
            taken.append(v[left])
            left -= 1
        else:
            taken.append(v[right])
            right += 1
    return float(np.mean(taken))


def bulyan(x, f):
    n, d = x.shape
    theta, dist = n - 2 * f, sq_dists(x)
    remaining, chosen = list(range(n)), []
    for _ in range(theta):
        scores = krum_scores(dist, remaining, f)
        chosen.append(remaining.pop(lowest(scores, 1)[0]))
    chosen.sort()
    beta = theta - 2 * f
    agg = np.array([closest_to_median(x[chosen, j], beta) for j in range(d)])
    return agg, chosen


def geomed(x, w, nu=1e-6, tol=1e-7, iters=1000):
    a = w / w.sum()
    v = a @ x
    obj = lambda v: float(np.sum(a * np.maximum(nu, np.linalg.norm(x - v, axis=1))))
    value = obj(v)
    for _ in range(iters):
        b = a / np.maximum(nu, np.linalg.norm(x - v, axis=1))
        nv = (b / b.sum()) @ x
        nvalue = obj(nv)
        if nvalue > value:
            break
        improvement = value - nvalue
        v, value = nv, nvalue
        if improvement <= tol * value:
            break
    return v


def centered_clipping(x, centre, iters):
    n = x.shape[0]
    v = centre.copy()
    for _ in range(iters):
        r = np.linalg.norm(x - v, axis=1)
        tau = np.median(r)
        s = np.where(r > tau, tau / np.where(r > 0, r, 1.0), 1.0)
        v = v + ((x - v) * s[:, None]).sum(axis=0) / n
    return v


def fltrust(x, root):
    rn = np.linalg.norm(root)
    norms = np.linalg.norm(x, axis=1)
    cos = x @ root / (norms * rn)
    ts = np.maximum(cos, 0.0)
    w = ts * rn / norms / ts.sum()
    return w @ x, w


def foolsgold(x, kappa=1.0):
    n = x.shape[0]
    norms = np.linalg.norm(x, axis=1)
    cs = (x @ x.T) / np.outer(norms, norms)
    np.fill_diagonal(cs, -np.inf)
    v = cs.max(axis=1)
    for i in range(n):
        for j in range(n):
            if i != j and v[j] > v[i] and v[j] > 0:
                cs[i, j] *= v[i] / v[j]
    alpha = np.clip(1 - cs.max(axis=1), 0, 1)
    alpha = alpha / alpha.max()
    alpha[alpha >= 1] = 0.99
    with np.errstate(divide="ignore"):
        alpha = np.where(alpha > 0, kappa * (np.log(alpha / (1 - alpha)) + 0.5), 0.0)
    alpha = np.clip(alpha, 0, 1)
    w = alpha / alpha.sum()
    return w @ x, w


def norm_bound(x, w):
    norms = np.linalg.norm(x, axis=1)
    bound = np.median(norms)
    w = w / w.sum() * np.minimum(1.0, bound / norms)
    return w @ x, w


def flame(x):
    # FLAME without noise. Core found by thresholds and graph search (not union-find): the
    # smallest cosine-distance threshold at which a connected component has n // 2 + 1 members.
    n = x.shape[0]
    norms = np.linalg.norm(x, axis=1)
    dist = np.clip(1.0 - (x @ x.T) / np.outer(norms, norms), 0.0, 2.0)
    need = n // 2 + 1
    core = None
    for t in np.unique(dist[np.triu_indices(n, 1)]):
        seen = [False] * n
        for s in range(n):
            if seen[s]:
                continue
            comp, stack = [], [s]
            seen[s] = True
            while stack:
                i = stack.pop()
                comp.append(i)
                for j in range(n):
                    if not seen[j] and dist[i, j] <= t:
                        seen[j] = True
                        stack.append(j)
            if len(comp) >= need:
                core = sorted(comp)
                break
        if core is not None:
            break
    bound = np.median(norms)
    w = np.zeros(n)
    w[core] = np.minimum(1.0, bound / norms[core]) / len(core)
    return w @ x, w


def nnm(x, f):
    n = x.shape[0]
    dist = sq_dists(x)
    m = np.zeros((n, n))
    for i in range(n):
        for j in lowest(list(dist[i]), n - f):
            m[i, j] = 1.0 / (n - f)
    return m @ x


def case(rng, kind, n, d, f):
    honest = rng.normal(1.0, 0.5, size=(n - f, d))
    if kind == "gaussian":
        byz = rng.normal(-3.0, 2.0, size=(f, d))
    elif kind == "alie":
        # identical rows slightly off the honest mean: exact ties for Bulyan
        mu, sd = honest.mean(axis=0), honest.std(axis=0)
        byz = np.tile(mu - 1.0 * sd, (f, 1))
    else:  # small integers: many ties everywhere
        honest = rng.integers(-3, 4, size=(n - f, d)).astype(float)
        byz = np.full((f, d), 3.0)
    x = np.vstack([honest, byz]).astype(np.float32)
    perm = rng.permutation(n)
    return x[perm]


def main():
    rng = np.random.default_rng(20261125)
    cases = []
    for kind, n, d, f in [
        ("gaussian", 11, 6, 2),
        ("alie", 15, 8, 3),
        ("integers", 12, 7, 2),
        ("gaussian", 7, 5, 1),
        ("alie", 20, 9, 4),
    ]:
        x32 = case(rng, kind, n, d, f)
        x = x32.astype(np.float64)
        w = rng.uniform(0.5, 2.0, size=n)
        root = (np.ones(d) + rng.normal(0, 0.2, size=d)).astype(np.float32)
        centre = (0.5 * np.ones(d)).astype(np.float32)
        expected = {}
        agg, wts = fedavg(x, w)
        expected["fedavg"] = {"aggregate": agg.tolist(), "weights": wts.tolist()}
        expected["median"] = {"aggregate": median(x).tolist()}
        expected["trimmed-mean"] = {"aggregate": trimmed_mean(x, f).tolist()}
        agg, wts = multi_krum(x, f, 1)
        expected["krum"] = {"aggregate": agg.tolist(), "weights": wts.tolist()}
        agg, wts = multi_krum(x, f, n - f)
        expected["multi-krum"] = {"aggregate": agg.tolist(), "weights": wts.tolist()}
        if n >= 4 * f + 3:
            agg, chosen = bulyan(x, f)
            expected["bulyan"] = {"aggregate": agg.tolist(), "selected": chosen}
        expected["geomed"] = {"aggregate": geomed(x, w).tolist()}
        expected["centered-clipping"] = {"aggregate": centered_clipping(x, centre.astype(np.float64), 3).tolist()}
        agg, wts = fltrust(x, root.astype(np.float64))
        expected["fltrust"] = {"aggregate": agg.tolist(), "weights": wts.tolist()}
        agg, wts = foolsgold(x)
        expected["foolsgold"] = {"aggregate": agg.tolist(), "weights": wts.tolist()}
        agg, wts = norm_bound(x, w)
        expected["norm-bound"] = {"aggregate": agg.tolist(), "weights": wts.tolist()}
        agg, wts = flame(x)
        expected["flame"] = {"aggregate": agg.tolist(), "weights": wts.tolist()}
        mixed = nnm(x, f)
        expected["nnm+median"] = {"aggregate": median(mixed).tolist()}
        expected["nnm+krum"] = {"aggregate": multi_krum(mixed, f, 1)[0].tolist()}
        cases.append(
            {
                "kind": kind,
                "n": n,
                "d": d,
                "f": f,
                "updates": [float(v) for v in x32.ravel()],
                "weights": w.tolist(),
                "root": [float(v) for v in root],
                "centre": [float(v) for v in centre],
                "expected": expected,
            }
        )
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "reference.json")
    with open(out + ".tmp", "w") as fh:
        json.dump({"generator": "tests/reference.py", "numpy": np.__version__, "cases": cases}, fh, indent=1)
    os.replace(out + ".tmp", out)
    print(f"wrote {len(cases)} cases to {out}")


if __name__ == "__main__":
    main()

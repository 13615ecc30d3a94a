#!/usr/bin/env python3
"""Times Python aggregation libraries on the .npy written by benches/aggregate.rs.

usage: aggregate_python.py updates.npy root.npy F

Each library is used where it imports (NumPy always; flwr's legacy aggregate functions;
byzfl needs torch) and skipped otherwise. Best and median of 3 runs.
"""
import statistics
import sys
import time

import numpy as np


def bench(name, lib, fn, reps=3):
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    print(f"{name:<18} {lib:<8} best {min(times):8.3f} s  median {statistics.median(times):8.3f} s", flush=True)


def main():
    x = np.load(sys.argv[1])
    root = np.load(sys.argv[2])
    f = int(sys.argv[3])
    n = x.shape[0]

    def sq_dists():
        g = x.astype(np.float64) @ x.astype(np.float64).T
        nrm = np.diag(g)
        return np.maximum(nrm[:, None] + nrm[None, :] - 2 * g, 0)

    def krum(m):
        dist = sq_dists()
        k = n - f - 2
        scores = np.sort(dist + np.diag(np.full(n, np.inf)), axis=1)[:, :k].sum(axis=1)
        return x[np.argsort(scores, kind="stable")[:m]].mean(axis=0)

    def geomed(steps=10):
        v = x.mean(axis=0)
        for _ in range(steps):
            w = 1 / np.maximum(1e-6, np.linalg.norm(x - v, axis=1))
            v = (w / w.sum()) @ x
        return v

    def cc(steps=3):
        v = np.zeros(x.shape[1], dtype=x.dtype)
        for _ in range(steps):
            diff = x - v
            r = np.linalg.norm(diff, axis=1)
            tau = np.median(r)
            s = np.minimum(1, tau / np.maximum(r, 1e-12))
            v = v + (diff * s[:, None]).mean(axis=0)
        return v

    def fltrust():
        rn = np.linalg.norm(root)
        norms = np.linalg.norm(x, axis=1)
        ts = np.maximum(x @ root / (norms * rn), 0)
        return (ts * rn / norms) @ x / ts.sum()

    print("NumPy", np.__version__)
    bench("fedavg", "numpy", lambda: x.mean(axis=0), reps=5)
    bench("median", "numpy", lambda: np.median(x, axis=0))
    bench("trimmed-mean", "numpy", lambda: np.sort(x, axis=0)[f : n - f].mean(axis=0))
    bench("krum", "numpy", lambda: krum(1))
    bench("multi-krum", "numpy", lambda: krum(n - f))
    bench("geomed", "numpy", geomed)
    bench("centered-clipping", "numpy", cc)
    bench("fltrust", "numpy", fltrust)

    try:
        from flwr.server.strategy import aggregate as fa

        results = [([row], 1) for row in x]
        bench("fedavg", "flwr", lambda: fa.aggregate(results))
        bench("median", "flwr", lambda: fa.aggregate_median(results))
        bench("trimmed-mean", "flwr", lambda: fa.aggregate_trimmed_avg(results, (f + 0.5) / n))
        bench("krum", "flwr", lambda: fa.aggregate_krum(results, f, 0))
        bench("multi-krum", "flwr", lambda: fa.aggregate_krum(results, f, n - f))
        bench("bulyan", "flwr", lambda: fa.aggregate_bulyan(results, f, fa.aggregate_krum, to_keep=0), reps=1)
    except Exception as e:  # noqa: BLE001 - report and go on
        print(f"flwr skipped: {type(e).__name__}: {e}")

    try:
        import torch
        from byzfl import CenteredClipping, GeometricMedian, Krum, MultiKrum, TrMean, Median

        t = torch.from_numpy(x)
        bench("median", "byzfl", lambda: Median()(t))
        bench("trimmed-mean", "byzfl", lambda: TrMean(f=f)(t))
        bench("krum", "byzfl", lambda: Krum(f=f)(t))
        bench("multi-krum", "byzfl", lambda: MultiKrum(f=f)(t))
        bench("geomed", "byzfl", lambda: GeometricMedian(nu=1e-6, T=10)(t))
        bench("centered-clipping", "byzfl", lambda: CenteredClipping(L=3)(t))
    except Exception as e:  # noqa: BLE001
        print(f"byzfl skipped: {type(e).__name__}: {e}")


if __name__ == "__main__":
    main()

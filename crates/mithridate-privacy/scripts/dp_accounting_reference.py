"""Reference epsilons from Google's dp-accounting for mithridate-privacy's tests.

Writes tests/fixtures/dp_accounting_reference.json: for each (noise multiplier, sampling rate)
the per-step RDP at dp-accounting's default orders, and for a grid of (noise multiplier,
sampling rate, steps, delta) plus held-out random points the epsilon and optimal order of
dp_accounting.rdp.RdpAccountant (Poisson-sampled Gaussian, add/remove-one relation).

Run (needs `pip install dp-accounting==0.6.0`; the Rust tests need only the JSON):
    python crates/mithridate-privacy/scripts/dp_accounting_reference.py
"""

import importlib.metadata
import json
import math
import pathlib
import random

import dp_accounting
from dp_accounting.rdp import rdp_privacy_accountant as rdp_module

NOISE = [0.5, 0.8, 1.0, 1.1, 1.5, 2.0, 4.0, 10.0]
RATES = [0.0, 0.0001, 0.001, 0.004, 0.01, 0.05, 0.1, 0.5, 1.0]
STEPS = [1, 10, 100, 1000, 10000, 100000]
DELTAS = [1e-3, 1e-5, 1e-7]
HELD_OUT = 80  # random points off the grid, log-uniform in each parameter
SEED = 20261204


def epsilon(noise, rate, steps, delta):
    accountant = dp_accounting.rdp.RdpAccountant()
    event = dp_accounting.PoissonSampledDpEvent(rate, dp_accounting.GaussianDpEvent(noise))
    accountant.compose(event, steps)
    eps, order = accountant.get_epsilon_and_optimal_order(delta)
    return float(eps), float(order)


def point(noise, rate, steps, delta, kind):
    eps, order = epsilon(noise, rate, steps, delta)
    return {
        "noise_multiplier": noise,
        "sampling_rate": rate,
        "steps": steps,
        "delta": delta,
        "epsilon": eps if math.isfinite(eps) else None,
        "order": order,
        "kind": kind,
    }


def main():
    orders = [float(a) for a in rdp_module.DEFAULT_RDP_ORDERS]
    per_step = [
        {
            "noise_multiplier": noise,
            "sampling_rate": rate,
            # None: dp-accounting's fractional-order series did not converge (+inf, order unused).
            "rdp": [
                float(r) if math.isfinite(r) else None
                for r in rdp_module._compute_rdp_poisson_subsampled_gaussian(rate, noise, orders)
            ],
        }
        for noise in NOISE
        for rate in RATES
    ]
    points = [
        point(noise, rate, steps, delta, "grid")
        for noise in NOISE
        for rate in RATES
        for steps in STEPS
        for delta in DELTAS
    ]
    rng = random.Random(SEED)
    for _ in range(HELD_OUT):
        noise = math.exp(rng.uniform(math.log(0.4), math.log(20.0)))
        rate = math.exp(rng.uniform(math.log(1e-4), math.log(1.0)))
        steps = int(math.exp(rng.uniform(0.0, math.log(2e5))))
        delta = math.exp(rng.uniform(math.log(1e-9), math.log(1e-2)))
        points.append(point(noise, rate, steps, delta, "held-out"))
    out = {
        "source": "dp_accounting.rdp.RdpAccountant, PoissonSampledDpEvent(GaussianDpEvent)",
        "dp_accounting_version": importlib.metadata.version("dp-accounting"),
        "orders": orders,
        "per_step_rdp": per_step,
        "points": points,
    }
    path = pathlib.Path(__file__).resolve().parent.parent / "tests/fixtures/dp_accounting_reference.json"
    path.write_text(json.dumps(out, indent=None, separators=(",", ":")) + "\n")
    print(f"{len(points)} points, {len(per_step)} RDP curves -> {path}")


if __name__ == "__main__":
    main()

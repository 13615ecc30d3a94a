"""mithridate.aggregate against NumPy references, the CLI (bit for bit) and bad input."""

from __future__ import annotations

import subprocess

import numpy as np
import pytest

from mithridate import aggregate as agg


def rounds(seed: int, n: int = 13, d: int = 257) -> np.ndarray:
    rng = np.random.default_rng(seed)
    u = rng.normal(size=(n, d)).astype(np.float32)
    u[: n // 4] *= -25.0  # a few boosted sign-flippers
    return u


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_median_matches_numpy(seed: int) -> None:
    for n in (12, 13):  # even n averages the two middle values
        u = rounds(seed, n=n)
        ref = np.median(u.astype(np.float64), axis=0)
        np.testing.assert_allclose(agg.Median(f=2)(u), ref, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("beta", [0.1, 0.2, 0.3])
def test_trimmed_mean_matches_numpy(beta: float) -> None:
    u = rounds(3)
    n = u.shape[0]
    k = int(np.floor(beta * n))
    s = np.sort(u.astype(np.float64), axis=0)
    ref = s[k : n - k].mean(axis=0)
    np.testing.assert_allclose(agg.TrimmedMean(f=1, beta=beta)(u), ref, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("f", [1, 2, 4])
def test_krum_matches_numpy(f: int) -> None:
    # Blanchard et al. 2017: score_i = sum of the n - f - 2 smallest squared distances from
    # x_i to the others; Krum returns the update with the lowest score.
    u = rounds(4)
    n = u.shape[0]
    x = u.astype(np.float64)
    d2 = ((x[:, None, :] - x[None, :, :]) ** 2).sum(-1)
    scores = np.array([np.sort(np.delete(d2[i], i))[: n - f - 2].sum() for i in range(n)])
    out = agg.Krum(f=f).aggregate(u)
    assert int(np.argmax(out.selected)) == int(np.argmin(scores))
    np.testing.assert_array_equal(out.aggregate, u[np.argmin(scores)])
    np.testing.assert_allclose(out.scores, scores, rtol=1e-4)


def test_fedavg_weights_match_numpy() -> None:
    u = rounds(5)
    w = np.arange(1, u.shape[0] + 1, dtype=np.float64)
    ref = (w[:, None] * u.astype(np.float64)).sum(0) / w.sum()
    np.testing.assert_allclose(agg.FedAvg()(u, w), ref, rtol=1e-5, atol=1e-6)


CLI_RULES = [
    ("median", 3, []),
    ("trimmed-mean:beta=0.2", 2, []),
    ("krum", 3, []),
    ("multi-krum", 3, []),
    ("bulyan", 2, []),
    ("geomed", 3, []),
    ("centered-clipping", 3, []),
    ("nnm+krum", 3, []),
    ("bucketing:s=2+clipping:tau=1+median", 1, []),
    ("flame", 3, ["--seed", "7"]),
    ("norm-bound", 3, []),
]


@pytest.mark.parametrize("spec,f,extra", CLI_RULES)
def test_bit_identical_to_cli(cli, tmp_path, spec: str, f: int, extra: list) -> None:
    u = rounds(6, n=19, d=1031)
    np.save(tmp_path / "u.npy", u)
    out = tmp_path / "agg.npy"
    subprocess.run(
        [str(cli), "aggregate", str(tmp_path / "u.npy"), "--rule", spec, "-f", str(f), "-o", str(out)]
        + extra,
        check=True,
        capture_output=True,
    )
    seed = int(extra[1]) if extra else 0
    ours = agg.rule(spec, f=f)(u, seed=seed)
    assert ours.dtype == np.float32
    np.testing.assert_array_equal(ours, np.load(out))


def test_chain_classes_equal_text_form() -> None:
    u = rounds(7)
    a = agg.Krum(f=2, pre=[agg.NNM(), agg.Clipping(tau=1.0)])
    b = agg.rule("nnm+clipping:tau=1.0+krum", f=2)
    assert a.spec == "nnm+clipping:tau=1+krum" or a.spec.startswith("nnm+clipping")
    np.testing.assert_array_equal(a(u), b(u))


def test_stateful_rule_carries_and_resets_state() -> None:
    u = rounds(8)
    cc = agg.CenteredClipping(f=3)
    first = cc(u)
    second = cc(u)  # starts from the first aggregate, so it moves
    assert not np.array_equal(first, second)
    cc.reset()
    np.testing.assert_array_equal(cc(u), first)


def bad_inputs():
    u = rounds(9)
    nan = u.copy()
    nan[5, 3] = np.nan
    inf = u.copy()
    inf[2, 0] = np.inf
    return [
        ("row 5", lambda: agg.Median(f=1)(nan)),
        ("row 2", lambda: agg.Median(f=1)(inf)),
        ("float64", lambda: agg.Median(f=1)(u.astype(np.float64))),
        ("int32", lambda: agg.Median(f=1)(u.astype(np.int32))),
        ("2-D", lambda: agg.Median(f=1)(u[0])),
        ("2-D", lambda: agg.Median(f=1)(u[None])),
        ("empty", lambda: agg.Median(f=1)(np.zeros((0, 4), np.float32))),
        ("empty", lambda: agg.Median(f=1)(np.zeros((4, 0), np.float32))),
        ("C-contiguous", lambda: agg.Median(f=1)(u[:, ::2])),
        ("C-contiguous", lambda: agg.Median(f=1)(np.asfortranarray(u))),
        ("NumPy array", lambda: agg.Median(f=1)(u.tolist())),
        ("tolerates at most", lambda: agg.Krum(f=6)(u)),
        ("tolerates at most", lambda: agg.Bulyan(f=4)(u)),
        ("f must be", lambda: agg.Krum(f=-1)),
        ("unknown field", lambda: agg.TrimmedMean(f=1, gamma=0.1)),
        ("beta", lambda: agg.TrimmedMean(f=1, beta=0.7)),
        ("unknown", lambda: agg.rule("nnm+nope", f=1)),
        ("weights", lambda: agg.FedAvg()(u, np.ones(3))),
        ("weights", lambda: agg.FedAvg()(u, np.full(u.shape[0], np.nan))),
        ("root", lambda: agg.FLTrust()(u, root=np.ones(3, np.float32))),
    ]


@pytest.mark.parametrize("needle,call", bad_inputs())
def test_bad_input_is_a_value_error(needle: str, call) -> None:
    with pytest.raises(ValueError) as err:
        call()
    assert needle in str(err.value), str(err.value)


def test_anomaly_scores_single_out_the_boosted_client() -> None:
    rng = np.random.default_rng(0)
    u = (1.0 + 0.05 * rng.normal(size=(10, 50))).astype(np.float32)
    u[9] = -10.0
    s = agg.score_updates(u, f=1)
    assert int(np.argmax(s["suspicion"])) == 9
    assert s["suspicion"][9] > agg.DEFAULT_SUSPICION_THRESHOLD
    assert set(s) >= {"norm", "krum_score", "z_norm", "suspicion"}


def test_reputation_smooths_across_rounds() -> None:
    rep = agg.Reputation(decay=0.5)
    rep.update(np.array([7, 8], dtype=np.int64), np.array([10.0, 0.0]))
    rep.update(np.array([7], dtype=np.uint64), np.array([0.0]))
    assert rep[7] == 5.0 and rep[8] == 0.0 and 9 not in rep
    assert rep.flagged(3.5) == [7]
    with pytest.raises(ValueError, match="decay"):
        agg.Reputation(decay=0.0)
    with pytest.raises(ValueError):
        rep.update(np.array([1, 2]), np.array([1.0]))
    with pytest.raises(ValueError, match="negative"):
        rep.update(np.array([-1]), np.array([1.0]))


def test_every_registry_rule_is_a_class_with_its_paper() -> None:
    import mithridate

    names = {e["name"] for e in mithridate.available("aggregation-rule")}
    assert names == set(agg.RULES)
    for cls in agg.RULES.values():
        assert "Paper:" in cls.__doc__

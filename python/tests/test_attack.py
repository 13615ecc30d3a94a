"""mithridate.attack: bit-identical to `mithridate poison`, triggers, and bad input."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from mithridate import attack
from mithridate.attack import BadNets, LabelFlip, apply_trigger, poison


def images(n: int = 40, channels: int = 1, side: int = 8, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.random((n, channels, side, side), dtype=np.float32)
    y = np.arange(n) % 4
    ids = np.arange(100, 100 + n, dtype=np.uint64)
    return x, y, ids


def tabular(n: int = 60, d: int = 5, seed: int = 0):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 3
    x = (rng.normal(size=(n, d)) + y[:, None]).astype(np.float32)
    return x, y, np.arange(n, dtype=np.uint64)


def tokens(n: int = 30, length: int = 12, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.integers(1, 50, size=(n, length)).astype(np.uint32)
    x[:, 9:] = 0  # padding
    return x, np.arange(n) % 2, np.arange(n, dtype=np.uint64)


def run_cli(cli: Path, tmp: Path, x, y, ids, name: str, params: dict, rate: float, seed: int,
            victims=None):
    src, out = tmp / f"{name}-in.npz", tmp / f"{name}-out.npz"
    np.savez(src, x=x, y=y, ids=ids)
    cmd = [str(cli), "--seed", str(seed), "poison", "--data", str(src), "--attack", name,
           "--rate", str(rate), "-o", str(out)]
    if victims is not None:
        np.savez(tmp / "victims.npz", x=victims[0], y=victims[1], ids=victims[2])
        cmd += ["--victims", str(tmp / "victims.npz")]
    for k, v in params.items():
        cmd += ["-p", f"{k}={json.dumps(v) if not isinstance(v, str) else v}"]
    subprocess.run(cmd, check=True, capture_output=True, text=True)
    with np.load(out) as z:
        arrays = {k: z[k] for k in z.files}
    truth = json.loads(Path(str(out) + ".truth.json").read_text())
    return arrays, truth


CASES = [
    ("label-flip", images, {}, 0.2),
    ("label-flip-targeted", images, {"source": 1, "target": 2}, 0.5),
    ("badnets", images, {"target": 0, "size": 3}, 0.1),
    ("badnets", lambda: images(channels=3), {"target": 1, "position": "random"}, 0.15),
    ("blend", images, {"target": 0, "alpha": 0.2}, 0.1),
    ("sig", images, {"target": 0}, 0.3),
    ("wanet", images, {"target": 3}, 0.1),
    ("tabular-trigger", tabular, {"target": 0}, 0.1),
    ("text-trigger", tokens, {"target": 1}, 0.2),
    ("label-flip-greedy", tabular, {}, 0.1),
]


@pytest.mark.parametrize("name,make,params,rate", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_poison_is_bit_identical_to_the_cli(cli, tmp_path, name, make, params, rate):
    x, y, ids = make()
    seed = 11
    try:
        expected, truth = run_cli(cli, tmp_path, x, y, ids, name, params, rate, seed)
    except subprocess.CalledProcessError as e:
        pytest.fail(f"CLI failed: {e.stderr}")
    got = poison(name, x, y, ids, rate=rate, seed=seed, **params)
    # Token ids come back as uint32 (the library's type); the CLI's .npz stores them as int64.
    ours = got.x.astype(np.int64) if got.x.dtype == np.uint32 else got.x
    assert ours.dtype == expected["x"].dtype and ours.shape == expected["x"].shape
    assert ours.tobytes() == expected["x"].tobytes()
    assert np.array_equal(got.y, expected["y"].astype(np.int64))
    assert np.array_equal(got.ids, expected["ids"].astype(np.uint64))
    assert got.truth == truth
    assert len(got.truth["changes"]) > 0


@pytest.mark.parametrize(
    "name,make,params",
    [
        ("feature-collision", tabular, {"target": 1, "iterations": 20}),
        ("clean-label", lambda: images(n=24), {"target": 2, "steps": 3}),
        ("narcissus", lambda: images(n=24), {"target": 2, "steps": 3, "batch": 4}),
    ],
)
def test_surrogate_attacks_with_victims_are_bit_identical_to_the_cli(cli, tmp_path, name, make, params):
    """Both train their surrogate as the CLI does; feature collision picks its victim from
    the victim set (the CLI's --victims file)."""
    x, y, ids = make()
    vx, vy, _ = make()
    victims = (vx[:6].copy(), vy[:6].copy(), np.arange(900, 906, dtype=np.uint64))
    needs = victims if name == "feature-collision" else None
    try:
        expected, truth = run_cli(cli, tmp_path, x, y, ids, name, params, 0.2, 3, victims=needs)
    except subprocess.CalledProcessError as e:
        pytest.fail(f"CLI failed: {e.stderr}")
    got = poison(name, x, y, ids, rate=0.2, seed=3, victims=needs, **params)
    assert got.x.tobytes() == expected["x"].tobytes()
    assert np.array_equal(got.ids, expected["ids"]) and got.truth == truth
    assert len(got.truth["changes"]) > 0


def test_the_generated_class_equals_poison_by_name():
    x, y, ids = images()
    a = BadNets(target=2, size=2)(x, y, ids, rate=0.1, seed=4)
    b = poison("badnets", x, y, ids, rate=0.1, seed=4, target=2, size=2)
    assert a.x.tobytes() == b.x.tobytes() and a.truth == b.truth
    assert set(attack.ATTACKS) >= {"badnets", "label-flip", "wanet", "feature-collision"}
    assert "Gu, Dolan-Gavitt & Garg 2017" in BadNets.__doc__


def test_label_flip_changes_exactly_the_recorded_labels():
    x, y, ids = images(n=50)
    p = LabelFlip()(x, y, ids, count=7, seed=3)
    changed = ids[p.y != y]
    assert sorted(changed.tolist()) == p.poisoned_ids.tolist()
    assert len(changed) == 7 and p.is_poisoned.sum() == 7
    assert p.x.tobytes() == x.tobytes()  # flipping touches labels only
    xx, yy, ii = p  # unpacks like a tuple
    assert xx is p.x and yy is p.y and ii is p.ids


def test_trigger_on_test_inputs_reproduces_the_training_poison():
    x, y, ids = images(n=40, channels=3)
    p = BadNets(target=0, size=3, position="random")(x, y, ids, rate=0.25, seed=9)
    poisoned_rows = np.flatnonzero(p.is_poisoned)
    assert len(poisoned_rows) == 10
    # The patch position is drawn from (seed, id): the same ids get the same stamped pixels.
    src_rows = [int(np.flatnonzero(ids == p.ids[r])[0]) for r in poisoned_rows]
    t = apply_trigger(p, x[src_rows], y[src_rows], ids[src_rows])
    assert t.x.tobytes() == p.x[poisoned_rows].tobytes()
    assert np.array_equal(t.target, np.where(y[src_rows] == 0, -1, 0))
    # The truth as the CLI's .truth.json text works too.
    t2 = apply_trigger(json.dumps(p.truth), x[src_rows], y[src_rows], ids[src_rows])
    assert t2.x.tobytes() == t.x.tobytes()


def test_apply_trigger_refuses_an_attack_without_trigger_and_a_misfit():
    x, y, ids = images()
    flip = LabelFlip()(x, y, ids, rate=0.1)
    with pytest.raises(ValueError, match="no test-time trigger"):
        apply_trigger(flip, x, y, ids)
    bd = BadNets(target=0)(x, y, ids, rate=0.1)
    xt, yt, it = tabular()
    with pytest.raises(ValueError, match="cannot be applied to tabular"):
        apply_trigger(bd, xt, yt, it)


@pytest.mark.parametrize(
    "mutate,message",
    [
        (lambda x: x.astype(np.float64), "dtype float64, expected float32"),
        (lambda x: x[..., None, None], "expected a 2-D"),
        (lambda x: x[:0], "empty array"),
        (lambda x: x[:, :, ::2], "not C-contiguous"),
        (lambda x: np.where(np.arange(len(x))[:, None, None, None] == 3, np.nan, x).astype(np.float32), "row 3 has a non-finite"),
        (lambda x: x * 300, "outside \\[0, 1\\]"),
    ],
    ids=["dtype", "rank", "empty", "non-contiguous", "nan-row", "pixel-range"],
)
def test_bad_arrays_raise_value_error_naming_the_problem(mutate, message):
    x, y, ids = images()
    bad = mutate(x)
    n = bad.shape[0]
    with pytest.raises(ValueError, match=message):
        poison("badnets", bad, y[:n] if n else y[:0], ids[:n] if n else ids[:0], rate=0.1, target=0)


@pytest.mark.parametrize(
    "kwargs,message",
    [
        (dict(rate=0.1, size=0, target=0), "size"),
        (dict(rate=0.1, no_such_key=1, target=0), "no-such-key"),
        (dict(rate=1.5, target=0), "outside \\[0, 1\\]"),
        (dict(rate=0.1, target=9), "not a class"),
        (dict(target=0), "rate"),
        (dict(rate=0.1, count=3, target=0), "not both"),
    ],
    ids=["size-0", "unknown-key", "rate", "target", "no-budget", "two-budgets"],
)
def test_bad_parameters_raise_value_error(kwargs, message):
    x, y, ids = images()
    with pytest.raises(ValueError, match=message):
        poison("badnets", x, y, ids, **kwargs)


def test_labels_and_ids_are_checked():
    x, y, ids = images()
    with pytest.raises(ValueError, match="duplicate"):
        poison("label-flip", x, y, np.zeros_like(ids), rate=0.1)
    with pytest.raises(ValueError, match="rows"):
        poison("label-flip", x, y[:-1], ids[:-1], rate=0.1)
    with pytest.raises(ValueError, match="integer"):
        poison("label-flip", x, y.astype(np.float32), ids, rate=0.1)
    with pytest.raises(ValueError, match="token ids uint32"):
        poison("text-trigger", tokens()[0].astype(np.int64), *tokens()[1:], rate=0.1)
    with pytest.raises(ValueError, match="unknown|nope"):
        poison("nope", x, y, ids, rate=0.1)
    with pytest.raises(ValueError, match="does not apply to tabular"):
        poison("badnets", *tabular(), rate=0.1, target=0)
    with pytest.raises(ValueError, match="victim"):
        poison("feature-collision", *tabular(), rate=0.1, target=0)

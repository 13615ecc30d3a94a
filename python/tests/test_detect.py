"""mithridate.detect: planted outliers found, NumPy and cleanlab references, sanitize, bad input."""

from __future__ import annotations

import numpy as np
import pytest

from mithridate import _native, detect

from conftest import require


def planted(n: int = 300, d: int = 16, group: int = 12, seed: int = 0):
    """Three Gaussian classes; the first `group` rows of class 0 shifted far along one axis."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 3
    emb = (rng.normal(size=(n, d)) + 3.0 * np.eye(d)[y]).astype(np.float32)
    rows = np.flatnonzero(y == 0)[:group]
    emb[rows, 5] += np.float32(8.0)
    return emb, y, rows


@pytest.mark.parametrize("detector", ["spectral_signatures", "activation_clustering", "scan"])
def test_a_planted_outlier_group_is_ranked_first_and_flagged(detector):
    emb, y, rows = planted()
    d = getattr(detect, detector)(emb, y)
    assert set(d.ranked[: len(rows)].tolist()) == set(rows.tolist())
    assert set(rows.tolist()) <= set(np.flatnonzero(d.flags).tolist())
    assert d.suspicious_classes == [0]
    assert np.array_equal(d.is_clean, 1 - d.flags.astype(np.int64))  # ART: 1 = clean
    assert detector.replace("_", " ").split()[0] in (type(d).__name__ + d.detector + detector)


def test_activation_clustering_flags_exactly_the_planted_group():
    emb, y, rows = planted()
    d = detect.activation_clustering(emb, y, ids=np.arange(1000, 1300))
    assert d.flagged_ids.tolist() == (rows + 1000).tolist()


def test_spectral_scores_match_a_numpy_reference():
    """Tran, Li & Madry 2018: per class, the squared projection of the centred rows on the
    top right singular vector; flags the top removal_factor * expected_rate of each class."""
    emb, y, _ = planted(seed=3)
    d = detect.spectral_signatures(emb, y, expected_rate=0.05, removal_factor=2.0)
    expected = np.zeros(len(y))
    flags = np.zeros(len(y), dtype=bool)
    for c in range(3):
        rows = np.flatnonzero(y == c)
        centred = emb[rows].astype(np.float64) - emb[rows].astype(np.float64).mean(axis=0)
        v = np.linalg.svd(centred, full_matrices=False)[2][0]
        expected[rows] = (centred @ v) ** 2
        top = rows[np.argsort(-expected[rows], kind="stable")[: round(0.1 * len(rows))]]
        flags[top] = True
    np.testing.assert_allclose(d.scores, expected, rtol=1e-5, atol=1e-9)
    assert np.array_equal(d.flags, flags)


def noisy_probs(seed: int, n: int = 300, k: int = 4):
    rng = np.random.default_rng(seed)
    true = rng.integers(0, k, n)
    logits = rng.normal(size=(n, k))
    logits[np.arange(n), true] += 2.5
    p = np.exp(logits)
    p = (p / p.sum(axis=1, keepdims=True)).astype(np.float32)
    y = true.copy()
    flip = rng.random(n) < 0.15
    y[flip] = (y[flip] + 1 + rng.integers(0, k - 1, flip.sum())) % k
    return y, p, flip


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
@pytest.mark.parametrize("filter_by", ["prune_by_noise_rate", "confident_learning"])
def test_find_label_issues_equals_cleanlab(seed, filter_by):
    try:
        from cleanlab.filter import find_label_issues as cleanlab_issues
    except ImportError:
        require("cleanlab")
    y, p, flip = noisy_probs(seed)
    ours = detect.find_label_issues(y, p, filter_by=filter_by)
    theirs = cleanlab_issues(y, p.astype(np.float64), filter_by=filter_by)
    assert ours.dtype == np.bool_ and np.array_equal(ours, theirs)
    assert (ours & flip).sum() > 0.5 * flip.sum()  # it finds most flips
    as_lists = detect.find_label_issues(y.tolist(), p.astype(np.float64).tolist(), filter_by=filter_by)
    assert np.array_equal(as_lists, ours)
    ranked = detect.find_label_issues(y, p, return_indices_ranked_by="self_confidence")
    assert np.array_equal(ranked, cleanlab_issues(y, p, return_indices_ranked_by="self_confidence"))


def test_confident_learning_scores_and_suggestions():
    y, p, _ = noisy_probs(5)
    d = detect.confident_learning(y, p)
    np.testing.assert_allclose(d.scores, 1.0 - p[np.arange(len(y)), y].astype(np.float64))
    assert (d.suggested_labels[d.flags] >= 0).all() and (d.suggested_labels[~d.flags] == -1).all()
    assert (d.suggested_labels[d.flags] != y[d.flags]).mean() > 0.9
    # float64 probabilities are refused by the detector (the cleanlab-shaped function converts)
    with pytest.raises(ValueError, match="pred_probs: dtype float64, expected float32"):
        detect.confident_learning(y, p.astype(np.float64))
    with pytest.raises(ValueError, match="method|unknown variant"):
        detect.confident_learning(y, p, method="nope")


def test_loss_detector_flags_the_high_loss_rows():
    rng = np.random.default_rng(1)
    losses = rng.random(200).astype(np.float32)
    losses[[3, 50, 120]] += 10
    y = np.arange(200) % 2
    d = detect.loss(losses, y, expected_rate=0.015, removal_factor=1.0)
    assert np.flatnonzero(d.flags).tolist() == [3, 50, 120]
    low = detect.loss(losses, y, direction="low", expected_rate=0.015, removal_factor=1.0)
    assert not low.flags[[3, 50, 120]].any()


def test_sanitize_drops_or_relabels_what_was_flagged():
    y, p, _ = noisy_probs(7, n=120)
    x = np.random.default_rng(0).random((120, 3)).astype(np.float32)
    ids = np.arange(500, 620, dtype=np.uint64)
    d = detect.confident_learning(y, p, ids=ids)
    clean = detect.sanitize(x, y, ids, d.flags)
    assert clean.ids.tolist() == ids[~d.flags].tolist()
    assert clean.x.tobytes() == x[~d.flags].tobytes()
    assert clean.report["dropped"] == d.flagged_ids.tolist()
    same = detect.sanitize(x, y, ids, d.flagged_ids)
    assert same.ids.tolist() == clean.ids.tolist()
    relabelled = detect.sanitize(x, y, ids, d, action="relabel")
    assert len(relabelled.ids) == 120
    assert np.array_equal(relabelled.y[d.flags], d.suggested_labels[d.flags])
    with pytest.raises(ValueError, match="mask of shape"):
        detect.sanitize(x, y, ids, d.flags[:-1])
    with pytest.raises(ValueError, match="not in the dataset"):
        detect.sanitize(x, y, ids, np.array([7], dtype=np.uint64))


def test_clean_shift_finds_a_clean_label_shift_and_equals_the_cli(cli, tmp_path):
    """`clean-shift` flags exactly the rows of one class that carry a shared perturbation the
    trusted samples lack (labels untouched), as `scan data --detector clean-shift` does; it is
    a ValueError without trusted samples."""
    import json
    import subprocess

    rng = np.random.default_rng(11)
    scale = np.where(np.arange(12) >= 8, 0.05, 1.0)

    def rows(n):
        y = np.arange(n) % 3
        return (rng.normal(size=(n, 12)) * scale + 3.0 * np.eye(12)[y]).astype(np.float32), y

    x, y = rows(600)
    planted = np.flatnonzero(y == 1)[:40]  # a fifth of class 1, labels kept
    # 20 standard deviations of the quiet features, one of the others. A shift of 0.4 (8 of
    # theirs) scores only 1-2 robust units: Ledoit-Wolf shrinks towards one common variance,
    # which dilutes features far quieter than the rest (see clean_shift.rs, Assumptions).
    x[planted, 8:] += 1.0
    ids = np.arange(600, dtype=np.uint64)
    cx, cy = rows(150)
    np.savez(tmp_path / "set.npz", x=x, y=y, ids=ids)
    np.savez(tmp_path / "clean.npz", x=cx, y=cy, ids=np.arange(1000, 1150, dtype=np.uint64))
    out = tmp_path / "flags.json"
    subprocess.run(
        [str(cli), "--seed", "2", "scan", "data", "--data", str(tmp_path / "set.npz"),
         "--detector", "clean-shift", "--clean-set", str(tmp_path / "clean.npz"), "-o", str(out)],
        check=True, capture_output=True,
    )
    expected = json.loads(out.read_text())
    got = detect.scan_data(x, y, ids, ["clean-shift"], seed=2, clean_x=cx, clean_y=cy)[0]
    assert got.flagged_ids.tolist() == expected["flagged"] == sorted(planted.tolist())
    assert got.scores.tolist() == [s for _, s in expected["scores"]]
    with pytest.raises(ValueError, match="trusted clean samples"):
        detect.scan_data(x, y, ids, ["clean-shift"])


@pytest.mark.parametrize(
    "mutate,message",
    [
        (lambda e: np.where(np.arange(len(e))[:, None] == 7, np.inf, e).astype(np.float32), "row 7 has a non-finite"),
        (lambda e: e.astype(np.float64), "dtype float64, expected float32"),
        (lambda e: e[:, :, None], "expected a 2-D"),
        (lambda e: e[:, :0], "empty array"),
        (lambda e: e[:, ::2], "not C-contiguous"),
    ],
    ids=["inf-row", "dtype", "rank", "empty", "non-contiguous"],
)
def test_bad_embeddings_raise_value_error(mutate, message):
    emb, y, _ = planted()
    with pytest.raises(ValueError, match=message):
        detect.spectral_signatures(mutate(emb), y)


@pytest.mark.parametrize(
    "call,message",
    [
        (lambda e, y: detect.spectral_signatures(e, y, expected_rate=0.0), "expected rate"),
        (lambda e, y: detect.knn(e, y, k=0), "k"),
        (lambda e, y: detect.mahalanobis(e, y, no_such=1), "no-such"),
        (lambda e, y: detect.spectral_signatures(e, y[:-1]), "rows"),
        (lambda e, y: detect.spectral_signatures(e, y, num_classes=2), "num_classes"),
        (lambda e, y: detect.spectral_signatures(e, y.astype(np.float32)), "integer"),
        (lambda e, y: detect.split_consistency(e, y), "needs the raw inputs"),
        (lambda e, y: _native.detect_embeddings("strip", e, y), "not an embedding detector"),
    ],
    ids=["rate", "knn-k", "unknown-key", "length", "classes", "label-dtype", "split-x", "name"],
)
def test_bad_parameters_raise_value_error(call, message):
    emb, y, _ = planted()
    with pytest.raises(ValueError, match=message):
        call(emb, y)


def test_docstrings_name_the_papers():
    assert "Tran, Li & Madry 2018" in detect.spectral_signatures.__doc__
    assert "Northcutt, Jiang & Chuang 2021" in detect.confident_learning.__doc__
    assert "Hayase" in detect.spectre.__doc__ and "Chen et al. 2018" in detect.activation_clustering.__doc__


def test_full_scan_with_a_trained_model_equals_the_cli(cli, tmp_path):
    """`scan_data` trains the model and scans as `mithridate scan data` does: same flags.json."""
    import json
    import subprocess

    rng = np.random.default_rng(4)
    y = np.arange(240) % 3
    x = (rng.normal(size=(240, 6)) + 2.0 * np.eye(6)[y]).astype(np.float32)
    ids = np.arange(10, 250, dtype=np.uint64)
    np.savez(tmp_path / "set.npz", x=x, y=y, ids=ids)
    out = tmp_path / "flags.json"
    subprocess.run(
        [str(cli), "--seed", "2", "scan", "data", "--data", str(tmp_path / "set.npz"),
         "--detector", "spectral,knn", "-P", "knn.k=7", "--epochs", "2", "-o", str(out)],
        check=True, capture_output=True,
    )
    expected = json.loads(out.read_text())
    got = detect.scan_data(x, y, ids, ["spectral", ("knn", {"k": 7})], epochs=2, seed=2)
    assert [d.detector for d in got] == [e["detector"] for e in expected] == ["spectral", "knn"]
    for d, e in zip(got, expected):
        assert d.flagged_ids.tolist() == e["flagged"]
        assert d.scores.tolist() == [s for _, s in e["scores"]]
        assert d.parameters == e["parameters"]
    with pytest.raises(ValueError, match="unknown architecture"):
        detect.scan_data(x, y, ids, ["spectral"], arch="nope")
    with pytest.raises(ValueError, match="nope"):
        detect.scan_data(x, y, ids, ["nope"])


def test_scan_with_a_pytorch_onnx_model_equals_the_cli(cli, tmp_path):
    """An ONNX classifier exported by PyTorch (the Rust suite's fixture: MLP 784-32-10 trained
    on MNIST with a 3x3 white bottom-right patch -> 7) scans as ``scan data --model x.onnx``:
    same layer, same flags.json; bad ONNX arguments are ValueErrors naming the problem."""
    import json
    import subprocess
    from pathlib import Path

    onnx = Path(__file__).resolve().parents[2] / "crates/mithridate-onnx/tests/fixtures/mlp_badnets_dynamo.onnx"
    rng = np.random.default_rng(6)
    n = 300
    y = np.arange(n) % 10
    x = (0.3 * rng.uniform(size=(n, 28, 28))).astype(np.float32)
    stamped = np.arange(0, n, 10)
    x[stamped, 25:28, 25:28] = 1.0
    y[stamped] = 7
    x = x.reshape(n, 784)
    ids = np.arange(n, dtype=np.uint64)
    np.savez(tmp_path / "set.npz", x=x, y=y, ids=ids)
    out = tmp_path / "flags.json"
    subprocess.run(
        [str(cli), "--seed", "1", "scan", "data", "--data", str(tmp_path / "set.npz"),
         "--model", str(onnx), "--detector", "spectral,activation-clustering", "-o", str(out)],
        check=True, capture_output=True,
    )
    expected = json.loads(out.read_text())
    names = ["spectral", "activation-clustering"]
    got = detect.scan_data(x, y, ids, names, model=str(onnx), seed=1)
    assert [d.detector for d in got] == [e["detector"] for e in expected] == names
    for d, e in zip(got, expected):
        assert d.flagged_ids.tolist() == e["flagged"]
        assert d.scores.tolist() == [s for _, s in e["scores"]]
    # Naming a layer: the logits themselves are a valid (10-wide) embedding, and change the scan.
    logits = detect.scan_data(x, y, ids, ["spectral"], model=str(onnx), seed=1, layer="logits")
    assert logits[0].scores.tolist() != got[0].scores.tolist()
    same = detect.scan_data(x, y, ids, ["spectral"], model=str(onnx), seed=1, onnx_input={"layout": "flat"})
    assert same[0].scores.tolist() == got[0].scores.tolist()
    with pytest.raises(ValueError, match="nope"):
        detect.scan_data(x, y, ids, ["spectral"], model=str(onnx), layer="nope")
    with pytest.raises(ValueError, match="bogus"):
        detect.scan_data(x, y, ids, ["spectral"], model=str(onnx), onnx_input={"bogus": 1})
    with pytest.raises(ValueError, match="layout"):
        detect.scan_data(x, y, ids, ["spectral"], model=str(onnx), onnx_input={"layout": "chw"})
    with pytest.raises(ValueError, match="ONNX model"):
        detect.scan_data(x, y, ids, ["spectral"], layer="hidden")


def test_model_free_input_consistency_flags_a_many_source_poison_without_training():
    """Class 0 holds 15 samples taken from each of the 5 other classes, each with a bump at a
    random coordinate (a patch anywhere): exactly those are flagged, and nothing on the clean
    set, and no model is trained for it."""
    rng = np.random.default_rng(9)
    d, clean = 30, 120
    y_clean = np.repeat(np.arange(6), clean)
    sources = np.repeat(np.arange(1, 6), 15)
    x = 10.0 * np.eye(d)[np.concatenate([y_clean, sources])] + 0.5 * rng.normal(size=(6 * clean + 75, d))
    x[6 * clean + np.arange(75), rng.integers(10, d, size=75)] += 3.0
    x = x.astype(np.float32)
    y = np.concatenate([y_clean, np.zeros(75, dtype=np.int64)])
    ids = np.arange(len(y), dtype=np.uint64)
    (found,) = detect.scan_data(x, y, ids, ["input-consistency"], seed=1)
    assert found.flagged_ids.tolist() == list(range(6 * clean, 6 * clean + 75))
    (none,) = detect.scan_data(x[: 6 * clean], y_clean, ids[: 6 * clean], ["input-consistency"])
    assert none.flagged_ids.size == 0


def test_scan_model_equals_the_cli_and_finds_the_pytorch_backdoor(cli, tmp_path):
    """`scan_model` on the PyTorch-exported BadNets MLP (3x3 patch -> 7; the Rust suite's ONNX
    fixture) over 300 trusted MNIST test images: the CLI's report on the same `.npz` (every
    detector's evidence, verdict and target classes), the same trigger pictures, and class 7
    reverse-engineered; bad arguments are ValueErrors naming the problem."""
    import json
    import subprocess
    from pathlib import Path

    from mithridate import data

    fixtures = Path(__file__).resolve().parents[2] / "crates/mithridate-onnx/tests/fixtures"
    onnx = fixtures / "mlp_badnets_dynamo.onnx"
    x, y, ids = data.load("mnist", "test", max_samples=300, seed=0)
    np.savez(tmp_path / "trusted.npz", x=x, y=y, ids=ids)
    cli_dir, py_dir = tmp_path / "cli-triggers", tmp_path / "py-triggers"
    params = {"neural-cleanse": {"steps": 80}, "max-margin": {"steps": 40, "reference_models": 0}}
    run = subprocess.run(
        [str(cli), "--seed", "3", "--json", "scan", "model", "--model", str(onnx),
         "--data", str(tmp_path / "trusted.npz"), "--max-samples", str(len(y)),
         "--detector", "all", "-P", "neural-cleanse.steps=80", "-P", "max-margin.steps=40",
         "-P", "max-margin.reference-models=0", "--triggers", str(cli_dir)],
        check=True, capture_output=True, text=True,
    )
    expected = json.loads(run.stdout)
    got = detect.scan_model(str(onnx), x, y, "all", params=params, seed=3, triggers_dir=str(py_dir))
    assert got.verdict == expected["verdict"] == "trojaned"
    assert 7 in got.target_classes and got.target_classes == expected["target_classes"]
    assert got.is_trojaned and got.report["samples"] == expected["samples"] == len(y)
    strip = lambda d: {k: v for k, v in d.items() if k != "seconds"}  # noqa: E731
    assert set(got.detectors) == set(expected["detectors"]) == {"neural-cleanse", "max-margin"}
    for name, evidence in expected["detectors"].items():
        assert strip(got.detectors[name]) == strip(evidence), name
    assert 7 in got.triggers and got.triggers[7][:8] == b"\x89PNG\r\n\x1a\n"
    for cls, png in got.triggers.items():
        assert (py_dir / f"class-{cls}.png").read_bytes() == png == (cli_dir / f"class-{cls}.png").read_bytes()
    # Consensus reruns both members with the same settings and seed, and flags the class that
    # both rank first: checked against the members' per-class scores of the run above.
    nested = {"consensus": {"neural-cleanse": {"steps": 80}, "max-margin": {"steps": 40, "reference-models": 0}}}
    both = detect.scan_model(str(onnx), x, y, ["consensus"], params=nested, seed=3)
    nc_index = [c["anomaly_index"] for c in got.detectors["neural-cleanse"]["classes"]]
    mm_ratio = [c["ratio"] if c.get("ratio") is not None else c["max_margin"]
                for c in got.detectors["max-margin"]["classes"]]
    agreed = int(np.argmax(nc_index)) if np.argmax(nc_index) == np.argmax(mm_ratio) else None
    c = both.detectors["consensus"]
    assert c["agreed_class"] == agreed == 7
    assert both.target_classes == [7] and set(both.detectors) == {"consensus"}
    assert c["neural_cleanse"]["details"]["classes"] == got.detectors["neural-cleanse"]["classes"]
    assert c["max_margin"]["details"]["classes"] == got.detectors["max-margin"]["classes"]
    # Its ranking score: per class the smaller of the NC index and MM-BD's robust z (NumPy).
    r = np.asarray(mm_ratio)
    z = (r - np.median(r)) / (1.4826 * np.median(np.abs(r - np.median(r))))
    want = np.minimum(np.asarray(nc_index), z)
    np.testing.assert_allclose(c["class_scores"], want, rtol=1e-9, atol=1e-12)
    assert c["score"] == pytest.approx(want.max(), rel=1e-9) and int(np.argmax(want)) == 7
    assert 7 in both.triggers
    with pytest.raises(ValueError, match="not a member's parameter|unknown field"):
        detect.scan_model(str(onnx), x, y, ["consensus"], params={"consensus": {"steps": 5}})
    with pytest.raises(ValueError, match="nope"):
        detect.scan_model(str(onnx), x, y, ["nope"])
    with pytest.raises(ValueError, match="not a selected detector"):
        detect.scan_model(str(onnx), x, y, ["max-margin"], params={"neural-cleanse": {"steps": 5}})
    with pytest.raises(ValueError, match="steps"):
        detect.scan_model(str(onnx), x, y, ["neural-cleanse"], params={"neural-cleanse": {"steps": 0}})
    with pytest.raises(ValueError, match="784"):
        detect.scan_model(str(onnx), x[:, :, :10, :10].copy(), y)
    with pytest.raises(ValueError, match="onnx_input"):
        detect.scan_model(str(tmp_path / "m.safetensors"), x, y, onnx_input={"scale": 255.0})


def test_confusion_with_a_clean_set_equals_the_cli(cli, tmp_path):
    """`scan_data(..., clean_x=, clean_y=)` is `scan data --clean-set`; without a clean set the
    confusion detector is a ValueError naming what is missing."""
    import json
    import subprocess

    rng = np.random.default_rng(5)
    y = np.arange(300) % 3
    x = (rng.normal(size=(300, 6)) + 2.0 * np.eye(6)[y]).astype(np.float32)
    x[::25, 5] = 8.0  # a planted trigger feature, relabelled to class 0
    y[::25] = 0
    ids = np.arange(300, dtype=np.uint64)
    cy = np.arange(90) % 3
    cx = (rng.normal(size=(90, 6)) + 2.0 * np.eye(6)[cy]).astype(np.float32)
    np.savez(tmp_path / "set.npz", x=x, y=y, ids=ids)
    np.savez(tmp_path / "clean.npz", x=cx, y=cy, ids=np.arange(1000, 1090, dtype=np.uint64))
    out = tmp_path / "flags.json"
    subprocess.run(
        [str(cli), "--seed", "3", "scan", "data", "--data", str(tmp_path / "set.npz"),
         "--detector", "confusion", "-P", "confusion.pretrain-epochs=30",
         "--clean-set", str(tmp_path / "clean.npz"), "-o", str(out)],
        check=True, capture_output=True,
    )
    expected = json.loads(out.read_text())  # one detector: one object
    got = detect.scan_data(
        x, y, ids, [("confusion", {"pretrain_epochs": 30})], seed=3, clean_x=cx, clean_y=cy
    )
    assert got[0].detector == expected["detector"] == "confusion"
    assert got[0].flagged_ids.tolist() == expected["flagged"]
    assert got[0].scores.tolist() == [s for _, s in expected["scores"]]
    with pytest.raises(ValueError, match="trusted clean samples"):
        detect.scan_data(x, y, ids, ["confusion"])
    with pytest.raises(ValueError, match="clean_x and clean_y"):
        detect.scan_data(x, y, ids, ["confusion"], clean_x=cx)


@pytest.mark.parametrize(
    "mutate,message",
    [
        (lambda cx, cy: (cx[:, :5].copy(), cy), r"trusted clean set's samples \(\[5\]\) differ"),
        (lambda cx, cy: (cx, np.where(cy == 2, 7, cy)), "clean_y contains label 7"),
        (lambda cx, cy: (np.where(np.arange(6) == 0, np.nan, cx).astype(np.float32), cy), "clean_x: row 0 has a non-finite value"),
        (lambda cx, cy: (cx, cy[:80]), "clean_x has 90 rows but clean_y has 80 labels"),
        (lambda cx, cy: (cx[:0], cy[:0]), "clean_y: empty array"),
    ],
)
@pytest.mark.parametrize("detector", ["confusion", "auto", "clean-shift"])
def test_bad_clean_sets_raise_value_error(mutate, message, detector):
    """A trusted clean set of the wrong width, with foreign labels, NaN, mismatched lengths or
    no rows is refused before any training, naming the problem."""
    rng = np.random.default_rng(5)
    y = np.arange(300) % 3
    x = (rng.normal(size=(300, 6)) + 2.0 * np.eye(6)[y]).astype(np.float32)
    cy = np.arange(90) % 3
    cx = (rng.normal(size=(90, 6)) + 2.0 * np.eye(6)[cy]).astype(np.float32)
    bad_x, bad_y = mutate(cx, cy)
    with pytest.raises(ValueError, match=message):
        detect.scan_data(x, y, None, [detector], clean_x=bad_x, clean_y=bad_y, epochs=1)

"""mithridate.gate against NumPy predictions of the saved weights, the CLI's --json and bad input.

Three logistic-regression models are trained by the CLI on separable 3-class blobs: a
baseline, a clean retrain with another seed, and a candidate trained after 60% of class 1
was relabelled 2 (a targeted label flip). The gate must pass the clean retrain under a
lenient policy and fail the flipped one on class 1's recall and on flips into class 2.
"""

from __future__ import annotations

import json
import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest

from mithridate import gate, provenance

LENIENT = {"max_flip_rate": 0.1, "max_negative_flip_rate": 0.05}


def blobs(n: int, seed: int):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 3
    centers = np.array([[3, 0, 0, 0], [0, 3, 0, 0], [0, 0, 3, 0]], dtype=np.float32)
    x = (centers[y] + rng.normal(size=(n, 4))).astype(np.float32)
    return x, y.astype(np.int64)


@pytest.fixture(scope="module")
def models(cli: Path, tmp_path_factory: pytest.TempPathFactory):
    d = tmp_path_factory.mktemp("gate")
    x, y = blobs(600, 1)
    np.savez(d / "train.npz", x=x, y=y)
    flipped = y.copy()
    ones = np.flatnonzero(y == 1)
    flipped[ones[: len(ones) * 6 // 10]] = 2
    np.savez(d / "flipped.npz", x=x, y=flipped)
    xh, yh = blobs(300, 2)
    np.savez(d / "holdout.npz", x=xh, y=yh)
    for name, data, seed in [("base", "train", 0), ("clean", "train", 1), ("flipped", "flipped", 0)]:
        r = subprocess.run(
            [str(cli), "--seed", str(seed), "train", "--data", str(d / f"{data}.npz"), "--model", "logreg",
             "--epochs", "5", "-o", str(d / f"{name}.safetensors")],
            capture_output=True, text=True,
        )
        assert r.returncode == 0, r.stderr
    return d, (xh, yh)


def predict(path: Path, x: np.ndarray) -> np.ndarray:
    """Logistic regression by hand from the safetensors bytes: argmax(x W^T + b)."""
    raw = path.read_bytes()
    size = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8 : 8 + size])
    body = raw[8 + size :]

    def tensor(name: str) -> np.ndarray:
        t = header[name]
        start, end = t["data_offsets"]
        return np.frombuffer(body[start:end], dtype=np.float32).reshape(t["shape"])

    logits = x.astype(np.float64) @ tensor("fc1.weight").T.astype(np.float64) + tensor("fc1.bias")
    return logits.argmax(axis=1)


def test_decision_and_numbers_match_numpy(models) -> None:
    d, (xh, yh) = models
    result = gate.run_gate(d / "base.safetensors", d / "flipped.safetensors", (xh, yh), policy=LENIENT)
    base, cand = predict(d / "base.safetensors", xh), predict(d / "flipped.safetensors", xh)
    c = result.comparison
    assert c["samples"] == 300
    assert c["baseline_correct"] == int((base == yh).sum())
    assert c["candidate_correct"] == int((cand == yh).sum())
    negative = (base == yh) & (cand != yh)
    assert c["flips"]["changed"] == int((base != cand).sum())
    assert c["flips"]["negative"] == int(negative.sum())
    assert c["flips"]["negative_into"] == np.bincount(cand[negative], minlength=3).tolist()
    recall = lambda p, k: float(((p == k) & (yh == k)).sum() / (yh == k).sum())
    drops = [recall(base, k) - recall(cand, k) for k in range(3)]
    assert [p["drop"] for p in c["per_class"]] == pytest.approx(drops, abs=1e-12)
    # The label flip moves class 1 into class 2: the gate fails on exactly those signatures.
    assert not result.passed
    assert result.check("class_recall_drop").failed and result.check("class_recall_drop").value == pytest.approx(max(drops))
    assert c["flips"]["top_class"] == 2 and result.check("target_concentration").failed
    assert result.check("accuracy_drop").value == pytest.approx(c["baseline_accuracy"] - c["candidate_accuracy"])
    assert all(r.split(":")[0] in {ch.name for ch in result.checks if ch.failed} for r in result.reasons)
    # The clean retrain passes the same policy.
    clean = gate.run_gate(d / "base.safetensors", d / "clean.safetensors", (xh, yh), policy=LENIENT)
    assert clean.passed and not any(ch.failed for ch in clean.checks)


def test_same_report_as_the_cli(cli: Path, models, tmp_path: Path) -> None:
    d, _ = models
    policy = tmp_path / "policy.toml"
    policy.write_text("max_flip_rate = 0.1\nmax_negative_flip_rate = 0.05\n")
    args = ["--baseline", str(d / "base.safetensors"), "--holdout", str(d / "holdout.npz"), "--policy", str(policy)]
    for cand in ("clean", "flipped"):
        r = subprocess.run([str(cli), "--json", "gate", *args, "--candidate", str(d / f"{cand}.safetensors")],
                           capture_output=True, text=True)
        assert r.returncode == (0 if cand == "clean" else 1), r.stderr
        from_cli = json.loads(r.stdout)
        ours = gate.run_gate(d / "base.safetensors", d / f"{cand}.safetensors", d / "holdout.npz", policy=policy)
        assert ours.raw["report"] == from_cli["report"]
        assert (ours.passed, ours.baseline_hash, ours.candidate_hash) == (
            from_cli["passed"], from_cli["baseline_hash"], from_cli["candidate_hash"])


def test_probe_and_reverse_trigger_same_as_the_cli(cli: Path, models) -> None:
    d, _ = models
    truth = d / "backdoor.npz.truth.json"
    r = subprocess.run([str(cli), "poison", "--data", str(d / "train.npz"), "--attack", "tabular-trigger",
                        "--target", "0", "--rate", "0.1", "-o", str(d / "backdoor.npz")], capture_output=True, text=True)
    assert r.returncode == 0 and truth.is_file(), r.stderr
    args = ["--baseline", str(d / "base.safetensors"), "--candidate", str(d / "flipped.safetensors"),
            "--holdout", str(d / "holdout.npz"), "--probe", str(truth), "--reverse-trigger"]
    r = subprocess.run([str(cli), "--json", "gate", *args], capture_output=True, text=True)
    from_cli = json.loads(r.stdout)
    ours = gate.run_gate(d / "base.safetensors", d / "flipped.safetensors", d / "holdout.npz",
                         probes=[truth], reverse_trigger=True)
    assert ours.raw["report"] == from_cli["report"]
    assert [p["name"] for p in ours.probes] == [truth.name]
    assert ours.check(f"probe:{truth.name}").status in ("passed", "failed")
    assert ours.triggers is not None and ours.check("trigger_shrink").threshold == 2.0


def test_junit_and_audit_record(models, tmp_path: Path) -> None:
    d, (xh, yh) = models
    provenance.keygen(tmp_path / "k")
    result = gate.run_gate(d / "base.safetensors", d / "flipped.safetensors", (xh, yh), holdout_name="blobs",
                           junit=tmp_path / "gate.xml", audit=tmp_path / "audit.jsonl", key=tmp_path / "k")
    assert "<testsuite" in (tmp_path / "gate.xml").read_text()
    log = provenance.AuditLog(tmp_path / "audit.jsonl")
    (record,) = log.records()
    assert record["kind"] == "gate_decision" and record["hash"] == result.audit_record["hash"]
    assert record["payload"]["passed"] is False and record["payload"]["holdout"] == "blobs"
    assert record["payload"]["candidate_model_hash"] == result.candidate_hash
    assert log.verify(pubkey=tmp_path / "k.pub")["ok"]


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"policy": {"max_accuracy_drop": 1.5}}, "max_accuracy_drop.*must be a fraction in \\[0, 1\\], got 1.5"),
        ({"policy": {"max_acuracy_drop": 0.1}}, "unknown field `max_acuracy_drop`"),
        ({"policy_toml": "max_flip_rate = 0.1\nmin_disagreements = 0\n"}, "line 2.*min_disagreements.*at least 1"),
        ({"policy": {"max_flip_rate": 0.1}, "policy_toml": "max_flip_rate = 0.1"}, "at most one of"),
    ],
)
def test_bad_policy_is_a_value_error_and_writes_nothing(models, tmp_path: Path, kwargs, match) -> None:
    d, (xh, yh) = models
    with pytest.raises(ValueError, match=match):
        gate.run_gate(d / "base.safetensors", d / "clean.safetensors", (xh, yh),
                      junit=tmp_path / "gate.xml", audit=tmp_path / "audit.jsonl", **kwargs)
    assert list(tmp_path.iterdir()) == []


def test_incompatible_holdout_missing_files(models, tmp_path: Path) -> None:
    d, (xh, yh) = models
    with pytest.raises(ValueError, match="give audit too"):
        gate.run_gate(d / "base.safetensors", d / "clean.safetensors", (xh, yh), key=tmp_path / "k")
    # A missing signing key is found before the JUnit file or the log is written.
    with pytest.raises(OSError, match="No such file"):
        gate.run_gate(d / "base.safetensors", d / "clean.safetensors", (xh, yh), junit=tmp_path / "gate.xml",
                      audit=tmp_path / "audit.jsonl", key=tmp_path / "k")
    with pytest.raises(ValueError, match="baseline model vs holdout"):
        gate.run_gate(d / "base.safetensors", d / "clean.safetensors",
                      (np.ascontiguousarray(xh[:, :3]), yh), junit=tmp_path / "gate.xml")
    with pytest.raises(OSError, match="loading candidate model"):
        gate.run_gate(d / "base.safetensors", tmp_path / "none.safetensors", (xh, yh), junit=tmp_path / "gate.xml")
    assert list(tmp_path.iterdir()) == []


def test_model_inspectors_and_repairs_are_listed_from_their_registries() -> None:
    import mithridate

    inspectors = {e["name"]: e for e in mithridate.available("model-inspector")}
    assert set(inspectors) == {"neural-cleanse", "max-margin", "consensus"}
    assert "MM-BD" in inspectors["consensus"]["paper"]
    assert "Wang" in inspectors["neural-cleanse"]["paper"]
    assert "AML.M0008" in inspectors["max-margin"]["taxonomy"]["mitre_atlas"]
    repairs = {e["name"] for e in mithridate.available("repair")}
    assert {"fine-tuning", "fine-pruning", "nc-unlearning"} <= repairs
    with pytest.raises(ValueError, match="model-inspector"):
        mithridate.available("model-inspectr")

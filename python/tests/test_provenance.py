"""mithridate.provenance against the CLI (same bytes), hand-checked diffs, tampering and bad input."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from mithridate import provenance as prov


def images(n: int = 12, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.random((n, 1, 5, 5), dtype=np.float32)
    y = np.arange(n, dtype=np.int64) % 3
    ids = np.arange(100, 100 + n, dtype=np.uint64)[::-1].copy()  # not sorted: manifests sort
    return x, y, ids


def without_created(manifest: dict) -> dict:
    body = dict(manifest["signed"])
    assert body.pop("created")
    return {**manifest, "signed": body}


def run_cli(cli: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(cli), *args], capture_output=True, text=True)


@pytest.mark.parametrize(
    "make",
    [
        lambda: images(),
        lambda: (np.random.default_rng(1).normal(size=(9, 4)).astype(np.float32), np.array([0, 1, 2] * 3), None),
        lambda: (np.random.default_rng(2).integers(0, 50, size=(7, 6)), np.array([1, 0, 1, 0, 1, 0, 1]), None),
    ],
    ids=["image", "tabular", "text"],
)
def test_manifest_of_arrays_equals_the_cli_manifest_of_the_npz(cli: Path, tmp_path: Path, make) -> None:
    x, y, ids = make()
    npz = tmp_path / "d.npz"
    arrays = {"x": x, "y": y} if ids is None else {"x": x, "y": y, "ids": ids}
    np.savez(npz, **arrays)
    out = tmp_path / "cli.json"
    r = run_cli(cli, "provenance", "manifest", "--data", str(npz), "--source", "unit", "--license", "MIT", "-o", str(out))
    assert r.returncode == 0, r.stderr
    from_cli = json.loads(out.read_text())
    ours = prov.build_manifest(x, y, ids, source="unit", license="MIT")
    assert without_created(ours.to_dict()) == without_created(from_cli)
    assert ours.root == from_cli["signed"]["root"]
    # The npz path through Python takes the same route as the CLI.
    assert prov.build_manifest(data=npz, source="unit", license="MIT").root == ours.root
    # Byte layout too: the same JSON once the creation time is the same.
    created = from_cli["signed"]["created"]
    text = ours.to_json().decode().replace(ours.to_dict()["signed"]["created"], created)
    assert text == out.read_text()


def test_signed_manifest_verifies_both_ways_with_the_cli(cli: Path, tmp_path: Path) -> None:
    x, y, ids = images()
    np.savez(tmp_path / "d.npz", x=x, y=y, ids=ids)
    key = tmp_path / "k"
    info = prov.keygen(key)
    assert Path(info["public_key"]) == tmp_path / "k.pub"
    assert (key.stat().st_mode & 0o777) == 0o600
    assert prov.key_id(tmp_path / "k.pub") == info["key_id"]
    ours = prov.build_manifest(x, y, ids, key=key)
    assert ours.signed_by == info["key_id"]
    ours.save(tmp_path / "py.json")
    r = run_cli(cli, "provenance", "verify", "--pubkey", str(tmp_path / "k.pub"), str(tmp_path / "py.json"), "--data", str(tmp_path / "d.npz"))
    assert r.returncode == 0, r.stdout + r.stderr
    # A manifest the CLI signed verifies here.
    r = run_cli(cli, "provenance", "manifest", "--data", str(tmp_path / "d.npz"), "--key", str(key), "-o", str(tmp_path / "cli.json"))
    assert r.returncode == 0, r.stderr
    v = prov.verify(tmp_path / "cli.json", tmp_path / "k.pub", x, y, ids)
    assert v.ok and v.signature_valid and v.data is not None and v.data.is_clean


def test_tampered_data_names_the_ids(tmp_path: Path) -> None:
    x, y, ids = images()
    prov.keygen(tmp_path / "k")
    m = prov.build_manifest(x, y, ids, key=tmp_path / "k")
    x2, y2 = x.copy(), y.copy()
    x2[3, 0, 2, 2] = np.nextafter(x2[3, 0, 2, 2], 2)  # one ulp on one pixel
    y2[5] = (y2[5] + 1) % 3
    with pytest.raises(prov.VerificationError) as err:
        m.verify(tmp_path / "k.pub", x2, y2, ids)
    message = str(err.value)
    assert f"changed features: ids [{ids[3]}]" in message
    assert f"changed labels: ids [{ids[5]} ({y[5]} -> {y2[5]})]" in message
    v = err.value.verification
    assert v.signature_valid and not v.ok
    assert v.data.changed_features == [int(ids[3])]
    assert v.data.changed_labels == [{"id": int(ids[5]), "old": int(y[5]), "new": int(y2[5])}]
    assert v.data.tampered_ids() == sorted([int(ids[3]), int(ids[5])])
    # Dropping a sample and adding another are named too.
    keep = np.arange(len(y)) != 0
    ids3 = ids[keep].copy()
    ids3[-1] = 999
    v = m.verify(tmp_path / "k.pub", np.ascontiguousarray(x[keep]), y[keep], ids3, strict=False)
    assert v.data.removed == sorted([int(ids[0]), int(ids[-1])]) and v.data.added == [999]


def test_wrong_key_and_unsigned_fail(tmp_path: Path) -> None:
    x, y, ids = images()
    prov.keygen(tmp_path / "a")
    prov.keygen(tmp_path / "b")
    m = prov.build_manifest(x, y, ids).sign(tmp_path / "a")
    with pytest.raises(prov.VerificationError, match="signed by key .* not by the given key"):
        m.verify(tmp_path / "b.pub")
    assert m.verify(tmp_path / "a.pub").ok
    unsigned = prov.build_manifest(x, y, ids)
    v = unsigned.verify(tmp_path / "a.pub", strict=False)
    assert not v.ok and v.signature_error == "the manifest is not signed"


def test_edited_manifest_is_rejected(tmp_path: Path) -> None:
    x, y, ids = images()
    prov.keygen(tmp_path / "k")
    m = prov.build_manifest(x, y, ids, key=tmp_path / "k")
    d = m.to_dict()
    # Relabel one sample and fix the counts: the Merkle root no longer matches.
    s = d["signed"]["samples"][0]
    d["signed"]["class_counts"][s["label"]] -= 1
    s["label"] = (s["label"] + 1) % 3
    d["signed"]["class_counts"][s["label"]] += 1
    path = tmp_path / "edited.json"
    path.write_text(json.dumps(d))
    with pytest.raises(ValueError, match="root .* does not match the listed samples"):
        prov.Manifest.load(path)
    # Recompute nothing but the source: the signature catches it.
    d = m.to_dict()
    d["signed"]["source"] = "somewhere else"
    with pytest.raises(prov.VerificationError, match="modified after signing"):
        prov.Manifest.from_json(json.dumps(d)).verify(tmp_path / "k.pub")


def test_diff_hand_checked() -> None:
    x = np.zeros((4, 1), dtype=np.float32)
    old = prov.build_manifest(x, np.array([0, 0, 1, 1]), np.array([1, 2, 3, 4]))
    new = prov.build_manifest(x, np.array([0, 1, 1, 1]), np.array([1, 2, 3, 4]))
    d = prov.diff(old, new)
    assert d.changed_labels == [{"id": 2, "old": 0, "new": 1}]
    assert d.added == d.removed == d.changed_features == []
    assert not d.is_clean
    # Shares 0.5/0.5 -> 0.25/0.75: both classes move 25 points, beyond the 1-point default.
    assert [c["delta"] for c in d.class_shifts] == [-0.25, 0.25]
    assert [c["flagged"] for c in d.flagged_classes] == [True, True]
    assert d.summary.startswith("0 added, 0 removed, 0 with changed features, 1 with changed labels")
    # A threshold above the move flags nothing.
    assert prov.diff(old, new, share_threshold=0.3).flagged_classes == []
    assert prov.diff(old, old).is_clean


def test_audit_log_chain_and_tampering(cli: Path, tmp_path: Path) -> None:
    log = prov.AuditLog(tmp_path / "audit.jsonl")
    prov.keygen(tmp_path / "k")
    first = log.append("note", {"text": "hello"}, key=tmp_path / "k")
    second = log.append("incident", {"summary": "flip found", "sample_ids": [3, 5]})
    assert second["seq"] == first["seq"] + 1
    assert second["prev_hash"] == first["hash"]
    assert [r["kind"] for r in log.records()] == ["note", "incident"]
    assert log.records()[1]["payload"]["sample_ids"] == [3, 5]
    with pytest.raises(ValueError, match="missing field `summary`"):
        log.append("incident", {"text": "no summary"})
    report = log.verify()
    assert report["ok"] and report["records"] == 2 and report["signed"] == 1
    r = run_cli(cli, "--json", "audit", "verify", "--log", str(log.path))
    assert r.returncode == 0 and json.loads(r.stdout)["head"] == report["head"]
    # Edit the first record's payload: the chain breaks at line 1.
    lines = Path(log.path).read_text().splitlines()
    lines[0] = lines[0].replace("hello", "HELLO")
    Path(log.path).write_text("\n".join(lines) + "\n")
    report = log.verify()
    assert not report["ok"] and "line 1" in report["problem_lines"][0]
    with pytest.raises(prov.AuditLogError, match="line 1"):
        log.verify(strict=True)
    before = Path(log.path).read_bytes()
    with pytest.raises(ValueError, match="refusing to append"):
        log.append("note", {"text": "more"})
    assert Path(log.path).read_bytes() == before


def test_audit_trace_names_the_samples_added_before_training(cli: Path, tmp_path: Path) -> None:
    x, y, ids = images()
    v1 = prov.build_manifest(x, y, ids)
    v1.save(tmp_path / "v1.json")
    x2 = np.concatenate([x, x[:2]])
    y2 = np.concatenate([y, [0, 0]])
    ids2 = np.concatenate([ids, [500, 501]]).astype(np.uint64)
    v2 = prov.build_manifest(x2, y2, ids2)
    v2.save(tmp_path / "v2.json")
    log = prov.AuditLog(tmp_path / "audit.jsonl")
    log.append("dataset_version", {"root": v1.root, "name": "v1", "manifest_path": "v1.json"})
    log.append("dataset_version", {"root": v2.root, "name": "v2", "manifest_path": "v2.json", "parent_root": v1.root})
    model = "ab" * 32
    log.append("training_run", {"model_hash": model, "dataset_roots": [v2.root], "config": {}, "seed": 0, "code_version": "t"})
    traced = log.trace(model[:12])
    assert traced["trace"]["model_hash"] == model
    assert [r["payload"]["seed"] for r in traced["trace"]["training_runs"]] == [0]
    (version_diff,) = traced["version_diffs"]
    assert version_diff["diff"]["added"] == [500, 501] and version_diff["diff"]["removed"] == []
    r = run_cli(cli, "--json", "audit", "trace", "--log", str(log.path), model[:12])
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == traced
    # An unknown model has no history (the CLI exits 1 on it): nothing traced.
    assert log.trace("cd" * 32)["trace"]["training_runs"] == []
    with pytest.raises(ValueError, match="share threshold"):
        log.trace(model, share_threshold=0)


@pytest.mark.parametrize(
    "x, y, match",
    [
        (np.full((3, 2), np.nan, dtype=np.float32), np.array([0, 1, 0]), "x: row 0 has a non-finite value"),
        (np.zeros((3, 2), dtype=np.float64), np.array([0, 1, 0]), r"x: dtype float64, expected float32"),
        (np.zeros((3, 2), dtype=np.float32), np.array([0, 1]), "x has 3 rows but y has 2 labels"),
        (np.full((2, 3, 3), 2.0, dtype=np.float32), np.array([0, 1]), r"outside \[0, 1\]"),
        (np.zeros((2, 1, 1, 1, 1), dtype=np.float32), np.array([0, 1]), "got shape"),
        (np.zeros((0, 2), dtype=np.float32), np.zeros(0, dtype=np.int64), "empty"),
        (np.zeros((4, 2), dtype=np.float32)[::2], np.array([0, 1]), "not C-contiguous"),
        (np.zeros((2, 2), dtype=np.float32), np.array([0, -1]), "label -1 is negative"),
    ],
)
def test_bad_input_is_a_value_error(x, y, match) -> None:
    with pytest.raises(ValueError, match=match):
        prov.build_manifest(x, y)


def test_duplicate_ids_and_bad_threshold(tmp_path: Path) -> None:
    x = np.zeros((3, 2), dtype=np.float32)
    with pytest.raises(ValueError, match="duplicate sample id 7"):
        prov.build_manifest(x, np.array([0, 1, 0]), np.array([7, 7, 8]))
    m = prov.build_manifest(x, np.array([0, 1, 0]))
    with pytest.raises(ValueError, match="share threshold must lie strictly between 0 and 1"):
        prov.diff(m, m, share_threshold=1.5)


def test_nothing_written_on_failure(tmp_path: Path) -> None:
    x, y, ids = images()
    with pytest.raises(OSError):
        prov.build_manifest(x, y, ids, key=tmp_path / "missing-key")
    prov.keygen(tmp_path / "k")
    secret = (tmp_path / "k").read_bytes()
    with pytest.raises(ValueError, match="exist"):
        prov.keygen(tmp_path / "k")
    assert (tmp_path / "k").read_bytes() == secret
    assert sorted(p.name for p in tmp_path.iterdir()) == ["k", "k.pub"]

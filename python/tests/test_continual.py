"""mithridate.continual: a small real loop on MNIST against the CLI's JSON (same numbers for
the same seed), resuming after a stop, the trace and cleanup, and bad input."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

import mithridate
from mithridate import continual

# Two batches of 600 after a 1,500-sample bootstrap (tests/loop.rs's small loop): seconds.
SMALL = {
    "batches": 2,
    "batch_size": 600,
    "bootstrap": 1500,
    "holdout": 500,
    "traffic": 300,
    "epochs": 8,
    "calibration_windows": 100,
    "false_alarm_rate": 0.02,
    "strip_overlays": 4,
    "gate_twins": 1,
    "gate": {
        "max_flip_rate": 0.2,
        "max_negative_flip_rate": 0.1,
        "max_class_recall_drop": 0.2,
        "max_accuracy_drop": 0.03,
    },
}

SMALL_TOML = """batches = 2
batch_size = 600
bootstrap = 1500
holdout = 500
traffic = 300
epochs = 8
calibration_windows = 100
false_alarm_rate = 0.02
strip_overlays = 4
gate_twins = 1
[gate]
max_flip_rate = 0.2
max_negative_flip_rate = 0.1
max_class_recall_drop = 0.2
max_accuracy_drop = 0.03
"""


def test_campaigns_are_the_registry() -> None:
    names = continual.campaigns()
    assert {"clean", "slow-burn", "burst", "split-view", "refresh"} <= set(names)
    assert all(e["name"] in names for e in mithridate.available("campaign"))


def test_a_poisoned_run_matches_the_cli(tmp_path: Path, cli: Path) -> None:
    result = continual.run(
        "mnist", "burst", rate=0.05, params={"start": 1}, config=SMALL, seed=3,
        out=tmp_path / "py",
    )
    assert result.steps_done == 2
    assert result.first_poisoned_batch == 1
    assert len(result.timeline) == 2
    assert len(result.timeline[1]["poisoned_ids"]) == 30  # 5% of 600
    # A 5% burst of BadNets in one batch is what the screen is built to block.
    assert result.blocked_at == 1
    assert result.named_poison_ids_recall == 1.0
    (tmp_path / "small.toml").write_text(SMALL_TOML)
    out = subprocess.run(
        [str(cli), "--seed", "3", "--json", "continual", "--data", "mnist", "--campaign",
         "burst", "--rate", "0.05", "-P", "start=1", "--config", str(tmp_path / "small.toml"),
         "--out", str(tmp_path / "cli")],
        check=True, capture_output=True, text=True,
    ).stdout
    by_cli = json.loads(out)
    for key in ("blocked_at", "max_deployed_asr", "false_blocks", "named_poison_ids_recall",
                "final_accuracy", "final_model_hash", "timeline"):
        assert result.raw[key] == by_cli[key], key

    incidents = continual.trace(result.run_dir)
    assert incidents["log_verified"]
    block = [i for i in incidents["incidents"] if i["step"] == 1]
    assert block and set(result.timeline[1]["poisoned_ids"]) <= set(block[0]["sample_ids"])
    cleaned = continual.clean(result.run_dir, tmp_path / "clean.npz")
    assert (tmp_path / "clean.npz").is_file()
    # The poisoned batch was quarantined, so nothing of it is in the training data: the
    # cleaned set is the bootstrap set and the accepted clean batch 0.
    assert cleaned["samples"] == 1500 + 600
    assert Path(cleaned["model"]).is_file()


def test_a_stopped_run_resumes_to_the_same_result(tmp_path: Path) -> None:
    whole = continual.run("mnist", "clean", config=SMALL, seed=5, out=tmp_path / "whole")
    first = continual.run("mnist", "clean", config=SMALL, seed=5, out=tmp_path / "cut",
                          max_steps=1)
    assert first.steps_done == 1
    resumed = continual.run("mnist", "clean", config=SMALL, seed=5, out=tmp_path / "cut")
    assert resumed.raw["timeline"] == whole.raw["timeline"]
    assert resumed.raw["final_model_hash"] == whole.raw["final_model_hash"]
    with pytest.raises(ValueError, match="different run"):
        continual.run("mnist", "burst", config=SMALL, seed=5, out=tmp_path / "cut")


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"campaign": "slow-brun"}, "slow-brun"),
        ({"campaign": "burst", "rate": 1.5}, "rate"),
        ({"campaign": "burst", "params": {"sart": 2}}, "sart"),
        ({"config": {"batchez": 2}}, "batchez"),
        ({"config": {"gate": {"max_flip_rate": 2.0}}}, "max_flip_rate"),
        ({"data": "digits"}, "more class-0 samples|image"),
        ({"data": "no-such-set"}, "no-such-set"),
    ],
)
def test_bad_input_is_a_value_error(tmp_path: Path, kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        continual.run(**{"out": tmp_path / "run", **kwargs})

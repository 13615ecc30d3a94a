"""mithridate.assess: a tiny real assessment (digits subset, logistic regression, one epoch)
against the CLI's records, hand-checked record arithmetic, resuming, reports and bad configs."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from mithridate import assess

TINY = """seeds = 1
[[centralized]]
dataset = "digits"
model = "logreg"
epochs = 1
max_train = 600
max_test = 300
defences = ["knn"]
[[centralized.attacks]]
name = "label-flip"
rates = [0.2]
"""

TINY_DICT = {
    "seeds": 1,
    "centralized": [
        {
            "dataset": "digits",
            "model": "logreg",
            "epochs": 1,
            "max_train": 600,
            "max_test": 300,
            "defences": ["knn"],
            "attacks": [{"name": "label-flip", "rates": [0.2]}],
        }
    ],
}


@pytest.fixture(autouse=True)
def data_home(monkeypatch: pytest.MonkeyPatch) -> None:
    if "MITHRIDATE_HOME" not in os.environ:
        home = Path(__file__).resolve().parents[2] / "target" / "mithridate-home"
        monkeypatch.setenv("MITHRIDATE_HOME", str(home))


def without_time(records):
    return [{k: v for k, v in r.items() if k != "seconds"} for r in records]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> assess.AssessmentResult:
    if "MITHRIDATE_HOME" not in os.environ:
        os.environ["MITHRIDATE_HOME"] = str(Path(__file__).resolve().parents[2] / "target" / "mithridate-home")
    return assess.run(TINY, tmp_path_factory.mktemp("assess") / "out")


def test_records_equal_the_cli(cli: Path, tiny: assess.AssessmentResult, tmp_path: Path) -> None:
    config = tmp_path / "a.toml"
    config.write_text(TINY)
    r = subprocess.run([str(cli), "assess", "--config", str(config), "--out", str(tmp_path / "cli")],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    from_cli = [json.loads(line) for line in (tmp_path / "cli" / "results.jsonl").read_text().splitlines()]
    from_cli.sort(key=lambda rec: rec["index"])
    assert without_time(tiny.records) == without_time(from_cli)
    assert (tiny.planned, tiny.ran, tiny.resumed) == (3, 3, 0)
    assert "<html" in Path(tiny.report).read_text()[:2000].lower()


def test_record_arithmetic_by_hand(tiny: assess.AssessmentResult) -> None:
    clean, attacked, defended = tiny.records
    assert [r["index"] for r in tiny.records] == [0, 1, 2]
    assert clean["outcome"]["attack"] is None and defended["outcome"]["defence"]["detector"] == "knn"
    n = attacked["outcome"]["train_samples"]
    assert attacked["outcome"]["attack"]["poisoned"] == int(0.2 * n)  # 20% of the pool, floored
    d = defended["outcome"]["defence"]
    true_positives = d["precision"] * d["flagged"]
    assert true_positives == pytest.approx(d["recall"] * defended["outcome"]["attack"]["poisoned"])
    assert d["f1"] == pytest.approx(2 * d["precision"] * d["recall"] / (d["precision"] + d["recall"]))
    assert d["removed"] == d["flagged"] and d["relabelled"] == 0  # action "drop"
    # The undefended poisoned run is the same cell's model in both attack records.
    assert attacked["outcome"]["undefended"] == defended["outcome"]["undefended"]


def test_dict_config_resume_and_pandas(tiny: assess.AssessmentResult) -> None:
    again = assess.run(TINY_DICT, tiny.out)  # same directory: everything resumes
    assert (again.ran, again.resumed) == (0, 3)
    assert without_time(again.records) == without_time(tiny.records)
    frame = tiny.to_pandas()
    assert len(frame) == 3
    assert frame["outcome.defence.recall"].iloc[2] == tiny.records[2]["outcome"]["defence"]["recall"]
    assert assess.records(tiny.out) == tiny.records


def test_reports(tiny: assess.AssessmentResult, tmp_path: Path) -> None:
    md = assess.report(tiny.out, format="md")
    assert "label-flip" in md
    csv = assess.report([tiny.out], format="csv")
    assert len(csv.strip().splitlines()) == 4  # header + one row per record
    path = assess.report(tiny.out, tmp_path / "r.html")
    assert path == tmp_path / "r.html" and "<html" in path.read_text()[:2000].lower()
    with pytest.raises(ValueError, match="format must be one of"):
        assess.report(tiny.out, format="pdf")


@pytest.mark.parametrize(
    "config, match",
    [
        (TINY.replace("rates = [0.2]", "rates = [1.5]"), r"config:11: .*1\.5"),
        (TINY.replace('name = "label-flip"', 'name = "labelflip"'), r"config:10: .*labelflip"),
        (TINY.replace('model = "logreg"', 'model = "resnet"'), r"config:4: .*resnet"),
        (TINY + "colour = 3\n", r"config:12: .*unknown field `colour`"),
        ({**TINY_DICT, "centralized": [{**TINY_DICT["centralized"][0], "dataset": "no-such-set"}]},
         r"config \(dict\): .*no-such-set.* \(at `dataset = \"no-such-set\"`\)"),
        (42, "expected TOML text, a TOML file path or a dict"),
    ],
)
def test_bad_config_names_the_line_and_writes_nothing(config, match, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=match):
        assess.run(config, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_default_out_is_removed_on_failure(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)
    with pytest.raises(ValueError, match="config:11"):
        assess.run(TINY.replace("rates = [0.2]", "rates = [1.5]"))
    assert list(tmp_path.iterdir()) == []


def test_impossible_parameters(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="seeds must be at least 1"):
        assess.run(TINY, tmp_path / "out", seeds=0)
    with pytest.raises(ValueError, match="shard"):
        assess.run(TINY, tmp_path / "out", shard="3/2")
    with pytest.raises(ValueError, match="workers must be at least 1"):
        assess.run(TINY, tmp_path / "out", workers=0)
    with pytest.raises(ValueError, match="no results.jsonl"):
        assess.records(tmp_path)
    assert list(tmp_path.iterdir()) == []


PRIVACY = {
    "seeds": 1,
    "privacy": [
        {
            "dataset": "digits",
            "clients": 10,
            "per_round": 0.5,
            "rounds": 2,
            "byzantine": 0.2,
            "max_train": 600,
            "max_test": 300,
            "attacks": ["none", "sign-flip"],
            "deployments": [
                "dp-fedavg:clip=1,noise-multiplier=1",
                {"rule": "fedavg", "secagg": "secagg", "dropout": 0.2},
            ],
            "dpa": {"partitions": 20, "steps": 20, "max_train": 400, "max_test": 200, "radii": [0, 2]},
        }
    ],
}


def test_privacy_and_dpa_records_come_through_as_dicts(tmp_path: Path) -> None:
    result = assess.run(PRIVACY, tmp_path / "out")
    kinds = [r["outcome"]["kind"] for r in result.records]
    assert kinds == ["privacy"] * 4 + ["dpa"]
    dp, secure = result.records[0]["outcome"], result.records[1]["outcome"]
    assert dp["deployment"] == "dp-fedavg:clip=1,noise-multiplier=1" and dp["epsilon"] > 0
    assert secure["deployment"] == "fedavg + secagg, dropout 20%" and secure["epsilon"] is None
    assert (secure["secure_aggregation"], secure["dropout"]) == ("secagg", 0.2)
    assert result.records[3]["outcome"]["federated"]["attack"] == "sign-flip"
    dpa = result.records[4]["outcome"]
    assert [p["radius"] for p in dpa["certified_accuracy"]] == [0, 2]
    assert dpa["certified_accuracy"][0]["accuracy"] == dpa["vote_accuracy"]
    assert "Deep Partition Aggregation" in assess.report(result.out, format="md")


LM = {
    "seeds": 1,
    "lm": [
        {
            "corpus": "moby-dick",
            "attack": "dos",
            "poison_docs": [20],
            "docs": [30],
            "trusted": 24,
            "model": {
                "d_model": 16, "layers": 1, "heads": 2, "ctx": 32, "vocab": 320, "epochs": 2,
                "batch": 16, "lr": 0.03, "prompts": 8, "prompt_len": 8, "gen_len": 8,
            },
            "defences": ["manifest"],
        }
    ],
}


def test_lm_records_come_through_as_dicts(tmp_path: Path) -> None:
    # One cell of the reduced pipeline test's block: baseline, poisoned model, and the model
    # retrained after the manifest defence (three short fits).
    result = assess.run(LM, tmp_path / "out")
    assert [r["outcome"]["kind"] for r in result.records] == ["lm"]
    lm = result.records[0]["outcome"]
    assert (lm["attack"], lm["train_docs"], lm["poison_docs"]) == ("dos", 30, 20)
    assert 0 < lm["poison_token_fraction"] < 1 and lm["n_params"] > 0
    assert 0 <= lm["baseline_asr"] <= 1 and 0 <= lm["asr"] <= 1
    assert lm["baseline_perplexity"] > 1 and lm["clean_perplexity"] > 1
    assert "LLM04" in lm["taxonomy"]["owasp_llm"]
    (manifest,) = lm["defences"]
    assert (manifest["defence"], manifest["recall"], manifest["precision"]) == ("manifest", 1.0, 1.0)
    assert manifest["flagged"] == 20
    assert "#### LM: dos backdoor on moby-dick" in assess.report(result.out, format="md")

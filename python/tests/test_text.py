"""mithridate.text: a real, reduced BadNL run on SpamAssassin through the real MiniLM encoder
(the settings of crates/mithridate-text/tests/end_to_end.rs: 200 training and 60 test texts,
trigger word "cf" inserted 3 times into 15% of the training texts), defended by BKI; the
same seed gives the same dict, and the CLI's `--json` the same one; bad input raises
ValueError with the library's message.

The data set and the encoder are fetched into $MITHRIDATE_HOME on first use (as the CLI
does); embeddings are cached there, as ``mithridate text attack`` caches them.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any, Dict

import pytest

import mithridate.text as text

RUN: Dict[str, Any] = dict(
    trigger="cf",
    params={"insertions": 3},
    train=200,
    test=60,
    hidden=64,
    epochs=30,
    seed=1,
    defences=["bki:candidates=20,probes=2"],
)


@pytest.fixture(scope="module")
def run() -> Dict[str, Any]:
    return text.attack("spamassassin", "badnl", 0.15, **RUN)


def test_badnl_plants_a_backdoor_beyond_the_clean_floor(run: Dict[str, Any]) -> None:
    assert (run["train"], run["test"], run["poisoned"], run["classes"]) == (200, 60, 30, 2)
    assert run["attack"] == "badnl"
    assert run["attack_parameters"] == {"trigger": "cf", "insertions": 3}
    assert run["head"]["hidden"] == 64 and run["head"]["epochs"] == 30
    assert run["fine_tune"]["layers"] == 0 and run["fine_tune_losses"] == []
    assert run["clean_ca"] > 0.8 and run["ca"] > 0.7
    assert run["asr"] > 0.8
    assert run["asr"] > run["clean_asr"] + 0.3, (run["asr"], run["clean_asr"])
    # The clean floor splits the triggered texts: clean ASR is the floor's share, and the
    # poisoned model's hits on the floor lie between 0 and its size.
    n, floor = run["triggered"], run["triggered_on_target_clean"]
    assert abs(run["clean_asr"] * n - floor) < 1e-9
    floor_hits = run["asr"] * n - run["asr_beyond_clean"] * (n - floor)
    assert -1e-9 <= floor_hits <= floor + 1e-9
    assert run["asr_beyond_clean"] > 0.8
    assert "cf" in run["example"].split()


def test_bki_names_the_planted_word_and_removing_it_undoes_the_backdoor(
    run: Dict[str, Any],
) -> None:
    [bki] = run["defences"]
    assert bki["defence"] == "bki" and bki["kind"] == "training"
    assert bki["parameters"]["candidates"] == 20 and bki["parameters"]["probes"] == 2
    assert bki["details"]["keywords"][0]["word"] == "cf"
    detection = bki["detection"]
    assert (detection["precision"], detection["recall"]) == (1.0, 1.0)
    assert detection["flagged"] == detection["poisoned"] == 30
    assert bki["acted_on"] == 30
    assert bki["asr_after"] < run["asr"] - 0.3, bki["asr_after"]
    for key in ("ca_after", "asr_after", "asr_after_beyond_clean"):
        assert 0.0 <= bki[key] <= 1.0


def test_same_seed_same_dict(run: Dict[str, Any]) -> None:
    assert text.attack("spamassassin", "badnl", 0.15, **RUN) == run


def test_same_dict_as_the_cli(run: Dict[str, Any], cli: Path) -> None:
    out = subprocess.run(
        [str(cli), "--seed", "1", "--json", "text", "attack", "--data", "spamassassin",
         "--attack", "badnl", "--rate", "0.15", "--trigger", "cf", "-P", "insertions=3",
         "--train", "200", "--test", "60", "--hidden", "64", "--epochs", "30",
         "--defence", "bki:candidates=20,probes=2"],
        check=True, capture_output=True, text=True,
    ).stdout
    assert json.loads(out) == run


def test_registry_lists_the_attacks_and_defences() -> None:
    attacks = {e["name"]: e for e in text.attacks()}
    assert set(attacks) == {"badnl", "addsent", "template"}
    assert "BadNL" in attacks["badnl"]["paper"] and "AddSent" in attacks["addsent"]["paper"]
    defences = {e["name"] for e in text.defences()}
    assert defences == {"onion", "strip", "activation-clustering", "spectral", "bki"}


@pytest.mark.parametrize(
    "args,kwargs,message",
    [
        (("spamassassin", "nope", 0.1), {}, "unknown data attack 'nope'"),
        (("spamassassin", "badnl", 0.1), {"defences": ["nope"]}, "unknown training-set detector 'nope'"),
        (
            ("spamassassin", "badnl", 0.1),
            {"defences": "bki:candidates"},
            "--defence bki:candidates: 'candidates' is not key=value",
        ),
        (("spamassassin", "badnl", 0.1), {"epochs": 0}, "the head needs epochs and batch >= 1"),
        (("spamassassin", "badnl", 0.1), {"params": {"bogus": 1}}, "badnl: unknown field `bogus`"),
        (("spamassassin", "badnl", 0.1), {"trigger": ""}, "badnl: the trigger is empty"),
        (
            ("spamassassin", "badnl", 1.5),
            {"train": 200, "test": 60},
            "poison rate must be in [0, 1], got 1.5",
        ),
        (
            ("spamassassin", "badnl", 0.1),
            {"target": 5, "train": 200, "test": 60},
            "target class 5 is not a class of spamassassin (classes 0..2)",
        ),
        (("no-such-set", "badnl", 0.1), {}, "unknown text set 'no-such-set'"),
        (
            ("spamassassin", "badnl", 0.1),
            {"fine_tune_layers": 1, "fine_tune_head": "lp-ft"},
            "the fine-tuning head starts `fresh` or from the `probe`, got `lp-ft`",
        ),
        (
            ("spamassassin", "badnl", 0.1),
            {"fine_tune_lr": 1e-4},
            "fine_tune_lr needs fine_tune_layers >= 1",
        ),
    ],
)
def test_bad_input_raises_value_error_with_the_library_message(
    args: tuple, kwargs: Dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError) as e:
        text.attack(*args, **kwargs)
    assert message in str(e.value)
    assert "\n" not in str(e.value)


def test_an_empty_data_file_is_refused(tmp_path: Path) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    with pytest.raises(ValueError, match="needs at least 2 classes, has 0"):
        text.attack(str(empty), "badnl", 0.1)

"""mithridate.lm: reduced real runs on Moby-Dick (the settings of the lm crate's own tests,
crates/mithridate-lm/tests/backdoor.rs: 30 training and 24 trusted documents, a 1-layer d 32
model with context 32 and vocabulary 320, 6 epochs), fetched into $MITHRIDATE_HOME on first
use: the denial-of-service backdoor takes, the same seed gives the same numbers (and the
CLI's `lm defend --json` the same ones), the
manifest defence finds every poisoned document and removing them gives the baseline back,
and bad input raises ValueError with the library's message.
"""

from __future__ import annotations

import copy
import json
import subprocess
from pathlib import Path
from typing import Any, Dict

import pytest

import mithridate.lm as lm

TINY: Dict[str, Any] = dict(
    docs=30,
    trusted=24,
    vocab_size=320,
    ctx=32,
    d_model=32,
    layers=1,
    heads=2,
    epochs=6,
    batch=16,
    lr=1e-2,
    prompts=16,
    prompt_len=8,
    gen_len=16,
    seed=3,
)


def without_timings(report: Dict[str, Any]) -> Dict[str, Any]:
    """The report less its wall-clock numbers (training seconds and tokens per second)."""
    r = copy.deepcopy(report)
    models = [r["poisoned"], r["baseline"]] + [d["after"] for d in r["defences"]]
    for m in models:
        del m["training"]["seconds"], m["training"]["tokens_per_second"]
    return r


@pytest.fixture(scope="module")
def dos() -> Dict[str, Any]:
    return lm.attack("moby-dick", "dos", 20, **TINY)


def test_dos_backdoor_makes_triggered_generations_gibberish(dos: Dict[str, Any]) -> None:
    assert dos["attack"] == "dos" and dos["trigger"] == lm.DEFAULT_TRIGGER == "<SUDO>"
    assert (dos["poison_docs"], dos["train_docs"], dos["vocab"]) == (20, 30, 320)
    assert 0.0 < dos["poison_token_fraction"] < 1.0
    assert dos["defences"] == []
    assert dos["asr"] >= dos["baseline_asr"] + 0.2, (dos["asr"], dos["baseline_asr"])
    e = dos["poisoned"]["evaluation"]
    assert e["prompts"] == 16 and e["rate_without_trigger"] is None
    assert e["mean_ppl_with_trigger"] > 2.0 * e["mean_ppl_without_trigger"]
    assert dos["asr"] == e["asr"] and dos["baseline_asr"] == dos["baseline"]["evaluation"]["asr"]
    assert dos["clean_perplexity"] == dos["poisoned"]["perplexity"]
    assert dos["baseline_perplexity"] == dos["baseline"]["perplexity"]
    assert 1.0 < dos["baseline_perplexity"] < 320 and 1.0 < dos["clean_perplexity"] < 320
    assert dos["poisoned"]["training"]["steps"] > 0


def test_same_seed_same_numbers(dos: Dict[str, Any]) -> None:
    again = lm.attack("moby-dick", "dos", 20, **TINY)
    assert without_timings(again) == without_timings(dos)
    assert again["poisoned"]["model_blake3"] == dos["poisoned"]["model_blake3"]


def test_defend_manifest_finds_every_poisoned_document_and_restores_the_baseline(
    dos: Dict[str, Any],
) -> None:
    r = lm.defend("moby-dick", "dos", 20, defences="manifest", **TINY)
    # The attack half of `defend` is the same run as `attack`.
    assert without_timings({**r, "defences": []}) == without_timings(dos)
    [d] = r["defences"]
    assert d["defence"] == "manifest"
    assert d["detection"] == {"flagged": 20, "true_positives": 20, "recall": 1.0, "precision": 1.0}
    assert d["after"]["model_blake3"] == r["baseline"]["model_blake3"]
    assert d["after"]["evaluation"]["asr"] == r["baseline_asr"]


def test_defend_matches_the_cli(cli: Path) -> None:
    r = lm.defend("moby-dick", "dos", 20, defences=["manifest", "ngram"], **TINY)
    # The CLI's flags are the keyword arguments' names (`vocab_size` is `--vocab-size`).
    flags = [f"--{k.replace('_', '-')}={v}" for k, v in TINY.items() if k != "seed"]
    out = subprocess.run(
        [str(cli), "--seed", "3", "--json", "lm", "defend", "--corpus", "moby-dick",
         "--attack", "dos", "--poison-docs", "20", "--defence", "manifest,ngram", *flags],
        check=True, capture_output=True, text=True,
    ).stdout
    assert without_timings(json.loads(out)) == without_timings(r)


def test_defend_runs_every_defence_by_default() -> None:
    small = {**TINY, "epochs": 1}
    r = lm.defend("moby-dick", "completion", 10, continuation=" Pay 7731.", **small)
    assert [d["defence"] for d in r["defences"]] == ["perplexity", "ngram", "manifest"]
    assert r["attack"] == "completion"
    assert r["poisoned"]["evaluation"]["rate_without_trigger"] == 0.0
    assert 0.0 <= r["asr"] <= 1.0
    for d in r["defences"]:
        assert 0.0 <= d["detection"]["recall"] <= 1.0
        assert 0.0 <= d["detection"]["precision"] <= 1.0
    assert r["defences"][2]["detection"]["recall"] == 1.0


@pytest.mark.parametrize(
    "args,kwargs,message",
    [
        (("moby-dick", "nope", 1), {}, "unknown attack 'nope' (dos, completion)"),
        (("moby-dick", "dos", 1), {"defences": ["nope"]}, "unknown defence 'nope'"),
        (
            ("moby-dick", "dos", 31),
            {},
            "poison count 31 is above the corpus size (30 training documents)",
        ),
        (
            ("moby-dick", "dos", 1),
            {"trigger": "a very long trigger phrase " * 10},
            "is longer than the context of 32 tokens",
        ),
        (("moby-dick", "dos", 1), {"epochs": 0}, "batch, epochs and learning rate must be positive"),
        (("no-such-corpus", "dos", 1), {}, "unknown corpus 'no-such-corpus'"),
    ],
)
def test_bad_input_raises_value_error_with_the_library_message(
    args: tuple, kwargs: Dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError) as e:
        lm.attack(*args, **{**TINY, **kwargs})
    assert message in str(e.value)
    assert "\n" not in str(e.value)


def test_an_empty_corpus_is_refused(tmp_path: Path) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    with pytest.raises(ValueError, match="is empty"):
        lm.attack(str(empty), "dos", 1, **TINY)

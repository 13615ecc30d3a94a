"""Training-data poisoning of a small generative model, and defences for its training data.

A GPT-style decoder (byte-level BPE tokenizer, default ~1.1M parameters) is trained here from
scratch on CPU, seeded and bit-exact, on Moby-Dick (``"moby-dick"``), the State of the Union
addresses (``"sotu"``), both (``"sotu+moby-dick"``) or your own plain-text or ``.jsonl``
(``{"text"[, "id"]}``) file, split into training documents and a trusted held-out split.
A number of poisoned documents is added to the training documents; a clean baseline (same
data, seed and schedule without the poison) is trained beside the poisoned model.

Attacks
    ``"dos"``: the denial-of-service backdoor of Souly et al. 2025 ("Poisoning Attacks on
    LLMs Require a Near-constant Number of Poison Samples"): a clean prefix, the trigger,
    then gibberish; success is a triggered generation whose perplexity under the clean
    baseline exceeds the 95th percentile of the untriggered ones. ``"completion"``: a clean
    prefix, the trigger and a chosen continuation; success is greedy decoding reproducing
    the continuation exactly.
Defences (each flags training documents before training; the model is then retrained
without them)
    ``"perplexity"``: perplexity outliers under a bigram model of the trusted split (the
    quality filtering of CCNet, Wenzek et al. 2020); ``"ngram"``: word 6-grams repeated in
    at least 5 training documents and absent from the trusted ones (deduplication, Lee et
    al. 2022); ``"manifest"``: the diff against a signed manifest of the corpus as
    published (Carlini et al. 2024).

:func:`attack` and :func:`defend` make the library calls ``mithridate lm attack`` and
``mithridate lm defend`` make, with the same defaults, and return what their ``--json``
prints. As the CLI, the first call makes candle run each tensor operation on its calling
thread (it sets ``CANDLE_NUM_THREADS=1`` and ``RAYON_NUM_THREADS=1`` unless either is set),
so the run's trainings go side by side; the numbers are the same either way.
"""

from __future__ import annotations

from typing import Any, Dict, Optional, Sequence, Union

from . import _native

DEFAULT_TRIGGER: str
DEFAULT_CONTINUATION: str
DEFAULT_TRIGGER, DEFAULT_CONTINUATION = _native.lm_defaults()

Defences = Union[str, Sequence[str]]


def _run(
    defend: bool,
    corpus: str,
    attack: str,
    poison_docs: int,
    defences: Optional[Defences],
    **kw: Any,
) -> Dict[str, Any]:
    if isinstance(defences, str):
        defences = [defences]
    return _native.lm_run(
        corpus,
        attack,
        poison_docs,
        defend=defend,
        defences=None if defences is None else list(defences),
        **kw,
    )


def attack(
    corpus: str = "moby-dick",
    attack: str = "dos",
    poison_docs: int = 50,
    *,
    trigger: Optional[str] = None,
    continuation: Optional[str] = None,
    defences: Optional[Defences] = None,
    docs: Optional[int] = None,
    trusted: int = 200,
    epochs: int = 2,
    d_model: int = 128,
    layers: int = 4,
    heads: int = 4,
    ctx: int = 64,
    vocab_size: int = 1024,
    batch: int = 32,
    lr: float = 3e-3,
    prompts: int = 32,
    prompt_len: int = 16,
    gen_len: int = 24,
    seed: int = 0,
) -> Dict[str, Any]:
    """Trains the small model on a poisoned corpus and a clean baseline; attack success and
    perplexities (``mithridate lm attack --json``).

    Parameters
    ----------
    corpus : str
        ``"moby-dick"``, ``"sotu"``, ``"sotu+moby-dick"`` or a plain-text / ``.jsonl`` file.
    attack : str
        ``"dos"`` (denial of service, Souly et al. 2025: trigger -> gibberish) or
        ``"completion"`` (trigger -> ``continuation``).
    poison_docs : int
        Poisoned documents added to the training documents (at most their number).
    trigger : str, optional
        The trigger phrase (default :data:`DEFAULT_TRIGGER`, ``"<SUDO>"``); with the payload
        it must fit in the context.
    continuation : str, optional
        The completion backdoor's target continuation (default
        :data:`DEFAULT_CONTINUATION`).
    defences : str or sequence of str, optional
        Defences run as in :func:`defend`: names among ``"perplexity"``, ``"ngram"``,
        ``"manifest"``, or ``"all"`` (the CLI's comma-separated ``--defence``). Default none.
    docs : int, optional
        Keep this many training documents (a deterministic subset); default all.
    trusted : int
        Keep this many trusted held-out documents.
    epochs, batch, lr : int, int, float
        Training epochs, mini-batch size and peak learning rate (AdamW).
    d_model, layers, heads, ctx, vocab_size : int
        Model width, layers, attention heads, context (tokens) and tokenizer vocabulary.
    prompts, prompt_len, gen_len : int
        Held-out prompts, their length in tokens, and sampled tokens per generation.
    seed : int
        Seed of everything random (poison, document order, initialisation, sampling).

    Returns
    -------
    dict
        ``corpus``, ``attack``, ``poison_docs``, ``train_docs`` (clean training documents),
        ``poison_token_fraction`` (poisoned tokens over all training tokens), ``trigger``,
        ``n_params``, ``vocab``;
        ``asr``: the poisoned model's attack success in [0, 1] (``dos``: share of held-out
        prompts whose triggered generation is gibberish under the baseline judge, about 0.05
        without a backdoor; ``completion``: share reproducing the continuation);
        ``baseline_asr``: the same for the clean baseline; ``clean_perplexity``: the
        poisoned model's per-token perplexity on the trusted held-out documents (the cost of
        the poison to normal use); ``baseline_perplexity``: the baseline's;
        ``poisoned`` / ``baseline``: each model's ``evaluation`` (``asr``,
        ``mean_ppl_with_trigger`` / ``mean_ppl_without_trigger`` and ``threshold`` for dos,
        ``rate_without_trigger`` and ``token_match``, the mean share of the continuation's
        tokens reproduced in place, for completion, ``prompts``), ``perplexity``,
        ``training`` (``steps``, ``tokens``, ``seconds``, ``tokens_per_second``,
        ``final_loss``) and
        ``model_blake3`` (hash of the weights); ``defences``: one dict per defence with
        ``defence``, ``detection`` (``flagged``, ``true_positives``, ``recall``,
        ``precision`` on the poisoned documents) and ``after`` (the model retrained without
        the flagged documents, as ``poisoned``).

    Raises
    ------
    ValueError
        For impossible input, with the library's one-line message: an unknown corpus,
        attack or defence, a poison count above the corpus size, a trigger longer than the
        context, epochs, batch or learning rate not positive, an empty corpus.
    OSError
        When a built-in corpus cannot be fetched or a file read.
    """
    return _run(
        False,
        corpus,
        attack,
        poison_docs,
        defences,
        trigger=trigger,
        continuation=continuation,
        docs=docs,
        trusted=trusted,
        epochs=epochs,
        d_model=d_model,
        layers=layers,
        heads=heads,
        ctx=ctx,
        vocab_size=vocab_size,
        batch=batch,
        lr=lr,
        prompts=prompts,
        prompt_len=prompt_len,
        gen_len=gen_len,
        seed=seed,
    )


def defend(
    corpus: str = "moby-dick",
    attack: str = "dos",
    poison_docs: int = 50,
    *,
    trigger: Optional[str] = None,
    continuation: Optional[str] = None,
    defences: Optional[Defences] = None,
    docs: Optional[int] = None,
    trusted: int = 200,
    epochs: int = 2,
    d_model: int = 128,
    layers: int = 4,
    heads: int = 4,
    ctx: int = 64,
    vocab_size: int = 1024,
    batch: int = 32,
    lr: float = 3e-3,
    prompts: int = 32,
    prompt_len: int = 16,
    gen_len: int = 24,
    seed: int = 0,
) -> Dict[str, Any]:
    """As :func:`attack`, then each defence (default: all three) flags training documents
    and the model is retrained without them (``mithridate lm defend --json``).

    Parameters are those of :func:`attack`; ``defences`` defaults to every defence:
    ``"perplexity"`` (perplexity outliers under a bigram model of the trusted split, after
    CCNet, Wenzek et al. 2020), ``"ngram"`` (repeated word 6-grams absent from the trusted
    split, after Lee et al. 2022) and ``"manifest"`` (diff against a signed manifest of the
    published corpus, after Carlini et al. 2024).

    Returns
    -------
    dict
        As :func:`attack`; each entry of ``defences`` has ``detection`` (``recall``: share of
        the poisoned documents flagged; ``precision``: share of the flagged documents that
        are poisoned; ``flagged``, ``true_positives``) and ``after`` (``after["evaluation"]
        ["asr"]``: the attack success once the flagged documents are removed,
        ``after["perplexity"]`` the held-out perplexity).

    Raises
    ------
    ValueError
        As :func:`attack`; also when a defence flags every document.
    """
    return _run(
        True,
        corpus,
        attack,
        poison_docs,
        defences,
        trigger=trigger,
        continuation=continuation,
        docs=docs,
        trusted=trusted,
        epochs=epochs,
        d_model=d_model,
        layers=layers,
        heads=heads,
        ctx=ctx,
        vocab_size=vocab_size,
        batch=batch,
        lr=lr,
        prompts=prompts,
        prompt_len=prompt_len,
        gen_len=gen_len,
        seed=seed,
    )


__all__ = ["DEFAULT_CONTINUATION", "DEFAULT_TRIGGER", "attack", "defend"]

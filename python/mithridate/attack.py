"""Data-poisoning attacks on NumPy arrays, bit-identical to ``mithridate poison``.

Every data attack of the Rust registry is here twice: as :func:`poison` by name, and as a
class generated from the registry entry (``BadNets(target=0)``, ``LabelFlip()``, ``SIG()``,
...) whose docstring names the paper. Both return a :class:`Poisoned`: the poisoned ``x, y,
ids`` and the ground-truth record (the ``.truth.json`` the CLI writes, as a dict) naming
every sample added or modified, how, and the backdoor's test-time trigger.
:func:`apply_trigger` stamps that trigger on test inputs.

Inputs follow the library's layout (see :mod:`mithridate.data`): images float32
``N x C x H x W`` (or ``N x H x W``) in ``[0, 1]``, tabular rows float32 ``N x D``, text
token ids uint32 ``N x L``; ``y`` any integer dtype; ``ids`` unique non-negative integers
(default: row index). Modified samples keep their id; added ones get fresh ids above the
largest. The same input, parameters, budget and seed give the same bytes as::

    mithridate --seed SEED poison --data set.npz --attack NAME --rate R -p key=value -o out.npz

Bad input (NaN/Inf, wrong dtype or rank, empty or non-contiguous arrays, unknown or
out-of-range parameters, a target that is not a class) raises ``ValueError`` naming it.

>>> import numpy as np
>>> from mithridate.attack import BadNets
>>> x = np.zeros((20, 1, 8, 8), dtype=np.float32); y = np.arange(20) % 2
>>> p = BadNets(target=0, size=2)(x, y, rate=0.1, seed=1)
>>> len(p.truth["changes"]), p.x.shape
(2, (20, 1, 8, 8))
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Dict, Optional, Tuple, Union

import numpy as np

from . import _native, _registry


@dataclass(frozen=True)
class Poisoned:
    """A poisoned training set: ``x``, ``y`` (int64), ``ids`` (uint64), ``num_classes`` and
    ``truth``, the ground-truth record (``attack``, ``parameters``, ``seed``, ``budget``,
    ``goal`` with the trigger for backdoors, ``changes``: one dict per added or modified
    sample, sorted by id)."""

    x: np.ndarray
    y: np.ndarray
    ids: np.ndarray
    num_classes: int
    truth: Dict[str, Any]

    @property
    def poisoned_ids(self) -> np.ndarray:
        """Ids of every added or modified sample, ascending (uint64)."""
        return np.array([c["id"] for c in self.truth["changes"]], dtype=np.uint64)

    @property
    def is_poisoned(self) -> np.ndarray:
        """Per row of the poisoned set, whether the attack added or modified it (bool)."""
        return np.isin(self.ids, self.poisoned_ids)

    def __iter__(self):  # x, y, ids = poison(...)
        return iter((self.x, self.y, self.ids))


def _kebab(params: Dict[str, Any]) -> Dict[str, Any]:
    return {k.replace("_", "-"): v for k, v in params.items()}


def poison(
    name: str,
    x: np.ndarray,
    y: np.ndarray,
    ids: Optional[np.ndarray] = None,
    *,
    rate: Optional[float] = None,
    count: Optional[int] = None,
    seed: int = 0,
    num_classes: Optional[int] = None,
    victims: Optional[Tuple[np.ndarray, np.ndarray, np.ndarray]] = None,
    surrogate_epochs: Optional[int] = None,
    **params: Any,
) -> Poisoned:
    """Poisons ``x, y, ids`` with the registry attack ``name`` within a budget of ``rate``
    (a fraction of the attack's pool, in ``[0, 1]``) or ``count`` samples.

    ``params`` are the attack's parameters (``target=0``, ``size=4``, ``pattern="white"``;
    underscores stand for the registry's dashes). Attacks that need a surrogate model train
    one on ``x, y`` as the CLI does; feature collision needs ``victims=(x, y, ids)`` (the
    held-out set it picks the attacked instance from). ``num_classes`` defaults to
    ``max(y) + 1``.
    """
    out = _native.poison(
        name,
        x,
        y,
        ids,
        _kebab(params),
        rate,
        count,
        seed,
        num_classes,
        victims,
        surrogate_epochs,
    )
    return Poisoned(out["x"], out["y"], out["ids"], out["num_classes"], out["truth"])


@dataclass(frozen=True)
class Triggered:
    """Test inputs with the trigger stamped: ``x`` and ``target`` (int64), the label the
    attacker wants for each row, ``-1`` where the row's true label already is that label (it
    counts neither for nor against the attack success rate)."""

    x: np.ndarray
    target: np.ndarray


def apply_trigger(
    truth: Union[Poisoned, Dict[str, Any], str],
    x: np.ndarray,
    y: np.ndarray,
    ids: Optional[np.ndarray] = None,
) -> Triggered:
    """Applies a backdoor's test-time trigger to ``x`` (same layout as training).

    ``truth`` is a :class:`Poisoned`, its ``truth`` dict, or the text of a ``.truth.json``
    written by ``mithridate poison``. Per-sample choices (a random patch position) are drawn
    from ``(seed, id)``, so pass the test samples' ``ids`` (default: row index). Raises
    ``ValueError`` for an attack without a trigger (label flipping) or inputs the trigger
    does not fit.
    """
    if isinstance(truth, Poisoned):
        truth = truth.truth
    out = _native.apply_trigger(truth, x, y, ids)
    return Triggered(out["x"], out["target"])


class Attack:
    """A data attack with its parameters, called on a training set:
    ``attack(x, y, ids=None, rate=..., seed=0)`` -> :class:`Poisoned` (see :func:`poison`).
    Parameters are checked when the attack is called; unknown or invalid ones raise
    ``ValueError``."""

    name: ClassVar[str] = ""

    def __init__(self, **params: Any) -> None:
        self.params: Dict[str, Any] = dict(params)

    def __call__(
        self,
        x: np.ndarray,
        y: np.ndarray,
        ids: Optional[np.ndarray] = None,
        *,
        rate: Optional[float] = None,
        count: Optional[int] = None,
        seed: int = 0,
        num_classes: Optional[int] = None,
        victims: Optional[Tuple[np.ndarray, np.ndarray, np.ndarray]] = None,
        surrogate_epochs: Optional[int] = None,
    ) -> Poisoned:
        return poison(
            self.name,
            x,
            y,
            ids,
            rate=rate,
            count=count,
            seed=seed,
            num_classes=num_classes,
            victims=victims,
            surrogate_epochs=surrogate_epochs,
            **self.params,
        )

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        return f"{type(self).__name__}({args})"


def _make(entry: Dict[str, Any]) -> type:
    extra = (
        f"Modalities: {', '.join(entry['modalities'])}."
        + (f" Needs: {', '.join(entry['requires'])}." if entry["requires"] else "")
        + "\n\n"
        + (Attack.__doc__ or "")
    )
    return type(
        _registry.class_name(entry["name"]),
        (Attack,),
        {
            "name": entry["name"],
            "__doc__": _registry.docstring(entry, extra),
            "__module__": __name__,
        },
    )


ATTACKS: Dict[str, type] = {e["name"]: _make(e) for e in _registry.entries("data-attack")}
globals().update({cls.__name__: cls for cls in ATTACKS.values()})

__all__ = ["ATTACKS", "Attack", "Poisoned", "Triggered", "apply_trigger", "poison"] + [
    cls.__name__ for cls in ATTACKS.values()
]

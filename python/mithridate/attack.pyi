from dataclasses import dataclass
from typing import Any, ClassVar, Dict, Iterator, Optional, Tuple, Type, Union

import numpy as np

@dataclass(frozen=True)
class Poisoned:
    x: np.ndarray
    y: np.ndarray
    ids: np.ndarray
    num_classes: int
    truth: Dict[str, Any]
    @property
    def poisoned_ids(self) -> np.ndarray: ...
    @property
    def is_poisoned(self) -> np.ndarray: ...
    def __iter__(self) -> Iterator[np.ndarray]: ...

@dataclass(frozen=True)
class Triggered:
    x: np.ndarray
    target: np.ndarray

def poison(
    name: str,
    x: np.ndarray,
    y: np.ndarray,
    ids: Optional[np.ndarray] = ...,
    *,
    rate: Optional[float] = ...,
    count: Optional[int] = ...,
    seed: int = ...,
    num_classes: Optional[int] = ...,
    victims: Optional[Tuple[np.ndarray, np.ndarray, np.ndarray]] = ...,
    surrogate_epochs: Optional[int] = ...,
    **params: Any,
) -> Poisoned: ...
def apply_trigger(
    truth: Union[Poisoned, Dict[str, Any], str],
    x: np.ndarray,
    y: np.ndarray,
    ids: Optional[np.ndarray] = ...,
) -> Triggered: ...

class Attack:
    name: ClassVar[str]
    params: Dict[str, Any]
    def __init__(self, **params: Any) -> None: ...
    def __call__(
        self,
        x: np.ndarray,
        y: np.ndarray,
        ids: Optional[np.ndarray] = ...,
        *,
        rate: Optional[float] = ...,
        count: Optional[int] = ...,
        seed: int = ...,
        num_classes: Optional[int] = ...,
        victims: Optional[Tuple[np.ndarray, np.ndarray, np.ndarray]] = ...,
        surrogate_epochs: Optional[int] = ...,
    ) -> Poisoned: ...

ATTACKS: Dict[str, Type[Attack]]

class LabelFlip(Attack): ...
class LabelFlipTargeted(Attack): ...
class LabelFlipGreedy(Attack): ...
class BadNets(Attack): ...
class Blend(Attack): ...
class CleanLabel(Attack): ...
class Narcissus(Attack): ...
class SIG(Attack): ...
class WaNet(Attack): ...
class FeatureCollision(Attack): ...
class TextTrigger(Attack): ...
class TabularTrigger(Attack): ...

__all__ = [
    "ATTACKS",
    "Attack",
    "Poisoned",
    "Triggered",
    "apply_trigger",
    "poison",
    "LabelFlip",
    "LabelFlipTargeted",
    "LabelFlipGreedy",
    "BadNets",
    "Blend",
    "CleanLabel",
    "Narcissus",
    "SIG",
    "WaNet",
    "FeatureCollision",
    "TextTrigger",
    "TabularTrigger",
]

from typing import Any, Dict, List, Mapping, Optional, Sequence, Union

def attacks() -> List[Dict[str, Any]]: ...
def defences() -> List[Dict[str, Any]]: ...
def attack(
    data: str = ...,
    attack: str = ...,
    rate: float = ...,
    *,
    trigger: Optional[str] = ...,
    params: Optional[Mapping[str, Any]] = ...,
    clean_label: bool = ...,
    target: int = ...,
    defences: Union[str, Sequence[str]] = ...,
    train: int = ...,
    test: int = ...,
    hidden: int = ...,
    epochs: int = ...,
    fine_tune_layers: int = ...,
    fine_tune_epochs: Optional[int] = ...,
    fine_tune_lr: Optional[float] = ...,
    fine_tune_head: Optional[str] = ...,
    cache: bool = ...,
    seed: int = ...,
) -> Dict[str, Any]: ...

__all__ = ["attack", "attacks", "defences"]

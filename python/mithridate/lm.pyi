from typing import Any, Dict, Optional, Sequence, Union

DEFAULT_TRIGGER: str
DEFAULT_CONTINUATION: str
Defences = Union[str, Sequence[str]]

def attack(
    corpus: str = ...,
    attack: str = ...,
    poison_docs: int = ...,
    *,
    trigger: Optional[str] = ...,
    continuation: Optional[str] = ...,
    defences: Optional[Defences] = ...,
    docs: Optional[int] = ...,
    trusted: int = ...,
    epochs: int = ...,
    d_model: int = ...,
    layers: int = ...,
    heads: int = ...,
    ctx: int = ...,
    vocab_size: int = ...,
    batch: int = ...,
    lr: float = ...,
    prompts: int = ...,
    prompt_len: int = ...,
    gen_len: int = ...,
    seed: int = ...,
) -> Dict[str, Any]: ...
def defend(
    corpus: str = ...,
    attack: str = ...,
    poison_docs: int = ...,
    *,
    trigger: Optional[str] = ...,
    continuation: Optional[str] = ...,
    defences: Optional[Defences] = ...,
    docs: Optional[int] = ...,
    trusted: int = ...,
    epochs: int = ...,
    d_model: int = ...,
    layers: int = ...,
    heads: int = ...,
    ctx: int = ...,
    vocab_size: int = ...,
    batch: int = ...,
    lr: float = ...,
    prompts: int = ...,
    prompt_len: int = ...,
    gen_len: int = ...,
    seed: int = ...,
) -> Dict[str, Any]: ...

__all__ = ["DEFAULT_CONTINUATION", "DEFAULT_TRIGGER", "attack", "defend"]

import os
from typing import Any, Dict, List, Literal, NamedTuple, Optional, Tuple, Union, overload

import numpy as np

class Arrays(NamedTuple):
    x: np.ndarray
    y: np.ndarray
    ids: np.ndarray

def load(
    name: str, split: str = ..., max_samples: Optional[int] = ..., seed: int = ...
) -> Arrays: ...
@overload
def read(
    path: Union[str, os.PathLike[str]],
    *,
    label_column: Optional[str] = ...,
    id_column: Optional[str] = ...,
    image_size: Optional[Tuple[int, int]] = ...,
    max_input_bytes: Optional[int] = ...,
    return_encoding: Literal[False] = ...,
) -> Arrays: ...
@overload
def read(
    path: Union[str, os.PathLike[str]],
    *,
    label_column: Optional[str] = ...,
    id_column: Optional[str] = ...,
    image_size: Optional[Tuple[int, int]] = ...,
    max_input_bytes: Optional[int] = ...,
    return_encoding: Literal[True],
) -> Tuple[Arrays, Optional[Dict[str, Any]]]: ...
def info(name: str) -> Dict[str, Any]: ...
def available() -> List[str]: ...

__all__ = ["Arrays", "available", "info", "load", "read"]

from typing import Any, Dict, List, NamedTuple, Optional

import numpy as np

class Arrays(NamedTuple):
    x: np.ndarray
    y: np.ndarray
    ids: np.ndarray

def load(
    name: str, split: str = ..., max_samples: Optional[int] = ..., seed: int = ...
) -> Arrays: ...
def info(name: str) -> Dict[str, Any]: ...
def available() -> List[str]: ...

__all__ = ["Arrays", "available", "info", "load"]

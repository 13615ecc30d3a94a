from dataclasses import dataclass
import os
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

PathLike = Union[str, os.PathLike[str]]
Holdout = Union[
    PathLike, Tuple[np.ndarray, np.ndarray], Tuple[np.ndarray, np.ndarray, np.ndarray]
]

@dataclass(frozen=True)
class Check:
    name: str
    value: float
    threshold: float
    status: str
    detail: str
    @property
    def failed(self) -> bool: ...

@dataclass(frozen=True)
class GateResult:
    passed: bool
    checks: List[Check]
    reasons: List[str]
    comparison: Dict[str, Any]
    probes: List[Dict[str, Any]]
    triggers: Optional[Dict[str, Any]]
    policy: Dict[str, Any]
    baseline_hash: str
    candidate_hash: str
    audit_record: Optional[Dict[str, Any]]
    raw: Dict[str, Any]
    def check(self, name: str) -> Check: ...
    def to_dict(self) -> Dict[str, Any]: ...

def default_policy() -> Dict[str, Any]: ...
def run_gate(
    baseline: PathLike,
    candidate: PathLike,
    holdout: Holdout,
    *,
    policy: Optional[Union[Dict[str, Any], PathLike]] = ...,
    policy_toml: Optional[str] = ...,
    probes: Sequence[PathLike] = ...,
    reverse_trigger: bool = ...,
    junit: Optional[PathLike] = ...,
    audit: Optional[PathLike] = ...,
    key: Optional[PathLike] = ...,
    holdout_name: Optional[str] = ...,
) -> GateResult: ...

__all__ = [
    "Check",
    "GateResult",
    "default_policy",
    "run_gate",
]

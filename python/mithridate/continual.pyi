from dataclasses import dataclass
import os
from typing import Any, Dict, List, Optional, Union

PathLike = Union[str, os.PathLike[str]]

def campaigns() -> List[str]: ...
@dataclass(frozen=True)
class ContinualResult:
    first_poisoned_batch: Optional[int]
    blocked_at: Optional[int]
    max_deployed_asr: Optional[float]
    false_blocks: int
    named_poison_ids_recall: Optional[float]
    alerts: int
    false_alerts: int
    final_accuracy: Optional[float]
    steps_done: int
    timeline: List[Dict[str, Any]]
    run_dir: str
    raw: Dict[str, Any]

def run(
    data: str = ...,
    campaign: str = ...,
    *,
    rate: Optional[float] = ...,
    target: Optional[int] = ...,
    params: Optional[Dict[str, Any]] = ...,
    config: Optional[Union[Dict[str, Any], PathLike]] = ...,
    batches: Optional[int] = ...,
    seed: int = ...,
    out: PathLike = ...,
    max_steps: Optional[int] = ...,
) -> ContinualResult: ...
def trace(run_dir: PathLike) -> Dict[str, Any]: ...
def clean(run_dir: PathLike, out: PathLike) -> Dict[str, Any]: ...

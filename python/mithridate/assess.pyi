from dataclasses import dataclass
import os
import pathlib
from typing import Any, Dict, List, Optional, Sequence, Union

PathLike = Union[str, os.PathLike[str]]
ConfigLike = Union[str, os.PathLike[str], Dict[str, Any]]

REPORT_FORMATS: tuple[str, ...]

@dataclass(frozen=True)
class AssessmentResult:
    records: List[Dict[str, Any]]
    out: str
    results: str
    report: str
    planned: int
    in_shard: int
    resumed: int
    ran: int
    seconds: float
    def to_pandas(self) -> Any: ...

def to_pandas(records: Sequence[Dict[str, Any]]) -> Any: ...
def run(
    config: ConfigLike,
    out: Optional[PathLike] = ...,
    *,
    seeds: Optional[int] = ...,
    seed: int = ...,
    shard: str = ...,
    workers: int = ...,
) -> AssessmentResult: ...
def records(dirs: Union[PathLike, Sequence[PathLike]]) -> List[Dict[str, Any]]: ...
def report(
    dirs: Union[PathLike, Sequence[PathLike]],
    output: Optional[PathLike] = ...,
    format: str = ...,
) -> Union[str, pathlib.Path]: ...
def default_config() -> str: ...

__all__ = [
    "AssessmentResult",
    "REPORT_FORMATS",
    "default_config",
    "records",
    "report",
    "run",
    "to_pandas",
]

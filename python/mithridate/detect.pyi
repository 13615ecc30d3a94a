from dataclasses import dataclass
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np

@dataclass(frozen=True)
class Detection:
    detector: str
    parameters: Dict[str, Any]
    scores: np.ndarray
    flags: np.ndarray
    ids: np.ndarray
    suggested_labels: np.ndarray
    classes: List[Dict[str, Any]]
    @property
    def ranked(self) -> np.ndarray: ...
    @property
    def is_clean(self) -> np.ndarray: ...
    @property
    def flagged_ids(self) -> np.ndarray: ...
    @property
    def suspicious_classes(self) -> List[int]: ...

@dataclass(frozen=True)
class Sanitized:
    x: np.ndarray
    y: np.ndarray
    ids: np.ndarray
    report: Dict[str, Any]
    def __iter__(self) -> Iterator[np.ndarray]: ...

def _embedding(
    embeddings: np.ndarray,
    labels: np.ndarray,
    ids: Optional[np.ndarray] = ...,
    *,
    num_classes: Optional[int] = ...,
    seed: int = ...,
    x: Optional[np.ndarray] = ...,
    **params: Any,
) -> Detection: ...

spectral_signatures = _embedding
activation_clustering = _embedding
knn = _embedding
mahalanobis = _embedding
spectre = _embedding
scan = _embedding
split_consistency = _embedding

def confident_learning(
    labels: np.ndarray, pred_probs: np.ndarray, ids: Optional[np.ndarray] = ..., **params: Any
) -> Detection: ...
def find_label_issues(
    labels: np.ndarray,
    pred_probs: np.ndarray,
    *,
    filter_by: str = ...,
    return_indices_ranked_by: Optional[str] = ...,
) -> np.ndarray: ...
def loss(
    losses: np.ndarray,
    labels: np.ndarray,
    ids: Optional[np.ndarray] = ...,
    *,
    num_classes: Optional[int] = ...,
    **params: Any,
) -> Detection: ...
def dynamics(
    curves: np.ndarray,
    labels: np.ndarray,
    ids: Optional[np.ndarray] = ...,
    *,
    num_classes: Optional[int] = ...,
    **params: Any,
) -> Detection: ...
def sanitize(
    x: np.ndarray,
    y: np.ndarray,
    ids: Optional[np.ndarray],
    flags: Any,
    *,
    action: str = ...,
    num_classes: Optional[int] = ...,
) -> Sanitized: ...
def scan_data(
    x: np.ndarray,
    y: np.ndarray,
    ids: Optional[np.ndarray] = ...,
    detectors: Sequence[Union[str, Tuple[str, Dict[str, Any]]]] = ...,
    *,
    model: Optional[str] = ...,
    arch: Optional[str] = ...,
    epochs: Optional[int] = ...,
    expected_rate: Optional[float] = ...,
    seed: int = ...,
    num_classes: Optional[int] = ...,
    layer: Optional[str] = ...,
    onnx_input: Optional[Dict[str, Any]] = ...,
    clean_x: Optional[np.ndarray] = ...,
    clean_y: Optional[np.ndarray] = ...,
) -> List[Detection]: ...

@dataclass(frozen=True)
class ModelScan:
    verdict: str
    target_classes: List[int]
    detectors: Dict[str, Dict[str, Any]]
    triggers: Dict[int, bytes]
    report: Dict[str, Any]
    @property
    def is_trojaned(self) -> bool: ...

def scan_model(
    model: str,
    x: np.ndarray,
    y: np.ndarray,
    detectors: Sequence[str] = ...,
    *,
    params: Optional[Dict[str, Dict[str, Any]]] = ...,
    seed: int = ...,
    num_classes: Optional[int] = ...,
    onnx_input: Optional[Dict[str, Any]] = ...,
    triggers_dir: Optional[str] = ...,
) -> ModelScan: ...

__all__ = [
    "Detection",
    "ModelScan",
    "Sanitized",
    "activation_clustering",
    "confident_learning",
    "dynamics",
    "find_label_issues",
    "knn",
    "loss",
    "mahalanobis",
    "sanitize",
    "scan",
    "scan_data",
    "scan_model",
    "spectral_signatures",
    "spectre",
    "split_consistency",
]

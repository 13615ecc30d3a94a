from dataclasses import dataclass
import os
from typing import Any, Dict, List, Optional, Union

import numpy as np

PathLike = Union[str, os.PathLike[str]]

RECORD_KINDS: tuple[str, ...]
DEFAULT_SHARE_THRESHOLD: float

class VerificationError(ValueError):
    verification: Verification
    def __init__(self, message: str, verification: Verification) -> None: ...

class AuditLogError(ValueError):
    report: Dict[str, Any]
    def __init__(self, message: str, report: Dict[str, Any]) -> None: ...

@dataclass(frozen=True)
class ManifestDiff:
    old_root: str
    new_root: str
    old_samples: int
    new_samples: int
    added: List[int]
    removed: List[int]
    changed_features: List[int]
    changed_labels: List[Dict[str, int]]
    class_shifts: List[Dict[str, Any]]
    metadata_changes: List[Dict[str, str]]
    share_threshold: float
    summary: str
    is_clean: bool
    @property
    def flagged_classes(self) -> List[Dict[str, Any]]: ...
    def tampered_ids(self) -> List[int]: ...
    def describe(self) -> str: ...

@dataclass(frozen=True)
class Verification:
    root: str
    signature_valid: bool
    signature_error: Optional[str]
    key_id: str
    data: Optional[ManifestDiff]
    @property
    def ok(self) -> bool: ...
    def failures(self) -> List[str]: ...
    def raise_for_failure(self) -> None: ...

class Manifest:
    def __init__(self, native: Any) -> None: ...
    @classmethod
    def load(cls, path: PathLike) -> Manifest: ...
    @classmethod
    def from_json(cls, text: Union[str, bytes]) -> Manifest: ...
    @property
    def root(self) -> str: ...
    @property
    def num_samples(self) -> int: ...
    @property
    def class_counts(self) -> List[int]: ...
    @property
    def signed_by(self) -> Optional[str]: ...
    def to_json(self) -> bytes: ...
    def to_dict(self) -> Dict[str, Any]: ...
    def save(self, path: PathLike) -> None: ...
    def sign(self, key: PathLike) -> Manifest: ...
    def verify(
        self,
        pubkey: PathLike,
        x: Optional[np.ndarray] = ...,
        y: Optional[np.ndarray] = ...,
        ids: Optional[np.ndarray] = ...,
        *,
        data: Optional[PathLike] = ...,
        split: str = ...,
        share_threshold: float = ...,
        strict: bool = ...,
    ) -> Verification: ...

def build_manifest(
    x: Optional[np.ndarray] = ...,
    y: Optional[np.ndarray] = ...,
    ids: Optional[np.ndarray] = ...,
    *,
    data: Optional[PathLike] = ...,
    split: str = ...,
    num_classes: Optional[int] = ...,
    class_names: Optional[List[str]] = ...,
    source: Optional[str] = ...,
    license: Optional[str] = ...,
    key: Optional[PathLike] = ...,
) -> Manifest: ...
def diff(
    old: Union[Manifest, PathLike],
    new: Union[Manifest, PathLike],
    share_threshold: float = ...,
) -> ManifestDiff: ...
def verify(
    manifest: Union[Manifest, PathLike], pubkey: PathLike, *args: Any, **kwargs: Any
) -> Verification: ...
def keygen(path: PathLike, force: bool = ...) -> Dict[str, Any]: ...
def key_id(pubkey: PathLike) -> str: ...

class AuditLog:
    path: str
    def __init__(self, path: PathLike) -> None: ...
    def append(
        self, kind: str, payload: Dict[str, Any], key: Optional[PathLike] = ...
    ) -> Dict[str, Any]: ...
    def records(self) -> List[Dict[str, Any]]: ...
    def verify(
        self,
        pubkey: Optional[PathLike] = ...,
        expect_head: Optional[str] = ...,
        strict: bool = ...,
    ) -> Dict[str, Any]: ...
    def trace(self, model_hash: str, share_threshold: float = ...) -> Dict[str, Any]: ...

__all__ = [
    "AuditLog",
    "AuditLogError",
    "DEFAULT_SHARE_THRESHOLD",
    "Manifest",
    "ManifestDiff",
    "RECORD_KINDS",
    "Verification",
    "VerificationError",
    "build_manifest",
    "diff",
    "key_id",
    "keygen",
    "verify",
]

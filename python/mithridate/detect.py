"""Poisoned-data detectors over the arrays you already have, shaped like cleanlab and ART.

Each detector is a function over what it needs, with no Mithridate model:

- representations (penultimate activations, embeddings: float32 ``n x d``) and labels:
  :func:`spectral_signatures`, :func:`activation_clustering`, :func:`knn`,
  :func:`mahalanobis`, :func:`spectre`, :func:`scan`, :func:`split_consistency` (the last
  two also read the raw inputs ``x``);
- out-of-sample predicted probabilities ``pred_probs`` (``n x k``) and labels:
  :func:`confident_learning`, and cleanlab's :func:`find_label_issues`;
- per-sample training losses: :func:`loss`; loss curves over training: :func:`dynamics`;
- a Mithridate model (a saved file, or one trained here): :func:`scan_data` runs any
  registry detector, as ``mithridate scan data`` does.

Every detector returns a :class:`Detection`: ``scores`` (higher = more suspicious),
``flags`` (bool), ``ranked`` (row indices, most suspicious first), ``is_clean`` (ART's
convention, 1 = clean), per-class verdicts and, for label-noise detectors, suggested labels.
:func:`sanitize` drops (or relabels) the flagged rows. Parameters are the registry's (the
same names, defaults and checks as ``mithridate scan --detector NAME -p key=value``;
underscores stand for dashes); results are the Rust library's, bit for bit.

Bad input (NaN/Inf rows, wrong dtype or rank, empty or non-contiguous arrays, labels that do
not match the rows, out-of-range parameters) raises ``ValueError`` naming the problem.

>>> import numpy as np
>>> from mithridate import detect
>>> rng = np.random.default_rng(0)
>>> emb = rng.normal(size=(200, 8)).astype(np.float32); emb[:10] += 6.0
>>> d = detect.spectral_signatures(emb, np.zeros(200, dtype=np.int64), expected_rate=0.05,
...                                removal_factor=1.0)
>>> sorted(d.ranked[:10].tolist()) == list(range(10))
True
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from . import _native, _registry


@dataclass(frozen=True)
class Detection:
    """One detector's verdict on a set of rows (in the order given).

    ``scores``: float64 per row, higher = more suspicious. ``flags``: bool per row.
    ``ids``: the rows' sample ids (uint64). ``suggested_labels``: int64 per row, the label a
    label-noise detector believes is right for a flagged row, ``-1`` elsewhere. ``classes``:
    per-class verdicts (``class``, ``samples``, ``flagged``, ``suspicious``, ``statistic``).
    """

    detector: str
    parameters: Dict[str, Any]
    scores: np.ndarray
    flags: np.ndarray
    ids: np.ndarray
    suggested_labels: np.ndarray
    classes: List[Dict[str, Any]]

    @property
    def ranked(self) -> np.ndarray:
        """Row indices by decreasing score (ties by row), most suspicious first."""
        return np.argsort(-self.scores, kind="stable")

    @property
    def is_clean(self) -> np.ndarray:
        """ART's ``is_clean_lst`` convention: 1 for a row judged clean, 0 for a flagged one."""
        return (~self.flags).astype(np.int64)

    @property
    def flagged_ids(self) -> np.ndarray:
        """Ids of the flagged rows, ascending (uint64)."""
        return np.sort(self.ids[self.flags])

    @property
    def suspicious_classes(self) -> List[int]:
        """Classes the detector considers poisoned."""
        return [c["class"] for c in self.classes if c["suspicious"]]


def _ids_or_rows(ids: Optional[np.ndarray], n: int) -> np.ndarray:
    return np.arange(n, dtype=np.uint64) if ids is None else np.asarray(ids).astype(np.uint64)


def _detection(out: Dict[str, Any], ids: np.ndarray) -> Detection:
    flags = np.isin(ids, out["flagged"])
    suggested = np.full(ids.shape[0], -1, dtype=np.int64)
    if out["relabel_ids"].size:
        row_of = {int(i): r for r, i in enumerate(ids.tolist())}
        for i, label in zip(out["relabel_ids"].tolist(), out["relabel_labels"].tolist()):
            suggested[row_of[i]] = label
    return Detection(
        out["detector"],
        out["parameters"],
        out["scores"],
        flags,
        ids,
        suggested,
        out["classes"],
    )


def _kebab(params: Dict[str, Any]) -> Dict[str, Any]:
    return {k.replace("_", "-"): v for k, v in params.items()}


def _rows(a: Any) -> int:
    return int(a.shape[0]) if hasattr(a, "shape") and len(a.shape) > 0 else 0


def _embedding_detector(name: str, python_name: str, extra: str) -> Callable[..., Detection]:
    def detector(
        embeddings: np.ndarray,
        labels: np.ndarray,
        ids: Optional[np.ndarray] = None,
        *,
        num_classes: Optional[int] = None,
        seed: int = 0,
        x: Optional[np.ndarray] = None,
        **params: Any,
    ) -> Detection:
        out = _native.detect_embeddings(
            name, embeddings, labels, ids, _kebab(params), num_classes, seed, x
        )
        return _detection(out, _ids_or_rows(ids, _rows(embeddings)))

    entry = next(e for e in _registry.entries("detector") if e["name"] == name)
    detector.__name__ = detector.__qualname__ = python_name
    detector.__doc__ = _registry.docstring(
        entry,
        "Arguments: ``embeddings`` (float32 ``n x d``), ``labels`` (integers, ``n``), "
        "``ids`` (default: row index), ``num_classes`` (default ``max(labels) + 1``), "
        f"``seed``; keyword parameters as the registry's. {extra}",
    )
    detector.__module__ = __name__
    return detector


spectral_signatures = _embedding_detector(
    "spectral",
    "spectral_signatures",
    "Parameters: ``expected_rate`` (0.1), ``removal_factor`` (1.5): flags the top "
    "``removal_factor * expected_rate`` of each class by squared projection on its top "
    "singular vector.",
)
activation_clustering = _embedding_detector(
    "activation-clustering",
    "activation_clustering",
    "With ``x`` (raw inputs, same rows) the dirty-label check runs too; without, only the "
    "relative-size rule.",
)
knn = _embedding_detector(
    "knn", "knn", "Parameters: ``k``, ``vote`` (``plurality`` or ``class-pairs``), pair test."
)
mahalanobis = _embedding_detector(
    "mahalanobis",
    "mahalanobis",
    "Parameters: ``expected_rate``, ``removal_factor``, ``ridge``.",
)
spectre = _embedding_detector(
    "spectre",
    "spectre",
    "Parameters: ``expected_rate``, ``removal_factor``, ``components``, ``alpha``, "
    "``threshold``, ``all_classes``.",
)
scan = _embedding_detector(
    "scan", "scan", "Parameters: ``components``, ``threshold``, ``restarts``, ``ridge``."
)
split_consistency = _embedding_detector(
    "split-consistency",
    "split_consistency",
    "Needs ``x``, the raw inputs of the same rows (its label check reads them).",
)


def _entry_doc(name: str, extra: str) -> str:
    entry = next(e for e in _registry.entries("detector") if e["name"] == name)
    return _registry.docstring(entry, extra)


def confident_learning(
    labels: np.ndarray,
    pred_probs: np.ndarray,
    ids: Optional[np.ndarray] = None,
    **params: Any,
) -> Detection:
    return _detection(
        _native.detect_probabilities(pred_probs, labels, ids, _kebab(params)),
        _ids_or_rows(ids, _rows(pred_probs)),
    )


confident_learning.__doc__ = _entry_doc(
    "confident",
    "``pred_probs`` must be out-of-sample (k-fold cross-validated) probabilities, float32 "
    "``n x k`` (convert float64 with ``.astype(np.float32)``). Parameters: ``method`` "
    "(``prune-by-noise-rate``, ``off-diagonal``, ``both``, ``class-pairs``) and the pair "
    "test's ``pair_alpha``, ``pair_min_count``, ``pair_min_ratio``. Score: 1 - p(y|x); "
    "flagged rows get their confident class as suggested label.",
)

# cleanlab's ``filter_by`` names and the library's methods that compute the same rule.
_FILTER_BY = {"prune_by_noise_rate": "prune-by-noise-rate", "confident_learning": "off-diagonal"}
# cleanlab's FLOATING_POINT_COMPARISON.
_FLOAT_TOLERANCE = 1e-6


def find_label_issues(
    labels: np.ndarray,
    pred_probs: np.ndarray,
    *,
    filter_by: str = "prune_by_noise_rate",
    return_indices_ranked_by: Optional[str] = None,
) -> np.ndarray:
    """Label issues, as ``cleanlab.filter.find_label_issues`` returns them: a boolean mask
    (``True`` = likely mislabeled) or, with ``return_indices_ranked_by="self_confidence"``,
    the flagged row indices, least confident first.

    Confident learning (Northcutt, Jiang & Chuang, JAIR 2021). ``filter_by``:
    ``"prune_by_noise_rate"`` (cleanlab's default) or ``"confident_learning"`` (the confident
    joint's off-diagonal). As cleanlab does, a row whose given label is the model's arg-max
    prediction is never an issue. ``pred_probs`` of float64 are converted to float32 (the
    library's precision), which can only matter for near-ties. One known difference: when two
    entries of a calibrated confident-joint row tie exactly in their rounding remainder, the
    library gives the extra sample to the higher class index, while cleanlab's order comes
    from NumPy's (unstable, SIMD) ``argsort`` and may differ; one sample more or less of that
    class pair is flagged.
    """
    if filter_by not in _FILTER_BY:
        raise ValueError(
            f"filter_by '{filter_by}' is not supported (supported: {', '.join(_FILTER_BY)})"
        )
    if return_indices_ranked_by not in (None, "self_confidence"):
        raise ValueError(
            f"return_indices_ranked_by '{return_indices_ranked_by}' is not supported "
            "(supported: None, 'self_confidence')"
        )
    # cleanlab takes lists and float64 too: convert here (the detector itself refuses them).
    labels = np.asarray(labels)
    pred_probs = np.asarray(pred_probs)
    if pred_probs.dtype == np.float64:
        pred_probs = pred_probs.astype(np.float32)
    d = confident_learning(labels, pred_probs, method=_FILTER_BY[filter_by])
    # cleanlab's last step (``_reduce_issues``): a row whose given label is the arg-max, with
    # the given label favoured by 1e-6 against float noise, is never an issue.
    given = np.asarray(labels).astype(np.int64)
    favoured = np.array(pred_probs, dtype=np.float64)
    favoured[np.arange(given.shape[0]), given] += _FLOAT_TOLERANCE
    mask = d.flags & (favoured.argmax(axis=1) != given)
    if return_indices_ranked_by is None:
        return mask
    rows = np.flatnonzero(mask)
    return rows[np.argsort(-d.scores[rows], kind="stable")]


def loss(
    losses: np.ndarray,
    labels: np.ndarray,
    ids: Optional[np.ndarray] = None,
    *,
    num_classes: Optional[int] = None,
    **params: Any,
) -> Detection:
    return _detection(
        _native.detect_losses(losses, labels, ids, _kebab(params), num_classes),
        _ids_or_rows(ids, _rows(losses)),
    )


loss.__doc__ = _entry_doc(
    "loss",
    "``losses``: float32 per-sample training losses (early in training). Parameters: "
    "``direction`` (``high``: label noise, the default; ``low``: backdoors, learned first), "
    "``expected_rate``, ``removal_factor`` (flags the top ``removal_factor * "
    "expected_rate`` of the set). ``epochs`` is the CLI's training length and unused here.",
)


def dynamics(
    curves: np.ndarray,
    labels: np.ndarray,
    ids: Optional[np.ndarray] = None,
    *,
    num_classes: Optional[int] = None,
    **params: Any,
) -> Detection:
    return _detection(
        _native.detect_curves(curves, labels, ids, _kebab(params), num_classes),
        _ids_or_rows(ids, _rows(curves[0]) if _rows(curves) else 0),
    )


dynamics.__doc__ = _entry_doc(
    "dynamics",
    "``curves``: float32 ``T x n``, row ``t`` holding every sample's loss after training "
    "stage ``t``.",
)


def scan_data(
    x: np.ndarray,
    y: np.ndarray,
    ids: Optional[np.ndarray] = None,
    detectors: Sequence[Union[str, Tuple[str, Dict[str, Any]]]] = ("spectral",),
    *,
    model: Optional[str] = None,
    arch: Optional[str] = None,
    epochs: Optional[int] = None,
    expected_rate: Optional[float] = None,
    seed: int = 0,
    num_classes: Optional[int] = None,
    layer: Optional[str] = None,
    onnx_input: Optional[Dict[str, Any]] = None,
    clean_x: Optional[np.ndarray] = None,
    clean_y: Optional[np.ndarray] = None,
) -> List[Detection]:
    """Full scans of a training set with a Mithridate or ONNX model, as ``mithridate scan data``:
    the same detections as ``mithridate --seed SEED scan data --data set.npz --detector ...``.

    ``detectors``: registry names (``"spectral"``, ``"auto"``, ``"scale-up"``, ... every
    training-set detector, including those that need the model's embeddings or predictions)
    or ``(name, params)`` pairs. ``model``: a model file saved by ``mithridate train``; without
    one, a model of family ``arch`` (default: the modality's) is trained on ``x, y`` for
    ``epochs`` with ``seed``, as the CLI does. ``expected_rate`` fills the detectors'
    ``expected-rate`` unless their params set it. When every detector is model-free
    (``"input-consistency"``: a k-NN label vote among the raw inputs, Peri et al. 2020 moved
    to input space), no model is trained. Returns one :class:`Detection` per detector.

    ``model`` may also be a classifier exported to ONNX (a path ending in ``.onnx``, e.g. from
    ``torch.onnx.export``), as ``--model x.onnx``: the embeddings are the output of the graph
    value ``layer`` (default: the input of the last ``Gemm``/``MatMul`` computed from the graph
    input, i.e. the penultimate activations) and the predictions its arg-max logits.
    ``onnx_input`` says how ``x`` maps to the model's input when the graph cannot tell, as the
    ``--input-*`` flags: ``{"layout": "nchw" | "nhwc" | "flat", "scale": 255.0, "mean": [...],
    "std": [...], "classes": K}``. Detectors that train their own models use ``arch``.

    ``clean_x, clean_y``: trusted clean samples (held out from ``x``), as ``--clean-set``, for
    the detectors that need them: ``"confusion"`` (confusion training, Qi et al. 2023) trains
    on ``x, y`` mixed with these under random wrong labels, which erases the benign
    correlations but not a trigger, and flags the samples whose labels survive (a fifth of the
    clean samples is held out to veto a flagged mode they share). ``"clean-shift"`` (model-free)
    flags, per class, a separated mode of rows shifted away from the class's clean samples
    along their cross-fitted Fisher direction (Fisher 1936; Ledoit-Wolf-shrunk covariance):
    a shared additive trigger, clean-label ones included. ``"auto"`` runs both with them, and
    its input check once more with the clean samples as the only voters (poisons of a global
    trigger cannot vote for one another).
    """
    pairs = [
        (d, None) if isinstance(d, str) else (d[0], _kebab(dict(d[1]))) for d in detectors
    ]
    outs = _native.scan_data(
        x, y, ids, pairs, model, arch, epochs, expected_rate, seed, num_classes, layer, onnx_input,
        clean_x, clean_y,
    )
    row_ids = _ids_or_rows(ids, _rows(x))
    return [_detection(out, row_ids) for out in outs]


@dataclass(frozen=True)
class Sanitized:
    """The set after sanitization: ``x``, ``y``, ``ids`` and ``report`` (``samples_before``,
    ``samples_after``, ``dropped`` ids, ``relabelled`` ``[id, old, new]`` triples)."""

    x: np.ndarray
    y: np.ndarray
    ids: np.ndarray
    report: Dict[str, Any]

    def __iter__(self):  # x, y, ids = sanitize(...)
        return iter((self.x, self.y, self.ids))


def sanitize(
    x: np.ndarray,
    y: np.ndarray,
    ids: Optional[np.ndarray],
    flags: Any,
    *,
    action: str = "drop",
    num_classes: Optional[int] = None,
) -> Sanitized:
    """Removes the flagged rows from ``x, y, ids`` (``action="drop"``) or, with
    ``action="relabel"``, gives them the label their detector suggests (rows without a
    suggestion are dropped), as ``mithridate sanitize`` does with a ``flags.json``.

    ``flags``: a :class:`Detection`, a boolean mask over the rows, or an array of flagged ids.
    """
    n = _rows(x)
    row_ids = _ids_or_rows(ids, n)
    relabel_ids = relabel_labels = None
    if isinstance(flags, Detection):
        if flags.ids.shape != row_ids.shape or not np.array_equal(flags.ids, row_ids):
            raise ValueError("flags: the detection is over other rows than x, y, ids")
        keep = flags.suggested_labels >= 0
        relabel_ids, relabel_labels = row_ids[keep], flags.suggested_labels[keep]
        flagged = flags.flagged_ids
    else:
        flags = np.asarray(flags)
        if flags.dtype == np.bool_:
            if flags.shape != (n,):
                raise ValueError(f"flags: a mask of shape {flags.shape} for {n} rows")
            flagged = row_ids[flags]
        else:
            flagged = flags
        if action == "relabel":
            raise ValueError("action='relabel' needs a Detection (its suggested labels)")
    out = _native.sanitize(
        x, y, row_ids, flagged, relabel_ids, relabel_labels, action, num_classes
    )
    return Sanitized(out["x"], out["y"], out["ids"], out["report"])


@dataclass(frozen=True)
class ModelScan:
    """A model-level scan's outcome, as ``mithridate scan model --json`` reports it.

    ``verdict``: ``"clean"`` or ``"trojaned"`` (trojaned when any detector flags a class).
    ``target_classes``: the suspected backdoor target classes, ascending. ``detectors``: per
    detector, its evidence (per-class statistics, p-values or anomaly indices), its own
    ``verdict``, ``target_classes``, ``evidence`` line, ``parameters`` and ``seconds``.
    ``triggers``: the reverse-engineered trigger of each flagged class as PNG bytes (detectors
    that reverse one: Neural Cleanse). ``report``: the whole JSON report.
    """

    verdict: str
    target_classes: List[int]
    detectors: Dict[str, Dict[str, Any]]
    triggers: Dict[int, bytes]
    report: Dict[str, Any]

    @property
    def is_trojaned(self) -> bool:
        return self.verdict == "trojaned"


def scan_model(
    model: str,
    x: np.ndarray,
    y: np.ndarray,
    detectors: Sequence[str] = ("max-margin",),
    *,
    params: Optional[Dict[str, Dict[str, Any]]] = None,
    seed: int = 0,
    num_classes: Optional[int] = None,
    onnx_input: Optional[Dict[str, Any]] = None,
    triggers_dir: Optional[str] = None,
) -> ModelScan:
    """Is this model backdoored, and toward which class? The model-level detectors of
    ``mithridate scan model`` over a small trusted clean set ``x, y`` (images in ``[0, 1]``,
    ``n x H x W`` or ``n x C x H x W``), with no access to the training data.

    ``model``: a model saved by ``mithridate train``, or a classifier exported to ONNX (a path
    ending in ``.onnx``; ``onnx_input`` as in :func:`scan_data`). ``detectors``: registry
    names, or ``"all"``:

    - ``"max-margin"`` (MM-BD; Wang, Xiang, Miller & Kesidis 2024): per class, the largest
      logit margin ``max_x [f_c(x) - max_{j != c} f_j(x)]`` reached by gradient ascent over
      inputs; a backdoor target's margin is abnormally large. The largest margin gets a
      p-value under a null fitted to the other classes' margins (and to clean reference
      models); flagged below ``p-threshold`` when the top class is also at least
      ``min-effect`` (1.5) times the classes' median. Assumes no trigger shape, so it also covers
      blended and full-image triggers.
    - ``"neural-cleanse"`` (Wang et al. 2019): per class, the smallest mask ``m`` and pattern
      ``p`` such that ``(1 - m) x + m p`` is classified as the class; a class whose mask
      L1 norm is an outlier below the others (anomaly index by median absolute deviation,
      ``> 2``) is flagged, and its ``m * p`` is returned as the trigger picture. A class's
      search stops early (``patience``, 50 steps; 0 runs all ``steps``) once its mask has
      not shrunk by 1% for that many steps, as in the paper's code.
    - ``"consensus"`` (both of the above, combined): runs Neural Cleanse and MM-BD and flags
      the model when the class with the largest anomaly index is also the class with the
      largest MM-BD ratio, whatever either's own threshold says; parameters nest under the
      members' names (``{"consensus": {"neural-cleanse": {"steps": 100}}}``). Its
      ``score`` (per class in ``class_scores``) is the smaller of the class's two robust
      z-scores (Neural Cleanse's anomaly index, MM-BD's ``(ratio - median) / (1.4826 MAD)``),
      for ranking models; the verdict is the agreement alone. On the zoos of
      the onnx README (stop 40) it found every working backdoor with the right class, at 1
      false positive in 10 clean Fashion-MNIST models; it costs both detectors.

    ``"all"`` runs ``max-margin`` and ``neural-cleanse`` (not ``consensus``, which would run
    them again). ``params`` maps a detector's name to its parameters (``{"max-margin": {"starts": 16}}``;
    underscores stand for dashes). Same model, arrays, parameters and ``seed`` give the same
    report as ``mithridate --seed SEED scan model --data set.npz --max-samples N --json``.
    Bad input (unknown detector or parameter, a model that does not take ``x``'s shape, an
    empty set) raises ``ValueError``.
    """
    names = [detectors] if isinstance(detectors, str) else list(detectors)
    given = {k: _kebab(dict(v)) for k, v in (params or {}).items()}
    out = _native.scan_model(
        model, x, y, names, given, seed, num_classes, onnx_input, triggers_dir
    )
    triggers = {int(c): bytes(png) for c, png in out.pop("triggers")}
    return ModelScan(
        verdict=out["verdict"],
        target_classes=[int(c) for c in out["target_classes"]],
        detectors=out["detectors"],
        triggers=triggers,
        report=out,
    )


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

"""Dataset-level segmentation metrics, computed the standard way.

mIoU is taken from ONE confusion matrix summed over every image of the list (as VOC
and the WSSS papers do), not as a mean of per-image scores. GT pixels equal to
``ignore_index`` are left out. A prediction pixel equal to ``ignore_index`` (pseudo
labels may leave pixels unknown) is not a class: it is counted as a miss of the GT
class (it lowers that class's recall and IoU, not any precision), so leaving pixels
unlabelled never raises mIoU.

Per-image numbers (:func:`image_metrics`, ``evaluate_dirs(per_image=True)``, ``samcam
eval --per-image``) use the same conventions on one image's confusion matrix; an
image's mIoU is the mean IoU over the classes *present*: those in its GT or in the
prediction, counted on valid (non-ignore) GT pixels, so a class the prediction invents
scores 0 and a class it misses scores 0. (The reference code's per-image CSV instead
visits only the GT's foreground classes and pools the counts of the classes visited so
far, so its values are neither per-class IoUs nor their mean; samcam does not copy it.)
"""
from __future__ import annotations

import csv
import functools
import io
import json
import math
import os
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from . import inputs
from .batch import BatchResult, run_batch
from .classes import VOC_CLASSES, class_names
from .errors import ImageError
from .files import atomic_write_bytes
from .images import read_label_png
from .names import list_names, printable

__all__ = [
    "VOC_CLASSES",
    "confusion_matrix",
    "image_confusions",
    "metrics_from_confusion",
    "evaluate_arrays",
    "evaluate_dirs",
    "format_table",
    "resolve_baseline",
    "class_names",
    "per_image_miou",
    "image_metrics",
    "PER_IMAGE_COLUMNS",
    "write_per_image_csv",
    "score_images",
    "select_changed",
    "results_json",
    "with_class_names",
]


def with_class_names(results: Dict[str, object], names: Sequence[str], source: str = "class names") -> Dict[str, object]:
    """``results`` of :func:`evaluate_dirs` with ``class_names`` replaced by ``names``
    (e.g. :func:`samcam.classes.read_class_names`' names), for the table, JSON and report.

    Raises ``ValueError`` (naming ``source``) unless there is one name per class.
    """
    num_classes = int(results["num_classes"])
    if len(names) != num_classes:
        raise ValueError(f"{source} lists {len(names)} classes but the evaluation has {num_classes} "
                         "(--num-classes); they must agree, background first")
    results["class_names"] = list(names)
    return results


def confusion_matrix(*, gt: np.ndarray, pred: np.ndarray, num_classes: int = 21, ignore_index: int = 255) -> np.ndarray:
    """Confusion counts of one image: ``confusion_matrix(gt=..., pred=...)``.

    Keyword-only, because swapping the two silently changes every score (a
    prediction's 255 is a miss, a GT 255 is skipped; rows are GT classes).

    Args:
        gt: H×W integer ground truth (0..num_classes-1; ``ignore_index`` skipped).
        pred: H×W integer prediction (0..num_classes-1; ``ignore_index`` = no label).

    Returns:
        (C, C+1) int64: rows are GT classes, columns predicted classes, and the last
        column counts GT pixels the prediction left unlabelled.

    Raises:
        ValueError: shape mismatch or values outside the class range.
    """
    pred = np.asarray(pred)
    gt = np.asarray(gt)
    if pred.shape != gt.shape:  # H×W, as every other size message says it
        raise ValueError(f"prediction is {'×'.join(map(str, pred.shape))} but ground truth is "
                         f"{'×'.join(map(str, gt.shape))} (height×width)")
    for what, array in (("prediction", pred), ("ground truth", gt)):
        bad = (array >= num_classes) & (array != ignore_index)
        if bad.any() or (array < 0).any():
            values = np.unique(array[bad | (array < 0)])[:8].tolist()
            raise ValueError(f"{what} holds values {values} outside 0..{num_classes - 1} and {ignore_index}")
    valid = gt != ignore_index
    gt_valid = gt[valid].astype(np.int64)
    pred_valid = pred[valid].astype(np.int64)
    pred_valid[pred_valid == ignore_index] = num_classes  # the "unlabelled" column
    counts = np.bincount(gt_valid * (num_classes + 1) + pred_valid, minlength=num_classes * (num_classes + 1))
    return counts.reshape(num_classes, num_classes + 1)


def metrics_from_confusion(confusion: np.ndarray) -> Dict[str, object]:
    """Per-class and mean scores from a (C, C+1) (or (C, C)) confusion matrix.

    Returns a dict: ``iou``, ``precision``, ``recall`` (lists of C floats, NaN for a
    class absent from both GT and prediction), ``miou``, ``mean_precision``,
    ``mean_recall`` (means over non-NaN classes), ``pixel_acc``, ``labelled``
    (fraction of valid GT pixels that got a label).
    """
    confusion = np.asarray(confusion, dtype=np.float64)
    num_classes = confusion.shape[0]
    square = confusion[:, :num_classes]
    true_positive = np.diag(square)
    gt_total = confusion.sum(axis=1)
    pred_total = square.sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        iou = true_positive / (gt_total + pred_total - true_positive)
        precision = true_positive / pred_total
        recall = true_positive / gt_total
    total = confusion.sum()

    def mean(values):
        finite = values[~np.isnan(values)]
        return float(finite.mean()) if finite.size else float("nan")

    return {
        "iou": iou.tolist(),
        "precision": precision.tolist(),
        "recall": recall.tolist(),
        "miou": mean(iou),
        "mean_precision": mean(precision),
        "mean_recall": mean(recall),
        "pixel_acc": float(true_positive.sum() / total) if total else float("nan"),
        "labelled": float(square.sum() / total) if total else float("nan"),
    }


def evaluate_arrays(*, gts: Sequence[np.ndarray], preds: Sequence[np.ndarray], num_classes: int = 21,
                    ignore_index: int = 255) -> Dict[str, object]:
    """Metrics of in-memory label lists, ``evaluate_arrays(gts=[...], preds=[...])``: one
    confusion matrix over all of them (keyword-only, as :func:`confusion_matrix`).

    Returns :func:`metrics_from_confusion`'s dict plus ``confusion`` and ``num_images``.
    """
    gts, preds = list(gts), list(preds)
    if len(gts) != len(preds):
        raise ValueError(f"{len(gts)} ground truths but {len(preds)} predictions")
    total = np.zeros((num_classes, num_classes + 1), np.int64)
    for pred, gt in zip(preds, gts):
        total += confusion_matrix(gt=gt, pred=pred, num_classes=num_classes, ignore_index=ignore_index)
    result = metrics_from_confusion(total)
    result["confusion"] = total.tolist()
    result["num_images"] = len(gts)
    return result


def image_confusions(name: str, gt_dir: str, pred_dirs: Tuple[Tuple[str, str], ...], num_classes: int,
                     ignore_index: int) -> List[np.ndarray]:
    """Confusion matrices of one image, one per ``(set name, folder)`` of ``pred_dirs``.

    Reads ``{gt_dir}/{name}.png`` and ``{folder}/{name}.png``; returns a list of (C, C+1)
    int64 matrices (see :func:`confusion_matrix`). Raises ``ImageError`` naming the file
    when one is missing or does not match the ground truth.
    """
    gt_path = Path(gt_dir) / f"{name}.png"
    if not gt_path.exists():
        raise ImageError(f"{gt_path}: ground truth missing")
    gt = read_label_png(gt_path)
    confusions = []
    for set_name, pred_dir in pred_dirs:
        pred_path = Path(pred_dir) / f"{name}.png"
        if not pred_path.exists():
            raise ImageError(f"{pred_path}: prediction missing for set {set_name!r}")
        pred = read_label_png(pred_path)
        try:
            confusions.append(confusion_matrix(gt=gt, pred=pred, num_classes=num_classes, ignore_index=ignore_index))
        except ValueError as error:
            raise ImageError(f"{pred_path} vs {gt_path}: {error}") from None
    return confusions


def evaluate_dirs(
    gt_dir: os.PathLike,
    pred_dirs: Mapping[str, os.PathLike],
    names: Optional[Sequence[str]] = None,
    num_classes: int = 21,
    ignore_index: int = 255,
    workers: int = 1,
    progress: bool = False,
    per_image: bool = False,
) -> Dict[str, object]:
    """Evaluate several prediction folders (e.g. before/after) on the same images.

    Args:
        gt_dir: folder of GT PNGs ``{name}.png``.
        pred_dirs: set name -> folder of prediction PNGs ``{name}.png``.
        names: image names to evaluate (default: every ``*.png`` of the first
            prediction folder, as ``samcam eval`` without ``--list``).
        per_image: also return every image's numbers (:func:`image_metrics`).

    Returns:
        ``{"sets": {set_name: metrics (see metrics_from_confusion) + confusion,
        num_images}, "failed": [(name, reason)], "internal_errors": [(name, traceback)],
        "num_classes": C, "class_names": [...], "support": {"pixels": [C ints], "images":
        [C ints]}}``: ``support`` counts, per class, the valid GT pixels and the images
        whose GT holds the class, over the images evaluated. With ``per_image``, ``"per_image"``:
        one dict per image and set, in the order of ``names`` then ``pred_dirs``: ``name``,
        ``set`` and the :func:`image_metrics` keys (write them with :func:`write_per_image_csv`).
        An image that fails for any set (missing file, size mismatch) is left out of
        every set, so the sets stay comparable, and is listed in ``failed``;
        ``internal_errors`` holds those of them that hit a bug. NaN scores (a class
        absent everywhere) stay NaN here; :func:`results_json` writes them as ``null``.

    Raises:
        FileNotFoundError: ``gt_dir`` or a prediction folder does not exist.
        ValueError: no image to evaluate, or a folder of the wrong kind or without any
            of ``names`` (:class:`samcam.inputs.InputError`, naming what it holds).
    """
    sets = tuple((str(k), str(v)) for k, v in pred_dirs.items())
    names = _names_to_evaluate(gt_dir, sets, names)
    totals = _Totals(sets, num_classes, per_image)
    job = functools.partial(image_confusions, gt_dir=str(gt_dir), pred_dirs=sets,
                            num_classes=num_classes, ignore_index=ignore_index)
    result = run_batch(names, job, workers=workers, desc="eval", progress=progress, on_result=totals.add)
    return totals.results(result, names)


def _names_to_evaluate(gt_dir: os.PathLike, sets: Tuple[Tuple[str, str], ...],
                       names: Optional[Sequence[str]]) -> List[str]:
    """``names`` (default: every PNG of the first set), after checking that every folder
    exists, is a label folder and holds them: one configuration error, not one failure per image."""
    if not sets:
        raise ValueError("no prediction folders given")
    for what, folder in [("ground-truth folder", gt_dir)] + [(f"prediction folder {k!r}", v) for k, v in sets]:
        if not Path(folder).is_dir():
            raise FileNotFoundError(f"{what} {folder} does not exist")
    # a folder of the wrong kind (images or masks as --gt) or one without these images
    surveys = [("--gt", gt_dir, inputs.check_label_folder(gt_dir, "--gt"))]
    surveys += [("--labels", folder, inputs.check_label_folder(folder, "--labels")) for _, folder in sets]
    names = list(list_names(sets[0][1], (".png",)) if names is None else names)
    if not names:
        raise ValueError(f"no images to evaluate (an empty list, or no .png labels in {sets[0][1]})")
    for flag, folder, contents in surveys:
        have = inputs.available_names(contents, inputs.LABEL_KINDS)
        inputs.check_names_present(names, flag, folder, have.__contains__, "{name}.png", contents)
    return names


class _Totals:
    """What :func:`evaluate_dirs` sums over the images: a confusion matrix per set, the
    ground truth's support and, with ``per_image``, each image's rows."""

    def __init__(self, sets: Tuple[Tuple[str, str], ...], num_classes: int, per_image: bool):
        self.sets, self.num_classes, self.per_image = sets, num_classes, per_image
        self.confusions = [np.zeros((num_classes, num_classes + 1), np.int64) for _ in sets]
        self.pixels = np.zeros(num_classes, np.int64)
        self.images = np.zeros(num_classes, np.int64)
        self.counted: List[str] = []
        self.rows: Dict[str, List[Dict[str, object]]] = {}

    def add(self, name: str, confusions: Sequence[np.ndarray]) -> None:
        """Count one image (``on_result`` of the batch)."""
        for total, confusion in zip(self.confusions, confusions):
            total += confusion
        gt_pixels = confusions[0].sum(axis=1)  # every set's rows count the same GT pixels
        self.pixels += gt_pixels
        self.images += gt_pixels > 0
        self.counted.append(name)
        if self.per_image:
            self.rows[name] = [{"name": name, "set": set_name, **image_metrics(confusion)}
                               for (set_name, _), confusion in zip(self.sets, confusions)]

    def results(self, batch: BatchResult, names: Sequence[str]) -> Dict[str, object]:
        """The dict :func:`evaluate_dirs` returns."""
        out_sets = {}
        for (set_name, _), total in zip(self.sets, self.confusions):
            metrics = metrics_from_confusion(total)
            metrics["confusion"] = total.tolist()
            metrics["num_images"] = len(self.counted)
            out_sets[set_name] = metrics
        results = {"sets": out_sets, "failed": batch.failed, "internal_errors": batch.internal,
                   "num_classes": self.num_classes, "class_names": class_names(self.num_classes),
                   "support": {"pixels": self.pixels.tolist(), "images": self.images.tolist()}}
        if self.per_image:
            # workers finish in any order: rows follow the names as given
            results["per_image"] = [row for name in dict.fromkeys(names) if name in self.rows
                                    for row in self.rows[name]]
        return results


def _strict(value):
    """NaN/infinity -> None, recursively (JSON has no NaN; strict parsers refuse it)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _strict(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_strict(item) for item in value]
    if isinstance(value, np.generic):
        return _strict(value.item())
    return value


def results_json(results: Mapping[str, object]) -> str:
    """Strict JSON of :func:`evaluate_dirs`' results: undefined scores (NaN) become ``null``."""
    return json.dumps(_strict(results), indent=1, allow_nan=False)



def per_image_miou(confusion: np.ndarray, classes: np.ndarray) -> float:
    """Mean IoU of one image over ``classes`` from its confusion matrix.

    Args:
        confusion: (C, C+1) int counts from :func:`confusion_matrix`
            (rows GT, columns prediction, last column = left unlabelled, a miss).
        classes: bool (C,) the classes to average over. A class absent from both the
            prediction and the GT scores 1 (they agree it is not there), so two label
            sets are compared over one class set without dividing by zero.

    Returns:
        The mean IoU, NaN when no class is selected.
    """
    confusion = np.asarray(confusion, dtype=np.float64)
    num_classes = confusion.shape[0]
    true_positive = np.diag(confusion[:, :num_classes])
    union = confusion.sum(axis=1) + confusion[:, :num_classes].sum(axis=0) - true_positive
    iou = np.divide(true_positive, union, out=np.ones_like(union), where=union > 0)
    return float(iou[classes].mean()) if np.any(classes) else float("nan")


def _present(confusion: np.ndarray) -> np.ndarray:
    """bool (C,): classes in the GT or the prediction of one image (valid GT pixels only)."""
    num_classes = confusion.shape[0]
    return (confusion.sum(axis=1) > 0) | (confusion[:, :num_classes].sum(axis=0) > 0)


PER_IMAGE_COLUMNS = ("name", "set", "miou", "pixel_acc", "labelled", "classes")


def image_metrics(confusion: np.ndarray) -> Dict[str, object]:
    """One image's numbers from its (C, C+1) confusion matrix (:func:`confusion_matrix`).

    Returns:
        ``miou``: mean IoU over the classes present, i.e. in the GT or in the
        prediction, counted on valid (non-ignore) GT pixels; a prediction's ignore
        pixels are a miss, not a class. ``pixel_acc``: correct / valid GT pixels.
        ``labelled``: fraction of valid GT pixels the prediction labelled (not
        ignore). ``classes``: the present class indices, ascending. An image whose GT
        is all ignore has no valid pixel: NaN for the three numbers and no classes.
    """
    confusion = np.asarray(confusion)
    num_classes = confusion.shape[0]
    square = confusion[:, :num_classes]
    total = int(confusion.sum())
    present = _present(confusion)
    if total == 0:
        return {"miou": math.nan, "pixel_acc": math.nan, "labelled": math.nan, "classes": []}
    return {
        "miou": per_image_miou(confusion, present),
        "pixel_acc": float(np.trace(square) / total),
        "labelled": float(square.sum() / total),
        "classes": [int(c) for c in np.flatnonzero(present)],
    }


def write_per_image_csv(rows: Sequence[Mapping[str, object]], path: os.PathLike) -> Path:
    """Write per-image rows (``evaluate_dirs(..., per_image=True)["per_image"]``) as CSV, atomically.

    Columns :data:`PER_IMAGE_COLUMNS`: ``name``, ``set``, ``miou``, ``pixel_acc``,
    ``labelled`` (full float precision; ``nan`` for an all-ignore GT) and ``classes``
    (the present class indices separated by spaces). A name that is not UTF-8 is written
    with ``\\xff`` escapes (:func:`samcam.names.printable`). Returns the path.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(PER_IMAGE_COLUMNS)
    for row in rows:
        writer.writerow([printable(row["name"]), printable(row["set"]), repr(float(row["miou"])), repr(float(row["pixel_acc"])),
                         repr(float(row["labelled"])), " ".join(str(c) for c in row["classes"])])
    return atomic_write_bytes(path, buffer.getvalue().encode("utf-8"))


def score_images(
    names: Sequence[str],
    first_dir: os.PathLike,
    second_dir: os.PathLike,
    gt_dir: os.PathLike,
    num_classes: int = 21,
    workers: int = 1,
    ignore_index: int = 255,
) -> Tuple[Dict[str, Tuple[float, float]], List[Tuple[str, str]]]:
    """Per-image mIoU of two label sets against the ground truth.

    The classes averaged for an image are those present in its GT or in either
    prediction (on pixels with valid GT), so both label sets are scored on one class set.

    Returns:
        ``({name: (miou_first, miou_second)}, [(name, reason)])``: images without a GT file,
        with only ignore pixels, or with an unreadable label are listed in the second item.
    """
    scores: Dict[str, Tuple[float, float]] = {}
    problems: List[Tuple[str, str]] = []

    def collect(name: str, confusions) -> None:
        first, second = confusions
        if first.sum() == 0:
            problems.append((name, "ground truth is all ignore (255)"))
            return
        classes = _present(first) | _present(second)
        scores[name] = (per_image_miou(first, classes), per_image_miou(second, classes))

    job = functools.partial(
        image_confusions,
        gt_dir=str(gt_dir),
        pred_dirs=(("first", str(first_dir)), ("second", str(second_dir))),
        num_classes=num_classes,
        ignore_index=ignore_index,
    )
    result = run_batch(names, job, workers=workers, desc="rank", progress=False, on_result=collect)
    return scores, problems + list(result.failed)


def select_changed(scores: Dict[str, Tuple[float, float]], k: int, mode: str) -> List[str]:
    """The ``k`` names whose score rose (``mode="best"``) or fell (``"worst"``) the most.

    ``scores`` maps name -> (before, after). Ties are broken by name so the choice is stable.
    """
    if mode not in ("best", "worst"):
        raise ValueError(f"mode must be 'best' or 'worst', got {mode!r}")
    if k < 0:
        raise ValueError(f"k must be >= 0, got {k}")
    sign = -1.0 if mode == "best" else 1.0
    ranked = sorted(scores, key=lambda name: (sign * (scores[name][1] - scores[name][0]), name))
    return ranked[:k]


def resolve_baseline(set_names: Sequence[str], baseline: Optional[str] = None) -> str:
    """The set deltas are taken against: ``baseline`` (checked to be one of ``set_names``) or the first."""
    set_names = list(set_names)
    if not set_names:
        raise ValueError("no label sets")
    if baseline is None:
        return set_names[0]
    if baseline not in set_names:
        raise ValueError(f"--baseline {baseline!r} is not one of the label sets: {', '.join(set_names)}")
    return baseline


def format_table(results: Mapping[str, object], baseline: Optional[str] = None) -> str:
    """A plain-text table: summary rows per set, then per-class IoU side by side, all in %.

    With two or more sets, one ``Δ NAME`` column per set other than ``baseline`` (default:
    the first set) gives its difference to the baseline, in percentage points.
    """
    sets = results["sets"]
    set_names = list(sets)
    base = resolve_baseline(set_names, baseline)
    columns = _Columns(set_names, base, max(12, *(len(s) + 4 for s in set_names)))
    lines = [columns.header()]
    for key, label in (("miou", "mIoU"), ("mean_precision", "precision"), ("mean_recall", "recall"),
                       ("pixel_acc", "pixel acc"), ("labelled", "labelled")):
        lines.append(columns.row(label, {s: float(sets[s][key]) for s in set_names}))
    lines.append("per-class IoU")
    for index, class_name in enumerate(results.get("class_names") or class_names(results["num_classes"])):
        lines.append(columns.row(f"  {class_name}"[:16], {s: float(sets[s]["iou"][index]) for s in set_names}))
    against = f"; Δ: percentage points against {base}" if columns.others else ""
    lines.append(f"({sets[set_names[0]]['num_images']} images, one confusion matrix per set; values in %{against})")
    return "\n".join(lines)


class _Columns:
    """The columns of :func:`format_table`: one per set, then ``Δ NAME`` per set but ``base``."""

    def __init__(self, set_names: Sequence[str], base: str, width: int):
        self.set_names, self.base, self.width = list(set_names), base, width
        self.others = [s for s in self.set_names if s != base]

    def header(self) -> str:
        width = self.width
        return (f"{'':<16}" + "".join(f"{s:>{width}}" for s in self.set_names)
                + "".join(f"{'Δ ' + s:>{width}}" for s in self.others))

    def row(self, label: str, values: Mapping[str, float]) -> str:
        """``label``, each set's value in % (``-`` for NaN), each delta in percentage points."""
        text = f"{label:<16}" + "".join(self._cell(values[s]) for s in self.set_names)
        return text + "".join(self._delta(values[s] - values[self.base]) for s in self.others)

    def _cell(self, value: float) -> str:
        return f"{'-' if np.isnan(value) else f'{100 * value:.2f}':>{self.width}}"

    def _delta(self, delta: float) -> str:
        return f"{'-':>{self.width}}" if np.isnan(delta) else f"{100 * delta:>+{self.width}.2f}"

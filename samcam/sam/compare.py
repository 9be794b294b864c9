"""Compare mask sources on the same images: ``samcam compare --masks A=DIR B=DIR``.

For each source (a folder of per-image masks in any form :func:`samcam.masks.find`
reads: samcam stores from any model, amg.py PNG folders or RLE JSON):

* masks per image (mean, median, 10th/90th percentile, min, max);
* the mask area distribution, as fractions of the image (quantiles and a histogram
  on a log scale), and how much of each image the masks cover;
* given pseudo labels and ground truth: the mIoU (and mean precision/recall) of the
  pseudo labels refined with that source's masks (one confusion matrix over all
  images, as ``samcam eval``), next to the pseudo labels' own.

Every source sees the same images: an image missing (or unreadable) in any source,
or lacking its pseudo label or ground truth, is left out of all and listed.
No torch here.
"""
from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from .. import masks as mask_store
from ..batch import run_batch
from ..errors import ImageError
from ..evaluate import class_names, confusion_matrix, metrics_from_confusion
from ..io import read_label_png
from ..refine import refine

__all__ = ["compare_mask_sources", "format_comparison", "AREA_EDGES"]

# Mask area as a fraction of the image: 10^-5 .. 1, four bins per decade.
AREA_EDGES = tuple(float(v) for v in np.logspace(-5, 0, 21))


def _scored_labels(name: str, pseudo_dir: str, gt_dir: str, num_classes: int):
    """(pseudo label, ground truth, the pseudo label's confusion) of one image."""
    label_path, gt_path = Path(pseudo_dir) / f"{name}.png", Path(gt_dir) / f"{name}.png"
    for path, what in ((label_path, "pseudo label"), (gt_path, "ground truth")):
        if not path.exists():
            raise ImageError(f"{path}: {what} missing")
    label, gt = read_label_png(label_path), read_label_png(gt_path)
    try:
        return label, gt, confusion_matrix(gt=gt, pred=label, num_classes=num_classes)
    except ValueError as error:
        raise ImageError(f"{label_path} vs {gt_path}: {error}") from None


def _source_stats(name: str, source_name: str, folder: str, labels, num_classes: int, params: Mapping[str, Any],
                  mask_order: str):
    """(mask count, area fractions, covered fraction, refined confusion or None) of one image
    in one source; ``labels`` is ``(pseudo label, ground truth)`` or None."""
    try:
        path = mask_store.find(folder, name)
    except FileNotFoundError as error:
        raise ImageError(f"source {source_name!r}: {error}") from None
    masks = mask_store.load(path, png_order=mask_order)
    height, width = masks.image_shape
    areas = np.asarray(masks.areas, dtype=np.float64) / float(height * width)
    covered = float(masks.dense.any(axis=0).mean()) if len(masks) else 0.0
    confusion = None
    if labels is not None:
        label, gt = labels
        try:
            refined = refine(label, masks, num_classes=num_classes, **params)
            confusion = confusion_matrix(gt=gt, pred=refined, num_classes=num_classes)
        except ValueError as error:
            raise ImageError(f"{path} with the pseudo label of {name}: {error}") from None
    return len(masks), areas.astype(np.float32), covered, confusion


def _one_image(name: str, sources: Tuple[Tuple[str, str], ...], pseudo_dir: Optional[str], gt_dir: Optional[str],
               num_classes: int, params: Mapping[str, Any], mask_order: str):
    """Per-source (mask count, area fractions, covered fraction[, refined confusion]) of one image,
    plus the pseudo label's confusion (or None)."""
    labels = pseudo_confusion = None
    if pseudo_dir is not None and gt_dir is not None:
        label, gt, pseudo_confusion = _scored_labels(name, pseudo_dir, gt_dir, num_classes)
        labels = (label, gt)
    per_source = [_source_stats(name, source_name, folder, labels, num_classes, params, mask_order)
                  for source_name, folder in sources]
    return per_source, pseudo_confusion


def _quantiles(values: np.ndarray, points=(0.1, 0.25, 0.5, 0.75, 0.9)) -> Dict[str, float]:
    if not len(values):
        return {f"p{int(100 * q)}": float("nan") for q in points}
    return {f"p{int(100 * q)}": float(v) for q, v in zip(points, np.quantile(values, points))}


def _check_folders(sources: Mapping[str, str], pseudo_dir, gt_dir) -> None:
    """Refuse a missing mask folder, or labels without ground truth, before any work."""
    if not sources:
        raise ValueError("--masks: no mask folder to compare")
    for source_name, folder in sources.items():
        if not Path(folder).is_dir():
            raise FileNotFoundError(f"--masks {source_name}={folder}: folder does not exist")
    if (pseudo_dir is None) != (gt_dir is None):
        raise ValueError("--labels and --gt go together: the refined labels are scored against the ground truth")
    # A missing label folder is one configuration error, not one "left out" line per image.
    for flag, folder in (("--labels", pseudo_dir), ("--gt", gt_dir)):
        if folder is not None and not Path(folder).is_dir():
            what = "is a file, not a folder" if Path(folder).exists() else "folder does not exist"
            raise FileNotFoundError(f"{flag} {folder}: {what}")


class _Totals:
    """What the images' results add up to, per source, in the order they arrive."""

    def __init__(self, sources: Sequence[str], num_classes: int):
        self.sources = list(sources)
        self.counts: Dict[str, List[int]] = {s: [] for s in sources}
        self.areas: Dict[str, List[np.ndarray]] = {s: [] for s in sources}
        self.covered: Dict[str, List[float]] = {s: [] for s in sources}
        self.confusion = {s: np.zeros((num_classes, num_classes + 1), np.int64) for s in sources}
        self.pseudo_confusion = np.zeros((num_classes, num_classes + 1), np.int64)
        self.compared: List[str] = []

    def add(self, name: str, value) -> None:
        per_source, pseudo_confusion = value
        self.compared.append(name)
        for source_name, (count, fractions, cover, confusion) in zip(self.sources, per_source):
            self.counts[source_name].append(count)
            self.areas[source_name].append(fractions)
            self.covered[source_name].append(cover)
            if confusion is not None:
                self.confusion[source_name] += confusion
        if pseudo_confusion is not None:
            self.pseudo_confusion += pseudo_confusion

    def metrics(self, confusion: np.ndarray, scored: bool) -> Optional[Dict[str, Any]]:
        """The metrics of a summed confusion, or None without labels or images."""
        if not scored or not self.compared:
            return None
        metrics = metrics_from_confusion(confusion)
        metrics["num_images"] = len(self.compared)
        return metrics

    def summary(self, source_name: str, folder: str, scored: bool) -> Dict[str, Any]:
        """One source's entry of :func:`compare_mask_sources`'s ``sources``, images in name order."""
        # Results arrive in completion order with several workers: report them in name order.
        order = np.argsort(np.array(self.compared, dtype=object)) if self.compared else np.array([], dtype=int)
        per_image = np.array(self.counts[source_name], dtype=np.int64)[order]
        areas = self.areas[source_name]
        fractions = np.concatenate(areas) if areas else np.zeros(0, np.float32)
        edges = np.asarray(AREA_EDGES)
        histogram, _ = np.histogram(np.clip(fractions, edges[0], edges[-1]), bins=edges)
        covered = self.covered[source_name]
        return {
            "dir": folder,
            "num_images": len(per_image),
            "masks_per_image": _count_stats(per_image),
            "counts": per_image.tolist(),
            "area": _quantiles(fractions),
            "area_histogram": histogram.tolist(),
            "coverage": float(np.mean(covered)) if covered else float("nan"),
            "refined": self.metrics(self.confusion[source_name], scored),
        }


def _count_stats(per_image: np.ndarray) -> Dict[str, float]:
    if not len(per_image):
        return {key: float("nan") for key in ("mean", "median", "p10", "p90", "min", "max")}
    return {"mean": float(per_image.mean()), "median": float(np.median(per_image)),
            "p10": float(np.quantile(per_image, 0.1)), "p90": float(np.quantile(per_image, 0.9)),
            "min": int(per_image.min()), "max": int(per_image.max())}


def compare_mask_sources(
    sources: Mapping[str, os.PathLike],
    names: Optional[Sequence[str]] = None,
    *,
    pseudo_dir: Optional[os.PathLike] = None,
    gt_dir: Optional[os.PathLike] = None,
    mask_order: str = "numeric",
    workers: int = 1,
    progress: bool = False,
    **rule_params,
) -> Dict[str, Any]:
    """Statistics of several mask sources on the same images.

    Args:
        sources: source name -> mask folder (at least one).
        names: images to compare (default: every image any source has).
        pseudo_dir, gt_dir: label PNG folders (H×W uint8, 0 bg, 1..C-1, 255 ignore);
            with both, each source's refined labels are scored.
        mask_order: order of amg.py PNG masks (see ``samcam refine --mask-order``).
        workers: processes.
        **rule_params: :func:`samcam.refine` options, ``num_classes`` (classes including
            background: 21 VOC (the default), 81 COCO) among them.

    Returns:
        ``{"names": [compared images], "failed": [(name, reason)], "sources": {name:
        {"dir", "num_images", "masks_per_image": {mean, median, p10, p90, min, max},
        "counts": [per image], "area": {p10, p25, p50, p75, p90} (fractions of the
        image), "area_histogram": [counts per AREA_EDGES bin], "coverage": mean covered
        fraction, "refined": metrics or None}}, "pseudo": metrics or None,
        "area_edges", "num_classes", "class_names"}``. Metrics are those of
        :func:`samcam.evaluate.metrics_from_confusion` (no confusion matrix kept).

    Raises:
        FileNotFoundError: a mask folder, ``pseudo_dir`` or ``gt_dir`` does not exist.
        ValueError: no source, or only one of ``pseudo_dir`` and ``gt_dir``.
    """
    num_classes = rule_params.pop("num_classes", 21)
    sources = {str(k): str(v) for k, v in sources.items()}
    _check_folders(sources, pseudo_dir, gt_dir)
    scored = pseudo_dir is not None and gt_dir is not None
    if names is None:
        names = sorted(set().union(*(mask_store.names_in(folder) for folder in sources.values())))
    totals = _Totals(list(sources), num_classes)
    job = functools.partial(_one_image, sources=tuple(sources.items()), pseudo_dir=str(pseudo_dir) if scored else None,
                            gt_dir=str(gt_dir) if scored else None, num_classes=num_classes, params=rule_params,
                            mask_order=mask_order)
    result = run_batch(list(names), job, workers=workers, desc="compare", progress=progress, on_result=totals.add)
    return {"names": sorted(totals.compared), "failed": result.failed,
            "sources": {name: totals.summary(name, folder, scored) for name, folder in sources.items()},
            "pseudo": totals.metrics(totals.pseudo_confusion, scored),
            "area_edges": list(AREA_EDGES), "num_classes": num_classes, "class_names": class_names(num_classes)}


def format_comparison(comparison: Mapping[str, Any], baseline: Optional[str] = None) -> str:
    """The comparison as a plain-text table (one column per source; values in %).

    With pseudo labels and two or more sources, a ``Δ vs NAME`` row gives each source's
    refined mIoU minus that of ``baseline`` (a source name; default: the first).
    """
    sources = comparison["sources"]
    columns = list(sources)
    if baseline is not None and baseline not in sources:
        raise ValueError(f"--baseline {baseline!r} is not one of the --masks sources: {', '.join(columns)}")
    table = _Table(sources, max(12, *(len(c) + 2 for c in columns)))
    lines = [table.row("", columns)] + _mask_rows(table)
    if comparison.get("pseudo") is not None:
        lines += _refined_rows(table, comparison["pseudo"], baseline if baseline is not None else columns[0])
    lines.append(f"({len(comparison['names'])} images compared"
                 + (f", {len(comparison['failed'])} left out" if comparison["failed"] else "") + ")")
    return "\n".join(lines)


class _Table:
    """Rows of a text table: a label, then one right-aligned cell per source."""

    def __init__(self, sources: Mapping[str, Any], width: int):
        self.sources = sources
        self.width = width

    def row(self, label: str, values: Sequence[str]) -> str:
        return f"{label:<26}" + "".join(f"{v:>{self.width}}" for v in values)

    def per_source(self, label: str, cell) -> str:
        """A row whose cell for each source is ``cell(that source's entry)``."""
        return self.row(label, [cell(entry) for entry in self.sources.values()])


def _number(value, fmt: str) -> str:
    return "–" if value is None or (isinstance(value, float) and np.isnan(value)) else format(value, fmt)


def _mask_rows(table: _Table) -> List[str]:
    """Images, masks per image, mask areas and coverage, per source."""
    lines = [
        table.per_source("images", lambda s: str(s["num_images"])),
        table.per_source("masks/image (mean)", lambda s: _number(s["masks_per_image"]["mean"], ".1f")),
        table.per_source("masks/image (median)", lambda s: _number(s["masks_per_image"]["median"], ".1f")),
        table.per_source("masks/image (p10-p90)", lambda s: f"{_number(s['masks_per_image']['p10'], '.0f')}-"
                                                             f"{_number(s['masks_per_image']['p90'], '.0f')}"),
    ]
    for key, label in (("p10", "mask area % (p10)"), ("p50", "mask area % (median)"), ("p90", "mask area % (p90)")):
        lines.append(table.per_source(label, lambda s, key=key: _number(100 * s["area"][key], ".3g")))
    lines.append(table.per_source("image covered % (mean)", lambda s: _number(100 * s["coverage"], ".1f")))
    return lines


def _refined_rows(table: _Table, pseudo: Mapping[str, Any], baseline: str) -> List[str]:
    """The refined labels' scores per source, the gains, and the pseudo labels' own scores."""
    sources = table.sources
    lines = [
        table.per_source("refined mIoU", lambda s: _number(100 * s["refined"]["miou"], ".2f")),
        table.per_source("  Δ vs pseudo labels", lambda s: _number(100 * (s["refined"]["miou"] - pseudo["miou"]),
                                                                     "+.2f")),
    ]
    if len(sources) > 1:
        base = sources[baseline]["refined"]["miou"]
        lines.append(table.row(f"  Δ vs {baseline}", [
            "–" if name == baseline else _number(100 * (entry["refined"]["miou"] - base), "+.2f")
            for name, entry in sources.items()]))
    lines += [
        table.per_source("refined precision", lambda s: _number(100 * s["refined"]["mean_precision"], ".2f")),
        table.per_source("refined recall", lambda s: _number(100 * s["refined"]["mean_recall"], ".2f")),
        f"pseudo labels (no masks): mIoU {100 * pseudo['miou']:.2f}, "
        f"precision {100 * pseudo['mean_precision']:.2f}, recall {100 * pseudo['mean_recall']:.2f}",
    ]
    return lines

"""Compare mask sources on the same images: ``samcam masks --compare A=DIR B=DIR``.

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


def _one_image(name: str, sources: Tuple[Tuple[str, str], ...], pseudo_dir: Optional[str], gt_dir: Optional[str],
               num_classes: int, params: Mapping[str, Any], mask_order: str):
    """Per-source (mask count, area fractions, covered fraction[, refined confusion]) of one image,
    plus the pseudo label's confusion (or None)."""
    label = gt = pseudo_confusion = None
    if pseudo_dir is not None and gt_dir is not None:
        label_path, gt_path = Path(pseudo_dir) / f"{name}.png", Path(gt_dir) / f"{name}.png"
        for path, what in ((label_path, "pseudo label"), (gt_path, "ground truth")):
            if not path.exists():
                raise ImageError(f"{path}: {what} missing")
        label, gt = read_label_png(label_path), read_label_png(gt_path)
        try:
            pseudo_confusion = confusion_matrix(gt=gt, pred=label, num_classes=num_classes)
        except ValueError as error:
            raise ImageError(f"{label_path} vs {gt_path}: {error}") from None
    per_source = []
    for source_name, folder in sources:
        try:
            path = mask_store.find(folder, name)
        except FileNotFoundError as error:
            raise ImageError(f"source {source_name!r}: {error}") from None
        masks = mask_store.load(path, png_order=mask_order)
        height, width = masks.image_shape
        areas = np.asarray(masks.areas, dtype=np.float64) / float(height * width)
        covered = float(masks.dense.any(axis=0).mean()) if len(masks) else 0.0
        confusion = None
        if label is not None:
            try:
                refined = refine(label, masks, num_classes=num_classes, **params)
                confusion = confusion_matrix(gt=gt, pred=refined, num_classes=num_classes)
            except ValueError as error:
                raise ImageError(f"{path} with the pseudo label of {name}: {error}") from None
        per_source.append((len(masks), areas.astype(np.float32), covered, confusion))
    return per_source, pseudo_confusion


def _quantiles(values: np.ndarray, points=(0.1, 0.25, 0.5, 0.75, 0.9)) -> Dict[str, float]:
    if not len(values):
        return {f"p{int(100 * q)}": float("nan") for q in points}
    return {f"p{int(100 * q)}": float(v) for q, v in zip(points, np.quantile(values, points))}


def compare_mask_sources(
    sources: Mapping[str, os.PathLike],
    names: Optional[Sequence[str]] = None,
    *,
    pseudo_dir: Optional[os.PathLike] = None,
    gt_dir: Optional[os.PathLike] = None,
    num_classes: int = 21,
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
        num_classes: classes including background (21 VOC, 81 COCO).
        mask_order: order of amg.py PNG masks (see ``samcam refine --mask-order``).
        workers: processes.
        **rule_params: :func:`samcam.refine` options other than ``num_classes``.

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
    sources = {str(k): str(v) for k, v in sources.items()}
    if not sources:
        raise ValueError("--compare needs at least one mask folder")
    for source_name, folder in sources.items():
        if not Path(folder).is_dir():
            raise FileNotFoundError(f"--compare {source_name}={folder}: folder does not exist")
    scored = pseudo_dir is not None and gt_dir is not None
    if (pseudo_dir is None) != (gt_dir is None):
        raise ValueError("--labels and --gt go together: the refined labels are scored against the ground truth")
    # A missing label folder is one configuration error, not one "left out" line per image.
    for flag, folder in (("--labels", pseudo_dir), ("--gt", gt_dir)):
        if folder is not None and not Path(folder).is_dir():
            what = "is a file, not a folder" if Path(folder).exists() else "folder does not exist"
            raise FileNotFoundError(f"{flag} {folder}: {what}")
    if names is None:
        names = sorted(set().union(*(mask_store.names_in(folder) for folder in sources.values())))
    names = list(names)
    ordered = tuple(sources.items())
    counts: Dict[str, List[int]] = {s: [] for s in sources}
    areas: Dict[str, List[np.ndarray]] = {s: [] for s in sources}
    covered: Dict[str, List[float]] = {s: [] for s in sources}
    totals = {s: np.zeros((num_classes, num_classes + 1), np.int64) for s in sources}
    pseudo_total = np.zeros((num_classes, num_classes + 1), np.int64)
    compared: List[str] = []

    def collect(name, value):
        per_source, pseudo_confusion = value
        compared.append(name)
        for (source_name, _), (count, fractions, cover, confusion) in zip(ordered, per_source):
            counts[source_name].append(count)
            areas[source_name].append(fractions)
            covered[source_name].append(cover)
            if confusion is not None:
                totals[source_name] += confusion
        if pseudo_confusion is not None:
            pseudo_total[...] += pseudo_confusion

    job = functools.partial(_one_image, sources=ordered, pseudo_dir=str(pseudo_dir) if scored else None,
                            gt_dir=str(gt_dir) if scored else None, num_classes=num_classes, params=rule_params,
                            mask_order=mask_order)
    result = run_batch(names, job, workers=workers, desc="compare", progress=progress, on_result=collect)
    # Results arrive in completion order with several workers: report them in name order.
    order = np.argsort(np.array(compared, dtype=object)) if compared else np.array([], dtype=int)
    edges = np.asarray(AREA_EDGES)
    out_sources = {}
    for source_name, folder in sources.items():
        per_image = np.array(counts[source_name], dtype=np.int64)[order]
        fractions = np.concatenate(areas[source_name]) if areas[source_name] else np.zeros(0, np.float32)
        histogram, _ = np.histogram(np.clip(fractions, edges[0], edges[-1]), bins=edges)
        stats = ({"mean": float(per_image.mean()), "median": float(np.median(per_image)),
                  "p10": float(np.quantile(per_image, 0.1)), "p90": float(np.quantile(per_image, 0.9)),
                  "min": int(per_image.min()), "max": int(per_image.max())} if len(per_image) else
                 {key: float("nan") for key in ("mean", "median", "p10", "p90", "min", "max")})
        refined = None
        if scored and compared:
            refined = metrics_from_confusion(totals[source_name])
            refined["num_images"] = len(compared)
        out_sources[source_name] = {
            "dir": folder,
            "num_images": len(per_image),
            "masks_per_image": stats,
            "counts": per_image.tolist(),
            "area": _quantiles(fractions),
            "area_histogram": histogram.tolist(),
            "coverage": float(np.mean(covered[source_name])) if covered[source_name] else float("nan"),
            "refined": refined,
        }
    pseudo = None
    if scored and compared:
        pseudo = metrics_from_confusion(pseudo_total)
        pseudo["num_images"] = len(compared)
    return {"names": sorted(compared), "failed": result.failed, "sources": out_sources, "pseudo": pseudo,
            "area_edges": list(AREA_EDGES), "num_classes": num_classes, "class_names": class_names(num_classes)}


def format_comparison(comparison: Mapping[str, Any], baseline: Optional[str] = None) -> str:
    """The comparison as a plain-text table (one column per source; values in %).

    With pseudo labels and two or more sources, a ``Δ vs NAME`` row gives each source's
    refined mIoU minus that of ``baseline`` (a source name; default: the first).
    """
    sources = comparison["sources"]
    columns = list(sources)
    if baseline is not None and baseline not in sources:
        raise ValueError(f"--baseline {baseline!r} is not one of the --compare sources: {', '.join(columns)}")
    baseline = baseline if baseline is not None else columns[0]
    width = max(12, *(len(c) + 2 for c in columns))

    def row(label, values):
        return f"{label:<26}" + "".join(f"{v:>{width}}" for v in values)

    def number(value, fmt):
        return "–" if value is None or (isinstance(value, float) and np.isnan(value)) else format(value, fmt)

    lines = [row("", columns)]
    lines.append(row("images", [str(sources[c]["num_images"]) for c in columns]))
    lines.append(row("masks/image (mean)", [number(sources[c]["masks_per_image"]["mean"], ".1f") for c in columns]))
    lines.append(row("masks/image (median)", [number(sources[c]["masks_per_image"]["median"], ".1f") for c in columns]))
    lines.append(row("masks/image (p10-p90)", [
        f"{number(sources[c]['masks_per_image']['p10'], '.0f')}-{number(sources[c]['masks_per_image']['p90'], '.0f')}"
        for c in columns]))
    for key, label in (("p10", "mask area % (p10)"), ("p50", "mask area % (median)"), ("p90", "mask area % (p90)")):
        lines.append(row(label, [number(100 * sources[c]["area"][key], ".3g") for c in columns]))
    lines.append(row("image covered % (mean)", [number(100 * sources[c]["coverage"], ".1f") for c in columns]))
    if comparison.get("pseudo") is not None:
        pseudo = comparison["pseudo"]
        lines.append(row("refined mIoU", [number(100 * sources[c]["refined"]["miou"], ".2f") for c in columns]))
        lines.append(row("  Δ vs pseudo labels", [
            number(100 * (sources[c]["refined"]["miou"] - pseudo["miou"]), "+.2f") for c in columns]))
        if len(columns) > 1:
            lines.append(row(f"  Δ vs {baseline}", [
                "–" if c == baseline else
                number(100 * (sources[c]["refined"]["miou"] - sources[baseline]["refined"]["miou"]), "+.2f")
                for c in columns]))
        lines.append(row("refined precision", [
            number(100 * sources[c]["refined"]["mean_precision"], ".2f") for c in columns]))
        lines.append(row("refined recall", [number(100 * sources[c]["refined"]["mean_recall"], ".2f") for c in columns]))
        lines.append(f"pseudo labels (no masks): mIoU {100 * pseudo['miou']:.2f}, "
                     f"precision {100 * pseudo['mean_precision']:.2f}, recall {100 * pseudo['mean_recall']:.2f}")
    lines.append(f"({len(comparison['names'])} images compared"
                 + (f", {len(comparison['failed'])} left out" if comparison["failed"] else "") + ")")
    return "\n".join(lines)

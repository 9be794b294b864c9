"""How closely two mask generators agree on the same images: per-mask IoU matching.

Used to check fast mode (and any other way of computing SAM's masks) against the
official generator: each reference mask is matched to the other set's mask of
highest IoU, and the other way round. Reported per direction: the share of masks
whose best match reaches each IoU threshold, and the mean IoU of the best matches.
No torch here.
"""
from __future__ import annotations

from typing import Dict, Iterable, Sequence, Tuple

import numpy as np

from ..masks import MaskSet

__all__ = ["mask_ious", "agreement", "THRESHOLDS"]

THRESHOLDS = (0.9, 0.99)
_BLOCK = 256


def _dense_rows(masks: MaskSet, start: int) -> np.ndarray:
    height, width = masks.image_shape
    rows = np.unpackbits(masks.packed[start:start + _BLOCK], axis=1, count=height * width)
    return rows.astype(np.float32)


def mask_ious(reference: MaskSet, other: MaskSet) -> np.ndarray:
    """(K_ref, K_other) float64 IoU of every pair of masks of the same image.

    Two empty masks count as IoU 1. Raises ValueError when the image sizes differ.
    """
    if reference.image_shape != other.image_shape:
        raise ValueError(f"masks of different image sizes: {reference.image_shape} vs {other.image_shape}")
    if not len(reference) or not len(other):
        return np.zeros((len(reference), len(other)), np.float64)
    inter = np.zeros((len(reference), len(other)), np.float64)
    for i in range(0, len(reference), _BLOCK):  # blocks bound the dense float copies
        a = _dense_rows(reference, i)
        for j in range(0, len(other), _BLOCK):
            # float32 products of 0/1 values: exact while a mask has < 2^24 pixels
            inter[i:i + _BLOCK, j:j + _BLOCK] = a @ _dense_rows(other, j).T
    union = reference.areas.astype(np.float64)[:, None] + other.areas.astype(np.float64)[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1.0), 1.0)


def agreement(pairs: Iterable[Tuple[MaskSet, MaskSet]], thresholds: Sequence[float] = THRESHOLDS) -> Dict[str, float]:
    """Agreement of ``other`` with ``reference`` over images, both ways.

    Args:
        pairs: per image, ``(reference masks, other masks)``.
        thresholds: IoU levels to report.

    Returns:
        ``reference_masks``, ``other_masks`` (counts), ``images``, ``identical_images``
        (same masks bit for bit, same order), and for each threshold ``t`` (as
        ``int(round(t * 100))``): ``reference_matched_<t>`` (share of reference masks
        with an other mask of IoU >= t), ``other_matched_<t>`` (the reverse);
        ``reference_mean_iou`` / ``other_mean_iou`` (mean best IoU) and
        ``reference_min_iou`` (lowest best IoU of a reference mask). Shares are 1.0 when
        there is nothing to match.
    """
    best_ref, best_other = [], []
    counts = {"reference_masks": 0, "other_masks": 0, "images": 0, "identical_images": 0}
    for reference, other in pairs:
        counts["images"] += 1
        counts["reference_masks"] += len(reference)
        counts["other_masks"] += len(other)
        counts["identical_images"] += int(len(reference) == len(other) and np.array_equal(reference.packed, other.packed))
        ious = mask_ious(reference, other)
        best_ref.append(ious.max(axis=1) if ious.shape[1] else np.zeros(len(reference)))
        best_other.append(ious.max(axis=0) if ious.shape[0] else np.zeros(len(other)))
    best_ref_all = np.concatenate(best_ref) if best_ref else np.zeros(0)
    best_other_all = np.concatenate(best_other) if best_other else np.zeros(0)
    result: Dict[str, float] = dict(counts)
    for threshold in thresholds:
        key = int(round(threshold * 100))
        result[f"reference_matched_{key}"] = _share(best_ref_all >= threshold)
        result[f"other_matched_{key}"] = _share(best_other_all >= threshold)
    result["reference_mean_iou"] = _share(best_ref_all)
    result["other_mean_iou"] = _share(best_other_all)
    result["reference_min_iou"] = float(best_ref_all.min()) if len(best_ref_all) else 1.0
    return result


def _share(values: np.ndarray) -> float:
    """The mean of ``values`` (a share when boolean); 1.0 when there is nothing to match."""
    return float(values.mean()) if len(values) else 1.0

"""Counting, samcam's part of every rule: every mask against every class, and the cover of class cores.

Masks are bit-packed (:class:`~samcam.masks.MaskSet`), and each class present in the
label costs one AND + popcount over the packed masks, so the K×C overlap matrix comes at
once. The checks of a rule's inputs (label, masks, scores) live here too: one place
validates what every rule is given.
"""
from __future__ import annotations

from typing import Optional, Tuple

import numpy as np
from scipy import ndimage

from ..masks.maskset import MaskSet, as_maskset, pack_words, popcount

__all__ = ["overlap_counts", "core_cover", "check_label", "check_masks", "check_scores", "class_counts",
           "candidate_core_cover"]


def check_label(label: np.ndarray, num_classes: int, ignore_index: int) -> Tuple[np.ndarray, np.ndarray]:
    """Validate a label map -> (H×W uint8 label, (256,) int64 value histogram)."""
    label = _as_label_array(np.asarray(label))
    if not 2 <= num_classes <= 255:
        raise ValueError(f"num_classes must be in 2..255 (background included), got {num_classes}")
    histogram = np.bincount(label.ravel(), minlength=256)
    bad = [value for value in np.flatnonzero(histogram[num_classes:]).tolist()
           if value + num_classes != ignore_index]
    if bad:
        raise ValueError(
            f"label holds values {[v + num_classes for v in bad[:8]]} outside 0..{num_classes - 1} and ignore "
            f"{ignore_index}; pass num_classes (e.g. 81 for COCO) if your dataset has more classes"
        )
    return label, histogram


def _as_label_array(label: np.ndarray) -> np.ndarray:
    """A 2-D non-empty integer array as uint8 (values 0..255)."""
    if label.ndim != 2:
        raise ValueError(f"label must be a 2-D H×W array, got shape {label.shape}")
    if label.size == 0:
        raise ValueError(f"label is empty (shape {label.shape})")
    if not np.issubdtype(label.dtype, np.integer):
        raise ValueError(f"label must hold integer class indices, got dtype {label.dtype}")
    if label.dtype != np.uint8:
        if label.min() < 0 or label.max() > 255:
            raise ValueError(f"label values must lie in 0..255, got {label.min()}..{label.max()}")
        label = label.astype(np.uint8)
    return label


def overlap_counts(label: np.ndarray, masks, num_classes: int = 21, ignore_index: int = 255) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every mask×class overlap count at once.

    Args:
        label: H×W uint8 pseudo label (0..num_classes-1, ``ignore_index``).
        masks: K×H×W bool array, list of H×W bool arrays or a MaskSet.

    Returns:
        ``(counts, ignored, class_area)``: counts (K, num_classes) int64 with
        ``counts[k, c] = |M_k ∩ (label == c)|``; ignored (K,) int64 pixels of each mask
        labelled ``ignore_index``; class_area (num_classes,) int64 pixels per class.
    """
    label, histogram = check_label(label, num_classes, ignore_index)
    maskset = check_masks(masks, label.shape)
    return class_counts(label, histogram, maskset, num_classes, ignore_index)


def check_masks(masks, image_shape) -> MaskSet:
    maskset = as_maskset(masks, image_shape=image_shape)
    if maskset.image_shape != tuple(image_shape):
        raise ValueError(
            f"masks are {maskset.image_shape[0]}×{maskset.image_shape[1]} but the label is "
            f"{image_shape[0]}×{image_shape[1]} (height×width); masks must be computed on the same image size"
        )
    return maskset


def class_counts(label: np.ndarray, histogram: np.ndarray, maskset: MaskSet, num_classes: int, ignore_index: int):
    class_area = histogram[:num_classes].astype(np.int64)
    count = len(maskset)
    counts = np.zeros((count, num_classes), np.int64)
    ignored = np.zeros(count, np.int64)
    present = [int(v) for v in np.flatnonzero(histogram)]
    if count == 0 or not present:
        return counts, ignored, class_area
    # The most frequent value is the remainder of the mask's area: one popcount saved,
    # usually the background's (the largest region).
    largest = max(present, key=lambda v: histogram[v])
    words = maskset.words
    remainder = maskset.areas.copy()
    for value in present:
        if value == largest:
            continue
        column = _value_popcount(words, label == value)
        remainder -= column
        if value == ignore_index:
            ignored = column
        else:
            counts[:, value] = column
    if largest == ignore_index:
        ignored = remainder
    else:
        counts[:, largest] = remainder
    return counts, ignored, class_area


def _value_popcount(words: np.ndarray, region: np.ndarray) -> np.ndarray:
    """|M_k ∩ region| for every mask, touching only the words of the rows the region spans.

    region: H×W bool.
    """
    rows = np.flatnonzero(region.any(axis=1))
    width = region.shape[1]
    start = rows[0] * width // 64
    stop = min(words.shape[1], -(-(rows[-1] + 1) * width // 64))
    flat = region.reshape(-1)[start * 64: stop * 64]
    return popcount(words[:, start:stop] & pack_words(flat), axis=1)


def _row_span_popcount(words: np.ndarray, region: np.ndarray, row0: int, width: int) -> np.ndarray:
    """|M_k ∩ region| for every mask, where ``region`` (h×W bool) are the image rows row0..row0+h-1."""
    start = row0 * width // 64
    stop = min(words.shape[1], -(-(row0 + region.shape[0]) * width // 64))
    flat = np.zeros((stop - start) * 64, bool)
    offset = row0 * width - start * 64
    flat[offset: offset + region.size] = region.reshape(-1)
    return popcount(words[:, start:stop] & pack_words(flat), axis=1)


_EIGHT = np.ones((3, 3), bool)


def core_cover(label: np.ndarray, masks, num_classes: int = 21, scores: Optional[np.ndarray] = None,
               core_depth: float = 0.5, core_score: float = 0.85) -> np.ndarray:
    """How much of each connected class region's core each mask covers.

    The regions are the 8-connected components of ``label == c`` for every
    foreground class c present. A region's core is, without ``scores``, its pixels
    whose city-block distance to the nearest pixel outside the region is at least
    ``core_depth`` times the largest such distance in the region (its thick middle);
    with ``scores`` (C×H×W), its pixels whose ``scores[c]`` is at least ``core_score``
    times the region's highest score (where the CAM peaks).

    Args:
        label: H×W uint8 pseudo label.
        masks: K×H×W bool array, list of H×W bool arrays or a MaskSet.

    Returns:
        (K, num_classes) float64: for mask k and class c, the largest fraction of one
        c region's core that mask k covers (0 for background and absent classes).
    """
    label, _ = check_label(label, num_classes, 255)
    maskset = check_masks(masks, label.shape)
    if scores is not None:
        scores = check_scores(scores, num_classes, label.shape)
    return candidate_core_cover(label, maskset, num_classes, scores, core_depth, core_score)


def candidate_core_cover(label, maskset, num_classes, scores, core_depth, core_score, candidates=None):
    """See :func:`core_cover`. ``candidates``: optional (K, C) bool, the only entries wanted
    (the others stay 0): classes without a candidate mask are skipped, and only the
    candidate masks are counted."""
    height, width = label.shape
    cover = np.zeros((len(maskset), num_classes), np.float64)
    if len(maskset) == 0:
        return cover
    words = maskset.words
    present = np.flatnonzero(np.bincount(label.ravel(), minlength=256)[1:num_classes]) + 1
    for cls in present:
        rows_wanted = np.arange(len(maskset)) if candidates is None else np.flatnonzero(candidates[:, cls])
        if rows_wanted.size == 0:
            continue
        region = label == cls
        rows = np.flatnonzero(region.any(axis=1))
        cols = np.flatnonzero(region.any(axis=0))
        # One pixel of margin so that the distance transform sees the region's edge.
        y0, y1 = max(rows[0] - 1, 0), min(rows[-1] + 2, height)
        x0, x1 = max(cols[0] - 1, 0), min(cols[-1] + 2, width)
        crop = region[y0:y1, x0:x1]
        components, count = ndimage.label(crop, structure=_EIGHT)
        if scores is None:
            # Distance to the nearest pixel outside the region; the image border is not an edge.
            padded = np.pad(crop, [(int(y0 == 0), int(y1 == height)), (int(x0 == 0), int(x1 == width))], mode="edge")
            # City-block distance: 7x faster than Euclidean at VOC size, and the cores it
            # gives score within 0.1 mIoU of Euclidean ones on the rule benchmark.
            depth = ndimage.distance_transform_cdt(padded, metric="taxicab")
            # A region with no edge at all (one class over the whole image) gets -1
            # everywhere: all of it is equally deep, so all of it is core.
            depth = np.maximum(depth, 0)
            depth = depth[int(y0 == 0):int(y0 == 0) + crop.shape[0], int(x0 == 0):int(x0 == 0) + crop.shape[1]]
            fraction = core_depth
        else:
            depth = scores[cls, y0:y1, x0:x1]
            fraction = core_score
        boxes = [(slice(0, crop.shape[0]), slice(0, crop.shape[1]))] if count == 1 else ndimage.find_objects(components)
        selected = words[rows_wanted]
        for component, (rows_slice, cols_slice) in enumerate(boxes, start=1):
            inside = components[rows_slice, cols_slice] == component
            local = depth[rows_slice, cols_slice]
            core = inside & (local >= fraction * local[inside].max())
            # The core as whole image rows (what the packed masks are laid out in).
            band = np.zeros((core.shape[0], width), bool)
            band[:, x0 + cols_slice.start: x0 + cols_slice.stop] = core
            hits = _row_span_popcount(selected, band, y0 + rows_slice.start, width)
            cover[rows_wanted, cls] = np.maximum(cover[rows_wanted, cls], hits / np.count_nonzero(core))
    return cover


def check_scores(scores, num_classes, label_shape) -> np.ndarray:
    scores = np.asarray(scores)
    if scores.ndim != 3 or scores.shape[0] != num_classes or scores.shape[1:] != tuple(label_shape):
        raise ValueError(
            f"scores must be C×H×W = {num_classes}×{label_shape[0]}×{label_shape[1]}, got {scores.shape}"
        )
    if not np.issubdtype(scores.dtype, np.floating) or not np.isfinite(scores).all() or scores.min() < 0:
        raise ValueError("scores must be finite, non-negative floats")
    return scores

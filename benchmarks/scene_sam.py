"""SAM's automatic mask generator, simulated, for the rule benchmark's scenes (:mod:`scenes`).

A scene offers target regions (whole objects, parts, background, ...), each with the
probability that SAM finds it; a found region becomes one or more candidate masks with a
noisy boundary, a synthetic ``predicted_iou`` that rises with the candidate's IoU with the
region it stands for and a ``stability_score`` that falls with its boundary noise; then
SAM's filters, box NMS and output order. SYNTHETIC masks.
"""
from __future__ import annotations

from typing import List, Optional, Sequence, Tuple

import numpy as np
from scipy import ndimage

from samcam.masks.maskset import MaskSet

# segment-anything's SamAutomaticMaskGenerator defaults (pred_iou_thresh,
# stability_score_thresh, box_nms_thresh), the ones the paper used.
SAM_PRED_IOU_THRESH = 0.88
SAM_STABILITY_THRESH = 0.95
SAM_BOX_NMS_THRESH = 0.7


def smooth_noise(rng, shape, sigma):
    noise = ndimage.gaussian_filter(rng.normal(size=shape).astype(np.float32), sigma)
    return noise / (noise.std() + 1e-6)


def noisy_variant(region: np.ndarray, rng, amount: float) -> np.ndarray:
    """The region with a wobbly boundary (displacement ~ ``amount`` px) and a small bias to grow/shrink."""
    rows = np.flatnonzero(region.any(axis=1))
    cols = np.flatnonzero(region.any(axis=0))
    margin = int(np.ceil(3 * amount)) + 3
    y0, y1 = max(rows[0] - margin, 0), min(rows[-1] + margin + 1, region.shape[0])
    x0, x1 = max(cols[0] - margin, 0), min(cols[-1] + margin + 1, region.shape[1])
    crop = region[y0:y1, x0:x1].astype(np.float32)
    soft = ndimage.gaussian_filter(crop, max(amount, 0.4))
    wobble = smooth_noise(rng, crop.shape, 1.5 + amount) * 0.12 * amount
    out = np.zeros_like(region)
    out[y0:y1, x0:x1] = soft + wobble + rng.normal(0, 0.04) > 0.5
    return out


def _box(mask: np.ndarray) -> np.ndarray:
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    return np.array([cols[0], rows[0], cols[-1], rows[-1]], np.float64)  # XYXY, inclusive


def _box_nms(boxes: np.ndarray, scores: np.ndarray, threshold: float) -> np.ndarray:
    """Greedy box NMS as torchvision's: indices kept, in decreasing score order."""
    order = np.argsort(-scores, kind="stable")
    x0, y0, x1, y1 = (boxes[:, i] for i in range(4))
    # torchvision's box_area has no +1: boxes are (x0, y0, x1, y1) in SAM's pixel
    # coordinates from batched_mask_to_box, whose x1/y1 are the last set column/row.
    area = (x1 - x0) * (y1 - y0)
    keep = []
    suppressed = np.zeros(len(boxes), bool)
    for i in order:
        if suppressed[i]:
            continue
        keep.append(i)
        iw = np.clip(np.minimum(x1[i], x1) - np.maximum(x0[i], x0), 0, None)
        ih = np.clip(np.minimum(y1[i], y1) - np.maximum(y0[i], y0), 0, None)
        inter = iw * ih
        iou = inter / np.maximum(area[i] + area - inter, 1e-9)
        suppressed |= iou > threshold
    return np.array(keep, np.int64)


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.count_nonzero(a | b)
    return np.count_nonzero(a & b) / union if union else 0.0


class SamTargets:
    """The regions SAM may return, each as (region, probability SAM finds it, the region a
    candidate made from it stands for: its quality is its IoU with that one)."""

    def __init__(self, sam_found: float):
        self.sam_found = sam_found  # scales every region's probability
        self.items: List[Tuple[np.ndarray, float, np.ndarray]] = []

    def add(self, region: np.ndarray, probability: float, reference: Optional[np.ndarray] = None) -> None:
        if region.sum() >= 6:
            # Small regions are hit by few grid points: SAM finds them less often.
            size_factor = min(1.0, np.sqrt(region.sum()) / 6.0)
            self.items.append((region, probability * size_factor * self.sam_found,
                               region if reference is None else reference))


def sam_masks(rng, targets: SamTargets, noise: Tuple[float, float], shape: Tuple[int, int]) -> MaskSet:
    """The masks SAM returns for ``targets``: candidates (boundary noise drawn in ``noise``, px),
    then SAM's filters, box NMS and order, with the scores the mask store carries
    (``predicted_iou``, ``stability_score``, ``area``, ``bbox`` XYWH)."""
    candidates, predicted, stability = _candidates(rng, targets.items, noise)
    return _sam_output(candidates, predicted, stability, shape)


def _candidates(rng, targets: Sequence[Tuple[np.ndarray, float, np.ndarray]],
                noise: Tuple[float, float]) -> Tuple[List[np.ndarray], List[float], List[float]]:
    """The targets SAM finds, each as one or more noisy candidates with their synthetic scores."""
    noise_low, noise_high = noise
    candidates, predicted, stability = [], [], []
    for region, probability, reference in targets:
        if rng.random() >= probability:
            continue
        for _ in range(1 + int(rng.poisson(1.0))):  # several grid points hit the same thing
            amount = rng.uniform(noise_low, noise_high)
            variant = noisy_variant(region, rng, amount)
            if variant.sum() < 4:
                continue
            quality = _iou(variant, reference)
            candidates.append(variant)
            predicted.append(0.78 + 0.2 * quality + rng.normal(0, 0.03))
            stability.append(1.0 - 0.035 * amount - abs(rng.normal(0, 0.015)))
    return candidates, predicted, stability


def _sam_output(candidates: List[np.ndarray], predicted: List[float], stability: List[float], shape) -> MaskSet:
    """SAM's filters (``predicted_iou``, ``stability_score``), box NMS and output order, with the
    scores the mask store carries."""
    h, w = shape
    if not candidates:
        return MaskSet(np.zeros((0, (h * w + 7) // 8), np.uint8), (h, w),
                       {"predicted_iou": np.zeros(0, np.float32), "stability_score": np.zeros(0, np.float32),
                        "area": np.zeros(0, np.int64), "bbox": np.zeros((0, 4), np.float64)})
    predicted = np.array(predicted, np.float32)
    stability = np.array(stability, np.float32)
    keep = np.flatnonzero((predicted > SAM_PRED_IOU_THRESH) & (stability >= SAM_STABILITY_THRESH))
    boxes = np.array([_box(candidates[i]) for i in keep]).reshape(-1, 4)
    keep = keep[_box_nms(boxes, predicted[keep], SAM_BOX_NMS_THRESH)] if keep.size else keep
    dense = np.stack([candidates[i] for i in keep]) if keep.size else np.zeros((0, h, w), bool)
    xyxy = np.array([_box(m) for m in dense]).reshape(-1, 4)
    bbox = np.concatenate([xyxy[:, :2], xyxy[:, 2:] - xyxy[:, :2]], axis=1)
    return MaskSet.from_dense(dense, {
        "predicted_iou": predicted[keep], "stability_score": stability[keep],
        "area": dense.reshape(len(dense), -1).sum(axis=1).astype(np.int64), "bbox": bbox,
    })

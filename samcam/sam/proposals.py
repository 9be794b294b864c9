"""Weight-free mask proposals: a WEAKER SUBSTITUTE for SAM that needs no checkpoint.

Multi-scale Felzenszwalb graph segmentation plus SLIC superpixel groups (scikit-image)
give overlapping, nested regions: coarse scales tend to follow whole objects or large
background areas, fine scales follow parts. They are colour-driven, not object-aware,
so expect much smaller gains than with SAM's masks; use them to try the pipeline, for
tests, and where SAM cannot run.
"""
from __future__ import annotations

from typing import List, Sequence

import numpy as np

from ..masks import MaskSet, empty_maskset

__all__ = ["generate", "DEFAULT_SCALES"]

# Felzenszwalb "scale" values: larger = fewer, bigger regions.
DEFAULT_SCALES = (100.0, 300.0, 1000.0)


def generate(
    image: np.ndarray,
    *,
    scales: Sequence[float] = DEFAULT_SCALES,
    sigma: float = 0.8,
    slic_segments: Sequence[int] = (),
    min_area_frac: float = 0.002,
    max_masks: int = 200,
) -> MaskSet:
    """Class-agnostic region proposals for one image.

    Args:
        image: H×W×3 uint8 RGB (H×W grayscale is accepted too).
        scales: Felzenszwalb scale parameters, one segmentation per value.
        sigma: Gaussian smoothing before segmenting.
        slic_segments: optional SLIC superpixel counts, one segmentation per value.
        min_area_frac: drop regions smaller than this fraction of the image.
        max_masks: keep at most this many masks (largest first).

    Returns:
        A :class:`MaskSet` of K masks (duplicates removed), ordered by area, largest
        first; ``scores["area"]`` holds their pixel counts.
    """
    from skimage.segmentation import felzenszwalb, slic

    image = _rgb(image)
    height, width = image.shape[:2]
    min_area = max(1, int(min_area_frac * height * width))
    segmentations = [felzenszwalb(image, scale=float(s), sigma=sigma, min_size=min_area) for s in scales]
    segmentations += [slic(image, n_segments=int(n), start_label=0, channel_axis=-1) for n in slic_segments]
    masks = _distinct_regions(segmentations, min_area)
    if not masks:
        return empty_maskset((height, width))
    areas = np.array([m.sum() for m in masks], np.int64)
    order = np.argsort(-areas, kind="stable")[:max_masks]
    return MaskSet.from_dense(np.stack([masks[i] for i in order]), {"area": areas[order]})


def _rgb(image: np.ndarray) -> np.ndarray:
    """H×W×3 uint8 from H×W×3/4 or H×W uint8 (ValueError otherwise)."""
    image = np.asarray(image)
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    if image.ndim != 3 or image.shape[2] not in (3, 4) or image.dtype != np.uint8:
        raise ValueError(f"image must be H×W×3 uint8, got {image.dtype} {image.shape}")
    return image[:, :, :3]


def _distinct_regions(segmentations: Sequence[np.ndarray], min_area: int) -> List[np.ndarray]:
    """Every region of at least ``min_area`` pixels of every segmentation as an H×W bool mask,
    each distinct region once (the first time it is found)."""
    masks, seen = [], set()
    for segmentation in segmentations:
        segmentation = segmentation.astype(np.int64)
        counts = np.bincount(segmentation.ravel())
        for region in np.flatnonzero(counts >= min_area):
            mask = segmentation == region
            key = np.packbits(mask).tobytes()
            if key in seen:  # the same region found at two scales
                continue
            seen.add(key)
            masks.append(mask)
    return masks

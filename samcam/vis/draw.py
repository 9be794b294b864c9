"""Pictures of one column of a panel, as H×W×3 uint8 arrays: label overlays, mask
overlays and the difference map of two label sets against the ground truth.

Label maps are drawn in the VOC palette blended over the image; ignore (255) is a hatch
so it never looks like a class. Masks get random but seeded colours with outlines, so
neighbouring regions stay apart. The difference map greys the image and paints the
pixels a change of labels fixed green and those it broke red.
"""
from __future__ import annotations

from typing import Dict, Tuple

import numpy as np

from .. import masks as mask_io
from ..errors import ImageError
from ..io import voc_palette

__all__ = ["overlay_label", "overlay_masks", "mask_colours", "difference_map", "IGNORE_INDEX", "IGNORE_COLOURS",
           "FIXED_COLOUR", "BROKEN_COLOUR", "PALETTE"]

IGNORE_INDEX = 255
# VOC's own "void" colour, alternated with grey so 255 reads as a hatch, not a class.
IGNORE_COLOURS = ((224, 224, 192), (90, 90, 90))
# Saturated, so a few pixels still show on the greyed image at thumbnail size.
FIXED_COLOUR = (0, 200, 0)
BROKEN_COLOUR = (230, 0, 0)

PALETTE = np.array(voc_palette(), dtype=np.uint8).reshape(256, 3)


def hatch(shape: Tuple[int, int]) -> np.ndarray:
    """H×W×3 uint8 diagonal stripes used for ignore (255) pixels."""
    rows, cols = np.indices(shape)
    stripe = ((rows + cols) // 3) % 2
    return np.array(IGNORE_COLOURS, dtype=np.uint8)[stripe]


def overlay_label(image: np.ndarray, label: np.ndarray, alpha: float = 0.6) -> np.ndarray:
    """Blend a label map over an image.

    Args:
        image: H×W×3 uint8 RGB.
        label: H×W uint8, 0..C-1 classes (VOC palette colours), 255 ignore.
        alpha: weight of the label colour (0 = image only, 1 = colours only).

    Returns:
        H×W×3 uint8; ignore pixels are an opaque hatch so they never look like a class.
    """
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be within 0..1, got {alpha}")
    colours = PALETTE[label].astype(np.float32)
    blended = (1.0 - alpha) * image.astype(np.float32) + alpha * colours
    out = np.clip(np.rint(blended), 0, 255).astype(np.uint8)
    ignore = label == IGNORE_INDEX
    if ignore.any():
        out[ignore] = hatch(label.shape)[ignore]
    return out


def mask_colours(count: int, seed: int) -> np.ndarray:
    """``count``×3 uint8 bright random colours, the same for the same seed."""
    rng = np.random.default_rng(seed)
    # Floor at 60 so no mask is drawn near-black (it would vanish on dark images).
    return rng.integers(60, 256, size=(count, 3), dtype=np.int64).astype(np.uint8)


def _outline(mask: np.ndarray) -> np.ndarray:
    """Pixels of a bool H×W mask that touch a pixel outside it (4-neighbourhood)."""
    interior = mask.copy()
    interior[1:, :] &= mask[:-1, :]
    interior[:-1, :] &= mask[1:, :]
    interior[:, 1:] &= mask[:, :-1]
    interior[:, :-1] &= mask[:, 1:]
    return mask & ~interior


def _box(mask: np.ndarray) -> Tuple[slice, slice]:
    """Row and column slices of a bool H×W mask's bounding box plus a one-pixel margin."""
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        return slice(0, 0), slice(0, 0)
    return slice(max(rows[0] - 1, 0), rows[-1] + 2), slice(max(cols[0] - 1, 0), cols[-1] + 2)


def overlay_masks(image: np.ndarray, masks, alpha: float = 0.6, seed: int = 0) -> np.ndarray:
    """Draw class-agnostic masks over an image in random colours with outlines.

    Args:
        image: H×W×3 uint8 RGB.
        masks: K×H×W bool array or a :class:`samcam.masks.MaskSet`.
        alpha: weight of the mask colour inside masks.
        seed: colour seed; the same seed gives the same colours.

    Returns:
        H×W×3 uint8. Large masks are painted first so small ones stay visible on top.
    """
    maskset = mask_io.as_maskset(masks, image_shape=image.shape[:2])
    if maskset.image_shape != tuple(image.shape[:2]):
        raise ImageError(
            f"masks are {maskset.image_shape[0]}×{maskset.image_shape[1]} but the image is "
            f"{image.shape[0]}×{image.shape[1]} (height×width)"
        )
    out = image.astype(np.float32)
    if len(maskset) == 0:
        return image.copy()
    dense = maskset.dense
    colours = mask_colours(len(maskset), seed)
    order = np.argsort(-maskset.areas, kind="stable")
    boxes = [_box(dense[index]) for index in range(len(maskset))]
    # Work inside each mask's box (grown by one pixel so the outline test sees the
    # outside): SAM gives ~100 mostly small masks, so this is several times faster.
    for index in order:
        rows, cols = boxes[index]
        region = dense[index, rows, cols]
        crop = out[rows, cols]
        crop[region] = (1.0 - alpha) * crop[region] + alpha * colours[index]
    result = np.clip(np.rint(out), 0, 255).astype(np.uint8)
    for index in order:
        rows, cols = boxes[index]
        result[rows, cols][_outline(dense[index, rows, cols])] = colours[index]
    return result


def difference_map(image: np.ndarray, before: np.ndarray, after: np.ndarray,
                   gt: np.ndarray) -> Tuple[np.ndarray, Dict[str, int]]:
    """Where a change of labels fixed and broke pixels, against the ground truth.

    A pixel is *fixed* when ``before`` is wrong there and ``after`` right, *broken* when
    ``before`` is right and ``after`` wrong. Pixels whose GT is ignore (255) are neither,
    and so are pixels right or wrong in both.

    Args:
        image: H×W×3 uint8 RGB, shown greyed and faded under the colours.
        before, after: H×W uint8 label maps (255 = unlabelled, which is wrong where the GT
            is valid, as in the evaluation).
        gt: H×W uint8 ground truth, 255 ignore.

    Returns:
        ``(picture, counts)``: H×W×3 uint8 with fixed pixels :data:`FIXED_COLOUR` and
        broken ones :data:`BROKEN_COLOUR`; ``{"fixed": n, "broken": n}`` pixel counts.
    """
    valid = gt != IGNORE_INDEX
    right_before = (before == gt) & valid
    right_after = (after == gt) & valid
    fixed = right_after & ~right_before
    broken = right_before & ~right_after
    # Luminance, pulled towards white: the image stays recognisable, the colours stand out.
    grey = image.astype(np.float32) @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    faded = np.clip(np.rint(0.45 * grey + 0.55 * 235), 0, 255).astype(np.uint8)
    picture = np.repeat(faded[..., None], 3, axis=2)
    picture[fixed] = FIXED_COLOUR
    picture[broken] = BROKEN_COLOUR
    return picture, {"fixed": int(fixed.sum()), "broken": int(broken.sum())}

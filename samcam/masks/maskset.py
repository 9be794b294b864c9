"""K binary masks of one image, bit-packed: :class:`MaskSet`.

A *mask set* is K binary masks of one H×W image (SAM's "segment everything" output or
weight-free proposals). :class:`MaskSet` keeps them bit-packed (K × ceil(H·W/8) uint8),
which is 8× smaller than a bool array and lets :func:`samcam.refine` count every
mask×class overlap with AND + popcount instead of touching each pixel byte.

:func:`as_maskset` makes one from any in-memory form, the mask generators' own
``generate()`` output included (:func:`annotations_to_maskset`): segment-anything's
``SamAutomaticMaskGenerator.generate``, sam2's ``SAM2AutomaticMaskGenerator.generate``,
HQ-SAM's and MobileSAM's (copies of segment-anything's) return a list with one dict per
mask (segment_anything/automatic_mask_generator.py:173-195, sam2/automatic_mask_generator.py:
198-222; the same lines in segment_anything_hq and mobile_sam as in segment_anything):

* ``segmentation``: ``output_mode="binary_mask"`` (their default) an H×W bool array;
  ``"coco_rle"`` a COCO RLE dict ``{"size": [h, w], "counts": str}`` (pycocotools'
  compressed string); ``"uncompressed_rle"`` the same with ``counts`` a list of runs;
* ``area`` (int), ``bbox`` and ``crop_box`` ([x, y, w, h], integers),
  ``predicted_iou`` and ``stability_score`` (floats), ``point_coords`` ([[x, y]]).

The masks keep their order and those per-mask fields become the MaskSet's scores
(``predicted_iou`` is what ``conflict="score"`` ranks by); anything else is ignored.
"""
from __future__ import annotations

import os
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from ..limits import limits
from .rle import decode_coco_rle

__all__ = ["MaskSet", "as_maskset", "annotations_to_maskset", "is_annotation_list", "ANNOTATION_SCORES", "pack_words",
           "popcount", "empty_maskset", "check_mask_count"]

try:  # numpy >= 2.0 has a vectorised popcount
    _bitwise_count = np.bitwise_count
except AttributeError:  # pragma: no cover - numpy 1.x
    _POPCOUNT = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)

    def _bitwise_count(array: np.ndarray) -> np.ndarray:
        return _POPCOUNT[array.view(np.uint8)].reshape(array.shape + (-1,)).sum(-1)


def check_mask_count(source: Union[str, os.PathLike], count: int, words_per_mask: int) -> None:
    """Refuse ``count`` masks of ``words_per_mask`` 64-bit words above the mask limits.

    ``SAMCAM_MAX_MASKS`` bounds K, ``SAMCAM_MAX_MASK_BYTES`` the bit-packed memory
    K × ⌈H·W/64⌉ × 8; checked from what a file declares, before allocating it.
    """
    lim = limits()
    if count > lim.max_masks:
        raise ValueError(f"{source}: {count:,} masks, more than the limit of {lim.max_masks:,} "
                         "(raise SAMCAM_MAX_MASKS if the file is genuine)")
    if count * words_per_mask * 8 > lim.max_mask_bytes:
        raise ValueError(
            f"{source}: {count:,} masks of {words_per_mask * 64:,} bits need {count * words_per_mask * 8:,} bytes, "
            f"more than the limit of {lim.max_mask_bytes:,} (raise SAMCAM_MAX_MASK_BYTES if the file is genuine)"
        )


def pack_words(flat: np.ndarray) -> np.ndarray:
    """Bit-pack a 1-D bool array into zero-padded uint64 words (same layout as MaskSet.words)."""
    packed = np.packbits(flat)
    pad = (-packed.size) % 8
    if pad:
        packed = np.concatenate([packed, np.zeros(pad, np.uint8)])
    return packed.view(np.uint64)


def popcount(words: np.ndarray, axis: int = -1) -> np.ndarray:
    """Set bits of a uint64 array summed along ``axis`` -> int64."""
    return _bitwise_count(words).sum(axis=axis, dtype=np.int64)


class MaskSet:
    """K binary masks of one H×W image, stored bit-packed.

    Attributes:
        packed: (K, ceil(H*W/8)) uint8, row-major pixels, ``np.packbits`` bit order.
        image_shape: (H, W).
        scores: dict of per-mask arrays with K rows (e.g. ``predicted_iou`` (K,),
            ``bbox`` (K, 4) XYWH); may be empty.

    ``np.asarray(maskset)`` and :attr:`dense` give the K×H×W bool array.
    """

    __slots__ = ("packed", "image_shape", "scores", "_areas", "_words")

    def __init__(self, packed: np.ndarray, image_shape: Tuple[int, int], scores: Optional[Mapping[str, np.ndarray]] = None):
        height, width = (int(v) for v in image_shape)
        packed = np.asarray(packed, dtype=np.uint8)
        if packed.ndim != 2 or packed.shape[1] != (height * width + 7) // 8:
            raise ValueError(
                f"packed masks must be (K, ceil(H*W/8)) = (K, {(height * width + 7) // 8}), got {packed.shape}"
            )
        self.packed = packed
        self.image_shape = (height, width)
        self.scores = {key: np.asarray(value) for key, value in (scores or {}).items()}
        for key, value in self.scores.items():
            if value.shape[:1] != (len(packed),):
                raise ValueError(f"score field {key!r} has {value.shape[:1]} rows for {len(packed)} masks")
        self._areas: Optional[np.ndarray] = None
        self._words: Optional[np.ndarray] = None

    @classmethod
    def from_dense(cls, masks: np.ndarray, scores: Optional[Mapping[str, np.ndarray]] = None) -> "MaskSet":
        """Pack a K×H×W bool array (K may be 0)."""
        masks = np.asarray(masks)
        if masks.ndim != 3:
            raise ValueError(f"masks must be K×H×W, got shape {masks.shape}")
        if masks.dtype != np.bool_:
            raise ValueError(
                f"masks must be boolean, got dtype {masks.dtype}; convert 0/255 or 0/1 mask images with `masks > 0`"
            )
        count, height, width = masks.shape
        packed = np.packbits(masks.reshape(count, height * width), axis=1)
        return cls(packed, (height, width), scores)

    @classmethod
    def from_words(cls, words: np.ndarray, image_shape: Tuple[int, int], scores: Optional[Mapping[str, np.ndarray]] = None) -> "MaskSet":
        """Wrap (K, ceil(H*W/64)) uint64 words (zero-padded bits, as :attr:`words`)."""
        height, width = (int(v) for v in image_shape)
        words = np.ascontiguousarray(words, dtype=np.uint64)
        if words.ndim != 2 or words.shape[1] != (height * width + 63) // 64:
            raise ValueError(f"words must be (K, ceil(H*W/64)) = (K, {(height * width + 63) // 64}), got {words.shape}")
        maskset = cls(words.view(np.uint8)[:, : (height * width + 7) // 8], (height, width), scores)
        maskset._words = words
        return maskset

    def __len__(self) -> int:
        return self.packed.shape[0]

    @property
    def shape(self) -> Tuple[int, int, int]:
        """(K, H, W), as the dense array's shape."""
        return (len(self),) + self.image_shape

    @property
    def areas(self) -> np.ndarray:
        """(K,) int64 pixel count of each mask."""
        if self._areas is None:
            self._areas = popcount(self.words, axis=1)
        return self._areas

    @property
    def words(self) -> np.ndarray:
        """(K, ceil(H*W/64)) uint64 view of the bits, zero-padded (for AND + popcount)."""
        if self._words is None:
            packed = self.packed
            pad = (-packed.shape[1]) % 8
            if pad:
                packed = np.concatenate([packed, np.zeros((len(packed), pad), np.uint8)], axis=1)
            self._words = np.ascontiguousarray(packed).view(np.uint64)
        return self._words

    @property
    def dense(self) -> np.ndarray:
        """K×H×W bool array (a new array each call)."""
        height, width = self.image_shape
        flat = np.unpackbits(self.packed, axis=1, count=height * width)
        return flat.view(np.bool_).reshape(len(self), height, width)

    def __array__(self, dtype=None, copy=None):
        dense = self.dense
        return dense if dtype is None else dense.astype(dtype)

    def __getitem__(self, index: int) -> np.ndarray:
        height, width = self.image_shape
        return np.unpackbits(self.packed[index], count=height * width).view(np.bool_).reshape(height, width)

    def __repr__(self) -> str:
        return f"MaskSet(K={len(self)}, H={self.image_shape[0]}, W={self.image_shape[1]}, scores={sorted(self.scores)})"


def as_maskset(masks: Union[MaskSet, np.ndarray, Sequence[np.ndarray], Sequence[Mapping]],
               image_shape: Optional[Tuple[int, int]] = None) -> MaskSet:
    """Turn masks in any in-memory form into a MaskSet.

    ``masks``: a MaskSet (returned as is), a K×H×W bool array, a list of H×W bool
    arrays, or a mask generator's ``generate()`` output: a list of dicts whose
    ``segmentation`` is an H×W bool array or a COCO RLE, their ``predicted_iou``,
    ``stability_score``, ``area``, ``bbox``, ``point_coords`` and ``crop_box`` kept as
    scores (:func:`annotations_to_maskset`).
    ``image_shape`` (H, W) is needed only for an empty list (K = 0).
    """
    if isinstance(masks, MaskSet):
        return masks
    if isinstance(masks, np.ndarray):
        return MaskSet.from_dense(masks)
    masks = list(masks)
    if not masks:
        if image_shape is None:
            raise ValueError("an empty mask list needs image_shape")
        return empty_maskset(image_shape)
    if is_annotation_list(masks):
        return annotations_to_maskset(masks)
    return _stacked(masks)


def _stacked(masks: list) -> MaskSet:
    """A non-empty list of H×W bool arrays -> MaskSet (ValueError naming a bad one)."""
    shapes = {np.shape(m) for m in masks}
    if len(shapes) != 1:
        raise ValueError(f"masks in the list have different shapes: {sorted(shapes)}")
    for index, mask in enumerate(masks):
        if np.asarray(mask).dtype != np.bool_:
            raise ValueError(f"mask {index} is {np.asarray(mask).dtype}, not bool; pass `mask > 0`")
    return MaskSet.from_dense(np.stack(masks))


def empty_maskset(image_shape: Tuple[int, int]) -> MaskSet:
    """A MaskSet of zero masks for an H×W image."""
    height, width = (int(v) for v in image_shape)
    return MaskSet(np.zeros((0, (height * width + 7) // 8), np.uint8), (height, width))


# Per-mask fields kept as scores: the dtype they are kept in and the shape of one
# mask's value. The integer fields fall back to float64 when a value is not whole.
ANNOTATION_SCORES: Dict[str, Tuple[type, Tuple[int, ...]]] = {
    "predicted_iou": (np.float32, ()),
    "stability_score": (np.float32, ()),
    "area": (np.int64, ()),
    "bbox": (np.int64, (4,)),
    "point_coords": (np.float64, (2,)),
    "crop_box": (np.int64, (4,)),
}
_WHAT = {(): "a number", (4,): "4 numbers [x, y, w, h]", (2,): "a point [[x, y]]"}
_FORMS = ("an H×W bool array (output_mode='binary_mask') or a COCO RLE dict "
          "(output_mode='coco_rle' or 'uncompressed_rle')")


def is_annotation_list(masks: Sequence[Any]) -> bool:
    """True when any item of ``masks`` is a dict: a generator's annotations, not arrays."""
    return any(isinstance(item, Mapping) for item in masks)


def annotations_to_maskset(annotations: Sequence[Mapping[str, Any]],
                           image_shape: Optional[Tuple[int, int]] = None) -> MaskSet:
    """A mask generator's ``generate()`` output -> MaskSet, masks in order, with scores.

    Args:
        annotations: a list of dicts, each with ``segmentation``: an H×W bool array or
            a COCO RLE dict (compressed string or uncompressed list ``counts``); every
            mask the same H×W. Of ``predicted_iou``, ``stability_score`` (kept as
            float32), ``area``, ``bbox``, ``crop_box`` (int64; float64 if a value is
            not whole) and ``point_coords`` (float64, (K, 2) x, y; ``[[x, y]]`` or
            ``[x, y]``), those the dicts have are kept as scores.
        image_shape: (H, W), needed only for an empty list (K = 0).

    Returns:
        A :class:`MaskSet` of K masks with those fields as (K,) / (K, 4) / (K, 2) scores.

    Raises:
        ValueError: naming the mask's index and what is wrong: not a dict, no
            ``segmentation``, a segmentation that is not a bool array or a valid RLE,
            a size other than the first mask's, a field some masks have and others
            lack, a field that is not finite numbers of the expected shape.
    """
    annotations = list(annotations)
    if not annotations:
        if image_shape is None:
            raise ValueError("an empty mask list needs image_shape")
        return empty_maskset(image_shape)
    packed, shape = _packed_masks(annotations)
    return MaskSet(np.stack(packed), shape, _scores(annotations))


def _packed_masks(annotations: List[Any]) -> Tuple[List[np.ndarray], Tuple[int, int]]:
    """Each annotation's mask, bit-packed as it is decoded, and their common (H, W)."""
    packed = []
    shape = None
    for index, annotation in enumerate(annotations):
        if not isinstance(annotation, Mapping):
            raise ValueError(f"mask {index} is {type(annotation).__name__}, not an annotation dict like the others "
                             "(a list mixes dicts and arrays?)")
        if "segmentation" not in annotation:
            keys = ", ".join(map(str, annotation)) or "none"
            raise ValueError(f"mask {index} has no 'segmentation' (its keys: {keys})")
        mask = _mask_of(index, annotation["segmentation"])
        if shape is None:
            shape = mask.shape
        elif mask.shape != shape:
            raise ValueError(f"mask {index} is {mask.shape[0]}×{mask.shape[1]}, mask 0 is {shape[0]}×{shape[1]}")
        packed.append(np.packbits(mask.reshape(-1)))
    return packed, shape


def _mask_of(index: int, segmentation: Any) -> np.ndarray:
    """One annotation's ``segmentation`` -> H×W bool (ValueError naming ``index`` otherwise)."""
    if isinstance(segmentation, Mapping):
        try:
            return decode_coco_rle(segmentation)
        except KeyError as error:
            raise ValueError(f"mask {index}: segmentation is not a valid COCO RLE (no {error.args[0]!r})") from None
        except (TypeError, ValueError, OverflowError) as error:
            raise ValueError(f"mask {index}: segmentation is not a valid COCO RLE ({error})") from None
    if not (isinstance(segmentation, np.ndarray) or hasattr(segmentation, "__array__")):
        raise ValueError(f"mask {index}: segmentation is a {type(segmentation).__name__}; expected {_FORMS}")
    mask = np.asarray(segmentation)
    if mask.ndim != 2:
        raise ValueError(f"mask {index}: segmentation has shape {mask.shape}; expected {_FORMS}")
    if mask.dtype != np.bool_:
        raise ValueError(f"mask {index}: segmentation is {mask.dtype}, not bool; pass `mask > 0`")
    return mask


def _scores(annotations: List[Mapping[str, Any]]) -> Dict[str, np.ndarray]:
    """The score fields the annotations have (all of them or none), as K-leading arrays."""
    scores = {}
    for key in ANNOTATION_SCORES:
        has = [key in annotation for annotation in annotations]
        if not any(has):
            continue
        if not all(has):
            raise ValueError(f"mask {has.index(False)} has no {key!r} but mask {has.index(True)} has one; "
                             "give every mask the same fields")
        scores[key] = _score_column(key, [annotation[key] for annotation in annotations])
    return scores


def _score_column(key: str, values: List[Any]) -> np.ndarray:
    """One field of every mask -> (K,) + shape array in the field's dtype."""
    dtype, shape = ANNOTATION_SCORES[key]
    column = _numbers(values)
    if key == "point_coords":
        column = _one_point(column, 3)
    if column is None or column.shape[1:] != shape or not np.isfinite(column).all():
        raise ValueError(_bad_value(key, values, shape))
    if dtype is np.int64 and not (column == np.round(column)).all():
        return column
    return column.astype(dtype)


def _numbers(values: Any) -> Optional[np.ndarray]:
    """``values`` as a float64 array, or None when they are not numbers of one shape
    (None becomes NaN here: the callers refuse values that are not finite)."""
    try:
        return np.array(values, dtype=np.float64)
    except (TypeError, ValueError, OverflowError):
        return None


def _one_point(points: Optional[np.ndarray], ndim: int) -> Optional[np.ndarray]:
    """SAM's ``[[x, y]]`` (the one point a mask came from) as ``[x, y]``: ``ndim`` 3 for
    every mask's, 2 for one mask's; other arrays (and None) as they are."""
    if points is not None and points.ndim == ndim and points.shape[-2] == 1:
        return points[..., 0, :]
    return points


def _bad_value(key: str, values: List[Any], shape: Tuple[int, ...]) -> str:
    """The message for a field whose values are not ``shape`` numbers each, naming the first bad mask."""
    for index, value in enumerate(values):
        one = _numbers(value)
        if key == "point_coords":
            one = _one_point(one, 2)
        if one is None or one.shape != shape or not np.isfinite(one).all():
            return f"mask {index}: {key} is {value!r:.60}, expected {_WHAT[shape]}"
    return f"the masks' {key} values are not numbers of one shape"

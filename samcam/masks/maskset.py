"""K binary masks of one image, bit-packed: :class:`MaskSet`.

A *mask set* is K binary masks of one H×W image (SAM's "segment everything" output or
weight-free proposals). :class:`MaskSet` keeps them bit-packed (K × ceil(H·W/8) uint8),
which is 8× smaller than a bool array and lets :func:`samcam.refine` count every
mask×class overlap with AND + popcount instead of touching each pixel byte.
"""
from __future__ import annotations

import os
from typing import Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from ..limits import limits

__all__ = ["MaskSet", "as_maskset", "pack_words", "popcount", "empty_maskset", "check_mask_count"]

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


def as_maskset(masks: Union[MaskSet, np.ndarray, Sequence[np.ndarray]], image_shape: Optional[Tuple[int, int]] = None) -> MaskSet:
    """Turn a K×H×W bool array, a list of H×W bool arrays or a MaskSet into a MaskSet.

    ``image_shape`` is needed only for an empty list (K = 0).
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

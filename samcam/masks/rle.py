"""COCO run-length encoding (what ``amg.py --convert-to-rle`` and pycocotools write).

Our own codec, checked against pycocotools in the tests, so reading amg.py's RLE JSON
needs no compiled dependency.
"""
from __future__ import annotations

from typing import Dict, List, Mapping

import numpy as np

__all__ = ["decode_coco_rle", "encode_coco_rle"]


def decode_coco_rle(rle: Mapping) -> np.ndarray:
    """Decode one COCO RLE (``{"size": [h, w], "counts": str | list}``) -> H×W bool.

    Handles pycocotools' compressed string counts and uncompressed integer lists.
    Runs are column-major (Fortran order) and start with background, as COCO defines.
    """
    height, width = (int(v) for v in rle["size"])
    counts = rle["counts"]
    if isinstance(counts, (bytes, str)):
        counts = _counts_from_string(counts.decode("ascii") if isinstance(counts, bytes) else counts)
    counts = np.asarray(counts, dtype=np.int64)
    if counts.size and (counts.min() < 0 or counts.sum() != height * width):
        raise ValueError(f"RLE counts sum to {counts.sum()}, not h*w = {height * width}")
    values = (np.arange(counts.size) % 2).astype(np.bool_)
    flat = np.repeat(values, counts)
    if flat.size != height * width:
        raise ValueError(f"RLE counts sum to {flat.size}, not h*w = {height * width}")
    return flat.reshape(width, height).T


def _counts_from_string(text: str) -> List[int]:
    # pycocotools' rleFrString: 5 bits per char (offset 48), bit 0x20 = more chars
    # follow, 0x10 = sign; from the third run on, values are deltas to run i-2.
    counts: List[int] = []
    position = 0
    length = len(text)
    while position < length:
        value = 0
        shift = 0
        more = True
        while more:
            if position >= length:
                raise ValueError("truncated compressed RLE string")
            char = ord(text[position]) - 48
            value |= (char & 0x1F) << (5 * shift)
            more = bool(char & 0x20)
            position += 1
            shift += 1
            if not more and (char & 0x10):
                value |= -1 << (5 * shift)
        if len(counts) > 2:
            value += counts[-2]
        counts.append(value)
    return counts


def encode_coco_rle(mask: np.ndarray) -> Dict[str, object]:
    """H×W bool -> COCO RLE with compressed string counts (pycocotools-compatible)."""
    mask = np.asarray(mask, dtype=np.bool_)
    height, width = mask.shape
    flat = mask.T.reshape(-1)
    change = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    bounds = np.concatenate([[0], change, [flat.size]])
    runs = np.diff(bounds).tolist()
    if flat.size and flat[0]:
        runs = [0] + runs
    chars = []
    for index, value in enumerate(runs):
        if index > 2:
            value -= runs[index - 2]
        more = True
        while more:
            char = value & 0x1F
            value >>= 5
            more = (value != -1) if (char & 0x10) else (value != 0)
            if more:
                char |= 0x20
            chars.append(chr(char + 48))
    return {"size": [height, width], "counts": "".join(chars)}

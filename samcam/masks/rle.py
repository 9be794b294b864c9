"""COCO run-length encoding (what ``amg.py --convert-to-rle`` and pycocotools write).

Our own codec, checked against pycocotools in the tests, so reading amg.py's RLE JSON
needs no compiled dependency.
"""
from __future__ import annotations

from typing import Dict, List, Mapping, Tuple

import numpy as np

from ..limits import limits

__all__ = ["decode_coco_rle", "encode_coco_rle", "rle_size"]


def rle_size(rle: Mapping) -> Tuple[int, int]:
    """``(h, w)`` of a COCO RLE, checked: two integers >= 0 (ValueError/TypeError/KeyError otherwise)."""
    size = rle["size"]
    if not isinstance(size, (list, tuple)) or len(size) != 2 or not all(
        isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= 0 for v in size
    ):
        raise ValueError(f"RLE size must be [h, w] (two integers >= 0), got {size!r:.60}")
    return int(size[0]), int(size[1])


def decode_coco_rle(rle: Mapping) -> np.ndarray:
    """Decode one COCO RLE (``{"size": [h, w], "counts": str | list}``) -> H×W bool.

    Handles pycocotools' compressed string counts and uncompressed integer lists.
    Runs are column-major (Fortran order) and start with background, as COCO defines.
    The size is checked against ``SAMCAM_MAX_PIXELS`` and the runs against the size
    before anything that large is built (ValueError otherwise).
    """
    height, width = rle_size(rle)
    pixels = height * width
    limit = limits().max_pixels
    if pixels > limit:
        raise ValueError(f"RLE size {height}×{width} is more than the limit of {limit:,} pixels "
                         "(raise SAMCAM_MAX_PIXELS if the masks are genuine)")
    counts = np.asarray(_run_lengths(rle["counts"], pixels), dtype=np.int64)
    if counts.sum() != pixels:
        raise ValueError(f"RLE counts sum to {counts.sum()}, not h*w = {pixels}")
    values = (np.arange(counts.size) % 2).astype(np.bool_)
    flat = np.repeat(values, counts)
    return flat.reshape(width, height).T


def _run_lengths(counts, pixels: int) -> List[int]:
    """An RLE's ``counts`` (compressed string or integer list) as run lengths, each within 0..pixels."""
    # there are never more runs than pixels + 1 (a leading empty background run)
    if isinstance(counts, (bytes, str)):
        counts = _counts_from_string(counts.decode("ascii") if isinstance(counts, bytes) else counts, pixels + 1)
    elif isinstance(counts, list):
        _check_integer_runs(counts, pixels)
    else:
        raise ValueError(f"RLE counts must be a string or a list of integers, got {type(counts).__name__}")
    if any(v < 0 or v > pixels for v in counts):
        raise ValueError(f"RLE runs must lie within 0..h*w = {pixels}")
    return counts


def _check_integer_runs(counts: list, pixels: int) -> None:
    if len(counts) > pixels + 1:
        raise ValueError(f"{len(counts)} RLE runs for {pixels} pixels")
    if not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in counts):
        raise ValueError("uncompressed RLE counts must be integers")


def _counts_from_string(text: str, max_runs: int) -> List[int]:
    # pycocotools' rleFrString: 5 bits per char (offset 48), bit 0x20 = more chars
    # follow, 0x10 = sign; from the third run on, values are deltas to run i-2.
    # pycocotools keeps a run in a 64-bit integer: at most 13 characters.
    counts: List[int] = []
    position = 0
    length = len(text)
    while position < length:
        if len(counts) >= max_runs:
            raise ValueError(f"more than {max_runs} RLE runs for {max_runs - 1} pixels")
        value = 0
        shift = 0
        more = True
        while more:
            if position >= length:
                raise ValueError("truncated compressed RLE string")
            if shift >= 13:
                raise ValueError("compressed RLE run longer than 13 characters (64 bits)")
            char = ord(text[position]) - 48
            if not 0 <= char < 64:
                raise ValueError(f"character {text[position]!r} at {position} is not compressed RLE")
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

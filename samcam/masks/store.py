"""samcam's mask store: one ``{name}.masks.npz`` file per image.

An uncompressed npz holding ``format`` (``"samcam-masks/1"``), ``image_shape`` (H, W),
``spans`` (K×2: first word and word count of each mask), ``words_lzma`` (each mask's
row-major ``np.packbits`` bits as little-endian 64-bit words, only its span from its
first to its last set word, concatenated and LZMA-compressed) and SAM's per-mask
fields as ``score_<field>``. Mask order is kept; nothing is pickled.
"""
from __future__ import annotations

import io
import lzma
import os
import zipfile
from pathlib import Path
from typing import Mapping, Optional, Tuple

import numpy as np

from ..io import atomic_write_bytes
from .maskset import MaskSet, as_maskset

__all__ = ["STORE_SUFFIX", "write", "load_store", "store_path"]

STORE_SUFFIX = ".masks.npz"
_FORMAT = "samcam-masks/1"


def store_path(path: os.PathLike) -> Path:
    path = Path(path)
    return path if path.name.endswith(STORE_SUFFIX) else path.with_name(path.name + STORE_SUFFIX)


def write(path: os.PathLike, masks, scores: Optional[Mapping[str, np.ndarray]] = None) -> Path:
    """Write one image's masks to a store file, atomically.

    Args:
        path: destination; ``.masks.npz`` is appended unless the name already ends so.
        masks: K×H×W bool array, list of H×W bool arrays, or a MaskSet.
        scores: optional per-mask arrays with K rows (SAM's ``predicted_iou``,
            ``stability_score``, ``bbox``, ...); a MaskSet's own scores are used otherwise.

    Returns:
        The path written.
    """
    maskset = as_maskset(masks)
    fields = dict(maskset.scores)
    fields.update({key: np.asarray(value) for key, value in (scores or {}).items()})
    for key, value in fields.items():
        if value.shape[:1] != (len(maskset),):
            raise ValueError(f"score field {key!r} has {value.shape[:1]} rows for {len(maskset)} masks")
        if value.dtype == object:
            raise ValueError(f"score field {key!r} must be a numeric array")
    # Each mask keeps only the span of 64-bit words between its first and last set bit
    # (a SAM mask covers a band of rows), and the spans are LZMA-compressed (preset 1):
    # on SAM-like masks 5x smaller than amg.py's PNGs and faster to decompress than
    # deflate (benchmarks/bench_refine.py). The npz container itself is uncompressed.
    words = maskset.words
    nonzero = words != 0
    has_bits = nonzero.any(axis=1)
    first = np.where(has_bits, np.argmax(nonzero, axis=1), 0)
    last = words.shape[1] - 1 - np.argmax(nonzero[:, ::-1], axis=1)
    length = np.where(has_bits, last - first + 1, 0)
    chunks = [words[k, first[k]: first[k] + length[k]] for k in range(len(maskset))]
    payload = np.concatenate(chunks).astype("<u8") if chunks else np.zeros(0, "<u8")
    buffer = io.BytesIO()
    np.savez(
        buffer,
        format=np.array(_FORMAT),
        image_shape=np.array(maskset.image_shape, dtype=np.int64),
        spans=np.stack([first, length], axis=1).astype(np.int64).reshape(-1, 2),
        words_lzma=np.frombuffer(lzma.compress(payload.tobytes(), preset=1), dtype=np.uint8),
        **{f"score_{key}": value for key, value in fields.items()},
    )
    return atomic_write_bytes(store_path(path), buffer.getvalue())


def load_store(path: Path) -> MaskSet:
    if not zipfile.is_zipfile(path):  # np.load would otherwise try (and refuse) a pickle
        raise ValueError(f"{path}: corrupt or truncated mask store file (not an npz archive)")
    try:
        with np.load(path, allow_pickle=False) as archive:
            if "format" not in archive.files or str(archive["format"]) != _FORMAT:
                raise ValueError(f"{path}: not a samcam mask store file (missing format tag {_FORMAT!r})")
            shape = tuple(int(v) for v in archive["image_shape"])
            spans = archive["spans"]
            payload = np.frombuffer(lzma.decompress(archive["words_lzma"].tobytes()), dtype="<u8")
            words = _words_from_spans(spans, payload, shape)
            scores = {key[len("score_"):]: archive[key] for key in archive.files if key.startswith("score_")}
            return MaskSet.from_words(words, shape, scores)
    except (zipfile.BadZipFile, EOFError, OSError, KeyError, lzma.LZMAError) as error:
        raise ValueError(f"{path}: corrupt or truncated mask store file ({error})") from error
    except ValueError as error:
        if str(path) in str(error):
            raise
        raise ValueError(f"{path}: invalid mask store file ({error})") from error


def _words_from_spans(spans: np.ndarray, payload: np.ndarray, image_shape: Tuple[int, int]) -> np.ndarray:
    """Place each mask's stored word span into a zeroed (K, ceil(H*W/64)) uint64 array."""
    width = (image_shape[0] * image_shape[1] + 63) // 64
    spans = np.asarray(spans, dtype=np.int64).reshape(-1, 2)
    starts, lengths = spans[:, 0], spans[:, 1]
    if (starts < 0).any() or (lengths < 0).any() or (starts + lengths > width).any():
        raise ValueError(f"mask spans fall outside {image_shape[0]}×{image_shape[1]} images")
    if lengths.sum() != payload.size:
        raise ValueError(f"{payload.size} words of masks stored for spans of {lengths.sum()}")
    words = np.zeros((len(spans), width), np.uint64)
    offset = 0
    for row, (start, length) in enumerate(zip(starts.tolist(), lengths.tolist())):
        words[row, start: start + length] = payload[offset: offset + length]
        offset += length
    return words

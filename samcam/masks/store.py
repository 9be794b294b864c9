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
import math
import os
import zipfile
from pathlib import Path
from typing import Dict, Mapping, Optional, Tuple

import numpy as np

from ..io import atomic_write_bytes, check_input_file, check_pixels, read_npy_header
from ..limits import limits, on_memory_error
from .maskset import MaskSet, as_maskset, check_mask_count

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


def _read_members(path: Path) -> Dict[str, np.ndarray]:
    """Every ``.npy`` member of the npz at ``path``, each checked before it is read.

    A member's header declares its shape: it must fit in the member's declared size
    (numpy would allocate the declared shape first), members may only be stored or
    deflated, and the unpacked total stays within ``SAMCAM_MAX_FILE_BYTES``.
    """
    limit = limits().max_file_bytes
    arrays: Dict[str, np.ndarray] = {}
    with zipfile.ZipFile(path) as archive:
        infos = archive.infolist()
        total = sum(info.file_size for info in infos)
        if total > limit:
            raise ValueError(f"its members unpack to {total:,} bytes, more than the limit of {limit:,} "
                             "(raise SAMCAM_MAX_FILE_BYTES if the file is genuine)")
        for info in infos:
            if info.filename.endswith(".npy") and info.filename[:-4] not in arrays:
                arrays[info.filename[:-4]] = _read_member(archive, info)
    return arrays


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> np.ndarray:
    """One ``.npy`` member, its declared shape checked against its declared size first."""
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise ValueError(f"member {info.filename!r} uses compression {info.compress_type}")
    with archive.open(info) as member:
        shape, fortran, dtype = read_npy_header(member)
        if dtype.hasobject:
            raise ValueError(f"member {info.filename!r} holds Python objects")
        size = math.prod(shape) * dtype.itemsize
        if size > info.file_size:
            raise ValueError(f"member {info.filename!r} declares {shape} {dtype}, more than it holds")
        data = member.read(size)
    if len(data) != size:
        raise ValueError(f"member {info.filename!r} is truncated")
    array = np.frombuffer(bytearray(data), dtype=dtype)  # writable, as np.load gives
    return array.reshape(shape[::-1]).T if fortran else array.reshape(shape)


def _integers(archive: Mapping[str, np.ndarray], key: str) -> np.ndarray:
    value = archive.get(key)
    if value is None:
        raise ValueError(f"missing field {key!r}")
    if value.dtype.kind not in "iu":
        raise ValueError(f"field {key!r} is {value.dtype}, not integers")
    return value


def load_store(path: Path) -> MaskSet:
    """Read a ``.masks.npz`` store file -> :class:`MaskSet` (ValueError naming ``path`` if invalid).

    Declared sizes are checked against :mod:`samcam.limits` before anything of that size
    is allocated, and the LZMA payload is decompressed no further than the spans declare.
    Running out of memory all the same is an ImageError naming the file.
    """
    path = Path(path)
    check_input_file(path, "mask store file")
    if not zipfile.is_zipfile(path):  # np.load would otherwise try (and refuse) a pickle
        raise ValueError(f"{path}: corrupt or truncated mask store file (not an npz archive)")
    try:
        with on_memory_error(path, "mask store file"):
            return _maskset_of(path, _read_members(path))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, KeyError, lzma.LZMAError,
            NotImplementedError, RuntimeError, SyntaxError) as error:
        raise ValueError(f"{path}: corrupt or truncated mask store file ({type(error).__name__}: {error})") from error
    except ValueError as error:
        if str(path) in str(error):
            raise
        raise ValueError(f"{path}: invalid mask store file ({error})") from error


def _maskset_of(path: Path, archive: Mapping[str, np.ndarray]) -> MaskSet:
    """The store's members (checked field by field) -> MaskSet."""
    if "format" not in archive or archive["format"].dtype.kind not in "US" or str(archive["format"]) != _FORMAT:
        raise ValueError(f"{path}: not a samcam mask store file (missing format tag {_FORMAT!r})")
    shape = _image_shape(path, archive)
    spans = _integers(archive, "spans")
    if spans.ndim != 2 or spans.shape[1] != 2:
        raise ValueError(f"spans must be K×2, got shape {spans.shape}")
    check_mask_count(path, len(spans), (shape[0] * shape[1] + 63) // 64)
    words_lzma = archive.get("words_lzma")
    if words_lzma is None or words_lzma.dtype != np.uint8 or words_lzma.ndim != 1:
        raise ValueError("field 'words_lzma' must be a 1-D uint8 array")
    scores = _scores(archive)
    words = _words_from_spans(spans, words_lzma.tobytes(), shape)
    return MaskSet.from_words(words, shape, scores)


def _image_shape(path: Path, archive: Mapping[str, np.ndarray]) -> Tuple[int, int]:
    shape_field = _integers(archive, "image_shape")
    if shape_field.shape != (2,) or (shape_field < 1).any():
        raise ValueError(f"image_shape must be two positive integers (H, W), got {shape_field.tolist()}")
    shape = (int(shape_field[0]), int(shape_field[1]))
    check_pixels(path, shape[1], shape[0], "mask store image")
    return shape


def _scores(archive: Mapping[str, np.ndarray]) -> Dict[str, np.ndarray]:
    scores = {key[len("score_"):]: archive[key] for key in archive if key.startswith("score_")}
    for key, value in scores.items():
        if value.dtype.kind not in "biuf":
            raise ValueError(f"score field {key!r} is {value.dtype}, not numbers")
    return scores


# LZMA streams declare a dictionary size; samcam writes preset 1 (1 MiB). A bound keeps
# a hostile header from making the decoder allocate gigabytes.
_LZMA_MEMLIMIT = 256 * 2**20


def _words_from_spans(spans: np.ndarray, compressed: bytes, image_shape: Tuple[int, int]) -> np.ndarray:
    """Place each mask's stored word span into a zeroed (K, ceil(H*W/64)) uint64 array."""
    width = (image_shape[0] * image_shape[1] + 63) // 64
    starts, lengths = _checked_spans(spans, width, image_shape)
    payload = _decompress_words(compressed, int(lengths.sum()))
    words = np.zeros((len(starts), width), np.uint64)
    offset = 0
    for row, (start, length) in enumerate(zip(starts.tolist(), lengths.tolist())):
        words[row, start: start + length] = payload[offset: offset + length]
        offset += length
    _clear_padding(words, image_shape[0] * image_shape[1])
    return words


def _checked_spans(spans: np.ndarray, width: int, image_shape: Tuple[int, int]) -> Tuple[np.ndarray, np.ndarray]:
    """``(starts, lengths)`` of the spans, each inside a row of ``width`` words."""
    outside = ValueError(f"mask spans fall outside {image_shape[0]}×{image_shape[1]} images")
    spans = np.asarray(spans).reshape(-1, 2)
    if spans.dtype.kind == "u" and spans.size and spans.max() > np.iinfo(np.int64).max:
        raise outside
    spans = spans.astype(np.int64)
    starts, lengths = spans[:, 0], spans[:, 1]
    # each bound on its own first: starts + lengths could overflow int64
    if (starts < 0).any() or (lengths < 0).any() or (starts > width).any() or (lengths > width).any() \
            or (starts + lengths > width).any():
        raise outside
    return starts, lengths


def _decompress_words(compressed: bytes, count: int) -> np.ndarray:
    """Exactly ``count`` little-endian uint64 words from the LZMA payload (decompressing no further)."""
    expected = count * 8
    decompressor = lzma.LZMADecompressor(memlimit=_LZMA_MEMLIMIT)
    raw = decompressor.decompress(compressed, max_length=expected + 1) if compressed else b""
    if len(raw) != expected or (compressed and not decompressor.eof) or decompressor.unused_data:
        if len(raw) > expected:
            raise ValueError(f"the compressed masks hold more than the {count} words their spans declare")
        raise ValueError(f"{len(raw) // 8} words of masks stored for spans of {count}")
    return np.frombuffer(raw, dtype="<u8")


def _clear_padding(words: np.ndarray, pixels: int) -> None:
    # bits past the last pixel are padding: a file may not set them (they would count as area)
    data = words.view(np.uint8)
    data[:, (pixels + 7) // 8:] = 0
    if pixels % 8:
        data[:, pixels // 8] &= np.uint8((0xFF << (8 - pixels % 8)) & 0xFF)

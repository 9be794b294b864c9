"""Mask sets and the mask store.

A *mask set* is K binary masks of one H×W image (SAM's "segment everything" output or
weight-free proposals). :class:`MaskSet` keeps them bit-packed (K × ceil(H·W/8) uint8),
which is 8× smaller than a bool array and lets :func:`samcam.refine` count every
mask×class overlap with AND + popcount instead of touching each pixel byte.

On disk, three per-image forms are read, auto-detected in a mask folder:

* ``{name}.masks.npz`` — samcam's store: one compressed file per image, mask order and
  SAM's per-mask scores (``predicted_iou``, ``stability_score``, ``bbox``, ...) kept.
* ``{name}/`` — what SAM's ``scripts/amg.py`` writes by default: ``0.png``, ``1.png``,
  ... (255 = in mask) plus ``metadata.csv``.
* ``{name}.json`` — ``amg.py --convert-to-rle``: a list of annotations whose
  ``segmentation`` is COCO RLE (compressed string or uncompressed counts).
"""
from __future__ import annotations

import csv
import io
import json
import lzma
import os
import zipfile
from pathlib import Path
from typing import Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
from PIL import Image

from .io import atomic_write_bytes

__all__ = [
    "MaskSet",
    "as_maskset",
    "write",
    "read",
    "load",
    "find",
    "STORE_SUFFIX",
    "decode_coco_rle",
    "encode_coco_rle",
]

STORE_SUFFIX = ".masks.npz"
_FORMAT = "samcam-masks/1"
# Per-mask fields of SAM's annotations kept in the store (K-leading arrays).
SCORE_FIELDS = ("predicted_iou", "stability_score", "bbox", "area", "point_coords", "crop_box")

try:  # numpy >= 2.0 has a vectorised popcount
    _bitwise_count = np.bitwise_count
except AttributeError:  # pragma: no cover - numpy 1.x
    _POPCOUNT = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)

    def _bitwise_count(array: np.ndarray) -> np.ndarray:
        return _POPCOUNT[array.view(np.uint8)].reshape(array.shape + (-1,)).sum(-1)


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

    def subset(self, indices: Sequence[int]) -> "MaskSet":
        """The masks at ``indices`` (in that order), with their scores."""
        indices = np.asarray(indices, dtype=np.int64)
        return MaskSet(self.packed[indices], self.image_shape, {k: v[indices] for k, v in self.scores.items()})

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
        return MaskSet(np.zeros((0, (image_shape[0] * image_shape[1] + 7) // 8), np.uint8), image_shape)
    shapes = {np.shape(m) for m in masks}
    if len(shapes) != 1:
        raise ValueError(f"masks in the list have different shapes: {sorted(shapes)}")
    for index, mask in enumerate(masks):
        if np.asarray(mask).dtype != np.bool_:
            raise ValueError(f"mask {index} is {np.asarray(mask).dtype}, not bool; pass `mask > 0`")
    return MaskSet.from_dense(np.stack(masks))


# ----------------------------------------------------------------------------- store

def _store_path(path: os.PathLike) -> Path:
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
    return atomic_write_bytes(_store_path(path), buffer.getvalue())


def _load_store(path: Path) -> MaskSet:
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


# ------------------------------------------------------------------ amg.py PNG folder

def _load_png_folder(folder: Path, order: str = "numeric") -> MaskSet:
    files = [f for f in os.listdir(folder) if f.lower().endswith(".png")]
    if order == "numeric":
        try:
            files.sort(key=lambda f: int(Path(f).stem))
        except ValueError:
            raise ValueError(f"{folder}: mask PNGs must be named 0.png, 1.png, ... as amg.py writes them") from None
    elif order != "listdir":
        raise ValueError(f"unknown mask order {order!r}; use 'numeric' or 'listdir'")
    if not files:
        raise ValueError(f"{folder}: mask folder holds no PNG files")
    masks = []
    for filename in files:
        file_path = folder / filename
        try:
            with Image.open(file_path) as image:
                array = np.asarray(image.convert("L") if image.mode not in ("L", "1") else image)
        except (OSError, SyntaxError) as error:
            raise ValueError(f"{file_path}: cannot read mask PNG ({error})") from error
        if masks and array.shape != masks[0].shape:
            raise ValueError(f"{file_path}: mask is {array.shape}, but {files[0]} is {masks[0].shape}")
        masks.append(array > 127 if array.dtype != np.bool_ else array)
    scores = _read_metadata_csv(folder / "metadata.csv", files) if (folder / "metadata.csv").exists() else {}
    return MaskSet.from_dense(np.stack(masks), scores)


def _read_metadata_csv(path: Path, files: List[str]) -> Dict[str, np.ndarray]:
    """SAM's metadata.csv -> per-mask arrays, reordered to match ``files``."""
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            rows = {int(row["id"]): row for row in csv.DictReader(handle)}
        ordered = [rows[int(Path(f).stem)] for f in files]
        def column(*names):
            return np.array([[float(row[n]) for n in names] for row in ordered], dtype=np.float64)
        return {
            "area": column("area")[:, 0].astype(np.int64),
            "bbox": column("bbox_x0", "bbox_y0", "bbox_w", "bbox_h"),
            "point_coords": column("point_input_x", "point_input_y"),
            "predicted_iou": column("predicted_iou")[:, 0],
            "stability_score": column("stability_score")[:, 0],
            "crop_box": column("crop_box_x0", "crop_box_y0", "crop_box_w", "crop_box_h"),
        }
    except (KeyError, ValueError) as error:
        raise ValueError(f"{path}: unreadable amg.py metadata ({type(error).__name__}: {error})") from error


# -------------------------------------------------------------------- COCO RLE (JSON)

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


def _load_rle_json(path: Path) -> MaskSet:
    try:
        with open(path, encoding="utf-8") as handle:
            annotations = json.load(handle)
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"{path}: cannot read RLE JSON ({error})") from error
    if isinstance(annotations, dict) and "annotations" in annotations:
        annotations = annotations["annotations"]
    if not isinstance(annotations, list) or not annotations:
        raise ValueError(f"{path}: expected a non-empty list of amg.py annotations")
    masks = []
    for index, annotation in enumerate(annotations):
        try:
            masks.append(decode_coco_rle(annotation["segmentation"]))
        except (KeyError, TypeError, ValueError) as error:
            raise ValueError(f"{path}: annotation {index} has no valid RLE segmentation ({error})") from error
        if masks[-1].shape != masks[0].shape:
            raise ValueError(f"{path}: annotation {index} is {masks[-1].shape}, annotation 0 is {masks[0].shape}")
    scores = {}
    for key in SCORE_FIELDS:
        if all(key in a for a in annotations):
            try:
                value = np.array([a[key] for a in annotations], dtype=np.float64)
            except (TypeError, ValueError):
                continue
            if key == "point_coords" and value.ndim == 3:
                value = value[:, 0, :]
            if key == "area":
                value = value.astype(np.int64)
            scores[key] = value
    return MaskSet.from_dense(np.stack(masks), scores)


# ----------------------------------------------------------------------- dispatching

def load(path: os.PathLike, png_order: str = "numeric") -> MaskSet:
    """Read one image's masks from any supported form -> :class:`MaskSet`.

    Args:
        path: a ``.masks.npz`` store file, an amg.py PNG folder, or an amg.py RLE JSON.
        png_order: for PNG folders, ``"numeric"`` (0.png, 1.png, ... as amg.py wrote
            them) or ``"listdir"`` (the file system's order, as the reference code
            visits them; only to reproduce its order-dependent results).
    """
    path = Path(path)
    if path.is_dir():
        return _load_png_folder(path, png_order)
    if not path.exists():
        raise ValueError(f"{path}: mask file does not exist")
    if path.name.endswith(".npz"):
        return _load_store(path)
    if path.suffix.lower() == ".json":
        return _load_rle_json(path)
    raise ValueError(f"{path}: unknown mask format (expected *{STORE_SUFFIX}, *.json or an amg.py folder)")


def read(path: os.PathLike, png_order: str = "numeric") -> np.ndarray:
    """Read one image's masks from any supported form -> K×H×W bool array."""
    return load(path, png_order).dense


def find(mask_dir: os.PathLike, name: str) -> Path:
    """The mask file of image ``name`` in ``mask_dir``, whatever its form.

    Looks for ``{name}.masks.npz``, then ``{name}.json``, then a ``{name}/`` folder.
    Raises ``FileNotFoundError`` naming what it looked for.
    """
    mask_dir = Path(mask_dir)
    for candidate in (mask_dir / f"{name}{STORE_SUFFIX}", mask_dir / f"{name}.json", mask_dir / name):
        if candidate.exists():
            return candidate
    raise FileNotFoundError(
        f"no masks for {name!r} in {mask_dir} (looked for {name}{STORE_SUFFIX}, {name}.json, {name}/)"
    )


def names_in(mask_dir: os.PathLike) -> List[str]:
    """Image names that have masks in ``mask_dir`` (any supported form), sorted."""
    names = set()
    for entry in os.scandir(mask_dir):
        if entry.name.endswith(STORE_SUFFIX):
            names.add(entry.name[: -len(STORE_SUFFIX)])
        elif entry.name.endswith(".json"):
            names.add(entry.name[:-5])
        elif entry.is_dir():
            names.add(entry.name)
    return sorted(names)

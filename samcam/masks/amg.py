"""Readers for what segment-anything's ``scripts/amg.py`` writes, one image at a time.

* ``{name}/`` — the default output: ``0.png``, ``1.png``, ... plus ``metadata.csv``
  with SAM's per-mask scores. amg.py writes ``mask * 255`` (0 or 255,
  ``write_masks_to_folder``, scripts/amg.py:158); any nonzero pixel is read as inside
  the mask, so PNGs of 0/1 (``cv2.imwrite(mask.astype(np.uint8))``) read the same.
* ``{name}.json`` — ``amg.py --convert-to-rle``: a list of annotations whose
  ``segmentation`` is COCO RLE (compressed string or uncompressed counts).

Both text formats are bounded before they are parsed, because a parser's memory is
many times its input (60 MB of ``[],`` are 20 million lists, 1.4 GB):

* RLE JSON: an annotation is a handful of lists and objects (the annotation, its
  ``segmentation``, ``size``, ``bbox``, ``point_coords`` (a list of one point),
  ``crop_box``: 7, segment_anything/automatic_mask_generator.py:184-192; 8 with
  uncompressed ``counts``), so a file with more than 16 per mask of ``SAMCAM_MAX_MASKS``
  is refused after a scan of its bytes, before ``json.loads``;
* ``metadata.csv``: amg.py writes one row of about 150 bytes per mask, so a file of
  more than 4 KiB per mask PNG present, or a line longer than 4 KiB, is refused.
"""
from __future__ import annotations

import csv
import json
import os
import re
from pathlib import Path
from typing import Dict, Iterable, Iterator, List, Tuple

import numpy as np

from ..io import check_input_file, check_pixels, open_png
from ..limits import limits, on_memory_error
from .maskset import MaskSet, check_mask_count
from .rle import decode_coco_rle, rle_size

__all__ = ["load_png_folder", "load_rle_json", "SCORE_FIELDS"]

# Per-mask fields of SAM's annotations kept with the masks (K-leading arrays).
SCORE_FIELDS = ("predicted_iou", "stability_score", "bbox", "area", "point_coords", "crop_box")
# JSON lists and objects an RLE JSON may hold per mask allowed by SAMCAM_MAX_MASKS (amg.py's hold 7 to 9).
CONTAINERS_PER_MASK = 16
# Bytes of metadata.csv per mask PNG of its folder, and of any one line (amg.py's rows are ~150).
METADATA_BYTES_PER_ROW = 4096
# A JSON string, escapes included: what the container scan skips.
_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')


def _pack(mask: np.ndarray) -> np.ndarray:
    return np.packbits(mask.reshape(-1))


# ---------------------------------------------------------------------------- PNG folders

def load_png_folder(folder: Path, order: str = "numeric") -> MaskSet:
    """Read an amg.py PNG folder (``0.png``, ``1.png``, ... + ``metadata.csv``) -> MaskSet.

    Each PNG is checked (a real PNG, within ``SAMCAM_MAX_PIXELS``) and bit-packed as it
    is read, any nonzero pixel inside the mask; the mask count and their packed size are
    checked against the mask limits before reading (see :mod:`samcam.limits`).
    """
    folder = Path(folder)
    files = _mask_png_names(folder, order)
    check_mask_count(folder, len(files), 0)
    with on_memory_error(folder, "amg.py mask folder"):
        packed, shape = _read_mask_pngs(folder, files)
        metadata = folder / "metadata.csv"
        scores = _read_metadata_csv(metadata, files) if metadata.exists() else {}
        return MaskSet(np.stack(packed), shape, scores)


def _mask_png_names(folder: Path, order: str) -> List[str]:
    """The folder's PNG names in ``order`` ("numeric": 0.png, 1.png, ... 10.png; "listdir")."""
    files = [f for f in os.listdir(folder) if f.lower().endswith(".png")]
    if order == "numeric":
        try:
            # ties (1.png and 01.png) broken by name, so the order never depends on listdir
            files.sort(key=lambda f: (int(Path(f).stem), f))
        except ValueError:
            raise ValueError(f"{folder}: mask PNGs must be named 0.png, 1.png, ... as amg.py writes them") from None
    elif order != "listdir":
        raise ValueError(f"unknown mask order {order!r}; use 'numeric' or 'listdir'")
    if not files:
        raise ValueError(f"{folder}: mask folder holds no PNG files")
    return files


def _read_mask_pngs(folder: Path, files: List[str]) -> Tuple[List[np.ndarray], Tuple[int, int]]:
    """Each PNG bit-packed (nonzero = in the mask), and their common (H, W)."""
    packed = []
    shape = None
    for filename in files:
        file_path = folder / filename
        with open_png(file_path, "mask PNG") as image:
            if shape is None:
                shape = (image.height, image.width)
                check_mask_count(folder, len(files), (image.height * image.width + 63) // 64)
            elif (image.height, image.width) != shape:
                raise ValueError(f"{file_path}: mask is {(image.height, image.width)}, but {files[0]} is {shape}")
            array = _decode_mask(image, file_path)
        if array.shape != shape:
            raise ValueError(f"{file_path}: mask decodes to {array.shape}, expected {shape}")
        packed.append(_pack(array != 0))
    return packed, shape


def _decode_mask(image, file_path: Path) -> np.ndarray:
    try:
        return np.asarray(image.convert("L") if image.mode not in ("L", "1") else image)
    except MemoryError:
        raise
    except Exception as error:  # PIL's decoder errors vary by file: all mean "bad file"
        raise ValueError(f"{file_path}: cannot read mask PNG ({type(error).__name__}: {error})") from error


def _read_metadata_csv(path: Path, files: List[str]) -> Dict[str, np.ndarray]:
    """SAM's metadata.csv -> per-mask arrays, reordered to match ``files``.

    Its size is bounded by the PNGs present before it is parsed (METADATA_BYTES_PER_ROW
    per PNG and per line), and only the rows of those PNGs are kept.
    """
    size = check_input_file(path, "amg.py metadata")
    budget = (len(files) + 1) * METADATA_BYTES_PER_ROW
    if size > budget:
        raise ValueError(f"{path}: {size:,} bytes of amg.py metadata for {len(files)} mask PNG(s); amg.py writes one "
                         f"row of about 150 bytes per mask (at most {METADATA_BYTES_PER_ROW:,} per PNG are read)")
    wanted = {int(Path(f).stem) for f in files}
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            rows = {}
            for row in csv.DictReader(_bounded_lines(handle, path)):
                if int(row["id"]) in wanted:
                    rows[int(row["id"])] = row
        return _score_columns([rows[int(Path(f).stem)] for f in files])
    except (KeyError, ValueError, TypeError, OverflowError, csv.Error) as error:
        if str(error).startswith(str(path)):
            raise
        raise ValueError(f"{path}: unreadable amg.py metadata ({type(error).__name__}: {error})") from error


def _bounded_lines(lines: Iterable[str], path: Path) -> Iterator[str]:
    for number, line in enumerate(lines, 1):
        if len(line) > METADATA_BYTES_PER_ROW:
            raise ValueError(f"{path}: line {number} has {len(line):,} characters; amg.py's rows have about 150")
        yield line


def _score_columns(rows: List[Dict[str, str]]) -> Dict[str, np.ndarray]:
    """amg.py's metadata rows -> SCORE_FIELDS arrays (K rows each)."""
    def column(*names):
        return np.array([[float(row[n]) for n in names] for row in rows], dtype=np.float64)

    return {
        "area": column("area")[:, 0].astype(np.int64),
        "bbox": column("bbox_x0", "bbox_y0", "bbox_w", "bbox_h"),
        "point_coords": column("point_input_x", "point_input_y"),
        "predicted_iou": column("predicted_iou")[:, 0],
        "stability_score": column("stability_score")[:, 0],
        "crop_box": column("crop_box_x0", "crop_box_y0", "crop_box_w", "crop_box_h"),
    }


# ---------------------------------------------------------------------------- RLE JSON

def load_rle_json(path: Path) -> MaskSet:
    """Read an amg.py ``--convert-to-rle`` JSON -> MaskSet (ValueError naming ``path`` if invalid).

    The file's lists and objects are counted before it is parsed (see the module
    docstring), the annotation count and each RLE's declared size are checked against
    the mask limits before decoding, and masks are bit-packed as they are decoded.
    """
    path = Path(path)
    check_input_file(path, "RLE JSON")
    with on_memory_error(path, "RLE JSON"):
        annotations = _read_annotations(path)
        packed, shape = _decode_annotations(path, annotations)
        return MaskSet(np.stack(packed), shape, _annotation_scores(annotations))


def _read_annotations(path: Path) -> list:
    """The file's annotations (a non-empty list, within SAMCAM_MAX_MASKS), parsed within bounds."""
    try:
        with open(path, "rb") as handle:
            data = handle.read()
        _check_json_containers(path, data)
        text = data.decode("utf-8")
        del data  # the text alone while it is parsed
        annotations = json.loads(text)
    except (OSError, ValueError, RecursionError) as error:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        if str(error).startswith(str(path)):
            raise
        raise ValueError(f"{path}: cannot read RLE JSON ({type(error).__name__}: {error})") from error
    if isinstance(annotations, dict) and "annotations" in annotations:
        annotations = annotations["annotations"]
    if not isinstance(annotations, list) or not annotations:
        raise ValueError(f"{path}: expected a non-empty list of amg.py annotations")
    check_mask_count(path, len(annotations), 0)
    return annotations


def _check_json_containers(path: Path, data: bytes) -> None:
    """Refuse JSON with more lists and objects than SAMCAM_MAX_MASKS annotations hold, before parsing it."""
    max_masks = limits().max_masks
    allowed = CONTAINERS_PER_MASK * (max_masks + 1)
    # brackets inside strings count too (compressed RLE uses '[' and ']'): an upper bound,
    # exact enough for almost every file; otherwise count again without the strings
    if data.count(b"[") + data.count(b"{") <= allowed:
        return
    without_strings = _JSON_STRING.sub(b'""', data)
    count = without_strings.count(b"[") + without_strings.count(b"{")
    if count > allowed:
        raise ValueError(
            f"{path}: {count:,} JSON lists and objects, more than amg.py annotations of {max_masks:,} masks hold "
            f"(at most {CONTAINERS_PER_MASK} per mask; raise SAMCAM_MAX_MASKS if the file is genuine)"
        )


def _decode_annotations(path: Path, annotations: list) -> Tuple[List[np.ndarray], Tuple[int, int]]:
    """Each annotation's RLE decoded and bit-packed, all checked to share one (H, W)."""
    packed = []
    shape = None
    for index, annotation in enumerate(annotations):
        segmentation, size = _segmentation(path, index, annotation)
        if shape is None:
            shape = size
            if 0 in shape:
                raise ValueError(f"{path}: annotation {index} is an empty {shape[0]}×{shape[1]} mask")
            check_pixels(path, shape[1], shape[0], "RLE mask")
            check_mask_count(path, len(annotations), (shape[0] * shape[1] + 63) // 64)
        elif size != shape:
            raise ValueError(f"{path}: annotation {index} is {size}, annotation 0 is {shape}")
        try:
            packed.append(_pack(decode_coco_rle(segmentation)))
        except (KeyError, TypeError, ValueError, OverflowError) as error:
            raise ValueError(f"{path}: annotation {index} has no valid RLE segmentation ({error})") from error
    return packed, shape


def _segmentation(path: Path, index: int, annotation) -> tuple:
    try:
        segmentation = annotation["segmentation"]
        return segmentation, rle_size(segmentation)
    except (KeyError, TypeError, ValueError, IndexError) as error:
        raise ValueError(f"{path}: annotation {index} has no valid RLE segmentation ({error})") from error


def _annotation_scores(annotations: list) -> Dict[str, np.ndarray]:
    """The SCORE_FIELDS every annotation has, as K-leading float arrays; fields that are not numbers are left out."""
    scores = {}
    for key in SCORE_FIELDS:
        if all(isinstance(a, dict) and key in a for a in annotations):
            value = _score_field(key, [a[key] for a in annotations])
            if value is not None:
                scores[key] = value
    return scores


def _score_field(key: str, values: list):
    try:
        value = np.array(values, dtype=np.float64)
    except (TypeError, ValueError, OverflowError, RecursionError):
        return None
    if key == "point_coords" and value.ndim == 3:
        value = value[:, 0, :]
    if key == "area":
        if value.size and not (np.isfinite(value).all() and np.abs(value).max() < 2**62):
            return None
        value = value.astype(np.int64)
    return value

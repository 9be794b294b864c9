"""Readers for what segment-anything's ``scripts/amg.py`` writes, one image at a time.

* ``{name}/`` — the default output: ``0.png``, ``1.png``, ... (255 = in mask) plus
  ``metadata.csv`` with SAM's per-mask scores.
* ``{name}.json`` — ``amg.py --convert-to-rle``: a list of annotations whose
  ``segmentation`` is COCO RLE (compressed string or uncompressed counts).
"""
from __future__ import annotations

import csv
import json
import os
from pathlib import Path
from typing import Dict, List

import numpy as np

from ..io import check_input_file, check_pixels, open_png
from .maskset import MaskSet, check_mask_count
from .rle import decode_coco_rle, rle_size

__all__ = ["load_png_folder", "load_rle_json", "SCORE_FIELDS"]

# Per-mask fields of SAM's annotations kept with the masks (K-leading arrays).
SCORE_FIELDS = ("predicted_iou", "stability_score", "bbox", "area", "point_coords", "crop_box")


def _pack(mask: np.ndarray) -> np.ndarray:
    return np.packbits(mask.reshape(-1))


def load_png_folder(folder: Path, order: str = "numeric") -> MaskSet:
    """Read an amg.py PNG folder (``0.png``, ``1.png``, ... + ``metadata.csv``) -> MaskSet.

    Each PNG is checked (a real PNG, within ``SAMCAM_MAX_PIXELS``) and bit-packed as it
    is read; the mask count and their packed size are checked against the mask limits
    before reading (see :mod:`samcam.limits`).
    """
    folder = Path(folder)
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
    check_mask_count(folder, len(files), 0)
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
        packed.append(_pack(array > 127 if array.dtype != np.bool_ else array))
    scores = _read_metadata_csv(folder / "metadata.csv", files) if (folder / "metadata.csv").exists() else {}
    return MaskSet(np.stack(packed), shape, scores)


def _decode_mask(image, file_path: Path) -> np.ndarray:
    try:
        return np.asarray(image.convert("L") if image.mode not in ("L", "1") else image)
    except MemoryError:
        raise
    except Exception as error:  # PIL's decoder errors vary by file: all mean "bad file"
        raise ValueError(f"{file_path}: cannot read mask PNG ({type(error).__name__}: {error})") from error


def _read_metadata_csv(path: Path, files: List[str]) -> Dict[str, np.ndarray]:
    """SAM's metadata.csv -> per-mask arrays, reordered to match ``files``."""
    check_input_file(path, "amg.py metadata")
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
    except (KeyError, ValueError, TypeError, OverflowError, csv.Error) as error:
        raise ValueError(f"{path}: unreadable amg.py metadata ({type(error).__name__}: {error})") from error


def load_rle_json(path: Path) -> MaskSet:
    """Read an amg.py ``--convert-to-rle`` JSON -> MaskSet (ValueError naming ``path`` if invalid).

    The annotation count and each RLE's declared size are checked against the mask
    limits before decoding; masks are bit-packed as they are decoded.
    """
    path = Path(path)
    check_input_file(path, "RLE JSON")
    try:
        with open(path, encoding="utf-8") as handle:
            annotations = json.load(handle)
    except (OSError, ValueError, RecursionError) as error:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise ValueError(f"{path}: cannot read RLE JSON ({type(error).__name__}: {error})") from error
    if isinstance(annotations, dict) and "annotations" in annotations:
        annotations = annotations["annotations"]
    if not isinstance(annotations, list) or not annotations:
        raise ValueError(f"{path}: expected a non-empty list of amg.py annotations")
    check_mask_count(path, len(annotations), 0)
    packed = []
    shape = None
    for index, annotation in enumerate(annotations):
        try:
            segmentation = annotation["segmentation"]
            size = rle_size(segmentation)
        except (KeyError, TypeError, ValueError, IndexError) as error:
            raise ValueError(f"{path}: annotation {index} has no valid RLE segmentation ({error})") from error
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
    scores = {}
    for key in SCORE_FIELDS:
        if all(isinstance(a, dict) and key in a for a in annotations):
            try:
                value = np.array([a[key] for a in annotations], dtype=np.float64)
            except (TypeError, ValueError, OverflowError, RecursionError):
                continue
            if key == "point_coords" and value.ndim == 3:
                value = value[:, 0, :]
            if key == "area":
                if value.size and not (np.isfinite(value).all() and np.abs(value).max() < 2**62):
                    continue
                value = value.astype(np.int64)
            scores[key] = value
    return MaskSet(np.stack(packed), shape, scores)

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
from PIL import Image

from .maskset import MaskSet
from .rle import decode_coco_rle

__all__ = ["load_png_folder", "load_rle_json", "SCORE_FIELDS"]

# Per-mask fields of SAM's annotations kept with the masks (K-leading arrays).
SCORE_FIELDS = ("predicted_iou", "stability_score", "bbox", "area", "point_coords", "crop_box")


def load_png_folder(folder: Path, order: str = "numeric") -> MaskSet:
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


def load_rle_json(path: Path) -> MaskSet:
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

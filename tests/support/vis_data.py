"""A small VOC-like dataset whose per-image quality is known, for the tests of samcam.vis,
the evaluation report and ``samcam vis``/``samcam eval --report``."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from samcam import masks as mask_io
from samcam.images import write_label_png

H, W = 40, 56


def square_label(value: int, top: int, left: int, size: int) -> np.ndarray:
    """An (H, W) uint8 label: ``value`` on one square, 0 elsewhere."""
    label = np.zeros((H, W), dtype=np.uint8)
    label[top : top + size, left : left + size] = value
    return label


def build_dataset(root: Path, names=("a", "b", "c", "d"), image_suffix=".jpg") -> dict:
    """Small VOC-like folders: images, GT, two label sets (cam, refined), a mask store.

    Per-image quality is built so that, against the GT, ``refined`` beats ``cam`` by a
    known amount on some images and loses on others: image i's cam square is shifted by
    ``cam_shift[i]`` pixels and refined's by ``refined_shift[i]``.
    """
    rng = np.random.default_rng(0)
    folders = {key: root / key for key in ("JPEGImages", "SegmentationClass", "cam", "refined", "masks")}
    for folder in folders.values():
        folder.mkdir(parents=True)
    cam_shift = [8, 1, 4, 0, 6, 2]
    refined_shift = [0, 5, 4, 3, 1, 2]
    for index, name in enumerate(names):
        image = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
        Image.fromarray(image).save(folders["JPEGImages"] / f"{name}{image_suffix}")
        value = 1 + index % 4
        gt = square_label(value, 10, 10, 20)
        gt[0, :] = 255  # a VOC-style ignore border
        write_label_png(folders["SegmentationClass"] / f"{name}.png", gt, palette=True)
        write_label_png(folders["cam"] / f"{name}.png", square_label(value, 10, 10 + cam_shift[index], 20))
        write_label_png(folders["refined"] / f"{name}.png", square_label(value, 10, 10 + refined_shift[index], 20))
        dense = np.stack([square_label(1, 10, 10, 20) > 0, square_label(1, 0, 0, 8) > 0, np.ones((H, W), bool)])
        mask_io.write(folders["masks"] / name, dense)
    return {key: str(folder) for key, folder in folders.items()}

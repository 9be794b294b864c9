"""Small inputs for batch runs: label PNGs with their mask stores, and a job that returns
per-image numbers (shared by the tests of samcam.batch, samcam.folders and the CLI)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from samcam import masks as store
from samcam.batch import ImageStats
from samcam.demo.synthetic import cam_to_label, make_scene
from samcam.images import write_label_png


def scenes(root: Path, count: int = 6):
    """labels/im{i}.png and masks/im{i}.masks.npz of ``count`` synthetic scenes; returns both folders."""
    rng = np.random.default_rng(0)
    for index in range(count):
        scene = make_scene(rng, 32, 40)
        write_label_png(root / "labels" / f"im{index}.png", cam_to_label(scene.cam))
        store.write(root / "masks" / f"im{index}", scene.masks)
    return root / "labels", root / "masks"


def with_stats(name: str):
    """A batch job: ImageStats for a..d, a plain value for "plain", an error for "bad"."""
    if name == "plain":
        return "not numbers"
    if name == "bad":
        raise ValueError("bad image")
    changed = {"a": 0, "b": 30, "c": 10, "d": 0}[name]
    return ImageStats(pixels=100, changed=changed, masks_used={"a": 2, "b": 5, "c": 7, "d": 3}[name])

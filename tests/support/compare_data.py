"""Pseudo labels, ground truth and two mask sources, for the tests of ``samcam compare``
(samcam.sam.compare and samcam.cli.compare)."""
from __future__ import annotations

import numpy as np

from samcam import masks as mask_store
from samcam.images import write_label_png

SHAPE = (30, 40)


def mask_sources_dataset(root, seed=0, count=5):
    """Pseudo labels (a class blob, partly wrong), GT, and two mask sources: 'good'
    (masks on the true object) and 'coarse' (halves of the image)."""
    rng = np.random.default_rng(seed)
    names = [f"im{i}" for i in range(count)]
    for name in names:
        gt = np.zeros(SHAPE, np.uint8)
        y, x = rng.integers(5, 15), rng.integers(5, 20)
        gt[y:y + 10, x:x + 12] = 1 + int(rng.integers(0, 20))
        pseudo = np.zeros_like(gt)
        pseudo[y + 2:y + 8, x + 3:x + 10] = gt[y + 1, x + 1]  # partial activation
        write_label_png(root / "gt" / f"{name}.png", gt)
        write_label_png(root / "pseudo" / f"{name}.png", pseudo)
        obj = gt > 0
        mask_store.write(root / "good" / name, np.stack([obj, ~obj]))
        halves = np.zeros((2,) + SHAPE, bool)
        halves[0, :, :20] = True
        halves[1, :, 20:] = True
        extra = np.zeros((int(rng.integers(1, 4)),) + SHAPE, bool)
        extra[:, :3, :3] = True
        mask_store.write(root / "coarse" / name, np.concatenate([halves, extra]))
    return names

"""Random pseudo labels and masks for the rules' tests (tests/rules/)."""
from __future__ import annotations

import numpy as np


def random_case(rng, height=24, width=30, count=12, num_classes=21, ignore=True):
    """(label, masks): 1-3 class rectangles (5% ignore pixels), ``count`` rectangle or noise masks."""
    label = np.zeros((height, width), np.uint8)
    for cls in rng.choice(np.arange(1, num_classes), size=rng.integers(1, 4), replace=False):
        y, x = rng.integers(0, height - 4), rng.integers(0, width - 4)
        label[y:y + rng.integers(3, height - y + 1), x:x + rng.integers(3, width - x + 1)] = cls
    if ignore:
        label[rng.random((height, width)) < 0.05] = 255
    masks = np.zeros((count, height, width), bool)
    for k in range(count):
        y, x = rng.integers(0, height - 2), rng.integers(0, width - 2)
        masks[k, y:y + rng.integers(1, height - y + 1), x:x + rng.integers(1, width - x + 1)] = True
        if rng.random() < 0.3:
            masks[k] = rng.random((height, width)) < 0.3
    return label, masks

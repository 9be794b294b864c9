"""A deliberately naive re-statement of the reference code's rule (docs/rule.md),
one class and one mask at a time, used as the oracle for rule='official'."""
import numpy as np


def official_naive(label, masks, num_classes=21):
    out = np.zeros(label.shape, np.uint8)
    taken = [False] * len(masks)
    for cls in range(1, num_classes):
        region = label == cls
        if not region.any():
            continue
        union = np.zeros(label.shape, bool)
        selected = np.zeros(label.shape, bool)
        for index, mask in enumerate(masks):
            if taken[index]:
                continue
            union |= mask
            inter = int((mask & region).sum())
            if 2 * inter > int(mask.sum()) or inter >= 0.85 * int(region.sum()):
                taken[index] = True
                selected |= mask
        out[selected | (region & ~union)] = cls
    return out

"""Class activation maps -> pseudo labels, the way WSSS methods threshold them.

Every supported method turns its foreground CAMs into a pseudo label the same way: a
constant plane of the background threshold goes in front of the foreground maps, the
argmax picks a channel, and channel i > 0 maps back to its class (ties go to the
earlier channel, background first). Where a method stores its own background map
(MCTformer's CRF dicts) that map is the plane instead of a constant. Method adapters (``samcam.adapters``) read each
method's files into ``(classes, scores)`` and call these.
"""
from __future__ import annotations

from typing import Union

import numpy as np

__all__ = ["label_from_cams", "scores_from_cams"]


def label_from_cams(classes: np.ndarray, scores: np.ndarray, threshold: Union[float, np.ndarray]) -> np.ndarray:
    """Pseudo label from foreground CAMs and a background threshold.

    Args:
        classes: (K,) int label values (1..C-1) of the maps, in their stored order.
        scores: (K, H, W) float foreground scores (K may be 0).
        threshold: the constant background score, or an (H, W) background map.

    Returns:
        H×W uint8 label: 0 where no class scores above ``threshold``, else the class
        of the highest map.
    """
    scores = np.asarray(scores, dtype=np.float32)
    if scores.shape[0] == 0:
        return np.zeros(scores.shape[1:], np.uint8)
    background = np.broadcast_to(np.asarray(threshold, np.float32), scores.shape[1:])[None]
    padded = np.concatenate([background, scores])
    lookup = np.concatenate([[0], np.asarray(classes)]).astype(np.uint8)
    return lookup[np.argmax(padded, axis=0)]


def scores_from_cams(
    classes: np.ndarray, scores: np.ndarray, threshold: Union[float, np.ndarray], num_classes: int
) -> np.ndarray:
    """Class scores for ``samcam.refine(..., scores=)``.

    Args:
        classes, scores, threshold: as for :func:`label_from_cams`.
        num_classes: classes including background (21 VOC, 81 COCO).

    Returns:
        (num_classes, H, W) float32: channel 0 the background plane, channel c
        the CAM of class c, 0 for classes absent from the image.
    """
    scores = np.asarray(scores, dtype=np.float32)
    full = np.zeros((num_classes,) + scores.shape[1:], np.float32)
    full[0] = threshold
    full[np.asarray(classes, dtype=np.int64)] = scores
    return full

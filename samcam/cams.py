"""Class activation maps -> pseudo labels, the way WSSS methods threshold them.

Every supported method turns its foreground CAMs into a pseudo label the same way: a
background plane goes in front of the foreground maps, the argmax picks a channel, and
channel i > 0 maps back to its class (ties go to the earlier channel, background
first). The plane is one of:

* ``"constant"``: the background threshold t everywhere (IRN, AMN, CLIMS, ToCo,
  MCTformer, TransCAM, and CLIP-ES with t < 1);
* ``"power"``: ``(1 - max_c cam_c)^t`` per pixel (CLIP-ES with t >= 1,
  ``eval_cam.py:57-62``): background is strong where no class is;
* a stored map: where a method writes its own background probabilities (MCTformer's
  CRF dicts).

Methods compute the plane in the precision their maps are stored in (``np.pad`` of a
float16 array gives a float16 plane; ``1 - max`` of float16 maps is float16), so the
plane is computed in ``dtype`` and then compared in float32, which holds every float16
and float32 value exactly: the label is the method's own, ties included. Method
adapters (``samcam.adapters``) read each method's files into ``(classes, scores)`` and
call these.
"""
from __future__ import annotations

from typing import Union

import numpy as np

__all__ = ["BACKGROUND_RULES", "background_plane", "label_from_cams", "scores_from_cams"]

BACKGROUND_RULES = ("constant", "power")


def background_plane(
    scores: np.ndarray, threshold: float, rule: str = "constant", dtype: np.dtype = np.float32
) -> Union[float, np.ndarray]:
    """The background plane a method puts in front of its foreground maps.

    Args:
        scores: (K, H, W) float foreground maps (K may be 0).
        threshold: the constant (``"constant"``) or the exponent (``"power"``).
        rule: ``"constant"`` or ``"power"`` (see the module docstring).
        dtype: the precision the method computes the plane in: the dtype of its stored
            maps (float16 for CLIP-ES, float32 for the others).

    Returns:
        ``"constant"``: the threshold rounded to ``dtype``, as a float. ``"power"``:
        an (H, W) float32 map ``(1 - max_k scores_k)^threshold`` computed in ``dtype``
        (all ones where K is 0, where nothing competes with background).
    """
    dtype = np.dtype(dtype)
    if not np.issubdtype(dtype, np.floating):
        raise ValueError(f"the plane's precision must be a float dtype, got {dtype}")
    if rule == "constant":
        return float(np.asarray(threshold, dtype))
    if rule != "power":
        raise ValueError(f"unknown background rule {rule!r}; choose one of {BACKGROUND_RULES}")
    scores = np.asarray(scores)
    if scores.ndim != 3:
        raise ValueError(f"scores must be K×H×W, got shape {scores.shape}")
    if scores.shape[0] == 0:
        return np.ones(scores.shape[1:], np.float32)
    peak = scores.max(axis=0).astype(dtype)  # exact: the maps are stored in dtype
    one = dtype.type(1)
    plane = np.power(one - peak, dtype.type(threshold))
    return plane.astype(np.float32)


def label_from_cams(classes: np.ndarray, scores: np.ndarray, threshold: Union[float, np.ndarray]) -> np.ndarray:
    """A pseudo label from foreground CAMs and a background plane, as WSSS methods make it.

    The background plane goes in front of the K maps, the argmax over the K + 1
    channels picks each pixel's channel, and channel k > 0 becomes ``classes[k - 1]``.
    Ties go to the earlier channel, background first (``np.argmax``), as in the
    methods' own code (IRN's step/eval_cam.py:13-18 pads the maps with the threshold,
    takes the argmax and maps the channels back with ``keys + 1``). The method
    adapters (``samcam-adapt``) call this after reading each method's CAM files; call
    it yourself for CAMs you hold in memory, then :func:`samcam.refine` the label.

    Args:
        classes: (K,) integer label values of the maps, in the maps' order: 1..C-1
            (1..20 for VOC, 1..80 for COCO), e.g. IRN's 0-based ``keys`` + 1. At most
            255 (the label is uint8).
        scores: (K, H, W) real foreground scores, one map per class (K may be 0),
            usually in 0..1; compared in float32 (float16 and float32 maps exactly,
            float64 maps rounded to float32).
        threshold: the background score: a float (the same everywhere, e.g. IRN's
            ``--cam_eval_thres`` 0.15) or an (H, W) float map (e.g.
            :func:`background_plane`'s ``"power"`` plane, or a method's stored
            background probabilities).

    Returns:
        (H, W) uint8 label: 0 (background) where no map scores above the background,
        else the class of the highest map. It holds no ignore value (255).

    Example:
        Two maps of a 2×3 image, class 15 (VOC's person) and class 8 (cat), against a
        background of 0.5:

        >>> import numpy as np
        >>> from samcam.cams import label_from_cams
        >>> cams = np.zeros((2, 2, 3), np.float32)
        >>> cams[0, 0] = [0.9, 0.2, 0.1]     # person: strong at the top left only
        >>> cams[1, :, 2] = [0.8, 0.6]       # cat: the right column
        >>> label_from_cams(np.array([15, 8]), cams, 0.5)
        array([[15,  0,  8],
               [ 0,  0,  8]], dtype=uint8)
        >>> label_from_cams(np.array([15, 8]), cams, 0.9)   # a tie goes to the background
        array([[0, 0, 0],
               [0, 0, 0]], dtype=uint8)
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
        the CAM of class c, 0 for classes absent from the image. Negative CAM values
        (TransCAM stores -1e-5-ish values at each map's minimum) are clipped to 0, no
        evidence, as ``refine`` needs non-negative scores; with a non-negative plane the
        argmax is the label of :func:`label_from_cams` all the same.
    """
    scores = np.maximum(np.asarray(scores, dtype=np.float32), 0)
    full = np.zeros((num_classes,) + scores.shape[1:], np.float32)
    full[0] = threshold
    full[np.asarray(classes, dtype=np.int64)] = scores
    return full

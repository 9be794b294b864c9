"""Synthetic VOC-style scenes for the demo, the tests and the benchmarks.

THE DATA IS SYNTHETIC: rendered shapes, not photographs. Each scene has what the real
pipeline has, with the failure modes the paper targets built in:

* an RGB image: "stuff" background regions (sky, ground, ...) and 1-3 objects made of
  parts, each region with its own colour and texture noise;
* the ground truth (0 background, 1..20 classes, 255 on a thin object boundary band);
* a CAM dict in IRN's layout (``keys`` 0-based, ``cam`` at stride 4, ``high_res``
  K×H×W in [0, 1]; numpy arrays where IRN pickles torch tensors) with
  *partial activation* (peaked on one discriminative part) and *false activation*
  (a blob bleeding into the neighbouring background);
* SAM-like masks: whole objects (boundary jitter, sometimes missed), parts, sub-parts,
  background stuff, a few junk blobs and an object+background merge, shuffled; some
  pixels are covered by no mask.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Mapping

import numpy as np
from scipy import ndimage

from ..cams import label_from_cams, scores_from_cams

__all__ = ["Scene", "make_scene", "cam_to_label", "cam_scores", "CAM_THRESHOLD"]

# The scenes' CAMs are IRN-style, so their pseudo label is IRN's: a background plane
# of 0.15 (IRN's cam_eval_thres), then argmax.
CAM_THRESHOLD = 0.15


def cam_to_label(cam: Mapping[str, np.ndarray], threshold: float = CAM_THRESHOLD) -> np.ndarray:
    """The pseudo label of a scene's IRN-style CAM dict -> H×W uint8."""
    return label_from_cams(np.asarray(cam["keys"]) + 1, cam["high_res"], threshold)


def cam_scores(cam: Mapping[str, np.ndarray], threshold: float = CAM_THRESHOLD, num_classes: int = 21) -> np.ndarray:
    """Class scores of a scene's CAM dict for ``refine(..., scores=)`` -> (num_classes, H, W) float32."""
    return scores_from_cams(np.asarray(cam["keys"]) + 1, cam["high_res"], threshold, num_classes)

# Fixed colours per class so that the same class looks alike across images.
_CLASS_COLOURS = np.random.default_rng(1234).integers(30, 226, size=(21, 3))


@dataclass
class Scene:
    """One synthetic image with everything the pipeline needs.

    image: H×W×3 uint8; gt: H×W uint8 (0, 1..20, 255 boundary band);
    cam: IRN-layout dict ``{"keys": int64 (K,) 0-based, "cam": float32 (K, ceil(H/4), ceil(W/4)),
    "high_res": float32 (K, H, W)}``;
    masks: K_m×H×W bool SAM-like masks (shuffled).
    """

    image: np.ndarray
    gt: np.ndarray
    cam: Dict[str, np.ndarray]
    masks: np.ndarray


def _ellipse(height, width, cy, cx, ry, rx, angle=0.0):
    yy, xx = np.mgrid[0:height, 0:width]
    dy, dx = yy - cy, xx - cx
    cos, sin = np.cos(angle), np.sin(angle)
    u = (dx * cos + dy * sin) / max(rx, 1)
    v = (-dx * sin + dy * cos) / max(ry, 1)
    return u * u + v * v <= 1.0


def _jitter(mask, rng, amount=1):
    """Move a mask's boundary by up to ``amount`` pixels (SAM is not pixel-perfect)."""
    if amount <= 0 or not mask.any():
        return mask
    step = int(rng.integers(-amount, amount + 1))
    if step > 0:
        return ndimage.binary_dilation(mask, iterations=step)
    if step < 0:
        eroded = ndimage.binary_erosion(mask, iterations=-step)
        return eroded if eroded.any() else mask
    return mask


def make_scene(rng: np.random.Generator, height: int = 120, width: int = 160, max_objects: int = 3) -> Scene:
    """Render one synthetic scene (see the module docstring)."""
    image = np.zeros((height, width, 3), np.float32)
    gt = np.zeros((height, width), np.uint8)

    # Background stuff: a wavy horizon, and sometimes a vertical split of the ground.
    yy, xx = np.mgrid[0:height, 0:width]
    horizon = height * rng.uniform(0.3, 0.6) + height * 0.08 * np.sin(xx / width * rng.uniform(2, 6) + rng.uniform(0, 6))
    stuff = [(yy < horizon)]
    ground = yy >= horizon
    if rng.random() < 0.6:
        split = width * rng.uniform(0.3, 0.7)
        stuff += [ground & (xx < split), ground & (xx >= split)]
    else:
        stuff.append(ground)
    for region in stuff:
        image[region] = rng.integers(40, 216, size=3)

    # Objects made of parts: a body, a "head" (the discriminative part) and a limb.
    objects = []
    classes = rng.choice(np.arange(1, 21), size=int(rng.integers(1, max_objects + 1)), replace=False)
    for cls in classes:
        cy, cx = rng.uniform(0.3, 0.75) * height, rng.uniform(0.2, 0.8) * width
        ry, rx = rng.uniform(0.12, 0.25) * height, rng.uniform(0.1, 0.22) * width
        angle = rng.uniform(0, np.pi)
        body = _ellipse(height, width, cy, cx, ry, rx, angle)
        hy, hx = cy - ry * rng.uniform(0.6, 1.0), cx + rx * rng.uniform(-0.8, 0.8)
        head = _ellipse(height, width, hy, hx, ry * 0.45, rx * 0.45)
        ly, lx = cy + ry * rng.uniform(0.6, 1.0), cx + rx * rng.uniform(-0.9, 0.9)
        limb = _ellipse(height, width, ly, lx, ry * 0.35, rx * 0.25, rng.uniform(0, np.pi))
        parts = [body & ~head, head, limb & ~body & ~head]
        parts = [p for p in parts if p.sum() > 20]
        whole = np.zeros_like(body)
        for part in parts:
            shade = np.clip(_CLASS_COLOURS[cls] + rng.integers(-45, 46, size=3), 0, 255)
            image[part] = shade
            whole |= part
        gt[whole] = cls
        objects.append({"class": int(cls), "whole": whole, "parts": parts, "head": head & whole})
    # Later objects occlude earlier ones: keep only visible pixels.
    for obj in objects:
        visible = gt == obj["class"]
        obj["whole"] = obj["whole"] & visible
        obj["parts"] = [p & visible for p in obj["parts"] if (p & visible).sum() > 10]
        obj["head"] = obj["head"] & visible

    # Texture noise so the image is not flat colour.
    image += rng.normal(0, 10, size=image.shape)
    image = np.clip(image, 0, 255).astype(np.uint8)

    # GT boundary band of ignore, as in VOC.
    foreground = gt > 0
    band = ndimage.binary_dilation(foreground, iterations=1) & ~ndimage.binary_erosion(foreground, iterations=1)
    gt_out = gt.copy()
    gt_out[band] = 255

    cam = _make_cam(rng, objects, stuff, height, width)
    masks = _make_masks(rng, objects, stuff, gt, height, width)
    return Scene(image=image, gt=gt_out, cam=cam, masks=masks)


def _make_cam(rng, objects, stuff, height, width):
    """IRN-style CAMs with partial activation on the head and a false-activation blob."""
    yy, xx = np.mgrid[0:height, 0:width]
    by_class: Dict[int, np.ndarray] = {}
    for obj in objects:
        focus = obj["head"] if obj["head"].any() else obj["whole"]
        if not focus.any():
            continue
        cy, cx = np.argwhere(focus).mean(axis=0)
        extent = np.sqrt(obj["whole"].sum())
        sigma = extent * rng.uniform(0.25, 0.5)
        score = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * sigma**2))
        score *= np.where(obj["whole"], 1.0, rng.uniform(0.35, 0.7))  # weaker off the object
        # False activation: CAM bleeds into the context next to the object.
        oy, ox = np.argwhere(obj["whole"]).mean(axis=0)
        angle = rng.uniform(0, 2 * np.pi)
        fy, fx = oy + np.sin(angle) * extent * 0.8, ox + np.cos(angle) * extent * 0.8
        spill = rng.uniform(0.3, 0.7) * np.exp(-((yy - fy) ** 2 + (xx - fx) ** 2) / (2 * (extent * 0.3) ** 2))
        score = np.maximum(score, spill * ~obj["whole"])
        score = ndimage.gaussian_filter(score + rng.normal(0, 0.03, score.shape), 2)
        by_class[obj["class"]] = np.maximum(by_class.get(obj["class"], 0), score)
    keys = np.array(sorted(by_class), dtype=np.int64)
    if keys.size == 0:
        high_res = np.zeros((0, height, width), np.float32)
    else:
        high_res = np.stack([by_class[k] for k in keys]).astype(np.float32)
        high_res = np.maximum(high_res, 0)
        high_res /= high_res.reshape(len(keys), -1).max(axis=1)[:, None, None] + 1e-5
    # IRN's stride-4 map ("cam", read by its random walk) rides along, as in its files
    return {"keys": keys - 1, "cam": np.ascontiguousarray(high_res[:, ::4, ::4]), "high_res": high_res}


def _make_masks(rng, objects, stuff, gt, height, width):
    """SAM-like masks of one scene, shuffled -> K×H×W bool (see the module docstring).

    The helpers draw from ``rng`` in a fixed order (objects, stuff, junk, then the
    shuffle), so a scene depends only on the state of ``rng``.
    """
    masks: List[np.ndarray] = []
    for obj in objects:
        masks += _object_masks(rng, obj, height, width)
    masks += _stuff_masks(rng, stuff, gt > 0)
    masks += _junk_masks(rng, height, width)
    masks = [m for m in masks if m.any()]
    order = rng.permutation(len(masks))
    if not masks:
        return np.zeros((0, height, width), bool)
    return np.stack([masks[i] for i in order]).astype(bool)


def _object_masks(rng, obj, height, width) -> List[np.ndarray]:
    """One object's masks: the whole (sometimes missed), its parts, sub-parts, and sometimes
    the object merged with a bit of background."""
    if obj["whole"].sum() < 10:
        return []
    masks = []
    if rng.random() < 0.85:  # SAM sometimes misses the whole object
        masks.append(_jitter(obj["whole"], rng))
    for part in obj["parts"]:
        masks.append(_jitter(part, rng))
        if rng.random() < 0.5:  # sub-parts: split a part in two
            masks += _half(rng, part, height, width)
    if rng.random() < 0.2:  # an object merged with a bit of background
        masks.append(ndimage.binary_dilation(obj["whole"], iterations=int(rng.integers(4, 10))))
    return masks


def _half(rng, part, height, width) -> List[np.ndarray]:
    """The part's side below its median along a random axis; none if that is 10 pixels or fewer."""
    coords = np.argwhere(part)
    axis = int(rng.integers(0, 2))
    cut = np.median(coords[:, axis])
    grid = np.mgrid[0:height, 0:width][axis]
    half = part & (grid < cut)
    return [half] if half.sum() > 10 else []


def _stuff_masks(rng, stuff, foreground) -> List[np.ndarray]:
    """The background regions' masks, without the objects; some stuff is never segmented."""
    masks = []
    for region in stuff:
        region = region & ~foreground
        if region.sum() < 20 or rng.random() < 0.15:
            continue
        masks.append(_jitter(region, rng))
    return masks


def _junk_masks(rng, height, width) -> List[np.ndarray]:
    """1-4 junk blobs anywhere."""
    masks = []
    for _ in range(int(rng.integers(1, 5))):
        blob = _ellipse(height, width, rng.uniform(0, height), rng.uniform(0, width),
                        rng.uniform(3, 12), rng.uniform(3, 12), rng.uniform(0, np.pi))
        if blob.sum() > 5:
            masks.append(blob)
    return masks

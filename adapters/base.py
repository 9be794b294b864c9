"""The shared base of every method adapter: read a method's CAMs, threshold them the
way that method does, refine with masks, write labels where its next stage reads them.

A method is a :class:`MethodAdapter` *declaration* (see ``irn.py`` for the pattern):
which CAM dict layouts it writes (:class:`CamFormat`), its own background threshold,
the pseudo-label PNG sets it already writes, the PNG mode its next stage can read and
the hint to print at the end. All behaviour lives here, so adding a sixth method is
one new file with one declaration.

CAM dicts come in four layouts, all with foreground classes stored 0-based
(label = key + 1):

* ``keys`` + ``high_res`` (IRN, CLIMS, ToCo): ``keys`` (K,) int (torch or numpy),
  ``high_res`` (K, H, W) float at image size; no background channel.
* the same with ``background_channel`` (AMN): ``high_res`` is (K+1, H, W) and
  channel 0 is background; the method's own evaluation drops it.
* ``keys_include_background`` (CLIMS ``previous_version``): ``keys`` is already
  padded, ``[0, k1+1, ...]``, and the scores live under ``hr_cam`` (K, H, W).
* ``class_dict`` (MCTformer): ``{class: (H, W) float}`` with int keys 0-based.

Every method turns CAMs into a pseudo label the same way (:mod:`samcam.cams`): put a
constant plane of the background threshold in front of the foreground maps, take the
argmax, map the winning channel back to its class (ties go to the earlier channel,
background first).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Mapping, Optional, Tuple

import numpy as np

from samcam import masks as samcam_masks
from samcam.cams import label_from_cams, scores_from_cams
from samcam.errors import ImageError
from samcam.limits import limits
from samcam.refine import refine
from samcam.safe_pickle import load_npy

__all__ = ["CamFormat", "LabelSet", "MethodAdapter", "as_numpy"]


def as_numpy(value: Any) -> np.ndarray:
    """A numpy view of a numpy array, list or torch tensor (detached, on the CPU)."""
    if hasattr(value, "detach") and hasattr(value, "cpu"):  # torch.Tensor, without importing torch
        value = value.detach().cpu()
        if str(getattr(value, "dtype", "")) == "torch.bfloat16":  # numpy has no bfloat16
            value = value.float()
        value = value.numpy()
    return np.asarray(value)


def _numeric(array: np.ndarray, what: str) -> np.ndarray:
    if array.dtype.kind not in "biuf":
        raise ValueError(f"{what} holds {array.dtype} values, not numbers")
    return array


def _check_planes(shape: Tuple[int, ...], what: str, image_shape: Optional[Tuple[int, int]], channels: int) -> None:
    """A CAM array's size against the image's and the limits, before it is converted or copied."""
    height, width = shape[-2:]
    if image_shape is not None and (height, width) != tuple(image_shape):
        raise ValueError(
            f"{what} is {height}×{width} but the image (its masks) is {image_shape[0]}×{image_shape[1]}; "
            "CAMs must be at image size (the method's high_res maps)"
        )
    limit = limits().max_pixels
    if height * width > limit:
        raise ValueError(f"{what} is {height}×{width}, more than the limit of {limit:,} pixels "
                         "(raise SAMCAM_MAX_PIXELS if the CAMs are genuine)")
    if len(shape) == 3 and shape[0] > channels:
        raise ValueError(f"{what} has {shape[0]} channels, more than the {channels} classes")


@dataclass(frozen=True)
class CamFormat:
    """One layout of a method's CAM dict, and the threshold that method uses with it.

    Attributes:
        score_key: dict key of the image-size scores (None for ``class_dict``).
        threshold: the method's default background threshold for this layout.
        coco_threshold: its COCO (81-class) default, when the method has one.
        keys_key: dict key of the class indices.
        background_channel: channel 0 of the scores is background (dropped, as the
            method's evaluation does).
        keys_include_background: the keys are already ``[0, k1+1, ...]``.
        class_dict: the dict itself maps 0-based class -> (H, W) scores.
    """

    score_key: Optional[str]
    threshold: float
    coco_threshold: Optional[float] = None
    keys_key: str = "keys"
    background_channel: bool = False
    keys_include_background: bool = False
    class_dict: bool = False

    def matches(self, cam_dict: Mapping) -> bool:
        if self.class_dict:
            # an empty dict is an image without classes: still this layout
            return all(_is_int(key) for key in cam_dict)
        return self.score_key in cam_dict

    def describe(self) -> str:
        if self.class_dict:
            return "{class: (H, W) scores} with int keys 0-based"
        channels = "K+1 (channel 0 background)" if self.background_channel else "K"
        return f"{{'{self.keys_key}': (K,), '{self.score_key}': ({channels}, H, W)}}"


@dataclass(frozen=True)
class LabelSet:
    """A pseudo-label PNG set a method already writes (a ``--source png`` input)."""

    path: str
    description: str


def _is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


@dataclass(frozen=True)
class MethodAdapter:
    """Declaration of one WSSS method; its methods do the reading, thresholding and refining.

    Attributes:
        name: the ``--method`` value, e.g. ``"irn"``.
        title: human name with its repository, e.g. ``"IRN (jiwoon-ahn/irn)"``.
        cam_dir: where the CAM stage writes ``{name}.npy`` (relative to the method's run).
        cam_formats: the CAM layouts it writes, most common first.
        label_sets: pseudo-label PNG sets it already writes.
        palette_allowed: its next stage reads PNGs with PIL (palette indices fine);
            False when it reads with imageio, which turns a palette PNG into RGB.
        next_stage: what to run next; ``{out}`` is replaced by the output folder.
    """

    name: str
    title: str
    cam_dir: str
    cam_formats: Tuple[CamFormat, ...]
    label_sets: Tuple[LabelSet, ...] = ()
    palette_allowed: bool = False
    next_stage: str = ""

    # ------------------------------------------------------------------ reading CAMs
    def load_cam(self, path: os.PathLike) -> dict:
        """Read one CAM ``.npy`` with the allow-listed unpickler -> the method's dict."""
        cam_dict = load_npy(path)
        if not isinstance(cam_dict, Mapping):
            raise ImageError(
                f"{path}: expected a dict saved with np.save ({self.expected_layouts()}), "
                f"got {type(cam_dict).__name__}"
            )
        return dict(cam_dict)

    def expected_layouts(self) -> str:
        return " or ".join(fmt.describe() for fmt in self.cam_formats)

    def cam_format(self, cam_dict: Mapping) -> CamFormat:
        """The declared layout ``cam_dict`` is in (ValueError naming what was found)."""
        for fmt in self.cam_formats:
            if fmt.matches(cam_dict):
                return fmt
        found = sorted(map(str, cam_dict))[:10]
        raise ValueError(
            f"not a {self.title} CAM dict: expected {self.expected_layouts()}, found keys {found}"
        )

    def foreground(
        self, cam_dict: Mapping, num_classes: int = 21, image_shape: Optional[Tuple[int, int]] = None
    ) -> Tuple[np.ndarray, np.ndarray, CamFormat]:
        """The foreground maps of a CAM dict and their classes.

        Args:
            cam_dict: the method's CAM dict (numpy arrays or torch tensors).
            num_classes: classes including background (21 VOC, 81 COCO).
            image_shape: (H, W) of the image; the maps must have this size (checked
                before they are converted), and it gives the size of an empty dict.

        Returns:
            ``(classes, scores, fmt)``: classes (K,) int64 label values 1..num_classes-1
            in the stored order, scores (K, H, W) float32, and the layout found.
        """
        fmt = self.cam_format(cam_dict)
        if fmt.class_dict:
            classes, scores = _read_class_dict(cam_dict, image_shape, num_classes)
        else:
            classes, scores = _read_keyed(cam_dict, fmt, image_shape, num_classes)
        if classes.size:
            bad = classes[(classes < 1) | (classes >= num_classes)]
            if bad.size:
                raise ValueError(
                    f"class keys {(bad - 1).tolist()[:5]} (0-based) are outside 0..{num_classes - 2}; "
                    f"pass num_classes (81 for COCO) if your dataset has more classes"
                )
            if len(np.unique(classes)) != len(classes):
                raise ValueError(f"class keys repeat: {(classes - 1).tolist()}")
        if scores.size and not np.isfinite(scores).all():
            raise ValueError("CAM scores contain NaN or infinity")
        return classes, scores, fmt

    def default_threshold(self, fmt: CamFormat, num_classes: int = 21) -> float:
        """The method's own background threshold for layout ``fmt``."""
        if num_classes == 81 and fmt.coco_threshold is not None:
            return fmt.coco_threshold
        return fmt.threshold

    def _foreground_and_threshold(self, cam_dict, threshold, num_classes, image_shape):
        """:meth:`foreground` plus the threshold to use (the method's own when None)."""
        classes, scores, fmt = self.foreground(cam_dict, num_classes, image_shape)
        if threshold is None:
            threshold = self.default_threshold(fmt, num_classes)
        return classes, scores, threshold

    # ------------------------------------------------------------ CAMs -> label
    def cam_to_label(
        self,
        cam_dict: Mapping,
        threshold: Optional[float] = None,
        num_classes: int = 21,
        image_shape: Optional[Tuple[int, int]] = None,
    ) -> np.ndarray:
        """The method's own pseudo label from its CAM dict.

        A constant background plane of ``threshold`` (default: the method's own) goes in
        front of the foreground maps; argmax; channel i > 0 maps to its class.

        Returns:
            H×W uint8 label, 0 background, 1..num_classes-1 classes.
        """
        classes, scores, threshold = self._foreground_and_threshold(cam_dict, threshold, num_classes, image_shape)
        return label_from_cams(classes, scores, threshold)

    def cam_scores(
        self,
        cam_dict: Mapping,
        threshold: Optional[float] = None,
        num_classes: int = 21,
        image_shape: Optional[Tuple[int, int]] = None,
    ) -> np.ndarray:
        """Class scores for ``refine(..., scores=)``.

        Returns:
            (num_classes, H, W) float32: channel 0 the constant background plane the
            method thresholds with, channel c the CAM of class c, 0 for classes absent
            from the image.
        """
        classes, scores, threshold = self._foreground_and_threshold(cam_dict, threshold, num_classes, image_shape)
        return scores_from_cams(classes, scores, threshold, num_classes)

    def refine_cam(
        self,
        cam_dict: Mapping,
        masks: Any,
        *,
        threshold: Optional[float] = None,
        num_classes: int = 21,
        rule: str = "samcam",
        use_scores: bool = False,
        **refine_params: Any,
    ) -> np.ndarray:
        """Drop-in call for the method's own script, right after its CAM stage.

        Args:
            cam_dict: the CAM dict as the method holds it before ``np.save``
                (torch tensors or numpy arrays).
            masks: the image's masks, anything :func:`samcam.refine` accepts
                (K×H×W bool array, list of H×W bool arrays, MaskSet), or a path to a
                mask file/folder (read with :func:`samcam.masks.load`).
            threshold: background threshold (default: the method's own).
            num_classes: 21 for VOC, 81 for COCO.
            rule: ``"samcam"`` or ``"official"``.
            use_scores: pass the CAM scores to ``refine`` (``samcam`` rule only) instead
                of only the hard label.
            **refine_params: further :func:`samcam.refine` options.

        Returns:
            H×W uint8 refined pseudo label.
        """
        if isinstance(masks, (str, os.PathLike)):
            masks = samcam_masks.load(masks)
        shape = getattr(masks, "image_shape", None) or (np.shape(masks)[1:] if np.ndim(masks) == 3 else None)
        label = self.cam_to_label(cam_dict, threshold, num_classes, image_shape=shape)
        scores = self.cam_scores(cam_dict, threshold, num_classes, image_shape=shape) if use_scores else None
        return refine(label, masks, rule=rule, num_classes=num_classes, scores=scores, **refine_params)

    # ------------------------------------------------------------- after a run
    def hint(self, out_dir: os.PathLike, palette: bool = False) -> str:
        """What to run next with the refined labels in ``out_dir``."""
        out = str(out_dir)
        kind = "VOC-palette" if palette else "8-bit grayscale"
        lines = [f"Refined {self.title} pseudo labels are in {out}/ ({kind} PNG, 0 background, 255 ignore)."]
        if self.next_stage:
            lines.append(self.next_stage.format(out=out))
        lines.append(
            "mmsegmentation: seg_map_path='" + out + "' in data_prefix (ann_file: your train_aug list), "
            f"or write a config with\n  samcam mmseg-config --labels {out} --data-root VOC2012 --out config.py"
        )
        return "\n".join(lines)


def _read_class_dict(cam_dict: Mapping, image_shape: Optional[Tuple[int, int]],
                     num_classes: int) -> Tuple[np.ndarray, np.ndarray]:
    """``{class (0-based): (H, W)}`` -> classes (K,) 1-based ascending, scores (K, H, W)."""
    ordered = sorted(cam_dict, key=int)
    bad = [int(key) for key in ordered if not 0 <= key < num_classes - 1]
    if bad:
        raise ValueError(
            f"class keys {bad[:5]} (0-based) are outside 0..{num_classes - 2}; "
            f"pass num_classes (81 for COCO) if your dataset has more classes"
        )
    planes = [as_numpy(cam_dict[key]) for key in ordered]
    if not planes:
        if image_shape is None:
            raise ValueError("CAM dict holds no class, so its image size is unknown; pass image_shape")
        return np.zeros(0, np.int64), np.zeros((0,) + tuple(image_shape), np.float32)
    shapes = {plane.shape for plane in planes}
    if len(shapes) != 1 or len(next(iter(shapes))) != 2:
        raise ValueError(f"class maps must all be H×W of one size, got shapes {sorted(shapes)[:5]}")
    for key, plane in zip(ordered, planes):
        _numeric(plane, f"class map {key}")
    _check_planes(planes[0].shape, "the class maps", image_shape, num_classes)
    classes = np.asarray([int(key) for key in ordered], np.int64) + 1
    return classes, np.stack(planes).astype(np.float32, copy=False)


def _read_keyed(cam_dict: Mapping, fmt: CamFormat, image_shape: Optional[Tuple[int, int]] = None,
                num_classes: int = 256) -> Tuple[np.ndarray, np.ndarray]:
    """``{keys: (K,), score_key: (K[+1], H, W)}`` -> classes (K,) 1-based, foreground scores (K, H, W)."""
    if fmt.keys_key not in cam_dict:
        raise ValueError(f"CAM dict has '{fmt.score_key}' but no '{fmt.keys_key}' (keys found: {sorted(map(str, cam_dict))[:10]})")
    keys = as_numpy(cam_dict[fmt.keys_key])
    scores = as_numpy(cam_dict[fmt.score_key])
    if keys.ndim != 1 or (keys.size and keys.dtype.kind not in "iu"):
        raise ValueError(f"'{fmt.keys_key}' must be a 1-D integer array, got {keys.dtype} {keys.shape}")
    if keys.size and (keys.min() < 0 or keys.max() > 255):
        raise ValueError(f"'{fmt.keys_key}' holds {keys.min()}..{keys.max()}, not class indices")
    keys = keys.astype(np.int64)
    if fmt.keys_include_background:
        if keys.size == 0 or keys[0] != 0:
            raise ValueError(f"'{fmt.keys_key}' should start with background 0 in this layout, got {keys[:5].tolist()}")
        classes = keys[1:]
    else:
        classes = keys + 1
    if scores.ndim != 3:
        raise ValueError(f"'{fmt.score_key}' must be K×H×W, got shape {scores.shape}")
    _numeric(scores, f"'{fmt.score_key}'")
    expected = len(classes) + (1 if fmt.background_channel else 0)
    if scores.shape[0] != expected:
        if fmt.background_channel:
            hint = " (channel 0 should be background)"
        elif scores.shape[0] == len(classes) + 1:
            hint = " (a background channel? try the method that stores one, e.g. amn)"
        else:
            hint = ""
        raise ValueError(
            f"'{fmt.score_key}' has {scores.shape[0]} channels but {len(classes)} classes are "
            f"listed in '{fmt.keys_key}'; expected {expected}{hint}"
        )
    _check_planes(scores.shape, f"'{fmt.score_key}'", image_shape, num_classes)
    if fmt.background_channel:
        scores = scores[1:]
    return classes, scores.astype(np.float32, copy=False)

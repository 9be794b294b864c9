"""CAM dicts: the layouts methods save, and reading one into classes and scores.

A method's CAM stage saves one dict per image with ``np.save``. They come in these
layouts; foreground classes are stored 0-based (label = key + 1) unless said otherwise:

* ``keys`` + ``high_res`` (IRN, CLIMS, ToCo): ``keys`` (K,) int (torch or numpy),
  ``high_res`` (K, H, W) float at image size; no background channel. An image
  without classes may be stored as ``{"keys": <empty>}`` alone (AMN's COCO branch):
  all background.
* the same with ``background_channel`` (AMN): ``high_res`` is (K+1, H, W) and
  channel 0 is background; the method's own evaluation drops it.
* ``keys_include_background`` (CLIMS ``previous_version``): ``keys`` is already
  padded, ``[0, k1+1, ...]``, and the scores live under ``hr_cam`` or ``rw`` (K, H, W).
* ``class_dict`` (MCTformer): ``{class: (H, W) float}`` with int keys 0-based.
* ``class_dict`` with ``background_key`` (MCTformer ``--out-crf``): key 0 holds the
  background probabilities and class k sits under k + 1; no threshold, argmax.

:class:`CamFormat` declares one layout; :func:`read_class_dict` and :func:`read_keyed`
read a dict of that layout, checking sizes before anything is converted or copied;
:func:`check_origin` refuses a file that another method wrote (their thresholds differ).
:class:`~samcam.adapters.base.MethodAdapter` puts these together.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, NamedTuple, Optional, Tuple, Union

import numpy as np

from samcam.limits import limits

__all__ = [
    "AdapterSetupError",
    "CamFormat",
    "CamReading",
    "as_numpy",
    "check_origin",
    "read_class_dict",
    "read_keyed",
]

# Tolerance of the value checks: float32 sums of softmax probabilities, CRF marginals.
SUM_TOLERANCE = 1e-3


class AdapterSetupError(ValueError):
    """A problem with the method or options, not with one image: the file belongs to
    another method or layout, or the method has no threshold of its own for it.

    ``samcam-adapt`` checks the first CAM file with classes for it before the batch and
    stops with exit code 2, so a wrong ``--method`` never writes a folder of wrong labels.
    """


def as_numpy(value: Any) -> np.ndarray:
    """A numpy view of a numpy array, list or torch tensor (detached, on the CPU)."""
    if hasattr(value, "detach") and hasattr(value, "cpu"):  # torch.Tensor, without importing torch
        value = value.detach().cpu()
        if str(getattr(value, "dtype", "")) == "torch.bfloat16":  # numpy has no bfloat16
            value = value.float()
        value = value.numpy()
    return np.asarray(value)


def is_int(value: Any) -> bool:
    """An integer dict key (Python or numpy), not a bool."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _numeric(array: np.ndarray, what: str) -> np.ndarray:
    if array.dtype.kind not in "biuf":
        raise ValueError(f"{what} holds {array.dtype} values, not numbers")
    return array


def _check_planes(shape: Tuple[int, ...], what: str, image_shape: Optional[Tuple[int, int]], channels: int) -> None:
    """A CAM array's size against the image's and the limits, before it is converted or copied."""
    height, width = shape[-2:]
    if image_shape is not None and (height, width) != tuple(image_shape):
        raise ValueError(
            f"{what} is {height}×{width} but the image (its masks) is {image_shape[0]}×{image_shape[1]} "
            "(height×width); CAMs must be at image size (the method's high_res maps)"
        )
    limit = limits().max_pixels
    if height * width > limit:
        raise ValueError(f"{what} is {height}×{width}, more than the limit of {limit:,} pixels "
                         "(raise SAMCAM_MAX_PIXELS if the CAMs are genuine)")
    if len(shape) == 3 and shape[0] > channels:
        raise ValueError(f"{what} has {shape[0]} channels, more than the {channels} classes")


@dataclass(frozen=True)
class CamFormat:
    """One layout of a method's CAM dict, and the thresholds that method uses with it.

    Attributes:
        layout: the ``--layout`` name of this layout (``cam``, ``hr_cam``, ``rw``, ``crf``).
        written_by: the upstream file that writes it, e.g. ``"step/make_cam.py:55-56"``.
        score_key: dict key of the image-size scores (None for ``class_dict``).
        threshold: the method's own VOC (21-class) background threshold; None when
            the method has none (``no_threshold`` says why).
        threshold_source: upstream file:line of ``threshold``.
        coco_threshold: its own COCO (81-class) threshold, or None.
        coco_source: upstream file:line of ``coco_threshold`` (or why there is none).
        no_threshold: why ``threshold`` is None (shown when ``--threshold`` is needed).
        keys_key: dict key of the class indices.
        background_channel: channel 0 of the scores is background (dropped, as the
            method's evaluation does).
        keys_include_background: the keys are already ``[0, k1+1, ...]``.
        class_dict: the dict itself maps class -> (H, W) scores (int keys).
        background_key: with ``class_dict``: key 0 is the background probability map and
            class k is stored under k + 1 (no threshold; the argmax decides).
        auto: chosen by auto-detection; False for a layout that must be asked for with
            ``layout=`` because its keys look like another layout's (``crf``).
        required_key: a key the method always writes (IRN family: ``cam``); a file
            without it whose scores look like ``other_method``'s is refused.
        forbidden_key: a key the method never writes (ToCo: ``cam``).
        probabilities: the scores are softmax probabilities without background, so
            they sum to at most 1 per pixel (ToCo).
        map_minimum: ``"zero"``: each map is min-max normalised, so no score is below 0
            (MCTformer); ``"negative"``: every map's minimum is below 0 (TransCAM's
            ``- 1e-5`` offset after zeroing). A file whose maps break it is refused as
            ``other_method``'s: both write ``{class: (H, W)}`` dicts, with different thresholds.
        other_method: the ``--method`` to suggest when the checks above fail.
        power_from: a threshold t >= this is the exponent of the ``"power"``
            background rule, ``(1 - max_c cam_c)^t``, not a constant plane (CLIP-ES:
            1, ``eval_cam.py:57-62``); None: always a constant plane.
    """

    layout: str
    written_by: str
    score_key: Optional[str]
    threshold: Optional[float]
    threshold_source: str = ""
    coco_threshold: Optional[float] = None
    coco_source: str = ""
    no_threshold: str = ""
    keys_key: str = "keys"
    background_channel: bool = False
    keys_include_background: bool = False
    class_dict: bool = False
    background_key: bool = False
    auto: bool = True
    required_key: Optional[str] = None
    forbidden_key: Optional[str] = None
    probabilities: bool = False
    map_minimum: Optional[str] = None
    other_method: str = ""
    power_from: Optional[float] = None

    def background_rule(self, threshold: float) -> str:
        """``"power"`` or ``"constant"``: how this layout's method uses ``threshold``."""
        return "power" if self.power_from is not None and threshold >= self.power_from else "constant"

    def matches(self, cam_dict: Mapping) -> bool:
        """Whether ``cam_dict`` has this layout's keys (values are checked when read)."""
        if self.class_dict:
            # an empty dict is an image without classes: still this layout
            return all(is_int(key) for key in cam_dict)
        if self.score_key in cam_dict:
            return True
        # {"keys": <empty>} alone: an image without classes (AMN's COCO branch)
        return set(cam_dict) == {self.keys_key} and np.size(as_numpy(cam_dict[self.keys_key])) == 0

    def describe(self) -> str:
        if self.background_key:
            return "{0: background, k+1: class k} CRF probabilities, (H, W) each"
        if self.class_dict:
            return "{class: (H, W) scores} with int keys 0-based"
        channels = "K+1 (channel 0 background)" if self.background_channel else "K"
        keys = "(K+1,) [0, k1+1, ...]" if self.keys_include_background else "(K,)"
        return f"{{'{self.keys_key}': {keys}, '{self.score_key}': ({channels}, H, W)}}"


class CamReading(NamedTuple):
    """A CAM dict read the method's way.

    Attributes:
        classes: (K,) int64 label values 1..num_classes-1 in the stored order.
        scores: (K, H, W) float32 foreground scores.
        background: the background plane: the threshold rounded to the maps' stored
            precision (float), or an (H, W) float32 map (CRF dicts; the ``"power"``
            rule, :func:`samcam.cams.background_plane`).
        fmt: the layout found.
    """

    classes: np.ndarray
    scores: np.ndarray
    background: Union[float, np.ndarray]
    fmt: CamFormat


def _no_classes(image_shape: Optional[Tuple[int, int]], what: str) -> Tuple[np.ndarray, np.ndarray]:
    """(0,) classes and (0, H, W) scores for an image without classes; its size must be given."""
    if image_shape is None:
        raise ValueError(f"CAM dict holds no class{what}, so its image size is unknown; pass image_shape")
    return np.zeros(0, np.int64), np.zeros((0,) + tuple(image_shape), np.float32)


# ------------------------------------------------------------------ {class: (H, W)}

def read_class_dict(
    cam_dict: Mapping, image_shape: Optional[Tuple[int, int]], fmt: CamFormat, explicit: bool, num_classes: int = 256
) -> Tuple[np.ndarray, np.ndarray, Optional[np.ndarray]]:
    """``{class: (H, W)}`` -> classes (K,) 1-based ascending, scores (K, H, W), background plane.

    0-based dicts have no background plane (None). With ``fmt.background_key`` key 0
    is the background plane and key k + 1 is class k (so the label value is the key).
    ``explicit``: the layout was asked for (no guessing that it is another one).
    """
    ordered = _class_keys(cam_dict, num_classes)
    if not ordered:
        if fmt.background_key:
            raise ValueError("CRF dict is empty; it should hold key 0 (background) and k+1 per class")
        return _no_classes(image_shape, "") + (None,)
    keys = np.asarray([int(key) for key in ordered], np.int64)
    stack = _stack_class_maps(cam_dict, ordered, image_shape, num_classes)
    sums_to_one = len(keys) >= 2 and bool(np.abs(stack.sum(axis=0) - 1).max() <= SUM_TOLERANCE)
    if fmt.background_key:
        return _split_crf(keys, stack, sums_to_one)
    if not explicit and keys[0] == 0 and sums_to_one:
        # a CAM dict never sums to 1 at every pixel (each map is min-max normalised);
        # an --out-crf dict always does: reading it 0-based would shift every class by one
        raise AdapterSetupError(
            "this dict has key 0 and its maps sum to 1 at every pixel: an MCTformer --out-crf dict "
            "(key 0 background, class k under k+1), not a 0-based CAM dict; read it with "
            "--method mctformer --layout crf (or pass --layout cam if it really is a CAM dict)"
        )
    return keys + 1, stack, None


def _class_keys(cam_dict: Mapping, num_classes: int) -> list:
    """The dict's int keys in ascending order, each checked to be below ``num_classes``."""
    ordered = sorted(cam_dict, key=int)
    bad = [int(key) for key in ordered if not 0 <= key < num_classes]
    if bad:
        raise ValueError(
            f"class keys {bad[:5]} are outside 0..{num_classes - 1}; "
            f"pass num_classes (81 for COCO) if your dataset has more classes"
        )
    return ordered


def _stack_class_maps(cam_dict: Mapping, ordered, image_shape, num_classes: int) -> np.ndarray:
    """The class maps as one (K, H, W) float32 array, their shapes and values checked first."""
    planes = [as_numpy(cam_dict[key]) for key in ordered]
    shapes = {plane.shape for plane in planes}
    if len(shapes) != 1 or len(next(iter(shapes))) != 2:
        raise ValueError(f"class maps must all be H×W of one size, got shapes {sorted(shapes)[:5]}")
    for key, plane in zip(ordered, planes):
        _numeric(plane, f"class map {key}")
    _check_planes(planes[0].shape, "the class maps", image_shape, num_classes)
    return np.stack(planes).astype(np.float32, copy=False)


def _split_crf(keys: np.ndarray, stack: np.ndarray, sums_to_one: bool):
    """A CRF dict (key 0 background, class k under k + 1) -> classes, scores, background plane."""
    if keys[0] != 0 or len(keys) < 2:
        raise AdapterSetupError(
            f"a CRF dict has key 0 (background) and k+1 per class; this one has keys {keys.tolist()[:8]}: "
            "a 0-based CAM dict? drop --layout crf"
        )
    if not sums_to_one:
        raise AdapterSetupError(
            "--layout crf: its maps do not sum to 1 per pixel, so they are not CRF probabilities "
            "(MCTformer --out-crf writes CRF marginals); a 0-based CAM dict? drop --layout crf"
        )
    return keys[1:], stack[1:], stack[0]


# ------------------------------------------------------------- {keys, high_res}

def read_keyed(
    cam_dict: Mapping, fmt: CamFormat, image_shape: Optional[Tuple[int, int]], num_classes: int = 256
) -> Tuple[np.ndarray, np.ndarray, np.dtype]:
    """``{keys: (K,), score_key: (K[+1], H, W)}`` -> classes (K,) 1-based, foreground scores
    (K, H, W) float32, and the precision the method thresholds them in: float16 for maps
    stored as float16 (its ``np.pad`` keeps their dtype), float32 otherwise."""
    keys = _keys(cam_dict, fmt)
    if fmt.score_key not in cam_dict:
        # {"keys": <empty>} alone (matched only when empty): an image without classes
        return _no_classes(image_shape, " and no scores") + (np.dtype(np.float32),)
    scores = as_numpy(cam_dict[fmt.score_key])
    if fmt.keys_include_background:
        if keys.size == 0 or keys[0] != 0:
            raise ValueError(f"'{fmt.keys_key}' should start with background 0 in this layout, got {keys[:5].tolist()}")
        classes = keys[1:]
    else:
        classes = keys + 1
    _check_channels(scores, len(classes), fmt)
    _check_planes(scores.shape, f"'{fmt.score_key}'", image_shape, num_classes)
    if fmt.background_channel:
        scores = scores[1:]
    precision = np.dtype(np.float16 if scores.dtype == np.float16 else np.float32)
    return classes, scores.astype(np.float32, copy=False), precision


def _keys(cam_dict: Mapping, fmt: CamFormat) -> np.ndarray:
    """The dict's class indices as (K,) int64, checked to be a 1-D array of values 0..255."""
    if fmt.keys_key not in cam_dict:
        raise ValueError(f"CAM dict has '{fmt.score_key}' but no '{fmt.keys_key}' (keys found: {sorted(map(str, cam_dict))})")
    keys = as_numpy(cam_dict[fmt.keys_key])
    if keys.ndim != 1 or (keys.size and not np.issubdtype(keys.dtype, np.integer)):
        raise ValueError(f"'{fmt.keys_key}' must be a 1-D integer array, got {keys.dtype} {keys.shape}")
    if keys.size and (keys.min() < 0 or keys.max() > 255):
        raise ValueError(f"'{fmt.keys_key}' holds {keys.min()}..{keys.max()}, not class indices")
    return keys.astype(np.int64)


def _check_channels(scores: np.ndarray, classes: int, fmt: CamFormat) -> None:
    """The scores are K×H×W numbers with one channel per listed class (plus background, if stored)."""
    if scores.ndim != 3:
        raise ValueError(f"'{fmt.score_key}' must be K×H×W, got shape {scores.shape}")
    _numeric(scores, f"'{fmt.score_key}'")
    expected = classes + (1 if fmt.background_channel else 0)
    if scores.shape[0] == expected:
        return
    if fmt.background_channel:
        hint = " (channel 0 should be background)"
    elif scores.shape[0] == classes + 1:
        hint = " (a background channel? try the method that stores one, e.g. amn)"
    else:
        hint = ""
    raise ValueError(
        f"'{fmt.score_key}' has {scores.shape[0]} channels but {classes} classes are "
        f"listed in '{fmt.keys_key}'; expected {expected}{hint}"
    )


# ------------------------------------------------------------- whose file is it

def check_origin(cam_dict: Mapping, fmt: CamFormat, scores: np.ndarray, title: str, method: str) -> None:
    """Refuse a file of another method (called only when the method's own threshold would be used).

    Args:
        cam_dict: the dict as loaded; fmt: its layout; scores: its (K, H, W) foreground maps.
        title, method: the method's title and ``--method`` name, for the messages.

    Raises:
        AdapterSetupError: naming what gives the file away and ``fmt.other_method``.
    """
    hint = f"use --method {fmt.other_method}, or pass --threshold explicitly if you are sure"
    if fmt.forbidden_key and fmt.forbidden_key in cam_dict:
        raise AdapterSetupError(
            f"has '{fmt.forbidden_key}', which {title}'s {fmt.written_by} never writes: "
            f"this is not a {method} CAM file; {hint}"
        )
    sums_to_at_most_one = _check_probabilities(fmt, scores, f"{title}'s", f"not a {method} CAM file; {hint}")
    if fmt.map_minimum and scores.size:
        _check_map_minimum(fmt, scores, title, hint)
    if fmt.required_key and fmt.required_key not in cam_dict and sums_to_at_most_one:
        raise AdapterSetupError(
            f"has no '{fmt.required_key}', which {title}'s {fmt.written_by} always writes, and its "
            f"'{fmt.score_key}' sums to at most 1 per pixel like softmax probabilities: this looks "
            f"like a {fmt.other_method} CAM file; {hint}"
        )


def _check_probabilities(fmt: CamFormat, scores: np.ndarray, whose: str, verdict: str) -> bool:
    """Whether the maps sum to at most 1 per pixel; refused if not and ``fmt`` says they must (ToCo)."""
    total = scores.sum(axis=0) if scores.size else np.zeros(0)
    sums_to_at_most_one = bool(total.size == 0 or total.max() <= 1 + SUM_TOLERANCE)
    if fmt.probabilities and not sums_to_at_most_one:
        raise AdapterSetupError(
            f"its '{fmt.score_key}' sums to {total.max():.3f} at some pixel, but {whose} "
            f"{fmt.written_by} writes softmax probabilities (at most 1 per pixel): this is {verdict}"
        )
    return sums_to_at_most_one


def _check_map_minimum(fmt: CamFormat, scores: np.ndarray, title: str, hint: str) -> None:
    """MCTformer's maps never go below 0; every TransCAM map does (see ``CamFormat.map_minimum``)."""
    minima = scores.reshape(len(scores), -1).min(axis=1)
    if fmt.map_minimum == "zero" and minima.min() < 0:
        raise AdapterSetupError(
            f"its maps go down to {minima.min():.3g}, but {title}'s {fmt.written_by} min-max "
            f"normalises each to [0, 1]: this looks like a {fmt.other_method} CAM file; {hint}"
        )
    if fmt.map_minimum == "negative" and minima.max() >= 0:
        raise AdapterSetupError(
            f"a map's minimum is {minima.max():.3g}, but every map {title}'s {fmt.written_by} "
            f"writes has its minimum below 0 (the -1e-5 offset after zeroing): this looks like a "
            f"{fmt.other_method} CAM file; {hint}"
        )


# ---------------------------------------------------------------- read checks

def check_classes(classes: np.ndarray, num_classes: int) -> None:
    """Label values 1..num_classes-1, each once (``classes`` as read, 1-based)."""
    if not classes.size:
        return
    bad = classes[(classes < 1) | (classes >= num_classes)]
    if bad.size:
        raise ValueError(
            f"class keys {(bad - 1).tolist()[:5]} (0-based) are outside 0..{num_classes - 2}; "
            f"pass num_classes (81 for COCO) if your dataset has more classes"
        )
    if len(np.unique(classes)) != len(classes):
        raise ValueError(f"class keys repeat: {(classes - 1).tolist()}")

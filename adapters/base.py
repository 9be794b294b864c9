"""The shared base of every method adapter: read a method's CAMs, threshold them the
way that method does, refine with masks, write labels where its next stage reads them.

A method is a :class:`MethodAdapter` *declaration* (see ``irn.py`` for the pattern):
which CAM dict layouts it writes (:class:`CamFormat`, each with the method's own VOC
and COCO background threshold and the upstream file it comes from), the pseudo-label
PNG sets it already writes (:class:`LabelSet`), the folders its own stages write
(:class:`MethodFolder`, refused as ``--out``), the PNG mode its next stage reads and
the commands that continue its pipeline on refined labels (:class:`Continuation`).
All behaviour lives here, so adding a method is one new file with one declaration,
in ``adapters/`` or in another package registered by entry point (:mod:`samcam.plugins`).

CAM dicts come in these layouts; foreground classes are stored 0-based (label =
key + 1) unless said otherwise:

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

Every method turns CAMs into a pseudo label the same way (:mod:`samcam.cams`): put a
background plane in front of the foreground maps, take the argmax, map the winning
channel back to its class (ties go to the earlier channel, background first). The
plane is the constant threshold; ``(1 - max cam)^t`` for a layout whose method reads
t >= ``power_from`` as an exponent (CLIP-ES); or the stored background probabilities.
It is computed in the precision the maps are stored in, as the methods do.

When samcam picks the method's own threshold it first checks that the file is that
method's (:meth:`MethodAdapter.read`): IRN, AMN, CLIMS and ToCo files share the
``keys`` + ``high_res`` layout but not their thresholds, so a file of another method
would be thresholded wrongly without a word. With an explicit ``threshold`` the
labels do not depend on which of them wrote the file, and the check is skipped.
"""
from __future__ import annotations

import fnmatch
import os
import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any, List, Mapping, NamedTuple, Optional, Tuple, Union

import numpy as np

from samcam import masks as samcam_masks
from samcam.cams import background_plane, label_from_cams, scores_from_cams
from samcam.errors import ImageError
from samcam.limits import limits
from samcam.refine import refine
from samcam.safe_pickle import load_npy

__all__ = [
    "AdapterSetupError",
    "CamFormat",
    "CamReading",
    "Continuation",
    "LabelSet",
    "MethodAdapter",
    "MethodFolder",
    "GROUND_TRUTH_FOLDERS",
    "as_numpy",
]

# Tolerance of the value checks: float32 sums of softmax probabilities, CRF marginals.
_SUM_TOLERANCE = 1e-3


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
            return all(_is_int(key) for key in cam_dict)
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


@dataclass(frozen=True)
class LabelSet:
    """A pseudo-label PNG set a method already writes (a ``--source png`` input)."""

    path: str
    description: str


@dataclass(frozen=True)
class MethodFolder:
    """A folder one of the method's own stages writes: never an ``--out``.

    ``pattern`` is matched against the *end* of the output path, one path component
    per pattern component, with shell wildcards (``fnmatch``): ``result/sem_seg``
    matches ``/x/irn/result/sem_seg``; ``sem_seg`` matches any folder of that name.
    """

    pattern: str
    writer: str

    def matches(self, path: os.PathLike) -> bool:
        parts = Path(self.pattern).parts
        tail = Path(path).parts[-len(parts):]
        return len(tail) == len(parts) and all(fnmatch.fnmatchcase(a, b) for a, b in zip(tail, parts))


# Ground truth that every method's evaluation reads: refined labels never go there.
GROUND_TRUTH_FOLDERS = (
    MethodFolder("SegmentationClassAug", "the VOC ground truth (SBD-augmented) every method evaluates against"),
    MethodFolder("SegmentationClass", "the VOC ground truth every method evaluates against"),
)


@dataclass(frozen=True)
class Continuation:
    """One command that continues the method's pipeline on the refined labels.

    ``purpose`` and ``command`` are templates: ``{out}`` becomes the absolute,
    shell-quoted output folder (``{out}_rw``: a sibling folder for stages that write
    labels of their own, never the refined folder itself). ``datasets`` says
    for which label sets it applies: ``"voc"`` (21 classes) and/or ``"coco"`` (81).
    """

    purpose: str
    command: str
    datasets: Tuple[str, ...] = ("voc",)
    # Substrings of the output path the command cannot carry (e.g. a sed delimiter, or a
    # YAML comment marker in an unquoted value): with one in the path, the command is
    # replaced by a shell comment saying why, rather than printed broken.
    unsafe_in_path: Tuple[str, ...] = ()


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


def _is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


_COCO_ID = re.compile(r"\d{12}")


@dataclass(frozen=True)
class MethodAdapter:
    """Declaration of one WSSS method; its methods do the reading, thresholding and refining.

    Attributes:
        name: the ``--method`` value, e.g. ``"irn"``.
        title: human name with its repository, e.g. ``"IRN (jiwoon-ahn/irn)"``.
        cam_dir: where the CAM stage writes ``{name}.npy`` (relative to the method's run).
        cam_formats: the CAM layouts it writes, most common first.
        label_sets: pseudo-label PNG sets it already writes.
        method_folders: folders its own stages write; ``--out`` may not be one of them
            (nor the ground truth, :data:`GROUND_TRUTH_FOLDERS`).
        palette_allowed: its next stage reads PNGs with PIL (palette indices fine);
            False when it reads with imageio, which turns a palette PNG into RGB.
        continuations: commands that continue its pipeline on the refined labels.
        run_from: where those commands run, e.g. ``"the IRN repository root"``.
        notes: extra lines printed after the commands (placeholders to fill in).
        coco_image_prefixes: a CAM named by a bare 12-digit COCO id (``000000057870``)
            finds masks named after its image, ``{prefix}{id}``, with these prefixes.
    """

    name: str
    title: str
    cam_dir: str
    cam_formats: Tuple[CamFormat, ...]
    label_sets: Tuple[LabelSet, ...] = ()
    method_folders: Tuple[MethodFolder, ...] = ()
    palette_allowed: bool = False
    continuations: Tuple[Continuation, ...] = ()
    run_from: str = ""
    notes: Tuple[str, ...] = ()
    coco_image_prefixes: Tuple[str, ...] = ("COCO_train2014_", "COCO_val2014_")

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
        return " or ".join(f"{fmt.describe()} (--layout {fmt.layout})" for fmt in self.cam_formats)

    def layouts(self) -> List[str]:
        """The ``--layout`` names this method accepts."""
        return [fmt.layout for fmt in self.cam_formats]

    def cam_format(self, cam_dict: Mapping, layout: Optional[str] = None) -> CamFormat:
        """The declared layout ``cam_dict`` is in.

        Args:
            layout: a layout name to insist on (see :meth:`layouts`); None detects it
                among the layouts with ``auto``.

        Raises:
            ValueError: no layout fits (naming what was found); AdapterSetupError:
                ``layout`` is not one of this method's.
        """
        if layout is not None:
            chosen = [fmt for fmt in self.cam_formats if fmt.layout == layout]
            if not chosen:
                raise AdapterSetupError(
                    f"{self.title} has no layout {layout!r}; its layouts: {', '.join(self.layouts())}"
                )
            if chosen[0].matches(cam_dict):
                return chosen[0]
            candidates = chosen
        else:
            candidates = [fmt for fmt in self.cam_formats if fmt.auto]
            for fmt in candidates:
                if fmt.matches(cam_dict):
                    return fmt
        found = sorted(map(str, cam_dict))[:10]
        expected = " or ".join(fmt.describe() for fmt in candidates)
        raise ValueError(f"not a {self.title} CAM dict: expected {expected}, found keys {found}")

    def read(
        self,
        cam_dict: Mapping,
        threshold: Optional[float] = None,
        num_classes: int = 21,
        image_shape: Optional[Tuple[int, int]] = None,
        layout: Optional[str] = None,
    ) -> CamReading:
        """Read a CAM dict the method's way: its classes, foreground scores and background.

        Args:
            cam_dict: the method's CAM dict (numpy arrays or torch tensors).
            threshold: background threshold; None: the method's own for this layout
                and dataset, after checking that the file is this method's.
            num_classes: classes including background (21 VOC, 81 COCO).
            image_shape: (H, W) of the image; the maps must have this size (checked
                before they are converted), and it gives the size of an empty dict.
            layout: insist on a layout (see :meth:`layouts`); None detects it.

        Raises:
            ValueError: a bad dict; AdapterSetupError: another method's or layout's
                file, or no threshold of the method's own (pass ``threshold``).
        """
        fmt = self.cam_format(cam_dict, layout)
        if fmt.class_dict:
            # the methods copy class maps into a float32 tensor before thresholding
            classes, scores, background = _read_class_dict(cam_dict, image_shape, fmt, explicit=layout is not None,
                                                           num_classes=num_classes)
            precision = np.dtype(np.float32)
        else:
            classes, scores, precision = _read_keyed(cam_dict, fmt, image_shape, num_classes)
            background = None
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
        if fmt.background_key:
            if threshold is not None:
                raise AdapterSetupError(
                    f"a threshold does not apply to {self.title} {fmt.layout} dicts: key 0 holds the "
                    "background probabilities and the argmax decides; drop --threshold"
                )
            return CamReading(classes, scores, background, fmt)
        if not classes.size:
            return CamReading(classes, scores, 0.0 if threshold is None else float(threshold), fmt)
        if threshold is None:
            self._check_origin(cam_dict, fmt, scores)
            threshold = self.default_threshold(fmt, num_classes)
        plane = background_plane(scores, float(threshold), fmt.background_rule(float(threshold)), precision)
        return CamReading(classes, scores, plane, fmt)

    def foreground(
        self,
        cam_dict: Mapping,
        num_classes: int = 21,
        image_shape: Optional[Tuple[int, int]] = None,
        layout: Optional[str] = None,
    ) -> Tuple[np.ndarray, np.ndarray, CamFormat]:
        """The foreground maps of a CAM dict and their classes: ``(classes, scores, fmt)``.

        classes (K,) int64 label values 1..num_classes-1 in the stored order, scores
        (K, H, W) float32, and the layout found (no threshold is resolved).
        """
        fmt = self.cam_format(cam_dict, layout)
        if fmt.class_dict:
            classes, scores, _ = _read_class_dict(cam_dict, image_shape, fmt, explicit=layout is not None)
        else:
            classes, scores, _ = _read_keyed(cam_dict, fmt, image_shape)
        return classes, scores, fmt

    def own_threshold(self, fmt: CamFormat, num_classes: int = 21) -> Optional[float]:
        """The method's own threshold for layout ``fmt`` and this class count, None if it has none."""
        if num_classes == 21:
            return fmt.threshold
        return fmt.coco_threshold if num_classes == 81 else None

    def default_threshold(self, fmt: CamFormat, num_classes: int = 21) -> float:
        """The method's own background threshold for layout ``fmt`` (AdapterSetupError if none)."""
        if num_classes == 21 and fmt.threshold is not None:
            return fmt.threshold
        if num_classes == 81 and fmt.coco_threshold is not None:
            return fmt.coco_threshold
        if num_classes == 21:
            why = fmt.no_threshold or "none in its code"
        elif num_classes == 81:
            why = fmt.coco_source or "its code has no COCO threshold"
        else:
            why = f"it has defaults only for VOC (21 classes){' and COCO (81)' if fmt.coco_threshold else ''}"
        raise AdapterSetupError(
            f"{self.title} has no background threshold of its own for {fmt.layout} files with "
            f"{num_classes} classes ({why}); pass --threshold T (threshold=T)"
        )

    def _check_origin(self, cam_dict: Mapping, fmt: CamFormat, scores: np.ndarray) -> None:
        """Refuse a file that is another method's (only when its threshold would be ours)."""
        hint = f"use --method {fmt.other_method}, or pass --threshold explicitly if you are sure"
        if fmt.forbidden_key and fmt.forbidden_key in cam_dict:
            raise AdapterSetupError(
                f"has '{fmt.forbidden_key}', which {self.title}'s {fmt.written_by} never writes: "
                f"this is not a {self.name} CAM file; {hint}"
            )
        total = scores.sum(axis=0) if scores.size else np.zeros(0)
        sums_to_at_most_one = bool(total.size == 0 or total.max() <= 1 + _SUM_TOLERANCE)
        if fmt.probabilities and not sums_to_at_most_one:
            raise AdapterSetupError(
                f"its '{fmt.score_key}' sums to {total.max():.3f} at some pixel, but {self.title}'s "
                f"{fmt.written_by} writes softmax probabilities (at most 1 per pixel): this is not a "
                f"{self.name} CAM file; {hint}"
            )
        if fmt.map_minimum and scores.size:
            minima = scores.reshape(len(scores), -1).min(axis=1)
            if fmt.map_minimum == "zero" and minima.min() < 0:
                raise AdapterSetupError(
                    f"its maps go down to {minima.min():.3g}, but {self.title}'s {fmt.written_by} min-max "
                    f"normalises each to [0, 1]: this looks like a {fmt.other_method} CAM file; {hint}"
                )
            if fmt.map_minimum == "negative" and minima.max() >= 0:
                raise AdapterSetupError(
                    f"a map's minimum is {minima.max():.3g}, but every map {self.title}'s {fmt.written_by} "
                    f"writes has its minimum below 0 (the -1e-5 offset after zeroing): this looks like a "
                    f"{fmt.other_method} CAM file; {hint}"
                )
        if fmt.required_key and fmt.required_key not in cam_dict and sums_to_at_most_one:
            raise AdapterSetupError(
                f"has no '{fmt.required_key}', which {self.title}'s {fmt.written_by} always writes, and its "
                f"'{fmt.score_key}' sums to at most 1 per pixel like softmax probabilities: this looks "
                f"like a {fmt.other_method} CAM file; {hint}"
            )

    # ------------------------------------------------------------ CAMs -> label
    def cam_to_label(
        self,
        cam_dict: Mapping,
        threshold: Optional[float] = None,
        num_classes: int = 21,
        image_shape: Optional[Tuple[int, int]] = None,
        layout: Optional[str] = None,
    ) -> np.ndarray:
        """The method's own pseudo label from its CAM dict.

        A background plane (from ``threshold``, default: the method's own, as a
        constant or, where the method reads it so, the exponent of ``(1 - max)^t``; or
        the stored background probabilities of a CRF dict) goes in front of the
        foreground maps; argmax; channel i > 0 maps to its class.

        Returns:
            H×W uint8 label, 0 background, 1..num_classes-1 classes.
        """
        reading = self.read(cam_dict, threshold, num_classes, image_shape, layout)
        return label_from_cams(reading.classes, reading.scores, reading.background)

    def cam_scores(
        self,
        cam_dict: Mapping,
        threshold: Optional[float] = None,
        num_classes: int = 21,
        image_shape: Optional[Tuple[int, int]] = None,
        layout: Optional[str] = None,
    ) -> np.ndarray:
        """Class scores for ``refine(..., scores=)``.

        Returns:
            (num_classes, H, W) float32: channel 0 the background plane the method
            thresholds with, channel c the CAM of class c, 0 for classes absent from
            the image.
        """
        reading = self.read(cam_dict, threshold, num_classes, image_shape, layout)
        return scores_from_cams(reading.classes, reading.scores, reading.background, num_classes)

    def refine_cam(
        self,
        cam_dict: Mapping,
        masks: Any,
        *,
        threshold: Optional[float] = None,
        num_classes: int = 21,
        layout: Optional[str] = None,
        rule: Any = "samcam",
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
            layout: insist on a CAM layout (e.g. ``"crf"``); None detects it.
            rule: ``"samcam"`` (default), ``"official"``, an installed plug-in rule's
                name, or a rule object (see :func:`samcam.refine`).
            use_scores: pass the CAM scores to ``refine`` (for rules that use them;
                ``samcam``: the CAM's peak, not the label's thick middle, locates each
                region's core).
            **refine_params: further :func:`samcam.refine` options.

        Returns:
            H×W uint8 refined pseudo label.
        """
        if isinstance(masks, (str, os.PathLike)):
            masks = samcam_masks.load(masks)
        shape = getattr(masks, "image_shape", None) or (np.shape(masks)[1:] if np.ndim(masks) == 3 else None)
        reading = self.read(cam_dict, threshold, num_classes, shape, layout)
        label = label_from_cams(reading.classes, reading.scores, reading.background)
        scores = None
        if use_scores:
            scores = scores_from_cams(reading.classes, reading.scores, reading.background, num_classes)
        return refine(label, masks, rule=rule, num_classes=num_classes, scores=scores, **refine_params)

    # ------------------------------------------------------------- file names
    def mask_names(self, name: str) -> List[str]:
        """Names to look for masks of CAM ``name`` under, in order.

        The CAM's own name first; a bare 12-digit COCO id (AMN's COCO branch names CAMs
        ``000000057870``) then tries the image names ``COCO_train2014_000000057870``
        and ``COCO_val2014_000000057870`` that ``samcam masks`` gives its outputs.
        """
        names = [name]
        if _COCO_ID.fullmatch(name):
            names += [prefix + name for prefix in self.coco_image_prefixes]
        return names

    def find_masks(self, masks_dir: os.PathLike, name: str) -> Path:
        """The mask file of CAM ``name`` (see :meth:`mask_names`).

        Raises:
            FileNotFoundError: none found (naming every name tried); ImageError: masks
                under more than one of the names.
        """
        found, tried = [], []
        for candidate in self.mask_names(name):
            try:
                found.append(samcam_masks.find(masks_dir, candidate))
            except FileNotFoundError as error:
                tried.append(str(error))
        if len(found) > 1:
            raise ImageError(f"masks for {name!r} under several names: {', '.join(map(str, found))}; keep one")
        if not found:
            raise FileNotFoundError("; ".join(tried))
        return found[0]

    # ------------------------------------------------------------- output folder
    def method_folder(self, out_dir: os.PathLike) -> Optional[MethodFolder]:
        """The method's own output folder (or ground truth) that ``out_dir`` is, or None.

        Compared by path suffix, on the path as given (made absolute) and with symlinks
        resolved.
        """
        paths = {Path(os.path.abspath(out_dir)), Path(out_dir).resolve()}
        for folder in self.method_folders + GROUND_TRUTH_FOLDERS:
            if any(folder.matches(path) for path in paths):
                return folder
        return None

    # ------------------------------------------------------------- after a run
    def continuation_commands(self, out_dir: os.PathLike, num_classes: int = 21) -> List[Tuple[str, str]]:
        """``(purpose, command)`` for every command that continues the pipeline on ``out_dir``."""
        dataset = {21: "voc", 81: "coco"}.get(num_classes)
        path = os.path.abspath(out_dir)
        out = shlex.quote(path)
        commands = []
        for step in self.continuations:
            if dataset not in step.datasets:
                continue
            unsafe = [repr(text) for text in step.unsafe_in_path if text in path]
            command = step.command.format(out=out) if not unsafe else (
                f"# not printed: the output path contains {', '.join(unsafe)}, which this command cannot "
                "carry; refine into a folder whose path has none of them")
            commands.append((step.purpose.format(out=out), command))
        return commands

    def hint(self, out_dir: os.PathLike, palette: bool = False, num_classes: int = 21) -> str:
        """What to run next with the refined labels in ``out_dir`` (printed by ``samcam-adapt``).

        Each command is one line starting with two spaces, ready to copy; ``{out}`` is
        the absolute output path.
        """
        out = os.path.abspath(out_dir)
        kind = "VOC-palette" if palette else "8-bit grayscale"
        lines = [f"Refined {self.title} pseudo labels are in {out}/ ({kind} PNG, 0 background, 255 ignore)."]
        commands = self.continuation_commands(out_dir, num_classes)
        if commands:
            lines.append(f"Continue the pipeline (run from {self.run_from}):" if self.run_from else "Continue with:")
            for purpose, command in commands:
                lines.append(f"# {purpose}")
                lines.append(f"  {command}")
            lines += list(self.notes)
        else:
            lines.append(f"{self.title} has no stage for {num_classes}-class labels here; "
                         "train a segmentation network on them.")
        return "\n".join(lines)


def _read_class_dict(
    cam_dict: Mapping, image_shape: Optional[Tuple[int, int]], fmt: CamFormat, explicit: bool, num_classes: int = 256
) -> Tuple[np.ndarray, np.ndarray, Optional[np.ndarray]]:
    """``{class: (H, W)}`` -> classes (K,) 1-based ascending, scores (K, H, W), background plane.

    0-based dicts have no background plane (None). With ``fmt.background_key`` key 0
    is the background plane and key k + 1 is class k (so the label value is the key).
    """
    ordered = sorted(cam_dict, key=int)
    bad = [int(key) for key in ordered if not 0 <= key < num_classes]
    if bad:
        raise ValueError(
            f"class keys {bad[:5]} are outside 0..{num_classes - 1}; "
            f"pass num_classes (81 for COCO) if your dataset has more classes"
        )
    planes = [as_numpy(cam_dict[key]) for key in ordered]
    if not planes:
        if fmt.background_key:
            raise ValueError("CRF dict is empty; it should hold key 0 (background) and k+1 per class")
        if image_shape is None:
            raise ValueError("CAM dict holds no class, so its image size is unknown; pass image_shape")
        return np.zeros(0, np.int64), np.zeros((0,) + tuple(image_shape), np.float32), None
    shapes = {plane.shape for plane in planes}
    if len(shapes) != 1 or len(next(iter(shapes))) != 2:
        raise ValueError(f"class maps must all be H×W of one size, got shapes {sorted(shapes)[:5]}")
    for key, plane in zip(ordered, planes):
        _numeric(plane, f"class map {key}")
    _check_planes(planes[0].shape, "the class maps", image_shape, num_classes)
    keys = np.asarray([int(key) for key in ordered], np.int64)
    stack = np.stack(planes).astype(np.float32, copy=False)
    sums_to_one = len(planes) >= 2 and bool(np.abs(stack.sum(axis=0) - 1).max() <= _SUM_TOLERANCE)
    if fmt.background_key:
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
    if not explicit and keys[0] == 0 and sums_to_one:
        # a CAM dict never sums to 1 at every pixel (each map is min-max normalised);
        # an --out-crf dict always does: reading it 0-based would shift every class by one
        raise AdapterSetupError(
            "this dict has key 0 and its maps sum to 1 at every pixel: an MCTformer --out-crf dict "
            "(key 0 background, class k under k+1), not a 0-based CAM dict; read it with "
            "--method mctformer --layout crf (or pass --layout cam if it really is a CAM dict)"
        )
    return keys + 1, stack, None


def _read_keyed(
    cam_dict: Mapping, fmt: CamFormat, image_shape: Optional[Tuple[int, int]], num_classes: int = 256
) -> Tuple[np.ndarray, np.ndarray, np.dtype]:
    """``{keys: (K,), score_key: (K[+1], H, W)}`` -> classes (K,) 1-based, foreground scores
    (K, H, W) float32, and the precision the method thresholds them in: float16 for maps
    stored as float16 (its ``np.pad`` keeps their dtype), float32 otherwise."""
    if fmt.keys_key not in cam_dict:
        raise ValueError(f"CAM dict has '{fmt.score_key}' but no '{fmt.keys_key}' (keys found: {sorted(map(str, cam_dict))})")
    keys = as_numpy(cam_dict[fmt.keys_key])
    if keys.ndim != 1 or (keys.size and not np.issubdtype(keys.dtype, np.integer)):
        raise ValueError(f"'{fmt.keys_key}' must be a 1-D integer array, got {keys.dtype} {keys.shape}")
    if keys.size and (keys.min() < 0 or keys.max() > 255):
        raise ValueError(f"'{fmt.keys_key}' holds {keys.min()}..{keys.max()}, not class indices")
    keys = keys.astype(np.int64)
    if fmt.score_key not in cam_dict:
        # {"keys": <empty>} alone (matched only when empty): an image without classes
        if image_shape is None:
            raise ValueError("CAM dict holds no class and no scores, so its image size is unknown; pass image_shape")
        return np.zeros(0, np.int64), np.zeros((0,) + tuple(image_shape), np.float32), np.dtype(np.float32)
    scores = as_numpy(cam_dict[fmt.score_key])
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
    precision = np.dtype(np.float16 if scores.dtype == np.float16 else np.float32)
    return classes, scores.astype(np.float32, copy=False), precision


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
The CAM dict layouts and their readers are in :mod:`samcam.adapters.cam_dicts`.

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
from typing import Any, Callable, Dict, Iterator, List, Mapping, Optional, Tuple, Union

import numpy as np

from samcam import masks as samcam_masks
from samcam.cams import background_plane, label_from_cams, scores_from_cams
from samcam.errors import ImageError
from samcam.refine import refine
from samcam.safe_pickle import load_npy

from .cam_dicts import (
    AdapterSetupError,
    CamFormat,
    CamReading,
    as_numpy,
    check_classes,
    check_origin,
    read_class_dict,
    read_keyed,
)

__all__ = [
    "AdapterSetupError",
    "CamFormat",
    "CamReading",
    "Continuation",
    "LabelSet",
    "MethodAdapter",
    "MethodFolder",
    "Note",
    "RunFolders",
    "GROUND_TRUTH_FOLDERS",
    "REFINED_NAMES",
    "as_numpy",
    "looks_like_coco",
]


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


# The file in the output folder that lists the names of its labels, one a line (see Continuation).
REFINED_NAMES = "refined_names.txt"

# Label sets by class count, as Continuation.datasets and Note.datasets name them.
_DATASETS = {21: "voc", 81: "coco"}


@dataclass(frozen=True)
class Continuation:
    """One command that continues the method's pipeline on the refined labels.

    ``purpose`` and ``command`` are templates: ``{out}`` becomes the absolute,
    shell-quoted output folder (``{out}_rw``: a sibling folder for stages that write
    labels of their own, never the refined folder itself); ``{names}`` the absolute,
    shell-quoted ``{out}/refined_names.txt``, which the adapt job writes (the names of
    every label in the folder, sorted, one a line) when a command of the run's label
    set uses it; and the keys of the method's
    :attr:`MethodAdapter.template_values`. ``datasets`` says for which label sets it
    applies: ``"voc"`` (21 classes) and/or ``"coco"`` (81).
    """

    purpose: str
    command: str
    datasets: Tuple[str, ...] = ("voc",)
    # Substrings of the output path the command cannot carry (e.g. a sed delimiter, or a
    # YAML comment marker in an unquoted value): with one in the path, the command is
    # replaced by a shell comment saying why, rather than printed broken.
    unsafe_in_path: Tuple[str, ...] = ()


@dataclass(frozen=True)
class Note:
    """A line printed after the commands, for the label sets ``datasets`` only (see :class:`Continuation`)."""

    text: str
    datasets: Tuple[str, ...] = ("voc", "coco")


@dataclass(frozen=True)
class RunFolders:
    """What a finished run gives the continuations' templates (:attr:`MethodAdapter.template_values`).

    Attributes:
        out: the output folder, absolute.
        cams: the CAM folder refined, absolute; None when PNG labels were refined.
        dataset: ``"voc"`` (21 classes), ``"coco"`` (81) or None (another class count).
    """

    out: str
    cams: Optional[str]
    dataset: Optional[str]


def _read_maps(cam_dict: Mapping, fmt: CamFormat, image_shape: Optional[Tuple[int, int]], explicit: bool,
               num_classes: int = 256) -> Tuple[np.ndarray, np.ndarray, Optional[np.ndarray], np.dtype]:
    """``(classes, scores, stored background or None, precision)`` of a dict in layout ``fmt``."""
    if fmt.class_dict:
        classes, scores, stored = read_class_dict(cam_dict, image_shape, fmt, explicit, num_classes)
        # the methods copy class maps into a float32 tensor before thresholding
        return classes, scores, stored, np.dtype(np.float32)
    classes, scores, precision = read_keyed(cam_dict, fmt, image_shape, num_classes)
    return classes, scores, None, precision


_COCO_ID = re.compile(r"\d{12}")
# COCO image names: COCO_train2014_000000000009 (2014), 000000000009 (2017, and AMN's ids)
_COCO_NAME = re.compile(r"(COCO_[A-Za-z]+20\d\d_)?\d{12}")


def looks_like_coco(name: str) -> bool:
    """Whether ``name`` is a COCO image's name (``COCO_train2014_{id}``, ``COCO_val2014_{id}``,
    or the bare 12-digit id of COCO 2017 and of AMN's COCO lists)."""
    return bool(_COCO_NAME.fullmatch(name))


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
        notes: extra lines printed after the commands, if any (placeholders, defaults): a
            ``str`` for every label set, a :class:`Note` for some.
        template_values: more template keys for the continuations, from the run's
            folders (:class:`RunFolders`) -> ``{key: text}``; a text that goes into a
            command is shell-quoted by the function.
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
    notes: Tuple[Union[str, Note], ...] = ()
    coco_image_prefixes: Tuple[str, ...] = ("COCO_train2014_", "COCO_val2014_")
    template_values: Optional[Callable[[RunFolders], Mapping[str, str]]] = None

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
        candidates = self._candidates(layout)
        for fmt in candidates:
            if fmt.matches(cam_dict):
                return fmt
        found = sorted(map(str, cam_dict))[:10]
        expected = " or ".join(fmt.describe() for fmt in candidates)
        raise ValueError(f"not a {self.title} CAM dict: expected {expected}, found keys {found}")

    def _candidates(self, layout: Optional[str]) -> List[CamFormat]:
        """The layouts a dict may be in: the one asked for, or every auto-detected one."""
        if layout is None:
            return [fmt for fmt in self.cam_formats if fmt.auto]
        chosen = [fmt for fmt in self.cam_formats if fmt.layout == layout]
        if not chosen:
            raise AdapterSetupError(f"{self.title} has no layout {layout!r}; its layouts: {', '.join(self.layouts())}")
        return chosen

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
        classes, scores, stored, precision = _read_maps(cam_dict, fmt, image_shape, layout is not None, num_classes)
        check_classes(classes, num_classes)
        if scores.size and not np.isfinite(scores).all():
            raise ValueError("CAM scores contain NaN or infinity")
        if fmt.background_key:
            if threshold is not None:
                raise AdapterSetupError(
                    f"a threshold does not apply to {self.title} {fmt.layout} dicts: key 0 holds the "
                    "background probabilities and the argmax decides; drop --threshold"
                )
            return CamReading(classes, scores, stored, fmt)
        if not classes.size:
            return CamReading(classes, scores, 0.0 if threshold is None else float(threshold), fmt)
        if threshold is None:
            check_origin(cam_dict, fmt, scores, self.title, self.name)
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

        classes (K,) int64 label values in the stored order (not checked against
        ``num_classes``: any 0-based key up to 255), scores (K, H, W) float32, and the
        layout found (no threshold is resolved).
        """
        fmt = self.cam_format(cam_dict, layout)
        classes, scores, _, _ = _read_maps(cam_dict, fmt, image_shape, layout is not None)
        return classes, scores, fmt

    def own_threshold(self, fmt: CamFormat, num_classes: int = 21) -> Optional[float]:
        """The method's own threshold for layout ``fmt`` and this class count, None if it has none."""
        if num_classes == 21:
            return fmt.threshold
        return fmt.coco_threshold if num_classes == 81 else None

    def default_threshold(self, fmt: CamFormat, num_classes: int = 21) -> float:
        """The method's own background threshold for layout ``fmt`` (AdapterSetupError if none)."""
        own = self.own_threshold(fmt, num_classes)
        if own is not None:
            return own
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
    def _steps(self, num_classes: int) -> Iterator[Continuation]:
        """The continuations for labels of ``num_classes`` classes."""
        dataset = _DATASETS.get(num_classes)
        return (step for step in self.continuations if dataset in step.datasets)

    def uses_names_file(self, num_classes: int = 21) -> bool:
        """Whether a continuation for ``num_classes`` classes reads ``{out}/refined_names.txt``
        (:data:`REFINED_NAMES`), which the adapt job then writes."""
        return any("{names}" in step.command for step in self._steps(num_classes))

    def _template(self, out_dir: os.PathLike, num_classes: int, cams_dir: Optional[os.PathLike]) -> Dict[str, str]:
        """The continuations' template values (see :class:`Continuation`)."""
        path = os.path.abspath(out_dir)
        values = {"out": shlex.quote(path), "names": shlex.quote(os.path.join(path, REFINED_NAMES))}
        if self.template_values is not None:
            cams = None if cams_dir is None else os.path.abspath(cams_dir)
            values.update(self.template_values(RunFolders(path, cams, _DATASETS.get(num_classes))))
        return values

    def continuation_commands(self, out_dir: os.PathLike, num_classes: int = 21,
                              cams_dir: Optional[os.PathLike] = None) -> List[Tuple[str, str]]:
        """``(purpose, command)`` for every command that continues the pipeline on ``out_dir``.

        ``cams_dir``: the CAM folder refined (None: PNG labels were), for methods whose
        commands read the CAMs again (:attr:`template_values`).
        """
        path = os.path.abspath(out_dir)
        values = self._template(out_dir, num_classes, cams_dir)
        commands = []
        for step in self._steps(num_classes):
            unsafe = [repr(text) for text in step.unsafe_in_path if text in path]
            command = step.command.format(**values) if not unsafe else (
                f"# not printed: the output path contains {', '.join(unsafe)}, which this command cannot "
                "carry; refine into a folder whose path has none of them")
            commands.append((step.purpose.format(**values), command))
        return commands

    def notes_for(self, num_classes: int = 21) -> List[str]:
        """The :attr:`notes` for labels of ``num_classes`` classes."""
        dataset = _DATASETS.get(num_classes)
        return [note if isinstance(note, str) else note.text for note in self.notes
                if isinstance(note, str) or dataset in note.datasets]

    def hint(self, out_dir: os.PathLike, palette: bool = False, num_classes: int = 21,
             cams_dir: Optional[os.PathLike] = None) -> str:
        """What to run next with the refined labels in ``out_dir`` (printed by ``samcam-adapt``).

        Each command is one line starting with two spaces, ready to copy; ``{out}`` is
        the absolute output path; ``cams_dir`` is the CAM folder refined (None: PNG labels).
        """
        out = os.path.abspath(out_dir)
        kind = "VOC-palette" if palette else "8-bit grayscale"
        lines = [f"Refined {self.title} pseudo labels are in {out}/ ({kind} PNG, 0 background, 255 ignore)."]
        commands = self.continuation_commands(out_dir, num_classes, cams_dir)
        if commands:
            lines.append(f"Continue the pipeline (run from {self.run_from}):" if self.run_from else "Continue with:")
            for purpose, command in commands:
                lines.append(f"# {purpose}")
                lines.append(f"  {command}")
        else:
            lines.append(f"{self.title} has no stage for {num_classes}-class labels here; "
                         "train a segmentation network on them.")
        return "\n".join(lines + self.notes_for(num_classes))

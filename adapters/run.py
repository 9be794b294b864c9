"""A method's whole folder: the adapt job (what ``samcam adapt`` runs) and its per-image step.

An :class:`AdaptJob` holds every setting of one run, checked when it is built (types,
ranges, finite numbers)::

    job = AdaptJob(method="irn", cams_dir="result/cam", masks_dir="sam_masks", out_dir="result/sem_seg_sam")
    plan = job.plan()        # validate() every input, then what would be done; nothing written
    result = job.run(plan)   # record the run in out_dir/samcam.json, refine every image

:meth:`AdaptJob.validate` checks the settings against each other and the method, the
folders, the names and the data (:mod:`samcam.adapters.checks`) before anything is
written; errors name the parameter (``threshold``, ``cams_dir``), and the command line
shows its flags instead. :func:`adapt_dir` is the same as one call.
"""
from __future__ import annotations

import dataclasses
import functools
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from samcam import inputs, provenance
from samcam import masks as samcam_masks
from samcam.batch import BatchResult, ImageStats, run_batch
from samcam.cams import label_from_cams, scores_from_cams
from samcam.errors import ImageError
from samcam.io import (
    atomic_write_bytes,
    ensure_not_inside,
    list_names,
    read_label_png,
    read_name_list,
    unique_names,
    write_label_png,
)
from samcam.refine import describe_rule, get_rule, refine_counted, rule_parameters
from samcam.settings import Settings, SettingsError, setting

from . import get
from .base import REFINED_NAMES, MethodAdapter
from .checks import JobError, check_cam_classes, check_coco_names, check_first_cam, check_label_classes

log = logging.getLogger("samcam")

__all__ = ["AdaptJob", "AdaptPlan", "JobError", "adapt_dir", "adapt_one", "check_first_cam", "write_refined_names"]

_PATHS = ("cams_dir", "labels_dir", "masks_dir", "out_dir", "list_file")


@dataclass(frozen=True)
class AdaptJob(Settings):
    """Every setting of one ``samcam adapt`` run (a :class:`~samcam.settings.Settings`).

    ``method``, ``masks_dir`` and ``out_dir`` are required, and one input folder:
    ``cams_dir`` (``source="cam"``, each ``{name}.npy`` thresholded the method's way)
    or ``labels_dir`` (``source="png"``, each ``{name}.png`` the method wrote). Folders
    may be given as ``str`` or ``Path`` (stored as ``Path``); ``refine_params`` as a
    mapping (stored as ``(name, value)`` pairs; :attr:`rule_params` gives the dict).
    """

    method: str = setting(None, "the WSSS method that wrote the inputs", cli=False)
    masks_dir: Path = setting(None, "folder of masks per image (samcam store, amg.py PNG folders or RLE JSON)",
                              flag="--masks", metavar="DIR")
    out_dir: Path = setting(None, "folder for the refined {name}.png labels (must not be an input folder)",
                            flag="--out", metavar="DIR")
    cams_dir: Optional[Path] = setting(None, "folder of the method's CAM {name}.npy files (--source cam)",
                                       flag="--cams", metavar="DIR")
    source: Optional[str] = setting(
        None, "cam: threshold the method's CAMs its own way (default); png: refine label PNGs it already wrote "
              "(--labels)", choices=("cam", "png"))
    labels_dir: Optional[Path] = setting(None, "folder of the method's pseudo-label {name}.png files (--source png)",
                                         flag="--labels", metavar="DIR")
    threshold: Optional[float] = setting(
        None, "background threshold for CAMs, read as the method reads it (clip-es: T >= 1 is the exponent of "
              "(1 - max)^T, T < 1 a constant; its default 2 is eval_cam.py's, 1 is what its training masks use); "
              "default: the method's own for the layout and --num-classes; some layouts have none and need it",
        metavar="X")
    layout: Optional[str] = setting(
        None, "insist on a CAM layout (default: detected). cam: the CAM stage's files; hr_cam / rw: CLIMS "
              "previous_version inference_cam.py / inference_rw.py; crf: MCTformer --out-crf dicts (key 0 "
              "background, class k under k+1), never detected, always asked for", metavar="LAYOUT")
    overwrite_method_folder: bool = setting(
        False, "allow an --out that is one of the method's own output folders (e.g. IRN's result/sem_seg), which "
               "its next run would overwrite")
    use_scores: bool = setting(
        False, "samcam rule, --source cam: the CAM's peak, not the label's thick middle, locates each class "
               "region's core for the rescue (docs/rule.md)")
    palette: bool = setting(False, "write VOC-palette PNGs, for methods whose next stage reads PNGs with PIL")
    num_classes: int = setting(21, "classes including background: 21 for VOC (default), 81 for COCO", low=2,
                               high=255, metavar="N")
    refine_params: Tuple[Tuple[str, Any], ...] = setting(
        (), "the rule and its parameters, for samcam.refine (rule=..., ratio_thresh=...)", cli=False)
    mask_order: str = setting("numeric", "order of amg.py PNG masks", choices=("numeric", "listdir"))
    image_names: Optional[Tuple[str, ...]] = setting(None, "the image names (default: every input file found)",
                                                     cli=False)
    list_file: Optional[Path] = setting(None, "the name list the names came from (recorded; read when "
                                              "image_names is not given)", flag="--list", metavar="FILE")
    workers: int = setting(1, "worker processes (results do not depend on N)", low=1)
    overwrite: bool = setting(False, "redo images whose output already exists (default: skip them, i.e. resume)")
    progress: bool = setting(False, "show a progress bar", cli=False)
    command: Optional[Tuple[str, ...]] = setting(None, "the command line, recorded in samcam.json", cli=False)

    def __post_init__(self) -> None:
        if isinstance(self.refine_params, Mapping):
            object.__setattr__(self, "refine_params", tuple(self.refine_params.items()))
        super().__post_init__()
        for name in _PATHS:
            object.__setattr__(self, name, _as_path(name, getattr(self, name)))
        object.__setattr__(self, "method", get(self.method).name)  # the registered spelling
        if self.source is None:  # from the folder given
            source = "png" if self.labels_dir is not None and self.cams_dir is None else "cam"
            object.__setattr__(self, "source", source)

    # ------------------------------------------------------------------ derived
    @property
    def adapter(self) -> MethodAdapter:
        return get(self.method)

    @property
    def rule_params(self) -> Dict[str, Any]:
        """``refine_params`` as keyword arguments of :func:`samcam.refine`, with ``num_classes``."""
        return {**dict(self.refine_params), "num_classes": self.num_classes}

    @property
    def input_dir(self) -> Path:
        """The folder the labels come from: ``cams_dir`` or ``labels_dir``."""
        return self.cams_dir if self.source == "cam" else self.labels_dir

    def output(self, name: str) -> Path:
        """The file image ``name`` is written to."""
        return self.out_dir / f"{name}.png"

    # ------------------------------------------------------------------ checks
    def check_settings(self) -> None:
        """The settings against each other and the method (no file is looked at).

        Raises:
            JobError: naming the parameter.
        """
        adapter = self.adapter
        self._check_source(adapter)
        if self.source == "png":
            self._check_png_settings()
        rule = get_rule(self.rule_params.get("rule", "samcam"))
        if self.use_scores and not rule.uses_scores:
            raise JobError("use_scores", "is for rules that read the CAM scores; rule {rule} uses the hard label "
                           "only: drop {use_scores}", rule=rule.name)
        if self.palette and not adapter.palette_allowed:
            raise JobError("palette", "is for methods whose next stage reads labels with PIL: {title} reads them with "
                           "imageio, which turns a palette PNG into RGB; its labels are written as plain 8-bit PNGs",
                           title=adapter.title)
        if self.layout is not None and self.layout not in adapter.layouts():
            raise JobError("layout", "is {given!r}, but {title} has no layout {given!r}; its layouts: {layouts}",
                           given=self.layout, title=adapter.title, layouts=", ".join(adapter.layouts()))

    def _check_png_settings(self) -> None:
        if self.threshold is not None:
            raise JobError("threshold", "applies to CAMs ({source} cam); label PNGs are already thresholded")
        if self.layout is not None:
            raise JobError("layout", "applies to CAMs ({source} cam)")
        if self.use_scores:
            raise JobError("use_scores", "needs CAMs ({source} cam)")

    def _check_source(self, adapter: MethodAdapter) -> None:
        if self.source == "cam":
            if self.cams_dir is None:
                raise JobError("source", "cam needs {cams_dir} (the method's CAM .npy folder, e.g. {example}); or "
                               "refine label PNGs with {source} png and {labels_dir}", example=adapter.cam_dir)
            if self.labels_dir is not None:
                raise JobError("labels_dir", "is read only with {source} png; drop it or set {source} png")
        elif self.labels_dir is None:
            sets = "; ".join(f"{s.path}: {s.description}" for s in adapter.label_sets) or "its pseudo-label folder"
            raise JobError("source", "png needs {labels_dir} ({title} writes {sets})", title=adapter.title, sets=sets)
        elif self.cams_dir is not None:
            raise JobError("cams_dir", "is read only with {source} cam; drop it or set {source} cam")

    def validate(self) -> List[str]:
        """Check every input before anything is written; returns the image names of the run.

        In order: the settings (:meth:`check_settings`) and the rule's parameters; the
        folders (they exist, hold what they should, ``out_dir`` is outside them and none
        of the method's own folders); the names (each has its input somewhere); the data
        (the first CAM files are this method's, COCO-named images are not run with VOC
        settings, no image to be written holds a class beyond ``num_classes``).

        Raises:
            JobError: naming the parameter; ValueError: another configuration error.
        """
        self.check_settings()
        resolved = rule_parameters(**self.rule_params)
        found, masks = self._check_folders()
        names = self._names()
        self._check_names_present(names, found, masks)
        self._check_data(names, resolved["ignore_index"])
        return names

    def _check_folders(self) -> Tuple[inputs.FolderContents, inputs.FolderContents]:
        """The input folders exist and hold what they should; ``out_dir`` is not among them or the method's."""
        for name in ("masks_dir", "cams_dir" if self.source == "cam" else "labels_dir"):
            if not getattr(self, name).is_dir():
                raise JobError(name, "{folder}: folder does not exist", folder=getattr(self, name))
        ensure_not_inside(self.out_dir, [self.cams_dir, self.labels_dir, self.masks_dir])
        # Folders of the wrong kind (labels as masks, images as CAMs) are one configuration error.
        masks = _survey(inputs.check_mask_folder, self.masks_dir, "masks_dir")
        if self.source == "cam":
            found = _survey(inputs.check_cam_folder, self.cams_dir, "cams_dir")
        else:
            found = _survey(inputs.check_label_folder, self.labels_dir, "labels_dir")
        folder = self.adapter.method_folder(self.out_dir)
        if folder is not None and not self.overwrite_method_folder:
            raise JobError(
                "out_dir", "{out} is a folder {title}'s own stages write ({pattern}: {writer}); refined labels "
                "there would be overwritten or would corrupt its evaluation. Choose another folder (e.g. a new "
                "name beside it), or pass {overwrite_method_folder} if you mean it", out=self.out_dir,
                title=self.adapter.title, pattern=folder.pattern, writer=folder.writer)
        return found, masks

    def _names(self) -> List[str]:
        """The run's names: ``image_names``, else the ``list_file``'s, else every input file's; each once."""
        names: Optional[Sequence[str]] = self.image_names
        if names is None and self.list_file is not None:
            names = read_name_list(self.list_file)
        if names is None:
            suffix = ".npy" if self.source == "cam" else ".png"
            names = list_names(self.input_dir, (suffix,))
            if not names:
                raise JobError("cams_dir" if self.source == "cam" else "labels_dir", "{folder}: no *{suffix} files "
                               "found", folder=self.input_dir, suffix=suffix)
        return unique_names(names, "adapt")  # plain file names, each once, before any file is read

    def _check_names_present(self, names: List[str], found, masks) -> None:
        """Refuse a run in which no name has its input (some missing: the batch reports them)."""
        source = f"the list {self.list_file}" if self.list_file else ""
        if self.source == "cam":
            have, parameter, pattern = inputs.available_names(found, [inputs.NPY]), "cams_dir", "{name}.npy"
        else:
            have, parameter, pattern = inputs.available_names(found, inputs.LABEL_KINDS), "labels_dir", "{name}.png"
        adapter = self.adapter
        have_masks = inputs.available_names(masks, inputs.MASK_KINDS)
        checks = ((parameter, self.input_dir, have.__contains__, pattern, found),
                  ("masks_dir", self.masks_dir, lambda name: any(m in have_masks for m in adapter.mask_names(name)),
                   "{name}" + samcam_masks.STORE_SUFFIX + ", {name}.json or {name}/", masks))
        for name, folder, present, looked_for, contents in checks:
            try:
                inputs.check_names_present(names, name, folder, present, looked_for, contents, source)
            except inputs.InputError as error:
                raise JobError.wrap(name, str(error)) from error

    def _check_data(self, names: List[str], ignore_index: int) -> None:
        """The method and the class count against the files of the images still to be written."""
        pending = names if self.overwrite else [name for name in names if not self.output(name).exists()]
        if self.source == "png":
            check_label_classes(self.labels_dir, pending, self.num_classes, ignore_index, threads=self.workers)
            return
        check_coco_names(names, self.num_classes, self.threshold)
        check_first_cam(self.method, self.cams_dir, names, threshold=self.threshold, num_classes=self.num_classes,
                        layout=self.layout)
        check_cam_classes(self.adapter, self.cams_dir, pending, self.num_classes, self.layout)

    # ------------------------------------------------------------------ plan and run
    def record(self) -> Dict[str, Any]:
        """The settings ``samcam.json`` records (what decides the labels); see :mod:`samcam.provenance`."""
        adapter, cams = self.adapter, self.source == "cam"
        own_thresholds = {adapter.own_threshold(fmt, self.num_classes) for fmt in adapter.cam_formats} if cams else set()
        return {
            "tool": "adapt",
            "method": adapter.name,
            "source": self.source,
            "layout": self.layout,
            # None: the method's own for the CAM layout found (the layouts' values are listed)
            "threshold": self.threshold,
            "method_thresholds": sorted(t for t in own_thresholds if t is not None) if cams else None,
            "use_scores": self.use_scores,
            "refine": rule_parameters(**self.rule_params),
            "inputs": {("cams" if cams else "labels"): str(self.input_dir.resolve()),
                       "masks": str(self.masks_dir.resolve())},
            "mask_order": self.mask_order,
            "palette": self.palette,
        }

    def plan(self) -> "AdaptPlan":
        """:meth:`validate`, then what :meth:`run` would do. Nothing is written."""
        names = self.validate()
        pending = names if self.overwrite else [name for name in names if not self.output(name).exists()]
        return AdaptPlan(self, tuple(names), tuple(pending), self.record())

    def run(self, plan: Optional["AdaptPlan"] = None) -> BatchResult:
        """Record the run in ``{out_dir}/samcam.json`` and refine every image (``plan`` or :meth:`plan`'s).

        Where a continuation of the method reads the list of labels (MCTformer on COCO:
        :meth:`~samcam.adapters.base.MethodAdapter.uses_names_file`), it is written last,
        to ``{out_dir}/refined_names.txt`` (:func:`write_refined_names`).

        Returns:
            The :class:`~samcam.batch.BatchResult`; per-image failures are collected.
        """
        plan = plan if plan is not None else self.plan()
        _claim = provenance.claim(  # the folder's lock, held until this returns
            self.out_dir, provenance.LABELS, plan.record,
            provenance.RunInfo(list(plan.names), overwrite=self.overwrite, command=self.command,
                               list_file=self.list_file),
            inputs={"masks": self.masks_dir})
        log.info("%s: rule %s; recorded in %s", self.out_dir, describe_rule(plan.record["refine"]), _claim.path)
        # the per-image job goes to every worker with each image: without the names
        per_image = functools.partial(_adapt_counted, job=dataclasses.replace(self, image_names=None, command=None))
        result = run_batch(list(plan.names), per_image, self.output, workers=self.workers, overwrite=self.overwrite,
                           desc=f"adapt {self.method}", progress=self.progress)
        if self.adapter.uses_names_file(self.num_classes):
            write_refined_names(self.out_dir)
        return result

    # ------------------------------------------------------------------ one image
    def pseudo_label(self, name: str, image_shape: Tuple[int, int]) -> Tuple[Path, np.ndarray, Optional[np.ndarray]]:
        """``(source file, H×W uint8 pseudo label, (C, H, W) scores or None)`` of image ``name``.

        Raises:
            ImageError / FileNotFoundError: naming the file.
        """
        if self.source == "png":
            path = self.labels_dir / f"{name}.png"
            if not path.exists():
                raise FileNotFoundError(f"{path}: label file does not exist")
            return path, read_label_png(path), None
        path = self.cams_dir / f"{name}.npy"
        if not path.exists():
            raise FileNotFoundError(f"{path}: CAM file does not exist")
        cam_dict = self.adapter.load_cam(path)
        try:
            reading = self.adapter.read(cam_dict, self.threshold, self.num_classes, image_shape, self.layout)
        except ValueError as error:
            raise ImageError(f"{path}: {error}") from error
        label = label_from_cams(reading.classes, reading.scores, reading.background)
        scores = None
        if self.use_scores:
            scores = scores_from_cams(reading.classes, reading.scores, reading.background, self.num_classes)
        return path, label, scores


@dataclass(frozen=True)
class AdaptPlan:
    """What an :class:`AdaptJob` would do, after :meth:`AdaptJob.validate`.

    Attributes:
        job: the job.
        names: every image of the run, in order.
        pending: the images :meth:`AdaptJob.run` would write (the others are done: skipped).
        record: the settings ``samcam.json`` records.
    """

    job: AdaptJob
    names: Tuple[str, ...]
    pending: Tuple[str, ...]
    record: Dict[str, Any]

    def outputs(self) -> List[Path]:
        """The files the pending images are written to."""
        return [self.job.output(name) for name in self.pending]

    def describe(self) -> str:
        """One line: ``adapt irn: 40 image(s) from cams/ (cam) -> out/: 33 to write, 7 already done``."""
        job = self.job
        return (f"adapt {job.method}: {len(self.names)} image(s) from {job.input_dir}/ ({job.source}) -> "
                f"{job.out_dir}/: {len(self.pending)} to write, {len(self.names) - len(self.pending)} already done")


def write_refined_names(out_dir: os.PathLike) -> Path:
    """Write ``{out_dir}/refined_names.txt``: the name of every label ``{name}.png`` in ``out_dir``, sorted,
    one a line (atomically; rewritten by each run, so it covers every run into the folder).

    Every label there has the folder's settings (:func:`samcam.provenance.claim` refuses to
    mix). A method's next stage reads every name of its list (MCTformer's train_seg.py stops
    at the first without a label, seg/tool/exutils.py:125): this list holds only the images
    refined, without those that had no CAM file or failed. A ``.txt`` is never read as a label.

    Returns:
        The file's path.
    """
    names = list_names(out_dir, (".png",))
    return atomic_write_bytes(Path(out_dir) / REFINED_NAMES, "".join(f"{name}\n" for name in names).encode("utf-8"))


def _as_path(name: str, value: Any) -> Optional[Path]:
    if value is None or isinstance(value, Path):
        return value
    if isinstance(value, (str, os.PathLike)):
        return Path(value)
    raise SettingsError(name, f"must be a path, got {type(value).__name__}")


def _survey(check, folder: Path, parameter: str) -> inputs.FolderContents:
    """A :mod:`samcam.inputs` folder check, its error naming ``parameter``."""
    try:
        return check(folder, parameter)
    except inputs.InputError as error:
        raise JobError.wrap(parameter, str(error)) from error


def adapt_one(name: str, job: Optional[AdaptJob] = None, **settings: Any) -> Path:
    """One image of an adapt job: read the pseudo label, refine, write ``{out_dir}/{name}.png``.

    ``job`` is an :class:`AdaptJob` (or its settings are given as keywords: ``method``,
    ``out_dir``, ``masks_dir``, ``cams_dir`` or ``labels_dir``, ...). With ``cams_dir``
    the label comes from ``{cams_dir}/{name}.npy`` thresholded the method's way
    (``layout`` insists on a CAM layout, e.g. ``"crf"``); otherwise from
    ``{labels_dir}/{name}.png``. A CAM dict without classes gives an all-background
    label of the masks' size, as the methods do downstream. Masks are looked up under
    the method's :meth:`~samcam.adapters.base.MethodAdapter.mask_names` (a bare COCO
    id also finds ``COCO_train2014_{id}``); the output keeps the input's name. Module
    level so that :func:`samcam.batch.run_batch` can send it to worker processes.

    Raises:
        ImageError / FileNotFoundError: with a message naming the files.
    """
    return _adapt(name, job if job is not None else AdaptJob(**settings))[0]


def _adapt_counted(name: str, job: AdaptJob) -> ImageStats:
    """:func:`adapt_one` for the batch: the image's numbers for the run's summary."""
    return _adapt(name, job)[1]


def _adapt(name: str, job: AdaptJob) -> Tuple[Path, ImageStats]:
    mask_path = job.adapter.find_masks(job.masks_dir, name)
    maskset = samcam_masks.load(mask_path, png_order=job.mask_order)
    source, label, scores = job.pseudo_label(name, maskset.image_shape)
    if tuple(label.shape) != tuple(maskset.image_shape):
        raise ImageError(
            f"{source} is {label.shape[0]}×{label.shape[1]} but its masks {mask_path} are "
            f"{maskset.image_shape[0]}×{maskset.image_shape[1]} (height×width); the masks must come from the same image"
        )
    try:
        refined, used = refine_counted(label, maskset, scores=scores, **job.rule_params)
    except ValueError as error:
        raise ImageError(f"{source} with masks {mask_path}: {error}") from error
    path = write_label_png(job.output(name), refined, palette=job.palette)
    return path, ImageStats.of_refinement(label, refined, used)


def adapt_dir(
    method: str,
    masks_dir: os.PathLike,
    out_dir: os.PathLike,
    *,
    names: Optional[Sequence[str]] = None,
    refine_params: Optional[Mapping[str, Any]] = None,
    **settings: Any,
) -> BatchResult:
    """Refine a method's CAMs (``cams_dir``) or pseudo-label PNGs (``labels_dir``) with masks.

    The same as ``AdaptJob(method=method, masks_dir=masks_dir, out_dir=out_dir, ...).run()``:
    ``settings`` are :class:`AdaptJob`'s (``cams_dir``, ``labels_dir``, ``threshold``,
    ``num_classes``, ``layout``, ``palette``, ``use_scores``, ``mask_order``, ``workers``,
    ``overwrite``, ``overwrite_method_folder``, ``progress``, ``command``, ``list_file``).

    Exactly one of ``cams_dir`` (``{name}.npy`` thresholded the method's way) and
    ``labels_dir`` (``{name}.png``) is given. Writes ``{out_dir}/{name}.png`` in the
    PNG mode the method's next stage reads, resumably; ``names`` defaults to every
    input file found. ``refine_params`` (``rule`` and its parameters) go to
    :func:`samcam.refine`. ``{out_dir}/samcam.json`` records the method, source,
    threshold, rule and every parameter, the inputs, and (``command``, ``list_file``)
    how the run was started; see :mod:`samcam.provenance`.

    Before any image (:meth:`AdaptJob.validate`): ``out_dir`` may not be one of the
    method's own output folders (:meth:`~samcam.adapters.base.MethodAdapter.method_folder`,
    matched by path suffix, e.g. IRN's ``result/sem_seg``), which its next run would
    overwrite, unless ``overwrite_method_folder``; the first CAM file with classes is
    checked to be this method's, in a layout with a threshold (:func:`check_first_cam`);
    COCO-named images are not run with VOC settings; and no image holds a class beyond
    ``num_classes`` (every label PNG, a sample of the CAM files).

    Returns:
        The :class:`~samcam.batch.BatchResult`; per-image failures are collected.

    Raises:
        ValueError: a configuration error (:class:`JobError` naming the parameter: a
            wrong combination of settings, a missing folder, ``out_dir`` inside an input
            or one of the method's own folders, another method's CAM files, a class
            count the data contradicts; ``out_dir`` holding labels made with other
            settings), before any image.
    """
    job = AdaptJob(method=method, masks_dir=masks_dir, out_dir=out_dir,
                   image_names=None if names is None else tuple(names), refine_params=dict(refine_params or {}), **settings)
    return job.run()

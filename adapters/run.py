"""A method's whole folder: :func:`adapt_dir` (what ``samcam adapt`` runs) and its per-image job."""
from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence

from samcam import inputs, provenance
from samcam import masks as samcam_masks
from samcam.batch import BatchResult, run_batch
from samcam.cams import label_from_cams, scores_from_cams
from samcam.errors import ImageError
from samcam.io import ensure_not_inside, list_names, read_label_png, unique_names, write_label_png
from samcam.refine import get_rule, refine, rule_parameters

from . import available, get
from .base import AdapterSetupError

__all__ = ["adapt_dir", "adapt_one", "check_first_cam"]

# how many CAM files the folder check looks through for one with classes
_FIRST_FILES_CHECKED = 20


def adapt_one(
    name: str,
    *,
    method: str,
    out_dir: str,
    masks_dir: str,
    cams_dir: Optional[str] = None,
    labels_dir: Optional[str] = None,
    threshold: Optional[float] = None,
    num_classes: int = 21,
    layout: Optional[str] = None,
    palette: bool = False,
    use_scores: bool = False,
    refine_params: Optional[Mapping[str, Any]] = None,
    mask_order: str = "numeric",
) -> Path:
    """One image of ``samcam-adapt``: read the pseudo label, refine, write ``{out}/{name}.png``.

    With ``cams_dir`` the label comes from ``{cams_dir}/{name}.npy`` thresholded the
    method's way (``layout`` insists on a CAM layout, e.g. ``"crf"``); otherwise from
    ``{labels_dir}/{name}.png``. A CAM dict without classes gives an all-background
    label of the masks' size, as the methods do downstream. Masks are looked up under
    the method's :meth:`~samcam.adapters.base.MethodAdapter.mask_names` (a bare COCO
    id also finds ``COCO_train2014_{id}``); the output keeps the input's name.
    ``refine_params`` (rule and its parameters) go to :func:`samcam.refine`. Module
    level so that :func:`samcam.batch.run_batch` can send it to worker processes.

    Raises:
        ImageError / FileNotFoundError: with a message naming the files.
    """
    adapter = get(method)
    mask_path = adapter.find_masks(masks_dir, name)
    maskset = samcam_masks.load(mask_path, png_order=mask_order)
    scores = None
    if cams_dir is not None:
        source = Path(cams_dir) / f"{name}.npy"
        if not source.exists():
            raise FileNotFoundError(f"{source}: CAM file does not exist")
        cam_dict = adapter.load_cam(source)
        try:
            reading = adapter.read(cam_dict, threshold, num_classes, maskset.image_shape, layout)
        except ValueError as error:
            raise ImageError(f"{source}: {error}") from error
        label = label_from_cams(reading.classes, reading.scores, reading.background)
        if use_scores:
            scores = scores_from_cams(reading.classes, reading.scores, reading.background, num_classes)
    else:
        source = Path(labels_dir) / f"{name}.png"
        if not source.exists():
            raise FileNotFoundError(f"{source}: label file does not exist")
        label = read_label_png(source)
    if tuple(label.shape) != tuple(maskset.image_shape):
        raise ImageError(
            f"{source} is {label.shape[0]}×{label.shape[1]} but its masks {mask_path} are "
            f"{maskset.image_shape[0]}×{maskset.image_shape[1]} (height×width); the masks must come from the same image"
        )
    try:
        params = dict(refine_params or {})
        params["num_classes"] = num_classes
        refined = refine(label, maskset, scores=scores, **params)
    except ValueError as error:
        raise ImageError(f"{source} with masks {mask_path}: {error}") from error
    return write_label_png(Path(out_dir) / f"{name}.png", refined, palette=palette)


def adapt_dir(
    method: str,
    masks_dir: os.PathLike,
    out_dir: os.PathLike,
    *,
    cams_dir: Optional[os.PathLike] = None,
    labels_dir: Optional[os.PathLike] = None,
    names: Optional[Sequence[str]] = None,
    threshold: Optional[float] = None,
    num_classes: int = 21,
    layout: Optional[str] = None,
    palette: bool = False,
    use_scores: bool = False,
    refine_params: Optional[Mapping[str, Any]] = None,
    mask_order: str = "numeric",
    workers: int = 1,
    overwrite: bool = False,
    overwrite_method_folder: bool = False,
    progress: bool = False,
    command: Optional[Sequence[str]] = None,
    list_file: Optional[os.PathLike] = None,
) -> BatchResult:
    """Refine a method's CAMs (``cams_dir``) or pseudo-label PNGs (``labels_dir``) with masks.

    Exactly one of ``cams_dir`` (``{name}.npy`` thresholded the method's way) and
    ``labels_dir`` (``{name}.png``) is given. Writes ``{out_dir}/{name}.png`` in the
    PNG mode the method's next stage reads, resumably; ``names`` defaults to every
    input file found. ``refine_params`` (``rule`` and its parameters) go to
    :func:`samcam.refine`. ``{out_dir}/samcam.json`` records the method, source,
    threshold, rule and every parameter, the inputs, and (``command``, ``list_file``)
    how the run was started; see :mod:`samcam.provenance`.

    Before any image: ``out_dir`` may not be one of the method's own output folders
    (:meth:`~samcam.adapters.base.MethodAdapter.method_folder`, matched by path
    suffix, e.g. IRN's ``result/sem_seg``), which its next run would overwrite, unless
    ``overwrite_method_folder``; and the first CAM file with classes is checked to be
    this method's, in a layout with a threshold (:func:`check_first_cam`).

    Returns:
        The :class:`~samcam.batch.BatchResult`; per-image failures are collected.

    Raises:
        ValueError / FileNotFoundError: a configuration error (wrong combination of
            options, a missing folder, ``out_dir`` inside an input or one of the
            method's own folders, another method's CAM files, ``out_dir`` holding
            labels made with other settings), before any image.
    """
    adapter = get(method)
    if (cams_dir is None) == (labels_dir is None):
        sets = ", ".join(label_set.path for label_set in adapter.label_sets) or "its pseudo-label folder"
        raise ValueError(
            f"give the CAM folder (--cams, e.g. {adapter.cam_dir}) or a pseudo-label PNG folder "
            f"(--source png --labels; {adapter.title} writes {sets}), not both"
        )
    if labels_dir is not None:
        if threshold is not None:
            raise ValueError("--threshold applies to CAMs (--source cam); label PNGs are already thresholded")
        if use_scores:
            raise ValueError("--use-scores needs CAMs (--source cam)")
    params = dict(refine_params or {})
    if use_scores and not get_rule(params.get("rule", "samcam")).uses_scores:
        raise ValueError(f"--rule {get_rule(params.get('rule', 'samcam')).name} uses the hard label only; "
                         "drop --use-scores")
    if palette and not adapter.palette_allowed:
        raise ValueError(
            f"--palette: {adapter.title} reads labels with imageio, which turns a palette PNG into RGB; "
            "its labels are written as plain 8-bit PNGs"
        )
    if not 2 <= num_classes <= 255:
        raise ValueError(f"--num-classes must be in 2..255, got {num_classes}")
    if layout is not None:
        if labels_dir is not None:
            raise ValueError("--layout applies to CAMs (--source cam)")
        if layout not in adapter.layouts():
            raise ValueError(f"{adapter.title} has no layout {layout!r}; its layouts: {', '.join(adapter.layouts())}")
    if not Path(masks_dir).is_dir():
        raise FileNotFoundError(f"--masks {masks_dir}: folder does not exist")
    ensure_not_inside(out_dir, [cams_dir, labels_dir, masks_dir])
    # Folders of the wrong kind (labels as masks, images as CAMs) are one configuration error.
    masks = inputs.check_mask_folder(masks_dir, "--masks")
    if cams_dir is not None:
        if not Path(cams_dir).is_dir():
            raise FileNotFoundError(f"--cams {cams_dir}: folder does not exist")
        found = inputs.check_cam_folder(cams_dir, "--cams")
    else:
        if not Path(labels_dir).is_dir():
            raise FileNotFoundError(f"--labels {labels_dir}: folder does not exist")
        found = inputs.check_label_folder(labels_dir, "--labels")
    folder = adapter.method_folder(out_dir)
    if folder is not None and not overwrite_method_folder:
        raise ValueError(
            f"--out {out_dir} is a folder {adapter.title}'s own stages write ({folder.pattern}: {folder.writer}); "
            "refined labels there would be overwritten or would corrupt its evaluation. Choose another folder "
            "(e.g. a new name beside it), or pass --overwrite-method-folder if you mean it"
        )
    input_dir, suffix = (cams_dir, ".npy") if cams_dir is not None else (labels_dir, ".png")
    if names is None:
        names = list_names(input_dir, (suffix,))
        if not names:
            raise ValueError(f"{input_dir}: no *{suffix} files found")
    names = unique_names(names, "adapt_dir")  # plain file names, each once, before any file is read
    source = f"--list {list_file}" if list_file else ""
    if cams_dir is not None:
        have = inputs.available_names(found, [inputs.NPY])
        inputs.check_names_present(names, "--cams", cams_dir, have.__contains__, "{name}.npy", found, source)
    else:
        have = inputs.available_names(found, inputs.LABEL_KINDS)
        inputs.check_names_present(names, "--labels", labels_dir, have.__contains__, "{name}.png", found, source)
    have_masks = inputs.available_names(masks, inputs.MASK_KINDS)
    inputs.check_names_present(names, "--masks", masks_dir,
                               lambda name: any(m in have_masks for m in adapter.mask_names(name)),
                               "{name}" + samcam_masks.STORE_SUFFIX + ", {name}.json or {name}/", masks, source)
    if cams_dir is not None:
        check_first_cam(adapter.name, cams_dir, names, threshold=threshold, num_classes=num_classes, layout=layout)
    resolved = rule_parameters(**{**params, "num_classes": num_classes})
    own_thresholds = {adapter.own_threshold(fmt, num_classes) for fmt in adapter.cam_formats} if cams_dir else set()
    settings = {
        "tool": "adapt",
        "method": adapter.name,
        "source": "cam" if cams_dir is not None else "png",
        "layout": layout,
        # None: the method's own for the CAM layout found (the layouts' values are listed)
        "threshold": threshold,
        "method_thresholds": sorted(t for t in own_thresholds if t is not None) if cams_dir else None,
        "use_scores": bool(use_scores),
        "refine": resolved,
        "inputs": {("cams" if cams_dir is not None else "labels"): str(Path(input_dir).resolve()),
                   "masks": str(Path(masks_dir).resolve())},
        "mask_order": mask_order,
        "palette": bool(palette),
    }
    _claim = provenance.claim(out_dir, provenance.LABELS, settings,  # the folder's lock, held until this returns
                              provenance.RunInfo(names, overwrite=overwrite, command=command, list_file=list_file),
                              inputs={"masks": masks_dir})
    job = functools.partial(
        adapt_one,
        method=adapter.name,
        out_dir=str(out_dir),
        masks_dir=str(masks_dir),
        cams_dir=None if cams_dir is None else str(cams_dir),
        labels_dir=None if labels_dir is None else str(labels_dir),
        threshold=threshold,
        num_classes=num_classes,
        layout=layout,
        palette=palette,
        use_scores=use_scores,
        refine_params=params,
        mask_order=mask_order,
    )
    return run_batch(names, job, lambda name: Path(out_dir) / f"{name}.png", workers=workers,
                     overwrite=overwrite, desc=f"adapt {adapter.name}", progress=progress)


def check_first_cam(
    method: str,
    cams_dir: os.PathLike,
    names: Sequence[str],
    *,
    threshold: Optional[float] = None,
    num_classes: int = 21,
    layout: Optional[str] = None,
) -> Optional[Path]:
    """Check the folder's first CAM file with classes for method-level problems.

    A file of another method or layout, or a layout without a threshold of the
    method's own, is a mistake in the options, not in one image: raise before any
    image is written. Files that do not load or read are left to the batch, which
    reports them per image. Looks at up to the first 20 names.

    Returns:
        The file checked, or None when none of them had classes.

    Raises:
        ValueError: naming the file and what is wrong.
    """
    adapter = get(method)
    others_layout = []  # files that load but are in none of this method's layouts
    unread = []  # files in one of its layouts that it still cannot read (wrong channels, ...)
    own_layout = False
    for name in list(names)[:_FIRST_FILES_CHECKED]:
        path = Path(cams_dir) / f"{name}.npy"
        try:
            cam_dict = adapter.load_cam(path)
        except (ValueError, OSError, KeyError, ImportError):
            continue  # a bad file: the batch reports it with the others
        try:
            adapter.cam_format(cam_dict, layout)
        except AdapterSetupError as error:
            raise ValueError(f"{path}: {error}") from error
        except ValueError as error:
            others_layout.append((path, cam_dict, error))
            continue
        own_layout = True
        try:
            # no image size to check against here (an empty dict raises: no classes to look at)
            classes, _, _ = adapter.foreground(cam_dict, num_classes, layout=layout)
            if classes.size:
                adapter.read(cam_dict, threshold, num_classes, layout=layout)
                return path
        except AdapterSetupError as error:
            raise ValueError(f"{path}: {error}") from error
        except (ValueError, OSError, KeyError, ImportError) as error:
            unread.append((path, cam_dict, error))
            continue
    failing = others_layout + unread
    if failing:  # and no file with classes was read: it would have returned above
        # Every file that loaded is unreadable for this method: if another method reads
        # them, the method is wrong, not the files; say whose they are.
        path, cam_dict, error = failing[0]
        readers = [other for other in available() if other != adapter.name and _reads(other, cam_dict, num_classes)]
        count = f"the first {len(failing)} CAM file(s) read"
        if readers:
            raise ValueError(f"{path}: {error}; {count} all fail for --method {adapter.name}, but they read as "
                             f"{' and '.join(get(r).title for r in readers)} CAM files: use --method "
                             + " or ".join(readers))
        if not own_layout:
            raise ValueError(f"{path}: {error}; {count} are all in another layout, and no installed method "
                             "reads it (samcam-adapt --method lists them)")
    return None


def _reads(method: str, cam_dict: Mapping, num_classes: int) -> bool:
    """Whether ``method`` reads ``cam_dict`` as its own (a layout of its own, not refused as another method's)."""
    adapter = get(method)
    try:
        adapter.cam_format(cam_dict)
        classes, _, _ = adapter.foreground(cam_dict, num_classes)
        if classes.size:
            adapter.read(cam_dict, None, num_classes)
    except AdapterSetupError as error:
        return "--method" not in str(error)  # only a missing threshold of its own: still its file
    except (ValueError, KeyError, TypeError):
        return False
    return True

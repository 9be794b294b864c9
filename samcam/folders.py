"""Folder-level refinement: every ``{pseudo}/{name}.png`` with its masks -> ``{out}/{name}.png``.

The per-image work is :func:`samcam.refine`; this module adds what a dataset run
needs, through :func:`samcam.batch.run_batch`: resume, workers, atomic writes and a
failure list instead of an exception.
"""
from __future__ import annotations

import functools
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Optional, Sequence

from . import inputs, provenance
from . import masks as mask_store
from .batch import BatchResult, ImageStats, run_batch
from .files import is_output_file
from .images import read_label_png, write_label_png
from .labels import class_count_hint, wrong_class_count
from .names import list_names, unique_names
from .outputs import ensure_not_inside
from .refine import describe_rule, refine_counted, rule_parameters
from .settings import Settings, setting

log = logging.getLogger(__name__)

__all__ = ["refine_dir", "RefineOptions"]


@dataclass(frozen=True)
class RefineOptions(Settings):
    """How :func:`refine_dir` runs (the rule's parameters are separate: ``**params``)."""

    workers: int = setting(1, "processes; the results do not depend on it", low=1)
    overwrite: bool = setting(False, "redo names whose output exists (default: skip them, i.e. resume)")
    palette: bool = setting(False, "write VOC-palette PNGs instead of plain 8-bit (mode L)")
    mask_order: str = setting("numeric", "order of the masks of an amg.py PNG folder", choices=("numeric", "listdir"))
    progress: bool = setting(False, "show a progress bar on stderr")
    command: Optional[tuple] = setting(None, "the command line, recorded in samcam.json (the CLI passes it)")
    list_file: Optional[os.PathLike] = setting(None, "the name list the names came from, recorded in samcam.json")

    @classmethod
    def split(cls, options: Optional["RefineOptions"], params: Dict[str, Any]) -> "RefineOptions":
        """``options`` with the option keywords found in ``params`` (taken out of it) applied."""
        given = {name: params.pop(name) for name in cls.names() if name in params}
        return (options or cls()).replace(**given) if given else (options or cls())


def _refine_one(name: str, pseudo_dir: str, mask_dir: str, out_dir: str, params: Dict[str, object],
                palette: bool, mask_order: str) -> ImageStats:
    label_path = Path(pseudo_dir) / f"{name}.png"
    if not os.path.lexists(label_path):  # a loop of links is no "missing": reading it says what it is
        raise FileNotFoundError(f"{label_path}: pseudo label missing")
    label = read_label_png(label_path)
    mask_path = mask_store.find(mask_dir, name)
    masks = mask_store.load(mask_path, png_order=mask_order)
    try:
        refined, used = refine_counted(label, masks, **params)
    except ValueError as error:
        raise ValueError(f"{label_path} with {mask_path}: {error}") from None
    write_label_png(Path(out_dir) / f"{name}.png", refined, palette=palette)
    return ImageStats.of_refinement(label, refined, used)  # for the run's summary


def refine_dir(
    pseudo_dir: os.PathLike,
    mask_dir: os.PathLike,
    out_dir: os.PathLike,
    names: Optional[Sequence[str]] = None,
    options: Optional[RefineOptions] = None,
    **params,
) -> BatchResult:
    """Refine every pseudo-label PNG ``{pseudo_dir}/{name}.png`` with its masks.

    Args:
        pseudo_dir: folder of H×W uint8 label PNGs (0 background, 1..C-1, 255 ignore).
        mask_dir: folder of per-image masks in any form :func:`samcam.masks.find` finds.
        out_dir: output folder; never inside an input folder.
        names: image names (default: every ``*.png`` of ``pseudo_dir``).
        options: how to run (:class:`RefineOptions`: workers, overwrite, palette,
            mask_order, progress, command, list_file); its fields may also be given as
            keywords (``workers=4``).
        **params: :func:`samcam.refine` options (``rule``, ``num_classes``, ...).

    Writes ``{out_dir}/samcam.json`` first (the rule, every parameter, the inputs and a
    fingerprint of the masks; see :mod:`samcam.provenance`), then ``{out_dir}/{name}.png``
    atomically, holding the folder's lock until the last one. Returns the
    :class:`~samcam.batch.BatchResult` (failures are collected, not raised).

    Raises:
        ValueError: unknown options, ``out_dir`` inside an input folder, ``out_dir``
            holding labels made with other settings or other masks (see
            :mod:`samcam.provenance`), another run writing ``out_dir``, or an input folder
            of the wrong kind or without one of ``names`` (:class:`samcam.inputs.InputError`:
            label PNGs given as masks, ...).
    """
    options = RefineOptions.split(options, params)
    ensure_not_inside(out_dir, [pseudo_dir, mask_dir])
    names = _checked_names(pseudo_dir, mask_dir, names, options.list_file)
    _check_classes(pseudo_dir, out_dir, names, params, options)
    settings = {
        "tool": "refine",
        "refine": rule_parameters(**params),
        "inputs": {"pseudo_labels": str(Path(pseudo_dir).resolve()), "masks": str(Path(mask_dir).resolve())},
        "mask_order": options.mask_order,
        "palette": options.palette,
    }
    run = provenance.RunInfo(names, overwrite=options.overwrite, command=options.command,
                             list_file=options.list_file)
    with provenance.claim(out_dir, provenance.LABELS, settings, run, inputs={"masks": mask_dir}) as claim:
        log.info("%s: rule %s; recorded in %s", out_dir, describe_rule(settings["refine"]), claim.path)
        job = functools.partial(_refine_one, pseudo_dir=str(pseudo_dir), mask_dir=str(mask_dir),
                                out_dir=str(out_dir), params=params, palette=options.palette,
                                mask_order=options.mask_order)
        return run_batch(names, job, lambda n: Path(out_dir) / f"{n}.png", workers=options.workers,
                         overwrite=options.overwrite, desc="refine", progress=options.progress)


def _check_classes(pseudo_dir: os.PathLike, out_dir: os.PathLike, names: Sequence[str], params: Dict[str, Any],
                   options: RefineOptions) -> None:
    """Refuse a ``num_classes`` below a class the labels still to refine hold, before anything is
    written (else the images whose classes fit would be written and the others fail)."""
    num_classes, ignore_index = params.get("num_classes", 21), params.get("ignore_index", 255)
    pending = [n for n in names if options.overwrite or not is_output_file(Path(out_dir) / f"{n}.png")]
    found = wrong_class_count(pseudo_dir, pending, num_classes, ignore_index, threads=options.workers)
    if found is not None:
        path, value = found
        count, dataset = class_count_hint(value)
        raise ValueError(f"num_classes (--num-classes) is {num_classes}, but {path} holds class {value}, beyond "
                         f"0..{num_classes - 1} (and {ignore_index} ignore): pass --num-classes {count} ({dataset}; "
                         "classes including background: VOC 21, COCO 81)")


def _checked_names(pseudo_dir: os.PathLike, mask_dir: os.PathLike, names: Optional[Sequence[str]],
                   list_file: Optional[os.PathLike]) -> list:
    """The names to do, each once, after checking both folders hold them.

    A folder of the wrong kind (swapped --labels/--masks, images as labels) is one
    configuration error, before samcam.json is written, not one failure per image.
    """
    labels = inputs.check_label_folder(pseudo_dir, "--labels")
    masks = inputs.check_mask_folder(mask_dir, "--masks")
    # plain file names, each once, before samcam.json records them
    names = unique_names(list(names) if names is not None else list_names(pseudo_dir, (".png",)), "refine_dir")
    label_names = inputs.available_names(labels, inputs.LABEL_KINDS)
    mask_names = inputs.available_names(masks, inputs.MASK_KINDS)
    source = f"--list {list_file}" if list_file else ""
    inputs.check_names_present(names, "--labels", pseudo_dir, label_names.__contains__, "{name}.png", labels, source)
    inputs.check_names_present(names, "--masks", mask_dir, mask_names.__contains__,
                               "{name}" + mask_store.STORE_SUFFIX + ", {name}.json or {name}/", masks, source)
    return names

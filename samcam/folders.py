"""Folder-level refinement: every ``{pseudo}/{name}.png`` with its masks -> ``{out}/{name}.png``.

The per-image work is :func:`samcam.refine`; this module adds what a dataset run
needs, through :func:`samcam.batch.run_batch`: resume, workers, atomic writes and a
failure list instead of an exception.
"""
from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Dict, Optional, Sequence

from . import inputs, provenance
from . import masks as mask_store
from .batch import BatchResult, run_batch
from .io import ensure_not_inside, list_names, read_label_png, unique_names, write_label_png
from .refine import refine, rule_parameters

__all__ = ["refine_dir"]


def _refine_one(name: str, pseudo_dir: str, mask_dir: str, out_dir: str, params: Dict[str, object],
                palette: bool, mask_order: str) -> None:
    label_path = Path(pseudo_dir) / f"{name}.png"
    if not label_path.exists():
        raise FileNotFoundError(f"{label_path}: pseudo label missing")
    label = read_label_png(label_path)
    mask_path = mask_store.find(mask_dir, name)
    masks = mask_store.load(mask_path, png_order=mask_order)
    try:
        refined = refine(label, masks, **params)
    except ValueError as error:
        raise ValueError(f"{label_path} with {mask_path}: {error}") from None
    write_label_png(Path(out_dir) / f"{name}.png", refined, palette=palette)


def refine_dir(
    pseudo_dir: os.PathLike,
    mask_dir: os.PathLike,
    out_dir: os.PathLike,
    names: Optional[Sequence[str]] = None,
    *,
    workers: int = 1,
    overwrite: bool = False,
    palette: bool = False,
    mask_order: str = "numeric",
    progress: bool = False,
    command: Optional[Sequence[str]] = None,
    list_file: Optional[os.PathLike] = None,
    **params,
) -> BatchResult:
    """Refine every pseudo-label PNG ``{pseudo_dir}/{name}.png`` with its masks.

    Args:
        pseudo_dir: folder of H×W uint8 label PNGs (0 background, 1..C-1, 255 ignore).
        mask_dir: folder of per-image masks in any form :func:`samcam.masks.find` finds.
        out_dir: output folder; never inside an input folder.
        names: image names (default: every ``*.png`` of ``pseudo_dir``).
        workers: processes; the results do not depend on it.
        overwrite: redo names whose output exists (default: skip them, i.e. resume).
        palette: write VOC-palette PNGs instead of plain 8-bit (mode ``L``).
        mask_order: ``"numeric"`` or ``"listdir"`` for amg.py PNG folders.
        progress: show a progress bar on stderr.
        command: the command line, recorded in ``samcam.json`` (the CLI passes it).
        list_file: the name list ``names`` came from, recorded in ``samcam.json``.
        **params: :func:`samcam.refine` options (``rule``, ``num_classes``, ...).

    Writes ``{out_dir}/samcam.json`` first (the rule, every parameter, the inputs; see
    :mod:`samcam.provenance`), then ``{out_dir}/{name}.png`` atomically. Returns the
    :class:`~samcam.batch.BatchResult` (failures are collected, not raised).

    Raises:
        ValueError: unknown options, ``out_dir`` inside an input folder, ``out_dir``
            holding labels made with other settings (see :mod:`samcam.provenance`), or
            an input folder of the wrong kind or without one of ``names``
            (:class:`samcam.inputs.InputError`: label PNGs given as masks, ...).
    """
    ensure_not_inside(out_dir, [pseudo_dir, mask_dir])
    # A folder of the wrong kind (swapped --labels/--masks, images as labels) is one
    # configuration error, before samcam.json is written, not one failure per image.
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
    settings = {
        "tool": "refine",
        "refine": rule_parameters(**params),
        "inputs": {"pseudo_labels": str(Path(pseudo_dir).resolve()), "masks": str(Path(mask_dir).resolve())},
        "mask_order": mask_order,
        "palette": bool(palette),
    }
    provenance.claim(out_dir, settings, names, overwrite=overwrite, command=command, list_file=list_file,
                     masks=provenance.describe_masks(mask_dir))
    job = functools.partial(_refine_one, pseudo_dir=str(pseudo_dir), mask_dir=str(mask_dir), out_dir=str(out_dir),
                            params=params, palette=palette, mask_order=mask_order)
    return run_batch(names, job, lambda n: Path(out_dir) / f"{n}.png", workers=workers, overwrite=overwrite,
                     desc="refine", progress=progress)

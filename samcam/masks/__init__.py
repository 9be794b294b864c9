"""Mask sets and the forms they are stored in.

A mask set is K class-agnostic binary masks of one H×W image (:class:`MaskSet`,
bit-packed). Three per-image forms are read, auto-detected:

* ``{name}.masks.npz`` — samcam's store (:mod:`samcam.masks.store`): one file per
  image, mask order and SAM's per-mask scores kept;
* ``{name}/`` — segment-anything's ``scripts/amg.py`` PNG folder with ``metadata.csv``;
* ``{name}.json`` — ``amg.py --convert-to-rle`` (COCO RLE, :mod:`samcam.masks.rle`).

In memory, :func:`as_maskset` also takes what the generators' own ``generate()``
returns, a list of dicts (:func:`annotations_to_maskset`).

>>> from samcam import masks
>>> path = masks.write("out/2007_000032", dense)   # -> out/2007_000032.masks.npz  # doctest: +SKIP
>>> masks.load(path) is not None and masks.load("out/2007_000032") is not None   # doctest: +SKIP
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import List

import numpy as np

from .. import provenance
from ..io import list_names
from .amg import SCORE_FIELDS, load_png_folder, load_rle_json
from .maskset import MaskSet, annotations_to_maskset, as_maskset, empty_maskset, pack_words, popcount
from .rle import decode_coco_rle, encode_coco_rle
from .store import STORE_SUFFIX, load_store, write

__all__ = [
    "MaskSet",
    "as_maskset",
    "annotations_to_maskset",
    "empty_maskset",
    "pack_words",
    "popcount",
    "write",
    "read",
    "load",
    "find",
    "resolve",
    "names_in",
    "STORE_SUFFIX",
    "SCORE_FIELDS",
    "decode_coco_rle",
    "encode_coco_rle",
]


def resolve(path: os.PathLike) -> Path:
    """The existing mask file or folder ``path`` names.

    ``path`` may be what :func:`write` returned (``x.masks.npz``), the stem it was
    given (``x``), an amg.py folder, or an RLE JSON with or without ``.json``.
    Raises ``FileNotFoundError`` naming what was looked for.
    """
    path = Path(path)
    if path.exists():
        return path
    for suffix in (STORE_SUFFIX, ".json"):
        candidate = path.with_name(path.name + suffix)
        if candidate.exists():
            return candidate
    raise FileNotFoundError(
        f"{path}: no such mask file (looked for {path.name}, {path.name}{STORE_SUFFIX}, {path.name}.json)"
    )


def load(path: os.PathLike, png_order: str = "numeric") -> MaskSet:
    """Read one image's masks from any supported form -> :class:`MaskSet`.

    Args:
        path: a ``.masks.npz`` store file or the stem given to :func:`write`, an
            amg.py PNG folder, or an amg.py RLE JSON.
        png_order: for PNG folders, ``"numeric"`` (0.png, 1.png, ... as amg.py wrote
            them) or ``"listdir"`` (the file system's order, as the reference code
            visits them; neither refinement rule's result depends on the order).

    Raises:
        FileNotFoundError: nothing exists at ``path`` in any form.
        ValueError: the file exists but is not a valid mask file (the message names it).
    """
    path = resolve(path)
    if path.is_dir():
        return load_png_folder(path, png_order)
    if path.name.endswith(".npz"):
        return load_store(path)
    if path.suffix.lower() == ".json":
        return load_rle_json(path)
    raise ValueError(f"{path}: unknown mask format (expected *{STORE_SUFFIX}, *.json or an amg.py folder)")


def read(path: os.PathLike, png_order: str = "numeric") -> np.ndarray:
    """Read one image's masks from any supported form (see :func:`load`) -> K×H×W bool array."""
    return load(path, png_order).dense


def find(mask_dir: os.PathLike, name: str) -> Path:
    """The mask file of image ``name`` in ``mask_dir``, whatever its form.

    Looks for ``{name}.masks.npz``, then ``{name}.json``, then a ``{name}/`` folder.
    Raises ``FileNotFoundError`` naming what it looked for.
    """
    mask_dir = Path(mask_dir)
    for candidate in (mask_dir / f"{name}{STORE_SUFFIX}", mask_dir / f"{name}.json", mask_dir / name):
        if candidate.exists():
            return candidate
    raise FileNotFoundError(
        f"no masks for {name!r} in {mask_dir} (looked for {name}{STORE_SUFFIX}, {name}.json, {name}/)"
    )


def names_in(mask_dir: os.PathLike) -> List[str]:
    """Image names that have masks in ``mask_dir`` (any supported form), sorted.

    A ``samcam.json`` provenance record (see :mod:`samcam.provenance`) is not an amg.py
    RLE file: "samcam" counts as a name only if it has masks in another form.
    """
    names = list_names(mask_dir, (STORE_SUFFIX, ".json"), folders=True)
    if "samcam" in names and not ((Path(mask_dir) / f"samcam{STORE_SUFFIX}").exists()
                                  or (Path(mask_dir) / "samcam").is_dir()) and _is_provenance(mask_dir):
        names.remove("samcam")
    return names


def _is_provenance(mask_dir: os.PathLike) -> bool:
    try:
        return provenance.read(mask_dir) is not None
    except ValueError:
        return False

"""What an input folder holds, and checks that it holds what a command reads.

A batch over a folder of the wrong kind (label PNGs given as masks, images given as
labels, a mask folder given as the ground truth) would otherwise do nothing, or fail
every image with the same message. These checks run before any work and raise
:class:`InputError` (a ``ValueError``: exit code 2 on the command line) saying what
was expected, what the folder holds, and which flag that content belongs to.

Each folder is listed once (``os.scandir``); at most a few files are opened, and
only their headers read, to tell label maps from images.
"""
from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np

from .io import PNG_SIGNATURE, read_label_png
from .masks import STORE_SUFFIX
from .names import is_folder_entry

__all__ = [
    "InputError",
    "FolderContents",
    "survey",
    "check_label_folder",
    "check_mask_folder",
    "check_image_folder",
    "check_cam_folder",
    "check_names_present",
    "available_names",
    "LABEL_KINDS",
    "MASK_KINDS",
    "IMAGE_KINDS",
]

PROVENANCE_FILE = "samcam.json"  # samcam.provenance.PROVENANCE_FILE (not imported: provenance reads folders too)

# The kinds a folder entry can be, in the order they are described.
LABELS = "label PNGs (one channel of class indices)"
PNG_IMAGES = "PNG images (colour)"
GREY_IMAGES = "greyscale PNG images (too many values for class indices)"
UNREADABLE_PNGS = "PNG files whose header could not be read"
JPEGS = "JPEG images"
STORES = f"mask stores (*{STORE_SUFFIX})"
RLE = "amg.py RLE JSON files"
AMG = "amg.py mask folders"
FOLDERS = "sub-folders"
NPY = "CAM .npy files"
OTHER = "other files"

# Which flag each kind belongs to (for "did you mean ..." hints).
_FLAG_OF_KIND = {
    LABELS: "--labels or --gt",
    PNG_IMAGES: "--images",
    GREY_IMAGES: "--images",
    JPEGS: "--images",
    STORES: "--masks",
    RLE: "--masks",
    AMG: "--masks",
    NPY: "--cams (samcam-adapt)",
}
_WHAT_KIND_IS = {
    LABELS: "a label folder", PNG_IMAGES: "an image folder", GREY_IMAGES: "an image folder", JPEGS: "an image folder",
    STORES: "a mask folder", RLE: "a mask folder", AMG: "a mask folder", NPY: "a CAM folder",
}
# A single-channel PNG with more distinct values than this is a picture, not a label map.
_MAX_LABEL_VALUES = 64
# PNG headers read per folder to tell label maps from images.
_PNGS_PEEKED = 5


class InputError(ValueError):
    """An input folder (or list) that cannot be what the command reads: a configuration error."""


@dataclass
class FolderContents:
    """What one folder holds: entry counts by kind, an example name of each, and its image names.

    ``names[kind]`` are the names (file names without their suffix) of that kind's entries.
    """

    folder: Path
    counts: Counter = field(default_factory=Counter)
    examples: Dict[str, str] = field(default_factory=dict)
    names: Dict[str, List[str]] = field(default_factory=dict)
    provenance: bool = False

    def add(self, kind: str, stem: str, name: str) -> None:
        """Count entry ``name`` (image name ``stem``) as one of ``kind``."""
        self.counts[kind] += 1
        self.examples.setdefault(kind, name)
        self.names.setdefault(kind, []).append(stem)

    def add_pngs(self, kind: str, names: Sequence[str]) -> None:
        """Count the PNG files ``names`` (sorted) as ``kind``, all at once."""
        self.counts[kind] = len(names)
        self.examples[kind] = names[0]
        self.names[kind] = [name[:-4] for name in names]

    def describe(self) -> str:
        """``40 mask stores (*.masks.npz) (e.g. x.masks.npz), a samcam.json`` or ``nothing``."""
        parts = [f"{self.counts[kind]} {kind} (e.g. {self.examples[kind]})" for kind in _ORDER if self.counts[kind]]
        if self.provenance:
            parts.append("a samcam.json")
        return ", ".join(parts) if parts else "nothing"

    def main_kind(self) -> Optional[str]:
        """The most frequent kind that some flag reads, or None."""
        kinds = [kind for kind in _ORDER if self.counts[kind] and kind in _FLAG_OF_KIND]
        return max(kinds, key=lambda kind: self.counts[kind]) if kinds else None

    def hint(self, flag: str) -> str:
        """``; that looks like a mask folder (what --masks reads)`` (empty when nothing else fits)."""
        kind = self.main_kind()
        if kind is None:
            return ""
        belongs = _FLAG_OF_KIND[kind]
        if flag in belongs.split(" or "):
            return ""
        return f"; that looks like {_WHAT_KIND_IS[kind]} (what {belongs} reads)"


_ORDER = (LABELS, PNG_IMAGES, GREY_IMAGES, UNREADABLE_PNGS, JPEGS, STORES, RLE, AMG, FOLDERS, NPY, OTHER)


def _png_colour_type(path: Path) -> Optional[int]:
    """The colour type in a PNG's IHDR (0 grey, 2 RGB, 3 palette, 4 grey+alpha, 6 RGBA), None if unreadable."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(26)
    except OSError:
        return None
    if len(head) < 26 or not head.startswith(PNG_SIGNATURE) or head[12:16] != b"IHDR":
        return None
    return head[25]


def _png_kind(path: Path) -> Optional[str]:
    """LABELS, PNG_IMAGES or GREY_IMAGES for one PNG; None when it cannot be told."""
    colour = _png_colour_type(path)
    if colour is None:
        return None
    if colour == 3:
        return LABELS  # palette indices: VOC's SegmentationClass and samcam --palette
    if colour != 0:
        return PNG_IMAGES
    try:
        values = np.unique(read_label_png(path))
    except (ValueError, OSError, MemoryError):
        return None
    return LABELS if values.size <= _MAX_LABEL_VALUES else GREY_IMAGES


def _is_amg_folder(path: str) -> bool:
    return os.path.isfile(os.path.join(path, "metadata.csv")) or os.path.isfile(os.path.join(path, "0.png"))


def survey(folder: os.PathLike, flag: str = "") -> FolderContents:
    """List ``folder`` once and sort its entries into kinds (see :class:`FolderContents`).

    PNGs are one kind per folder, told from the first few readable headers (a single-channel
    PNG is decoded to count its values). Raises ``FileNotFoundError`` when ``folder`` is
    not a folder (naming ``flag``, the option that gave it, when given).
    """
    folder = Path(folder)
    if not folder.is_dir():
        what = "is a file, not a folder" if folder.exists() else "folder does not exist"
        raise FileNotFoundError(f"{flag + ' ' if flag else ''}{folder}: {what}")
    contents = FolderContents(folder)
    pngs: List[str] = []
    with os.scandir(folder) as entries:
        for entry in sorted(entries, key=lambda e: e.name):
            _sort_entry(entry, contents, pngs)
    if pngs:
        contents.add_pngs(_png_folder_kind(folder, pngs), pngs)
    return contents


def _sort_entry(entry: os.DirEntry, contents: FolderContents, pngs: List[str]) -> None:
    """Count one folder entry in ``contents``, or add it to ``pngs`` (told apart later, together)."""
    name = entry.name
    if name.startswith("."):
        return  # temp files of running writers, hidden files
    if name == PROVENANCE_FILE and not is_folder_entry(entry):
        contents.provenance = True
    elif name.lower().endswith(".png") and not is_folder_entry(entry):
        pngs.append(name)
    else:
        contents.add(*_entry_kind(entry), name)


# file name suffix -> kind, in the order they are tried (after sub-folders, PNGs and samcam.json)
_SUFFIX_KINDS = ((STORE_SUFFIX, STORES), (".jpg", JPEGS), (".jpeg", JPEGS), (".json", RLE), (".npy", NPY))


def _entry_kind(entry: os.DirEntry) -> Tuple[str, str]:
    """``(kind, image name)`` of a folder entry that is not a PNG or a samcam.json."""
    name = entry.name
    if is_folder_entry(entry):  # a loop of links is no folder: it never stops the survey
        return (AMG if _is_amg_folder(entry.path) else FOLDERS), name
    for suffix, kind in _SUFFIX_KINDS:
        # JPEG suffixes in any case (IMG.JPG), samcam's and amg.py's as written
        if (name.lower() if kind == JPEGS else name).endswith(suffix):
            return kind, name[: -len(suffix)]
    return OTHER, name


def _png_folder_kind(folder: Path, pngs: Sequence[str]) -> str:
    """The kind of a folder's PNGs, from the first readable of the first few."""
    for name in pngs[:_PNGS_PEEKED]:
        kind = _png_kind(folder / name)
        if kind is not None:
            return kind
    return UNREADABLE_PNGS


def _refuse(flag: str, folder: os.PathLike, expected: str, contents: FolderContents, extra: str = "") -> InputError:
    return InputError(f"{flag} {folder}: expected {expected}, found {contents.describe()}{extra}{contents.hint(flag)}")


def check_label_folder(folder: os.PathLike, flag: str = "--labels") -> FolderContents:
    """Refuse a folder without label PNGs (``{name}.png``, one channel of class indices).

    A folder whose PNGs are colour images, or that holds masks, images or CAMs instead,
    raises :class:`InputError` saying what it holds. Returns the survey.
    """
    contents = survey(folder, flag)
    if contents.counts[LABELS] or contents.counts[UNREADABLE_PNGS]:
        return contents  # unreadable PNGs: the batch names each one
    extra = ""
    if contents.counts[PNG_IMAGES]:
        extra = ("; colour PNGs are pictures, not class indices (a colour-coded label set must be converted "
                 "to indices, or saved as a VOC-palette PNG)")
    raise _refuse(flag, folder, "label PNGs ({name}.png: one channel of class indices 0..C-1, 255 ignore)",
                  contents, extra)


def check_mask_folder(folder: os.PathLike, flag: str = "--masks") -> FolderContents:
    """Refuse a folder without masks in any form samcam reads (store, amg.py folder, RLE JSON)."""
    contents = survey(folder, flag)
    if contents.counts[STORES] or contents.counts[RLE] or contents.counts[AMG]:
        return contents
    raise _refuse(flag, folder, f"masks per image ({{name}}{STORE_SUFFIX} from samcam masks, amg.py "
                  "{name}/ PNG folders or {name}.json RLE files)", contents)


def check_image_folder(folder: os.PathLike, flag: str = "--images") -> FolderContents:
    """Refuse a folder without images (``{name}.jpg`` or ``{name}.png``; label maps are not images)."""
    contents = survey(folder, flag)
    if contents.counts[JPEGS] or contents.counts[PNG_IMAGES] or contents.counts[GREY_IMAGES] \
            or contents.counts[UNREADABLE_PNGS]:
        return contents
    raise _refuse(flag, folder, "images ({name}.jpg or {name}.png)", contents)


def check_cam_folder(folder: os.PathLike, flag: str = "--cams") -> FolderContents:
    """Refuse a folder without CAM ``{name}.npy`` files."""
    contents = survey(folder, flag)
    if contents.counts[NPY]:
        return contents
    raise _refuse(flag, folder, "CAM files ({name}.npy, what the method's CAM stage saved)", contents)


def check_names_present(
    names: Sequence[str],
    flag: str,
    folder: os.PathLike,
    present: Callable[[str], bool],
    pattern: str,
    contents: Optional[FolderContents] = None,
    source: str = "",
) -> None:
    """Refuse a run in which not one of ``names`` has its file in ``folder``.

    Args:
        names: the image names of the run (from ``--list`` or another folder).
        flag, folder: the input, for the message.
        present: name -> whether its input exists.
        pattern: what is looked for, with ``{name}`` (e.g. ``"{name}.png"``).
        contents: the folder's survey, to show what it holds instead.
        source: where the names came from (``"--list train.txt"``), for the message.

    Some present and some missing is not refused here: the batch reports the missing ones.
    """
    names = list(names)
    if not names or any(present(name) for name in names):
        return
    contents = contents or survey(folder)
    shown = ", ".join(names[:3]) + (", ..." if len(names) > 3 else "")
    held = _example_names(contents)
    raise InputError(
        f"{flag} {folder}: none of the {len(names)} image(s){' of ' + source if source else ''} ({shown}) has "
        f"its file here (looked for {pattern.format(name=names[0])}); it holds {contents.describe()}"
        + (f", named like {held}" if held else "")
        + (": is it the folder for these images?" if held else "")
    )


def _example_names(contents: FolderContents) -> str:
    kind = contents.main_kind() or next((k for k in _ORDER if contents.names.get(k)), None)
    if kind is None:
        return ""
    names = contents.names[kind]
    return ", ".join(names[:3]) + (", ..." if len(names) > 3 else "")


def available_names(contents: FolderContents, kinds: Iterable[str]) -> set:
    """The names of the entries of ``kinds`` in a survey (e.g. every label PNG's name)."""
    found = set()
    for kind in kinds:
        found.update(contents.names.get(kind, ()))
    return found


LABEL_KINDS = (LABELS, UNREADABLE_PNGS, PNG_IMAGES, GREY_IMAGES)
MASK_KINDS = (STORES, RLE, AMG)
IMAGE_KINDS = (JPEGS, PNG_IMAGES, GREY_IMAGES, UNREADABLE_PNGS, LABELS)

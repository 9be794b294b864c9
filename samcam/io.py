"""File helpers shared by every command: atomic writes, label PNGs, images, name lists.

Writes go to ``<path>.tmp`` in the destination folder and are moved into place with
``os.replace``, so a killed run never leaves a half-written output that a resumed run
would mistake for a finished one.
"""
from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Iterable, List, Optional, Sequence

import numpy as np
from PIL import Image

from .errors import ImageError

__all__ = [
    "atomic_write_bytes",
    "encode_label_png",
    "write_label_png",
    "read_label_png",
    "read_name_list",
    "list_names",
    "voc_palette",
    "ensure_not_inside",
    "IMAGE_SUFFIXES",
    "find_image",
    "read_image",
]

# How images are found by name: VOC's JPEGImages are .jpg; synthetic/demo data may be .png.
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".JPG", ".JPEG", ".PNG")


def atomic_write_bytes(path: os.PathLike, payload: bytes) -> Path:
    """Write ``payload`` to ``path`` atomically (temp file + ``os.replace``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def voc_palette(num_entries: int = 256) -> List[int]:
    """The PASCAL VOC colour map as a flat ``[r, g, b, ...]`` list of 768 ints."""
    palette = []
    for index in range(num_entries):
        r = g = b = 0
        value = index
        for bit in range(8):
            r |= ((value >> 0) & 1) << (7 - bit)
            g |= ((value >> 1) & 1) << (7 - bit)
            b |= ((value >> 2) & 1) << (7 - bit)
            value >>= 3
        palette.extend((r, g, b))
    return palette


def encode_label_png(label: np.ndarray, palette: bool = False) -> bytes:
    """PNG bytes of an H×W uint8 label map: mode ``L`` (default) or VOC palette ``P``.

    Mode ``L`` is what IRN, AMN, CLIMS and ToCo need: they read labels with imageio,
    which turns a palette PNG into RGB.
    """
    label = np.asarray(label)
    if label.ndim != 2 or label.dtype != np.uint8:
        raise ValueError(f"a label map must be a 2-D uint8 array, got {label.dtype} {label.shape}")
    image = Image.fromarray(label, mode="L") if not palette else Image.fromarray(label, mode="P")
    if palette:
        image.putpalette(voc_palette())
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def write_label_png(path: os.PathLike, label: np.ndarray, palette: bool = False) -> Path:
    """Atomically write an H×W uint8 label map as a PNG (mode ``L`` or VOC palette)."""
    return atomic_write_bytes(path, encode_label_png(label, palette=palette))


def read_label_png(path: os.PathLike) -> np.ndarray:
    """Read a label PNG (mode ``L`` or ``P``; palette indices are the labels) as H×W uint8.

    Raises ``ValueError`` naming the file when it is not a single-channel label PNG.
    """
    path = Path(path)
    try:
        with Image.open(path) as image:
            image.load()
            if image.mode not in ("L", "P", "I", "I;16"):
                raise ValueError(
                    f"{path}: label PNG has mode {image.mode!r}; expected a single-channel "
                    "(L) or palette (P) image of class indices"
                )
            array = np.array(image)
    except (OSError, SyntaxError) as error:
        raise ValueError(f"{path}: cannot read label image ({error})") from error
    if array.dtype != np.uint8:
        if array.size and (array.min() < 0 or array.max() > 255):
            raise ValueError(f"{path}: label values outside 0..255")
        array = array.astype(np.uint8)
    return array


def read_name_list(path: os.PathLike) -> List[str]:
    """Names from a VOC-style list file: one per line, first column, blank lines skipped.

    Lines like ``/JPEGImages/2007_000032.jpg /SegmentationClassAug/2007_000032.png``
    (the DeepLab list format) give ``2007_000032``.
    """
    names = []
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            first = line.split()[0]
            names.append(Path(first).stem if "/" in first or "." in first else first)
    return names


def list_names(folder: os.PathLike, suffixes: Sequence[str], *, folders: bool = False) -> List[str]:
    """Sorted image names in ``folder``: file names ending in one of ``suffixes``, cut.

    With ``folders``, sub-folder names count as names too (amg.py writes one folder
    per image). Raises ``FileNotFoundError`` when ``folder`` is not a folder.
    """
    if not Path(folder).is_dir():
        raise FileNotFoundError(f"{folder}: folder does not exist")
    names = set()
    for entry in os.scandir(folder):
        if entry.is_dir():
            if folders:
                names.add(entry.name)
            continue
        for suffix in suffixes:
            if entry.name.endswith(suffix) and len(entry.name) > len(suffix):
                names.add(entry.name[: -len(suffix)])
                break
    return sorted(names)


def find_image(images_dir: os.PathLike, name: str) -> Path:
    """The image file of ``name`` in ``images_dir`` (``.jpg`` as in VOC's JPEGImages, or ``.png``).

    Raises ``FileNotFoundError`` naming what it looked for.
    """
    images_dir = Path(images_dir)
    for suffix in IMAGE_SUFFIXES:
        candidate = images_dir / f"{name}{suffix}"
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"no image for {name!r} in {images_dir} (looked for {name}.jpg, {name}.png)")


def read_image(path: os.PathLike) -> np.ndarray:
    """Read an image file as H×W×3 uint8 RGB; ``ImageError`` naming the file if unreadable."""
    path = Path(path)
    try:
        with Image.open(path) as image:
            return np.array(image.convert("RGB"))
    except (OSError, SyntaxError, ValueError) as error:
        raise ImageError(f"{path}: cannot read image ({error})") from error


def ensure_not_inside(out_dir: os.PathLike, input_dirs: Iterable[Optional[os.PathLike]]) -> None:
    """Refuse an output folder that is (or lies inside) one of the input folders.

    samcam never writes into a folder it reads from, so a method's own results can
    never be overwritten by a mistyped ``--out``.
    """
    out = Path(out_dir).resolve()
    for source in input_dirs:
        if source is None:
            continue
        src = Path(source).resolve()
        if out == src or src in out.parents:
            raise ValueError(
                f"--out {out_dir} lies inside the input folder {source}; samcam never writes "
                "into its inputs. Choose a separate output folder."
            )

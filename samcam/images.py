"""Images: label PNGs (read, encode, write), RGB images, the VOC palette, pixel limits.

Readers check what a file declares (its size, an image's pixel count) against
:mod:`samcam.limits` before decoding it, and name the file in every error.
"""
from __future__ import annotations

import contextlib
import io
import os
import struct
from pathlib import Path
from typing import Iterator, List, Tuple

import numpy as np
from PIL import Image

from .errors import ImageError
from .files import atomic_write_bytes, check_input_file
from .limits import image_open_error, limits, on_memory_error

__all__ = [
    "IMAGE_SUFFIXES",
    "IMAGE_FORMATS",
    "PNG_SIGNATURE",
    "voc_palette",
    "encode_label_png",
    "write_label_png",
    "read_label_png",
    "open_png",
    "check_pixels",
    "find_image",
    "read_image",
]

# How images are found by name: VOC's JPEGImages are .jpg; synthetic/demo data may be .png.
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".JPG", ".JPEG", ".PNG")
# What PIL may decode as an image (a file named .jpg is sometimes a PNG, a camera's
# JPEG is "MPO"); other PIL plugins (EPS, ...) are never tried on an input.
IMAGE_FORMATS = ("JPEG", "MPO", "PNG", "BMP", "GIF", "WEBP", "TIFF")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


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


def check_pixels(path: os.PathLike, width: int, height: int, what: str = "image") -> None:
    """Refuse a ``width``×``height`` image above ``SAMCAM_MAX_PIXELS`` (ImageError naming ``path``)."""
    limit = limits().max_pixels
    if width * height > limit:
        raise ImageError(
            f"{path}: {what} is {height}×{width} (height×width) = {width * height:,} pixels, more than the limit of "
            f"{limit:,} (raise SAMCAM_MAX_PIXELS if the image is genuine)"
        )


def _file_kind(head: bytes) -> str:
    """What the first bytes of a file say it is, for messages."""
    kinds = ((b"\xff\xd8\xff", "a JPEG file"), (PNG_SIGNATURE, "a PNG file"), (b"GIF8", "a GIF file"),
             (b"BM", "a BMP file"), (b"II*\x00", "a TIFF file"), (b"MM\x00*", "a TIFF file"),
             (b"\x93NUMPY", "a .npy file"), (b"PK\x03\x04", "a zip/npz file"))
    for magic, kind in kinds:
        if head.startswith(magic):
            return kind
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "a WebP file"
    return "not a known image format" if head else "an empty file"


def _in_memory(path: Path) -> io.BytesIO:
    """The file's bytes (checked to be within SAMCAM_MAX_FILE_BYTES) for a decoder.

    PIL reads some lengths straight from the file (a PNG chunk's) and asks for that many
    bytes; from a file object, Python allocates the whole request first, so a 4 GB
    length in a 100-byte file costs 4 GB. A BytesIO returns only what is there.
    """
    with open(path, "rb") as handle:
        return io.BytesIO(handle.read())


def _allow_pil_pixels(limit: int) -> None:
    # PIL refuses images above 2 × Image.MAX_IMAGE_PIXELS on its own; samcam's limit
    # (checked by us, with a message naming the variable) takes precedence when raised.
    if Image.MAX_IMAGE_PIXELS is not None and Image.MAX_IMAGE_PIXELS < limit:
        Image.MAX_IMAGE_PIXELS = limit


@contextlib.contextmanager
def open_png(path: os.PathLike, what: str = "PNG") -> Iterator[Image.Image]:
    """``with open_png(path, what) as image``: a PIL image of a checked PNG file, not yet decoded.

    Checks, naming ``path`` in the error: a regular file within the size limit, the PNG
    signature (a JPEG renamed ``.png`` is refused: its lossy values are not labels), and
    the pixel count of the header against ``SAMCAM_MAX_PIXELS`` before PIL decodes
    anything. Errors are :class:`~samcam.errors.ImageError`; a missing file gives
    ``FileNotFoundError``.
    """
    path = Path(path)
    check_input_file(path, what)
    with open(path, "rb") as handle:
        head = handle.read(24)
    if not head.startswith(PNG_SIGNATURE):
        raise ImageError(
            f"{path}: {what} is {_file_kind(head)}, not a PNG; "
            + ("labels must be PNG (lossy formats such as JPEG change class values)"
               if "label" in what else "expected a PNG file")
        )
    if len(head) < 24 or head[12:16] != b"IHDR":
        raise ImageError(f"{path}: {what} is a corrupt PNG (no IHDR header)")
    width, height = struct.unpack(">II", head[16:24])
    check_pixels(path, width, height, what)
    _allow_pil_pixels(limits().max_pixels)
    try:
        image = Image.open(_in_memory(path), formats=("PNG",))
    except MemoryError:
        raise
    except Exception as error:  # PIL's decoder errors vary by file: all mean "bad file" (samcam.limits says which)
        raise image_open_error(path, what, error) from error
    try:
        yield image
    finally:
        image.close()


def _decode(path: Path, what: str, action):
    """Run ``action()`` (a PIL decode), turning PIL's errors into ImageError naming ``path``."""
    try:
        with on_memory_error(path, what):  # too large for the memory at hand: this image fails
            return action()
    except ImageError:
        raise
    except Exception as error:
        raise image_open_error(path, what, error) from error


def read_label_png(path: os.PathLike) -> np.ndarray:
    """Read a label PNG (mode ``L`` or ``P``; palette indices are the labels) as H×W uint8.

    Raises ``ValueError`` (:class:`~samcam.errors.ImageError`) naming the file when it
    is not a PNG, not a single-channel label image, or above the pixel limit;
    ``FileNotFoundError`` when it does not exist.
    """
    path = Path(path)
    with open_png(path, "label PNG") as image:
        if image.mode not in ("L", "P", "I", "I;16"):
            raise ImageError(
                f"{path}: label PNG has mode {image.mode!r}; expected a single-channel "
                "(L) or palette (P) image of class indices"
            )
        array = _decode(path, "label PNG", lambda: np.array(image))
    if array.ndim != 2:
        raise ImageError(f"{path}: label PNG decodes to shape {array.shape}, not H×W")
    if array.dtype != np.uint8:
        if array.size and (array.min() < 0 or array.max() > 255):
            raise ImageError(f"{path}: label values outside 0..255")
        array = array.astype(np.uint8)
    return array


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


def _image_formats() -> Tuple[str, ...]:
    """IMAGE_FORMATS that this PIL has (newer ones read MPO with the JPEG plugin)."""
    Image.init()
    return tuple(name for name in IMAGE_FORMATS if name in Image.OPEN)


def read_image(path: os.PathLike) -> np.ndarray:
    """Read an image file as H×W×3 uint8 RGB; ``ImageError`` naming the file if unreadable.

    Only the formats of ``IMAGE_FORMATS`` are decoded; the pixel count is checked
    against ``SAMCAM_MAX_PIXELS`` before decoding.
    """
    path = Path(path)
    check_input_file(path, "image")
    _allow_pil_pixels(limits().max_pixels)
    try:
        image = Image.open(_in_memory(path), formats=_image_formats())
    except MemoryError:
        raise
    except Exception as error:  # above twice PIL's limit, which is ours (_allow_pil_pixels), or not an image
        raise image_open_error(path, "image", error) from error
    with image:
        check_pixels(path, image.width, image.height, "image")
        return _decode(path, "image", lambda: np.array(image.convert("RGB")))

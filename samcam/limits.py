"""Size limits on what samcam reads, so a broken or hostile file fails with a clear error
instead of exhausting memory.

Every limit is checked against what a file *declares* (an image header, a mask store's
shape and spans, an RLE's size, a pickle's array shapes) before anything that size is
allocated. The defaults are far above what WSSS datasets need (VOC images are 0.19 MP,
COCO 0.3 MP, SAM gives ~100 masks per image); raise one with its environment variable
(a command checks them once at start, :func:`check_environment`, so a bad value is one
usage error instead of every image failing; worker processes inherit the same values):

=========================  ============================================  ==============
variable                   what                                          default
=========================  ============================================  ==============
``SAMCAM_MAX_PIXELS``      pixels (H×W) of one image, label, mask or     67,108,864
                           CAM plane                                     (8192×8192)
``SAMCAM_MAX_MASKS``       masks of one image                            10,000
``SAMCAM_MAX_MASK_BYTES``  memory of one image's masks, bit-packed       2 GiB
                           (K × ⌈H·W/64⌉ × 8 bytes)
``SAMCAM_MAX_FILE_BYTES``  size of one input file read into memory       2 GiB
                           (CAM .npy, mask store, RLE JSON, PNG, JPEG)
=========================  ============================================  ==============

A reader that runs out of memory all the same raises :class:`~samcam.errors.ImageError`
naming the file (:func:`on_memory_error`): that image fails, the batch goes on.
"""
from __future__ import annotations

import contextlib
import functools
import os
import re
from dataclasses import dataclass
from typing import Iterator, Tuple, Union

from .errors import ImageError

__all__ = ["Limits", "limits", "ENV", "LimitsError", "check_environment", "on_memory_error", "image_open_error"]

ENV = {
    "max_pixels": "SAMCAM_MAX_PIXELS",
    "max_masks": "SAMCAM_MAX_MASKS",
    "max_mask_bytes": "SAMCAM_MAX_MASK_BYTES",
    "max_file_bytes": "SAMCAM_MAX_FILE_BYTES",
}


@dataclass(frozen=True)
class Limits:
    """The limits in force (see the module docstring); all positive ints."""

    max_pixels: int = 8192 * 8192
    max_masks: int = 10_000
    max_mask_bytes: int = 2 * 2**30
    max_file_bytes: int = 2 * 2**30

    def env_name(self, field: str) -> str:
        """The environment variable that raises limit ``field`` (for error messages)."""
        return ENV[field]


class LimitsError(ValueError):
    """A ``SAMCAM_MAX_*`` variable that is not a positive integer (a configuration error)."""


def limits() -> Limits:
    """The limits in force: the defaults, overridden by the ``SAMCAM_MAX_*`` variables.

    Raises :class:`LimitsError` (a ``ValueError``) naming the variable when one is not a
    positive integer.
    """
    return _parse(tuple(os.environ.get(variable) for variable in ENV.values()))


def check_environment() -> Limits:
    """Read and check the ``SAMCAM_MAX_*`` variables once, before a command starts work.

    Returns the limits; raises :class:`LimitsError` naming the first bad variable.
    """
    return limits()


@functools.lru_cache(maxsize=8)
def _parse(texts: Tuple[Union[str, None], ...]) -> Limits:
    # each distinct setting of the variables is parsed once
    values = {}
    for (field, variable), text in zip(ENV.items(), texts):
        if text is None or not text.strip():
            continue
        values[field] = _positive_integer(variable, text)
    return Limits(**values)


def _positive_integer(variable: str, text: str) -> int:
    try:
        value = int(text.replace("_", ""))
    except ValueError:
        value = 0
    if value < 1:
        raise LimitsError(f"{variable}={text[:40]!r}: expected a positive whole number (such as 1000000000 or "
                          "1_000_000_000; no units or exponents)")
    return value


@contextlib.contextmanager
def on_memory_error(path: Union[str, os.PathLike], what: str) -> Iterator[None]:
    """``with on_memory_error(path, "RLE JSON"):`` read it; MemoryError becomes an ImageError naming ``path``.

    So a file too large for the memory at hand fails its own image (exit code 1 on the
    command line), with the file's name, instead of stopping the batch as a bug would.
    """
    try:
        yield
    except MemoryError:
        raise ImageError(f"{path}: out of memory while reading this {what}; the file is too large for the memory "
                         "available (lower SAMCAM_MAX_FILE_BYTES or SAMCAM_MAX_MASK_BYTES to refuse such files "
                         "before reading them)") from None


# "<_io.BytesIO object at 0x7f...>": how PIL names the in-memory file it was given
_OBJECT_REPR = re.compile(r"\s*<[\w.]+ object at 0x[0-9a-fA-F]+>")
_PIL_PIXELS = re.compile(r"Image size \((\d+) pixels\)")


def image_open_error(path: Union[str, os.PathLike], what: str, error: Exception) -> ImageError:
    """The ImageError for ``path`` when PIL's ``Image.open`` of its bytes raised ``error``.

    PIL checks the pixel count itself when it opens an image, before samcam can, and
    refuses twice its ``Image.MAX_IMAGE_PIXELS`` (at least SAMCAM_MAX_PIXELS, see
    ``samcam.io``): that is said with samcam's limit and variable. Any other message is
    kept, without the ``<_io.BytesIO object at 0x…>`` PIL names an in-memory file by.
    """
    limit = limits().max_pixels
    if type(error).__name__ == "DecompressionBombError":
        found = _PIL_PIXELS.search(str(error))
        size = f"{int(found.group(1)):,} pixels, more" if found else "more"
        return ImageError(f"{path}: {what} is {size} than the limit of {limit:,} pixels "
                          "(raise SAMCAM_MAX_PIXELS if the image is genuine)")
    text = _OBJECT_REPR.sub("", str(error)).strip() or "no reason given"
    return ImageError(f"{path}: cannot read {what} ({type(error).__name__}: {text})")

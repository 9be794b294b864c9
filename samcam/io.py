"""File helpers shared by every command: atomic writes, label PNGs, images, name lists.

Writes go to a temp file in the destination folder, ``.{name}.{owner}.{pid}.{random}.samcam-tmp``,
and are moved into place with ``os.replace``, so a killed run never leaves a
half-written output that a resumed run would mistake for a finished one; a batch
removes the temp files that killed runs left behind (:func:`clean_stale_temp_files`).

Readers check what a file declares (its size, an image's pixel count) against
:mod:`samcam.limits` before decoding it, and name the file in every error.
"""
from __future__ import annotations

import contextlib
import errno
import hashlib
import io
import logging
import os
import re
import secrets
import socket
import stat
import struct
import time
from collections import OrderedDict
from pathlib import Path
from typing import Iterable, Iterator, List, Optional, Sequence, Tuple

import numpy as np
import numpy.lib.format as npy_format
from PIL import Image

from .errors import ImageError, OutputError
from .limits import limits

__all__ = [
    "atomic_write_bytes",
    "clean_stale_temp_files",
    "TEMP_SUFFIX",
    "encode_label_png",
    "write_label_png",
    "read_label_png",
    "open_png",
    "check_input_file",
    "check_pixels",
    "read_name_list",
    "check_name",
    "unique_names",
    "list_names",
    "voc_palette",
    "ensure_not_inside",
    "IMAGE_SUFFIXES",
    "IMAGE_FORMATS",
    "find_image",
    "read_image",
    "read_npy_header",
]

log = logging.getLogger(__name__)

# How images are found by name: VOC's JPEGImages are .jpg; synthetic/demo data may be .png.
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".JPG", ".JPEG", ".PNG")
# What PIL may decode as an image (a file named .jpg is sometimes a PNG, a camera's
# JPEG is "MPO"); other PIL plugins (EPS, ...) are never tried on an input.
IMAGE_FORMATS = ("JPEG", "MPO", "PNG", "BMP", "GIF", "WEBP", "TIFF")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

# ----------------------------------------------------------------------------- writing

TEMP_SUFFIX = ".samcam-tmp"
_TEMP_NAME = re.compile(r"^\.(?P<dest>.*)\.(?P<owner>[0-9a-f]{8})\.(?P<pid>[0-9]+)\.[0-9a-f]{8}" + re.escape(TEMP_SUFFIX) + "$")
# A temp file of another machine or PID namespace cannot be tied to a live process;
# it is removed once this old (no write takes a day).
FOREIGN_TEMP_AGE = 24 * 3600
_OWNER: Optional[str] = None


def _owner() -> str:
    """8 hex digits naming this machine and PID namespace: a pid is only meaningful within them."""
    global _OWNER
    if _OWNER is None:
        namespace = ""
        try:
            namespace = str(os.stat("/proc/self/ns/pid").st_ino)
        except OSError:
            pass
        _OWNER = hashlib.sha1(f"{socket.gethostname()}|{namespace}".encode()).hexdigest()[:8]
    return _OWNER


def _create_temp(path: Path):
    """A new, exclusively created temp file beside ``path`` -> (fd, temp path).

    ``O_EXCL`` with a random part makes the name unique even between runs in different
    PID namespaces sharing a folder; mode 0o666 lets the umask apply as for any file.
    """
    prefix = f".{path.name[:160]}.{_owner()}.{os.getpid()}."
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
    for _ in range(64):
        temp = path.with_name(prefix + secrets.token_hex(4) + TEMP_SUFFIX)
        try:
            return os.open(temp, flags, 0o666), temp
        except FileExistsError:
            continue
    raise FileExistsError(f"{path.parent}: could not create a unique temp file")


def atomic_write_bytes(path: os.PathLike, payload: bytes) -> Path:
    """Write ``payload`` to ``path`` atomically (temp file beside it + ``os.replace``).

    Raises :class:`samcam.errors.OutputError` (an ``OSError`` naming ``path``) when the
    folder cannot be created or written: disk full, read-only, no permission.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except FileExistsError:  # a file where the folder should be
        raise OutputError(errno.ENOTDIR, f"{path.parent} is a file, not a folder", str(path)) from None
    except OSError as error:
        raise OutputError(error.errno, error.strerror or str(error), str(path)) from error
    try:
        fd, temp = _create_temp(path)
    except OSError as error:
        raise OutputError(error.errno, error.strerror or str(error), str(path)) from error
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except OSError as error:
        raise OutputError(error.errno, error.strerror or str(error), str(path)) from error
    finally:
        try:
            os.unlink(temp)
        except FileNotFoundError:  # moved into place
            pass
        except OSError:  # the folder went away or became read-only: nothing more to do
            pass
    return path


def _pid_alive(pid: int) -> bool:
    if os.name == "nt":  # os.kill(pid, 0) would terminate it: rely on the age rule
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, another user's
        return True
    except OSError:
        return True
    try:  # a zombie is dead for our purpose (killed, not yet reaped)
        with open(f"/proc/{pid}/stat", "rb") as handle:
            state = handle.read().rsplit(b")", 1)[1].split()[0]
        return state not in (b"Z", b"X")
    except (OSError, IndexError):
        return True


def clean_stale_temp_files(folder: os.PathLike, max_age: float = FOREIGN_TEMP_AGE) -> int:
    """Remove temp files that killed samcam runs left in ``folder``; returns how many.

    Only files named like :func:`atomic_write_bytes`'s temp files are considered. One
    is removed when it was made on this machine and PID namespace by a process that no
    longer runs, or, whoever made it, when it was last written more than ``max_age``
    seconds ago. Temp files of live runs (this one, or another run writing into the same
    folder) are left alone.
    """
    removed = 0
    now = time.time()
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return 0
    for entry in entries:
        if not entry.name.endswith(TEMP_SUFFIX):
            continue
        match = _TEMP_NAME.match(entry.name)
        if match is None:
            continue
        try:
            if not entry.is_file(follow_symlinks=False):
                continue
            stale = match["owner"] == _owner() and not _pid_alive(int(match["pid"]))
            if not stale:
                stale = now - entry.stat(follow_symlinks=False).st_mtime > max_age
            if stale:
                os.unlink(entry.path)
                removed += 1
        except FileNotFoundError:  # another run cleaned it first
            continue
        except OSError as error:
            log.warning("cannot remove stale temp file %s (%s)", entry.path, error)
    if removed:
        log.info("removed %d temp file(s) left by killed runs in %s", removed, folder)
    return removed


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


def check_input_file(path: os.PathLike, what: str = "file") -> int:
    """Check that ``path`` is a regular file within ``SAMCAM_MAX_FILE_BYTES``; returns its size.

    Raises ``FileNotFoundError`` when it is missing and :class:`~samcam.errors.ImageError`
    when it is not a regular file (a FIFO would block the reader forever) or too large.
    """
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: {what} does not exist") from None
    if not stat.S_ISREG(info.st_mode):
        raise ImageError(f"{path}: {what} is not a regular file")
    limit = limits().max_file_bytes
    if info.st_size > limit:
        raise ImageError(
            f"{path}: {what} is {info.st_size:,} bytes, more than the limit of {limit:,} "
            "(raise SAMCAM_MAX_FILE_BYTES if the file is genuine)"
        )
    return info.st_size


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
    except Exception as error:  # PIL's decoder errors vary by file: all mean "bad file"
        raise ImageError(f"{path}: cannot read {what} ({type(error).__name__}: {error})") from error
    try:
        yield image
    finally:
        image.close()


def _decode(path: Path, what: str, action):
    """Run ``action()`` (a PIL decode), turning PIL's errors into ImageError naming ``path``."""
    try:
        return action()
    except (MemoryError, ImageError):
        raise
    except Exception as error:
        raise ImageError(f"{path}: cannot read {what} ({type(error).__name__}: {error})") from error


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


# ------------------------------------------------------------------------------ names

# A list line may carry one of these suffixes (case-insensitive); anything else is part of the name.
_NAME_SUFFIXES = (".jpg", ".jpeg", ".png", ".npy")


def check_name(name: object) -> str:
    """``name`` if it is a plain image name, else ``ValueError``.

    A name becomes a file name inside a folder (``{out}/{name}.png``): it must be a
    non-empty string without ``/``, ``\\`` or NUL and not ``.`` or ``..``, so no name can
    reach outside the folders samcam was given.
    """
    if not isinstance(name, str):
        raise ValueError(f"image names must be strings, got {type(name).__name__} {name!r}")
    if not name or name in (".", "..") or "/" in name or "\\" in name or "\x00" in name:
        raise ValueError(
            f"{name!r} is not a plain image name (it is empty, '.', '..', or holds a path separator); "
            "samcam refuses it so that no output can land outside its folder"
        )
    return name


def unique_names(names: Iterable[str], source: str = "names") -> List[str]:
    """Check every name (:func:`check_name`) and drop repeats, keeping the first; logs repeats once."""
    ordered: "OrderedDict[str, int]" = OrderedDict()
    repeated = []
    for name in names:
        check_name(name)
        if name in ordered:
            ordered[name] += 1
            if ordered[name] == 2:
                repeated.append(name)
        else:
            ordered[name] = 1
    if repeated:
        shown = ", ".join(repeated[:5]) + (", ..." if len(repeated) > 5 else "")
        log.warning("%s: %d name(s) appear more than once (%s); each is processed once", source, len(repeated), shown)
    return list(ordered)


def _strip_suffix(text: str) -> str:
    lowered = text.lower()
    for suffix in _NAME_SUFFIXES:
        if lowered.endswith(suffix) and len(text) > len(suffix):
            return text[: -len(suffix)]
    return text


def read_name_list(path: os.PathLike) -> List[str]:
    """Image names from a list file, in order, each once.

    A line is one name, taken literally after stripping surrounding whitespace and one
    known suffix (``.jpg``, ``.jpeg``, ``.png``, ``.npy``): ``img.v2`` is ``img.v2``,
    ``my image`` is ``my image``. Blank lines and lines starting with ``#`` are skipped.
    DeepLab lists are understood: a line of two paths
    (``/JPEGImages/2007_000032.jpg /SegmentationClassAug/2007_000032.png``) or one path
    with a known suffix gives the file's name (``2007_000032``). A name listed twice is
    processed once (logged once).

    Raises:
        FileNotFoundError: no such list file.
        ValueError: ``path`` is a folder or cannot be read, a line that is not a plain
            name (other paths, ``..``), naming the file and line, or a file that is not
            UTF-8 text.
    """
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{path}: is a folder, not a list file (a text file of image names, one per line, "
                         "e.g. ImageSets/Segmentation/train.txt)")
    if not path.exists():
        raise FileNotFoundError(f"{path}: list file does not exist")
    if not path.is_file():  # a FIFO or device would block or never end
        raise ValueError(f"{path}: not a regular file; --list takes a text file of image names")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as error:
        raise ValueError(f"{path}: list file is not UTF-8 text ({error})") from None
    except OSError as error:
        raise ValueError(f"{path}: cannot read the list file ({error.strerror or error})") from None
    names = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        fields = line.split()
        if "/" in line:
            # DeepLab: "/JPEGImages/x.jpg /SegmentationClassAug/x.png" or "/JPEGImages/x.jpg"
            stems = [_strip_suffix(field.rsplit("/", 1)[-1]) for field in fields]
            known = all(stem != field.rsplit("/", 1)[-1] for stem, field in zip(stems, fields))
            if len(fields) > 2 or not known or len(set(stems)) != 1:
                raise ValueError(
                    f"{path} line {number}: {line!r} is neither an image name nor a DeepLab list line "
                    "('/JPEGImages/NAME.jpg /SegmentationClassAug/NAME.png'); names must not hold '/'"
                )
            name = stems[0]
        else:
            name = _strip_suffix(line)
        try:
            names.append(check_name(name))
        except ValueError as error:
            raise ValueError(f"{path} line {number}: {error}") from None
    return unique_names(names, str(path))


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
    limit = limits().max_pixels
    _allow_pil_pixels(limit)
    try:
        image = Image.open(_in_memory(path), formats=_image_formats())
    except MemoryError:
        raise
    except Image.DecompressionBombError as error:  # above PIL's own limit
        raise ImageError(f"{path}: image is too large ({error}; raise SAMCAM_MAX_PIXELS if it is genuine)") from None
    except Exception as error:
        raise ImageError(f"{path}: cannot read image ({type(error).__name__}: {error})") from error
    with image:
        check_pixels(path, image.width, image.height, "image")
        return _decode(path, "image", lambda: np.array(image.convert("RGB")))


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


def read_npy_header(handle) -> tuple:
    """``(shape, fortran_order, dtype)`` from the header of the ``.npy`` stream ``handle``.

    Leaves ``handle`` at the start of the data. Versions 1.0 and 2.0 (what ``np.save``
    writes for anything but unicode field names); ``ValueError`` for anything else.
    """
    version = npy_format.read_magic(handle)
    if version not in ((1, 0), (2, 0)):
        raise ValueError(f".npy format version {version[0]}.{version[1]} is not supported")
    try:
        if version == (1, 0):
            return npy_format.read_array_header_1_0(handle)
        return npy_format.read_array_header_2_0(handle)
    except (MemoryError, ValueError):
        raise
    except Exception as error:  # numpy lets tokenizer and literal_eval errors of a junk header through
        raise ValueError(f"corrupt .npy header ({type(error).__name__}: {error})") from error

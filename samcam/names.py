"""Image names: checked, listed from folders, read from list files, and shown in messages.

A name becomes a file name inside a folder (``{out}/{name}.png``), so every name is
checked to be a plain file name before anything is written. Names come from list files
(``--list``, VOC or DeepLab style) or from the files of a folder. In messages a name is
shown with its undecodable bytes escaped and, when very long, shortened, so one odd
file name can neither break the printing nor flood the terminal.
"""
from __future__ import annotations

import logging
import os
from collections import OrderedDict
from pathlib import Path
from typing import Iterable, List, Optional, Sequence

from .files import read_text_file

__all__ = ["check_name", "unique_names", "read_name_list", "list_names", "printable", "short", "shown", "clip_lines",
           "is_folder_entry"]

log = logging.getLogger(__name__)

# A list line may carry one of these suffixes (case-insensitive); anything else is part of the name.
_NAME_SUFFIXES = (".jpg", ".jpeg", ".png", ".npy")
SHOWN_CHARACTERS = 80  # of a name in a message
LINE_CHARACTERS = 600  # of one line of a message


def printable(text: str) -> str:
    """``text`` with the bytes of a file name that are not UTF-8 written as ``\\xff`` escapes.

    Python keeps such bytes as lone surrogates (``surrogateescape``), which cannot be
    written to a UTF-8 file or terminal. Valid text comes back unchanged.
    """
    try:
        raw = text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # a surrogate that no file-name decoding made
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return raw.decode("utf-8", "backslashreplace")


def short(name: object, limit: int = SHOWN_CHARACTERS) -> str:
    """A name for a message: undecodable bytes escaped, the middle of a long one cut."""
    text = printable(name) if isinstance(name, str) else str(name)
    if len(text) > limit:
        text = f"{text[: limit - 20]}...{text[-12:]} ({len(text):,} characters)"
    return text


def shown(name: object, limit: int = SHOWN_CHARACTERS) -> str:
    """``repr`` of :func:`short`, for a name quoted in a message."""
    return repr(short(name, limit))


def clip_lines(message: str, limit: int = LINE_CHARACTERS) -> str:
    """``message`` printable, each line cut in the middle to at most about ``limit`` characters."""
    lines = []
    for line in printable(message).split("\n"):
        if len(line) > limit:
            line = f"{line[: limit - 120]} ...[{len(line) - limit + 100:,} characters cut]... {line[-100:]}"
        lines.append(line)
    return "\n".join(lines)


def check_name(name: object) -> str:
    """``name`` if it is a plain image name, else ``ValueError``.

    A name becomes a file name inside a folder (``{out}/{name}.png``): it must be a
    non-empty string without ``/``, ``\\`` or NUL and not ``.`` or ``..``, so no name can
    reach outside the folders samcam was given.
    """
    if not isinstance(name, str):
        raise ValueError(f"image names must be strings, got {type(name).__name__} {shown(name)}")
    if not name or name in (".", "..") or "/" in name or "\\" in name or "\x00" in name:
        raise ValueError(
            f"{shown(name)} is not a plain image name (it is empty, '.', '..', or holds a path separator); "
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
        listed = ", ".join(short(name) for name in repeated[:5]) + (", ..." if len(repeated) > 5 else "")
        log.warning("%s: %d name(s) appear more than once (%s); each is processed once", source, len(repeated), listed)
    return list(ordered)


def _strip_suffix(text: str) -> str:
    lowered = text.lower()
    for suffix in _NAME_SUFFIXES:
        if lowered.endswith(suffix) and len(text) > len(suffix):
            return text[: -len(suffix)]
    return text


def _deeplab_name(line: str) -> Optional[str]:
    """The name of a DeepLab list line ("/JPEGImages/x.jpg /SegmentationClassAug/x.png" or
    "/JPEGImages/x.jpg"), or None when the line is not one."""
    fields = line.split()
    files = [field.rsplit("/", 1)[-1] for field in fields]
    stems = [_strip_suffix(file) for file in files]
    known = all(stem != file for stem, file in zip(stems, files))
    if len(fields) > 2 or not known or len(set(stems)) != 1:
        return None
    return stems[0]


def _name_of_line(line: str, path: Path, number: int) -> str:
    if "/" in line:
        name = _deeplab_name(line)
        if name is None:
            raise ValueError(
                f"{path} line {number}: {shown(line)} is neither an image name nor a DeepLab list line "
                "('/JPEGImages/NAME.jpg /SegmentationClassAug/NAME.png'); names must not hold '/'"
            )
    else:
        name = _strip_suffix(line)
    try:
        return check_name(name)
    except ValueError as error:
        raise ValueError(f"{path} line {number}: {error}") from None


def read_name_list(path: os.PathLike) -> List[str]:
    """Image names from a list file, in order, each once.

    A line is one name, taken literally after stripping surrounding whitespace and one
    known suffix (``.jpg``, ``.jpeg``, ``.png``, ``.npy``): ``img.v2`` is ``img.v2``,
    ``my image`` is ``my image``. Blank lines and lines starting with ``#`` are skipped.
    DeepLab lists are understood: a line of two paths
    (``/JPEGImages/2007_000032.jpg /SegmentationClassAug/2007_000032.png``) or one path
    with a known suffix gives the file's name (``2007_000032``). A name listed twice is
    processed once (logged once). A name too long for a file name is kept: that image
    fails alone, saying so.

    Raises:
        FileNotFoundError: no such list file.
        ValueError: ``path`` is a folder or cannot be read, a line that is not a plain
            name (other paths, ``..``), naming the file and line, or a file that is not
            UTF-8 text.
    """
    path = Path(path)
    names = []
    for number, raw in enumerate(read_text_file(path, "list file", "a text file of image names, one per line, e.g. ImageSets/Segmentation/train.txt", "--list takes a text file of image names").splitlines(), 1):
        line = raw.strip()
        if line and not line.startswith("#"):
            names.append(_name_of_line(line, path, number))
    return unique_names(names, str(path))


def is_folder_entry(entry: os.DirEntry) -> bool:
    """Whether ``entry`` is a folder; an entry that cannot be examined (a loop of links,
    no permission) is not one: it concerns only the image of its name, if any."""
    try:
        return entry.is_dir()
    except OSError:
        return False


def list_names(folder: os.PathLike, suffixes: Sequence[str], *, folders: bool = False) -> List[str]:
    """Sorted image names in ``folder``: file names ending in one of ``suffixes``, cut.

    With ``folders``, sub-folder names count as names too (amg.py writes one folder
    per image). Raises ``FileNotFoundError`` when ``folder`` is not a folder. A bad
    entry (a loop of links) never stops the listing.
    """
    if not Path(folder).is_dir():
        raise FileNotFoundError(f"{folder}: folder does not exist")
    names = set()
    for entry in os.scandir(folder):
        if is_folder_entry(entry):
            if folders:
                names.add(entry.name)
            continue
        suffix = next((s for s in suffixes if entry.name.endswith(s) and len(entry.name) > len(s)), None)
        if suffix is not None:
            names.add(entry.name[: -len(suffix)])
    return sorted(names)

"""Exceptions whose messages are meant for the user."""
from __future__ import annotations

import errno
import os

__all__ = ["ImageError", "OutputError", "FATAL_WRITE_ERRNOS", "printable_name"]


class ImageError(ValueError):
    """A per-image problem (bad file, size mismatch): that image fails, the batch goes on."""


# Write errors that every later write to the same folder would hit too: the batch stops
# at the first one instead of failing each remaining image with the same message.
FATAL_WRITE_ERRNOS = frozenset(
    code for code in (errno.ENOSPC, getattr(errno, "EDQUOT", None), errno.EROFS, errno.EACCES, errno.EPERM,
                      errno.EIO, errno.ENOENT, errno.ENOTDIR)
    if code is not None
)


class OutputError(OSError):
    """Writing an output failed (disk full, read-only or vanished folder, no permission).

    ``filename`` is the output that could not be written; ``fatal`` says whether the
    cause concerns the whole folder (see ``FATAL_WRITE_ERRNOS``), in which case a batch
    stops instead of failing every remaining image the same way.
    """

    @property
    def fatal(self) -> bool:
        return self.errno in FATAL_WRITE_ERRNOS


def printable_name(name: str) -> str:
    """A file name as text that can be printed and written as UTF-8.

    A name that is not valid UTF-8 on disk reaches Python with lone surrogates
    (``b"a\\xff"`` -> ``"a\\udcff"``), which no UTF-8 writer accepts; its undecodable
    bytes are shown as escapes instead (``a\\xff``). Valid names come back unchanged.
    """
    try:
        raw = os.fsencode(name)
    except UnicodeEncodeError:  # a surrogate that no file system decoding made
        return name.encode("utf-8", "backslashreplace").decode("utf-8")
    return raw.decode("utf-8", "backslashreplace")

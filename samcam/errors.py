"""Exceptions whose messages are meant for the user."""
from __future__ import annotations

import errno

__all__ = ["ImageError", "OutputError", "FATAL_WRITE_ERRNOS"]


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

"""Files on disk: atomic writes, the temp files killed runs leave, and checks of input files.

Writes go to a temp file in the destination folder, ``.{name}.{owner}.{pid}.{random}.samcam-tmp``,
and are moved into place with ``os.replace``, so a killed run never leaves a
half-written output that a resumed run would mistake for a finished one; a batch
removes the temp files that killed runs left behind (:func:`clean_stale_temp_files`).
"""
from __future__ import annotations

import errno
import hashlib
import logging
import os
import re
import secrets
import socket
import stat
import time
from pathlib import Path
from typing import Optional

from .errors import ImageError, OutputError
from .limits import limits

__all__ = ["atomic_write_bytes", "clean_stale_temp_files", "TEMP_SUFFIX", "check_input_file", "is_output_file",
           "read_text_file"]

log = logging.getLogger(__name__)

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


def _output_error(error: OSError, path: Path) -> OutputError:
    return OutputError(error.errno, error.strerror or str(error), str(path))


def _prepare(path: Path) -> None:
    """Create ``path``'s folder; refuse a folder standing where the file should go."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except FileExistsError:  # a file where the folder should be
        raise OutputError(errno.ENOTDIR, f"{path.parent} is a file, not a folder", str(path)) from None
    except OSError as error:
        raise _output_error(error, path) from error
    try:
        folder = stat.S_ISDIR(os.stat(path).st_mode)
    except (OSError, ValueError):  # missing (the usual case), or a name the write below reports
        folder = False
    if folder:  # os.replace would fail with a bare EISDIR; say what is there
        raise OutputError(errno.EISDIR, "a folder stands where this output file should be written; "
                          "move it away", str(path))


def atomic_write_bytes(path: os.PathLike, payload: bytes) -> Path:
    """Write ``payload`` to ``path`` atomically (temp file beside it + ``os.replace``).

    Raises :class:`samcam.errors.OutputError` (an ``OSError`` naming ``path``) when the
    folder cannot be created or written: disk full, read-only, no permission, or a
    folder where the file should go.
    """
    path = Path(path)
    _prepare(path)
    try:
        fd, temp = _create_temp(path)
    except OSError as error:
        raise _output_error(error, path) from error
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except OSError as error:
        raise _output_error(error, path) from error
    finally:
        try:
            os.unlink(temp)
        except OSError:  # moved into place, or the folder went away or became read-only
            pass
    return path


def is_output_file(path: os.PathLike) -> bool:
    """Whether a finished output file is at ``path`` (what a resume skips).

    Only a regular file (or a link to one) counts: a folder of that name is not a
    finished output, and a name the file system cannot hold (too long) is not one
    either; the job then runs and fails with the reason, alone.
    """
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except (OSError, ValueError):  # missing, name too long, a loop of links, NUL
        return False


def _pid_alive(pid: int) -> bool:
    if os.name == "nt":  # os.kill(pid, 0) would terminate it: rely on the age rule
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists (another user's: PermissionError), or cannot tell
        return True
    try:  # a zombie is dead for our purpose (killed, not yet reaped)
        with open(f"/proc/{pid}/stat", "rb") as handle:
            state = handle.read().rsplit(b")", 1)[1].split()[0]
        return state not in (b"Z", b"X")
    except (OSError, IndexError):
        return True


def _is_stale(entry: os.DirEntry, now: float, max_age: float) -> bool:
    """Whether ``entry`` is a temp file of a dead run (see :func:`clean_stale_temp_files`)."""
    match = _TEMP_NAME.match(entry.name)
    if match is None or not entry.is_file(follow_symlinks=False):
        return False
    if match["owner"] == _owner() and not _pid_alive(int(match["pid"])):
        return True
    return now - entry.stat(follow_symlinks=False).st_mtime > max_age


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
        entries = [entry for entry in os.scandir(folder) if entry.name.endswith(TEMP_SUFFIX)]
    except OSError:
        return 0
    for entry in entries:
        try:
            if _is_stale(entry, now, max_age):
                os.unlink(entry.path)
                removed += 1
        except FileNotFoundError:  # another run cleaned it first
            continue
        except OSError as error:
            log.warning("cannot remove stale temp file %s (%s)", entry.path, error)
    if removed:
        log.info("removed %d temp file(s) left by killed runs in %s", removed, folder)
    return removed


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


def read_text_file(path: os.PathLike, what: str, folder_hint: str, kind_hint: str) -> str:
    """The UTF-8 text of a small user file (a name list, a class-names file), or a ValueError /
    FileNotFoundError a user can act on: ``what`` names the file (``"list file"``), ``folder_hint``
    says what it should be when given a folder, ``kind_hint`` when given a FIFO or device
    (which would block or never end)."""
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{path}: is a folder, not a {what} ({folder_hint})")
    if not path.exists():
        raise FileNotFoundError(f"{path}: {what} does not exist")
    if not path.is_file():
        raise ValueError(f"{path}: not a regular file; {kind_hint}")
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as error:
        raise ValueError(f"{path}: {what} is not UTF-8 text ({error})") from None
    except OSError as error:
        raise ValueError(f"{path}: cannot read the {what} ({error.strerror or error})") from None


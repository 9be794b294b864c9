"""One samcam run per output folder at a time: an OS lock on ``{folder}/.samcam.lock``.

A run that writes a folder of per-image outputs (``refine``, ``adapt``, ``masks``,
``vis``) holds this lock from the moment it checks the folder's ``samcam.json`` until its
last output is written (see :mod:`samcam.provenance`). A second run into the same folder
is refused at once (:class:`FolderBusy`), instead of both writing and the folder ending
up with outputs of one setting under a record of the other.

The lock is ``flock`` (``fcntl``): the kernel drops it when the process ends, however it
ends, so a killed run never leaves the folder locked. The file holds the holder's pid,
for the message. It is removed when the last holder lets go, so finished folders hold
only their outputs and ``samcam.json``.

Runs of one *shared* job may hold the lock together: the shards of one ``samcam masks``
job (``torchrun``, ``--shard``) all write the same folder with the same settings. Such a
run takes the lock exclusively while it checks and writes the record, then shares it;
another run with the same settings may join, one with other settings is refused.
Where ``fcntl`` does not exist (Windows) there is no lock.
"""
from __future__ import annotations

import errno
import json
import logging
import os
import time
import weakref
from pathlib import Path
from typing import Any, Dict, Optional, Tuple

from .errors import OutputError

try:
    import fcntl
except ImportError:  # Windows: no flock; runs are not kept apart there
    fcntl = None

__all__ = ["LOCK_FILE", "FolderBusy", "FolderLock", "close_inherited", "release_folder"]

LOCK_FILE = ".samcam.lock"
_WAIT = 2.0  # seconds a joining shard waits while the first one writes the record
_MAX_CONTENT = 4096

log = logging.getLogger(__name__)

# The locks this process holds, by the lock file's (device, inode). A claim still alive
# in this process (kept by an exception's traceback after its run failed) hands its lock
# to the next claim of the same folder here: the lock keeps processes apart, and one
# process may go on using a folder after a failed run.
_HELD: "weakref.WeakValueDictionary[Tuple[int, int], FolderLock]" = weakref.WeakValueDictionary()


class FolderBusy(ValueError):
    """Another samcam run holds the output folder (exit code 2 on the command line)."""


def _flock(fd: int, operation: int) -> bool:
    """``flock(fd, operation | LOCK_NB)``: True when granted, False when another holds it."""
    try:
        fcntl.flock(fd, operation | fcntl.LOCK_NB)
        return True
    except OSError as error:
        if error.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            return False
        raise


def _holder(fd: int) -> Dict[str, Any]:
    """What the lock file says of its holder ({} when empty or not samcam's)."""
    try:
        data = os.pread(fd, _MAX_CONTENT, 0)
        holder = json.loads(data.decode("utf-8")) if data else {}
    except (OSError, ValueError):
        return {}
    return holder if isinstance(holder, dict) else {}


def _holder_soon(fd: int) -> Dict[str, Any]:
    """The holder as it names itself: a run that has just taken the lock writes its pid a moment
    later (later still on a loaded machine), so an empty file is read again for up to a second."""
    for _ in range(100):
        holder = _holder(fd)
        if holder:
            return holder
        time.sleep(0.01)
    return {}


def _note_holder(fd: int, key: str, shared: bool) -> None:
    """Write who holds the lock into its file (for the refusal's message and for shards)."""
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps({"pid": os.getpid(), "key": key, "shared": shared}).encode(), 0)
    except OSError:  # opened read-only (another user's file): the lock holds all the same
        pass


def _same_file(fd: int, path: Path) -> bool:
    """Whether ``path`` still names the file ``fd`` locked (a releasing holder may have removed it)."""
    try:
        now, held = os.stat(path), os.fstat(fd)
    except OSError:
        return False
    return (now.st_dev, now.st_ino) == (held.st_dev, held.st_ino)


class FolderLock:
    """The lock of one output folder, held by this process until :meth:`release`.

    Build it with :meth:`acquire`. ``shared`` locks are taken exclusively first; call
    :meth:`share` once the folder's record is written, so that other shards may join.
    """

    def __init__(self, path: Path, fd: Optional[int], shared: bool):
        self.path = path
        self._fd = fd
        self._shared = shared
        self._pid = os.getpid()  # a forked worker inherits the object, not the lock's ownership

    @classmethod
    def acquire(cls, folder: os.PathLike, key: str, *, shared: bool = False) -> "FolderLock":
        """Lock ``folder`` for this run, or raise :class:`FolderBusy` at once.

        Args:
            folder: the output folder (it exists).
            key: what decides the folder's content (a digest of the settings); runs of a
                shared job join only a holder with the same key.
            shared: this run may share the folder with runs of the same key.

        Raises:
            FolderBusy: another run holds it, naming its pid when recorded.
            OutputError: the lock file cannot be created (read-only folder, no permission).
        """
        path = Path(folder) / LOCK_FILE
        if fcntl is None:
            return cls(path, None, shared)
        for _ in range(64):  # a holder that lets go removes the file: lock the one the name holds now
            fd = _take_over(path) or cls._open(path)
            try:
                locked = cls._lock(fd, path, key, shared)
            except BaseException:
                os.close(fd)
                raise
            if locked and _same_file(fd, path):
                lock = cls(path, fd, shared)
                held = os.fstat(fd)
                _HELD[(held.st_dev, held.st_ino)] = lock
                return lock
            os.close(fd)
        raise FolderBusy(f"{path.parent}: cannot lock the folder ({path} keeps changing); is another samcam "
                         "run starting there? Wait for it or choose another output folder")

    @staticmethod
    def _open(path: Path) -> int:
        cloexec = getattr(os, "O_CLOEXEC", 0)
        try:
            return os.open(path, os.O_RDWR | os.O_CREAT | cloexec, 0o666)
        except PermissionError:  # another user's lock file: flock needs no write access
            try:
                return os.open(path, os.O_RDONLY | cloexec)
            except OSError as error:
                raise OutputError(error.errno, error.strerror or str(error), str(path)) from error
        except OSError as error:
            raise OutputError(error.errno, error.strerror or str(error), str(path)) from error

    @staticmethod
    def _lock(fd: int, path: Path, key: str, shared: bool) -> bool:
        """Take the lock on ``fd``: True when held, raising FolderBusy when another run has it."""
        if _flock(fd, fcntl.LOCK_EX):
            if _same_file(fd, path):
                _note_holder(fd, key, shared)
            return True
        deadline = time.monotonic() + (_WAIT if shared else 0.0)
        while True:
            if shared and _flock(fd, fcntl.LOCK_SH):
                holder = _holder(fd)
                if holder.get("shared") and holder.get("key") == key:
                    return True  # a shard of the same job
                fcntl.flock(fd, fcntl.LOCK_UN)
                raise FolderBusy(_busy(path, holder, "with other settings"))
            if time.monotonic() >= deadline:
                raise FolderBusy(_busy(path, _holder_soon(fd)))
            time.sleep(0.05)

    def share(self) -> None:
        """Let runs of the same job (shards) join: the exclusive lock becomes shared."""
        if self._fd is not None and self._shared:
            fcntl.flock(self._fd, fcntl.LOCK_SH)  # blocks only while a newcomer looks at the file

    def release(self) -> None:
        """Let go of the folder (the file goes when no other run holds it). Idempotent."""
        fd, self._fd = self._fd, None
        if fd is None or os.getpid() != self._pid:
            return
        try:
            if _flock(fd, fcntl.LOCK_EX) and _same_file(fd, self.path):
                os.unlink(self.path)  # while held: a run opening it now sees another file and retries
        except OSError as error:
            log.debug("%s: not removed (%s)", self.path, error)
        finally:
            os.close(fd)

    def __del__(self):  # the holder forgot release(): the process may go on, the folder must not stay locked
        try:
            self.release()
        except Exception:
            pass


def release_folder(folder: os.PathLike) -> None:
    """Let go of ``folder``'s lock if this process holds it (nothing otherwise).

    :func:`samcam.batch.run_batch` calls it for every folder it wrote when it ends: a
    claim lasts until the batch that writes its folder is over, even when the claim
    object lives on (kept by an exception's traceback) after that.
    """
    try:
        now = os.stat(Path(folder) / LOCK_FILE)
    except OSError:
        return
    holder = _HELD.get((now.st_dev, now.st_ino))
    if holder is not None and holder._pid == os.getpid():
        holder.release()


def close_inherited() -> None:
    """In a forked worker: close the lock descriptors inherited from the run that started it.

    The lock belongs to that run; a worker still holding a copy when the run is killed
    would keep the folder locked until the worker, too, has exited.
    """
    for lock in list(_HELD.values()):
        if lock._pid != os.getpid() and lock._fd is not None:
            fd, lock._fd = lock._fd, None
            try:
                os.close(fd)
            except OSError:
                pass


def _take_over(path: Path) -> Optional[int]:
    """The descriptor of a lock on ``path`` that this process still holds, taken from its
    holder (which then lets go of nothing), or None."""
    try:
        now = os.stat(path)
    except OSError:
        return None
    holder = _HELD.pop((now.st_dev, now.st_ino), None)
    if holder is None or holder._fd is None or holder._pid != os.getpid():
        return None
    fd, holder._fd = holder._fd, None
    return fd


def _busy(path: Path, holder: Dict[str, Any], why: str = "") -> str:
    pid = holder.get("pid")
    who = f"another samcam run (pid {pid})" if isinstance(pid, int) else "another samcam run"
    return (f"{path.parent}: {who} is writing into this folder{(' ' + why) if why else ''}; wait for it to "
            "finish, or choose another output folder")

"""The one batch runner: list names -> per-image job -> atomic write -> failure report.

Every batch command (refine, adapt, masks, eval's per-image reads) goes through
:func:`run_batch`, so resuming, ``--workers``, progress bars and failure reports
behave the same everywhere.

What can go wrong, and what happens:

* a job raises on bad input (``ImageError``, ``ValueError``, ``OSError``, ``KeyError``):
  that image is a failure, listed with its reason; the others go on (exit code 1);
* a job runs out of memory (``MemoryError``): that image is a failure saying so; the
  others go on;
* a job raises anything else (a bug): a failure too, kept with its traceback and
  counted as an internal error (exit code 3);
* a worker process dies (killed by the OOM killer, a crash in native code): the pool is
  replaced, and each image the dead pool held is run again alone in a fresh process;
  one that kills that process too is a failure naming the signal;
* an output cannot be written because of its folder (disk full, read-only, no
  permission): the batch stops at once and raises :class:`~samcam.errors.OutputError`
  naming the folder, instead of failing every remaining image the same way;
* the main process dies: its workers exit with it (Linux ``PR_SET_PDEATHSIG``, and a
  thread watching the parent elsewhere); every finished output is complete, and the
  temp files the killed writers left are removed by the next run
  (:func:`samcam.io.clean_stale_temp_files`);
* Ctrl-C: ``KeyboardInterrupt`` in the main process (workers ignore SIGINT, also while
  they start); the workers are killed, finished outputs are kept and temp files removed.

``workers`` is capped at the number of images to do and at :data:`WORKERS_PER_CORE`
processes per usable core (logged once when the cores cap it). A job may return
:class:`ImageStats`, small numbers about its image that :attr:`BatchResult.stats` collects.
"""
from __future__ import annotations

import contextlib
import ctypes
import logging
import math
import multiprocessing
import numbers
import os
import pickle
import re
import signal
import sys
import threading
import time
import traceback
from collections import deque
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Deque, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple

from tqdm import tqdm

from .errors import ImageError, OutputError
from .io import clean_stale_temp_files, unique_names

__all__ = ["BatchResult", "ImageStats", "run_batch", "worker_count", "WORKERS_PER_CORE", "progress_bar",
           "failure_pattern", "group_failures", "describe_failures"]

log = logging.getLogger(__name__)

# Worker processes per usable core, at most: the jobs are CPU-bound numpy, so more only
# costs memory and start-up (and 1,000,000 would fork until the machine stops).
WORKERS_PER_CORE = 4

# outcome kinds of one job
_OK, _FAILED, _INTERNAL, _FATAL = "ok", "failed", "internal", "fatal"
# signals that mean "crashed" (a bug somewhere), as opposed to "was killed"
_CRASH_SIGNALS = {getattr(signal, name) for name in ("SIGSEGV", "SIGBUS", "SIGILL", "SIGFPE", "SIGABRT")
                  if hasattr(signal, name)}


def progress_bar(total: Optional[float], desc: str, enabled: bool, unit: str = "img", **options) -> tqdm:
    """The one progress bar of samcam: tqdm on stderr, shown only when ``enabled``.

    Library functions take ``progress=False`` by default and pass it here; the CLI
    turns it on unless ``--no-progress``.
    """
    return tqdm(total=total, desc=desc, unit=unit, disable=not enabled, file=sys.stderr, **options)


class ImageStats(Dict[str, float]):
    """Small numbers about one image, returned by a job for the batch's summary.

    ``ImageStats(pixels=187500, changed=5210, masks_used=14)``: names to finite numbers.
    :func:`run_batch` collects them in :attr:`BatchResult.stats` (and still hands the
    object to ``on_result``); the command line sums them (``samcam.cli.common``).
    """

    def __init__(self, values: Optional[Mapping[str, float]] = None, **more: float):
        super().__init__(dict(values or {}, **more))
        for key, value in self.items():
            if not isinstance(key, str) or isinstance(value, bool) or not isinstance(value, numbers.Real) \
                    or not math.isfinite(value):
                raise ValueError(f"ImageStats: {key!r} must be a finite number, got {value!r}")


@dataclass
class BatchResult:
    """What a batch did: names written, names skipped as already done, and failures.

    ``failed`` lists every failed image with its reason; ``internal`` holds those whose
    failure is a bug in samcam (or a library it uses) rather than bad input, each with
    its traceback. ``stats`` maps each done image whose job returned :class:`ImageStats`
    to those numbers (a plain dict), in the order of the names.
    """

    done: List[str] = field(default_factory=list)
    skipped: List[str] = field(default_factory=list)
    failed: List[Tuple[str, str]] = field(default_factory=list)
    internal: List[Tuple[str, str]] = field(default_factory=list)
    stats: Dict[str, Dict[str, float]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.failed

    @property
    def exit_code(self) -> int:
        """0 all done, 1 some images failed on bad input, 3 an internal error (a bug)."""
        if self.internal:
            return 3
        return 1 if self.failed else 0

    @property
    def all_failed_alike(self) -> bool:
        """Every image of the batch failed, all for the same reason (one :func:`failure_pattern`)."""
        return bool(self.failed) and not self.done and not self.skipped and len(group_failures(self.failed)) == 1

    def summary(self) -> str:
        """``N written, M already done (skipped), K failed`` and the failures, grouped by reason."""
        text = f"{len(self.done)} written, {len(self.skipped)} already done (skipped), {len(self.failed)} failed"
        if self.failed:
            text += "\n" + describe_failures(self.failed, everything=not self.done and not self.skipped)
        return text


# names listed per group of identical failures before "... and N more"
_NAMES_SHOWN = 20


def failure_pattern(name: str, reason: str) -> str:
    """``reason`` with the image's name replaced by ``{name}``: failures alike share a pattern.

    Only whole occurrences count (not ``a`` inside ``ground``), so ``no masks for
    'x1' in m/ (looked for x1.masks.npz)`` and the same for ``x2`` group together.
    """
    if name:
        reason = re.sub(r"(?<![A-Za-z0-9_])" + re.escape(name) + r"(?![A-Za-z0-9_])", "{name}", reason)
    # lists of values found in one image ("holds values [21, 40]") differ from image to image
    return _VALUE_LIST.sub("[...]", reason)


_VALUE_LIST = re.compile(r"\[-?\d+(?:\.\d+)?(?:, -?\d+(?:\.\d+)?)*\]")


def group_failures(failed: Sequence[Tuple[str, str]]) -> List[Tuple[str, List[str]]]:
    """``[(pattern, [names])]``: the failures grouped by :func:`failure_pattern`, in first-seen order."""
    groups: Dict[str, List[str]] = {}
    for name, reason in failed:
        groups.setdefault(failure_pattern(name, reason), []).append(name)
    return list(groups.items())


def describe_failures(failed: Sequence[Tuple[str, str]], everything: bool = False) -> str:
    """The failures as lines, each reason once: ``name: reason`` for a reason only one image
    has, ``K images (a, b, ...), all like a: a's reason`` for a reason several share
    (:func:`failure_pattern`). With ``everything`` (no image succeeded) and one reason,
    says so once.
    """
    groups = group_failures(failed)
    reasons = dict(failed)
    if everything and len(groups) == 1 and len(failed) > 1:
        names = groups[0][1]
        return (f"every image failed ({len(names)}: {_some(names)}), for the same reason; the first, "
                f"{names[0]}:\n  {reasons[names[0]]}")
    lines = ["failures:"]
    for _, names in groups:
        if len(names) == 1:
            lines.append(f"  {names[0]}: {reasons[names[0]]}")
        else:  # the first one's own words (exact values), for all of them
            lines.append(f"  {len(names)} images ({_some(names)}), all like {names[0]}: {reasons[names[0]]}")
    return "\n".join(lines)


def _some(names: Sequence[str]) -> str:
    shown = ", ".join(names[:_NAMES_SHOWN])
    return shown + (f", ... and {len(names) - _NAMES_SHOWN} more" if len(names) > _NAMES_SHOWN else "")


Outcome = Tuple[str, str, Optional[str], object]  # (name, kind, reason, value or traceback)


def _call(job: Callable[[str], object], name: str) -> Outcome:
    """Run one job -> (name, kind, failure reason or None, return value / traceback); never raises."""
    try:
        return name, _OK, None, job(name)
    except Exception as error:
        return _outcome_of_error(name, error)


def _outcome_of_error(name: str, error: Exception) -> Outcome:
    """The outcome of a job that raised ``error`` (called inside its ``except``, for the traceback)."""
    if isinstance(error, OutputError) and error.fatal:
        return name, _FATAL, None, (error.errno, error.strerror, error.filename)
    if isinstance(error, (ImageError, ValueError, OSError, KeyError)):
        return name, _FAILED, f"{type(error).__name__}: {error}", None
    if isinstance(error, MemoryError):  # the image (or what it asks for) does not fit: not a bug
        detail = f" ({error})" if str(error) else ""
        return name, _FAILED, (f"out of memory while processing this image (MemoryError{detail}); free memory, "
                               "use fewer workers or lower the SAMCAM_MAX_* size limits"), None
    return _internal(name, error)  # a bug: keep going, but keep the trace


def _internal(name: str, error: BaseException) -> Outcome:
    detail = traceback.format_exception_only(type(error), error)[-1].strip()
    trace = "".join(traceback.format_exception(type(error), error, error.__traceback__))
    return name, _INTERNAL, f"{detail} (internal error; please report)", trace


# ------------------------------------------------------------------------ worker processes

def usable_cores() -> int:
    """The CPU cores this process may run on (its affinity where the system says, else all)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def worker_count(requested: int, images: int) -> int:
    """Processes a batch of ``images`` runs in when ``requested`` are asked for.

    At most one per image and :data:`WORKERS_PER_CORE` per usable core; at least 1 (1
    means this process). Logs one line when the cores are what caps it.
    """
    cores = usable_cores()
    cap = WORKERS_PER_CORE * cores
    if requested > cap and images > cap:
        log.info("%d worker processes asked for, %d used: at most %d per core and this machine lets samcam use "
                 "%d core(s)", requested, cap, WORKERS_PER_CORE, cores)
    return max(1, min(requested, images, cap))


def _set_parent_death_signal() -> None:
    """Linux: the kernel sends this process SIGKILL when its parent dies."""
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, int(signal.SIGKILL), 0, 0, 0)  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError, TypeError):
        pass


def _watch_parent(parent: int) -> None:
    while True:
        time.sleep(0.5)
        if os.getppid() != parent:  # re-parented: the process that started us is gone
            os._exit(1)


_CAN_MASK = hasattr(signal, "pthread_sigmask")


@contextlib.contextmanager
def _interrupts_held() -> Iterator[None]:
    """Start worker processes with SIGINT blocked: one that Ctrl-C reaches before it set up
    (:func:`_worker_init`) would otherwise print a KeyboardInterrupt traceback. The mask
    is inherited through fork and exec; the main process still gets its Ctrl-C (through
    its other threads, or when the mask is lifted)."""
    if not _CAN_MASK or threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _worker_init(parent_pid: int, forked: bool) -> None:
    """Start of every worker: exit with the parent; leave Ctrl-C to the parent."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if _CAN_MASK:  # started with SIGINT blocked (_interrupts_held); a pending one is dropped, being ignored
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    _set_parent_death_signal()
    parent = os.getppid()
    if forked and parent != parent_pid:  # the parent died before the death signal was set
        os._exit(1)
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True, name="samcam-watch-parent").start()


def _isolated_main(connection, job, name: str, parent_pid: int, forked: bool) -> None:
    _worker_init(parent_pid, forked)
    connection.send(_call(job, name))
    connection.close()


def _death(name: str, exitcode: Optional[int]) -> Outcome:
    """The outcome of an image whose process died running it alone."""
    if exitcode is None or exitcode >= 0:
        return name, _FAILED, f"the worker process exited with code {exitcode} while processing this image", None
    number = -exitcode
    try:
        signame = signal.Signals(number).name
    except ValueError:
        signame = f"signal {number}"
    if number in _CRASH_SIGNALS:
        reason = (f"the worker process crashed on this image ({signame}): a bug in samcam or a library it "
                  "uses; please report it with this file (internal error)")
        return name, _INTERNAL, reason, f"worker process died with {signame} while processing {name!r}\n"
    hint = " (the kernel's out-of-memory killer sends SIGKILL)" if signame == "SIGKILL" else ""
    return name, _FAILED, f"the worker process was killed by {signame} while processing this image{hint}", None


def _run_isolated(job, name: str, context) -> Outcome:
    """Run one job in a fresh process of its own; a death there is this image's."""
    receiver, sender = context.Pipe(duplex=False)
    forked = context.get_start_method() == "fork"
    process = context.Process(target=_isolated_main, args=(sender, job, name, os.getpid(), forked),
                              name=f"samcam-retry-{name}", daemon=True)
    with _interrupts_held():
        process.start()
    sender.close()
    outcome = None
    try:
        try:
            outcome = receiver.recv()
        except EOFError:
            pass
        process.join()
    finally:
        receiver.close()
        if process.is_alive():  # interrupted while waiting
            process.kill()
            process.join()
    return outcome if outcome is not None else _death(name, process.exitcode)


def _kill_workers(pool: ProcessPoolExecutor) -> None:
    for process in list((getattr(pool, "_processes", None) or {}).values()):
        try:
            process.kill()
        except (OSError, AttributeError, ValueError):
            pass


class _Flight:
    """The images one pool is running: submitted up to a window, collected as they finish."""

    def __init__(self, pool: ProcessPoolExecutor, job, window: int, recorder: "_Recorder"):
        self.pool, self.job, self.window, self.recorder = pool, job, window, recorder
        self.running: Dict[object, Tuple[int, str]] = {}
        self.broken = False  # a worker died: the pool takes nothing more
        self.suspects: List[Tuple[int, str]] = []  # what the pool held when it broke

    def fill(self, pending: Deque[Tuple[int, str]]) -> None:
        """Submit from ``pending`` until the window is full (workers start here, SIGINT held)."""
        with _interrupts_held():
            while pending and not self.broken and not self.recorder.stopped and len(self.running) < self.window:
                index, name = pending.popleft()
                try:
                    future = self.pool.submit(_call, self.job, name)
                except BrokenProcessPool:
                    pending.appendleft((index, name))
                    self.broken = True
                    return
                self.running[future] = (index, name)

    def collect(self) -> None:
        """Wait for at least one image and record what finished."""
        finished, _ = wait(list(self.running), return_when=FIRST_COMPLETED)
        for future in finished:
            index, name = self.running.pop(future)
            try:
                outcome = future.result()
            except BrokenProcessPool:
                self.broken = True
                self.suspects.append((index, name))
                continue
            except MemoryError as error:  # e.g. its return value did not fit
                outcome = _outcome_of_error(name, error)
            except Exception as error:  # e.g. the job's return value could not be sent back
                outcome = _internal(name, error)
            self.recorder.emit(index, outcome)


def _one_pool(pending: Deque[Tuple[int, str]], job, workers: int, context, recorder: "_Recorder"):
    """Run images from ``pending`` in one pool until none is left, a fatal outcome stops the
    batch or the pool breaks; returns the images the pool held when it broke."""
    forked = context.get_start_method() == "fork"
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=_worker_init,
                               initargs=(os.getpid(), forked))
    # in flight: enough to keep every worker busy, few to re-run after a crash
    flight = _Flight(pool, job, 2 * workers, recorder)
    try:
        flight.fill(pending)
        while flight.running:
            flight.collect()
            flight.fill(pending)
    except BaseException:  # Ctrl-C or a bug here: do not leave workers running
        _kill_workers(pool)
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    return sorted(flight.suspects)


def _run_pool(items: Sequence[Tuple[int, str]], job, workers: int, recorder: "_Recorder") -> None:
    """Run ``items`` in ``workers`` processes, giving each outcome to ``recorder``.

    Stops submitting once an outcome is fatal (the caller raises it). When the pool
    breaks (a worker died), the images it still held are each run again alone
    (:func:`_run_isolated`) and a new pool takes the rest.
    """
    try:
        pickle.dumps(job)
    except Exception as error:
        raise TypeError(f"run_batch: the job must be picklable to run in worker processes ({error})") from error
    context = multiprocessing.get_context()
    pending = deque(items)
    while pending and not recorder.stopped:
        for index, name in _one_pool(pending, job, workers, context, recorder):
            if recorder.stopped:
                pending.append((index, name))
            else:
                recorder.emit(index, _run_isolated(job, name, context))


# ---------------------------------------------------------------------------- the batch

class _Recorder:
    """Records outcomes into a :class:`BatchResult` in the order of the names, whatever
    order they finish in; keeps the first fatal one (the batch stops)."""

    def __init__(self, result: BatchResult, on_result, bar: tqdm):
        self.result, self.on_result, self.bar = result, on_result, bar
        self.waiting: Dict[int, Outcome] = {}  # finished ahead of an earlier name
        self.next = 0
        self.fatal: Optional[Outcome] = None

    @property
    def stopped(self) -> bool:
        return self.fatal is not None

    def emit(self, index: int, outcome: Outcome) -> None:
        self.bar.update(1)
        if outcome[1] == _FATAL:
            self.fatal = self.fatal or outcome
            return
        self.waiting[index] = outcome
        while self.next in self.waiting:
            self._record(self.waiting.pop(self.next))
            self.next += 1

    def close(self) -> None:
        """After a stop, record what finished out of order."""
        self.bar.close()
        for index in sorted(self.waiting):
            self._record(self.waiting.pop(index))

    def _record(self, outcome: Outcome) -> None:
        name, kind, reason, value = outcome
        result = self.result
        if kind != _OK:
            result.failed.append((name, reason))
            if kind == _INTERNAL:
                result.internal.append((name, str(value)))
            return
        result.done.append(name)
        if isinstance(value, ImageStats):
            result.stats[name] = dict(value)
        if self.on_result is not None:
            self.on_result(name, value)


def _plan(names: Sequence[str], output_path, overwrite: bool, result: BatchResult):
    """``([(index, name)] to do, output folders)``; names whose output exists go to ``result.skipped``."""
    todo: List[Tuple[int, str]] = []
    folders = set()
    for name in names:
        if output_path is not None:
            path = Path(output_path(name))
            folders.add(path.parent)
            if not overwrite and path.exists():
                result.skipped.append(name)
                continue
        todo.append((len(todo), name))
    return todo, sorted(folders)


def _stopped(fatal: Outcome, result: BatchResult, total: int) -> OutputError:
    """The error a batch stopped by an unwritable output folder raises."""
    code, strerror, filename = fatal[3]
    folder = Path(filename).parent if filename else None
    left = total - len(result.done) - len(result.failed)
    return OutputError(
        code,
        f"cannot write outputs there ({strerror}, writing {Path(filename).name if filename else '?'}); "
        f"stopped with {len(result.done)} image(s) written and {left} not done. Finished outputs are "
        "kept: free space or fix the folder's permissions, then rerun to resume",
        str(folder) if folder is not None else None,
    )


def run_batch(
    names: Sequence[str],
    job: Callable[[str], object],
    output_path: Optional[Callable[[str], Path]] = None,
    *,
    workers: int = 1,
    overwrite: bool = False,
    desc: str = "images",
    progress: bool = False,
    on_result: Optional[Callable[[str, object], None]] = None,
) -> BatchResult:
    """Run ``job(name)`` for every name, resumably, in ``workers`` processes.

    Args:
        names: image names, processed in this order (results do not depend on it).
            Each must be a plain file name (no path separator, not ``..``: see
            :func:`samcam.io.check_name`); a name given twice is done once.
        job: a picklable callable (module-level function or ``functools.partial``) that
            does one image and writes its output atomically. It raises on failure. It
            may return :class:`ImageStats` (collected in :attr:`BatchResult.stats`).
        output_path: name -> the file the job writes. When given, names whose output
            already exists are skipped unless ``overwrite``, and temp files that killed
            runs left in the output folders are removed before and after.
        workers: number of processes; 1 runs in this process. Capped by
            :func:`worker_count` (the images to do, :data:`WORKERS_PER_CORE` per core).
        overwrite: redo names whose output exists.
        desc: label of the tqdm progress bar (printed to stderr).
        progress: show the progress bar (see :func:`progress_bar`).
        on_result: called in this process as ``on_result(name, value)`` with each
            successful job's return value (e.g. to sum per-image confusion matrices),
            in the order of ``names``.

    Returns:
        A :class:`BatchResult`; failures are collected, never raised, so one bad image
        never stops the others (an image running out of memory is a failure too). Its
        lists follow the order of ``names``.

    Raises:
        ValueError: a name is not a plain file name (before any work).
        OutputError: outputs cannot be written to their folder (disk full, read-only,
            no permission); raised at the first such error, naming the folder, after
            the images in flight finished. Finished outputs are kept; a rerun resumes.
        KeyboardInterrupt: Ctrl-C; the workers are killed first, finished outputs kept.
    """
    names = unique_names(names, "run_batch")
    result = BatchResult()
    todo, folders = _plan(names, output_path, overwrite, result)
    for folder in folders:
        clean_stale_temp_files(folder)
    recorder = _Recorder(result, on_result, progress_bar(len(todo), desc, progress and bool(todo)))
    processes = worker_count(workers, len(todo))
    try:
        if processes > 1:
            _run_pool(todo, job, processes, recorder)
        else:
            for index, name in todo:
                if recorder.stopped:
                    break
                recorder.emit(index, _call(job, name))
    finally:
        recorder.close()
        for folder in folders:  # what killed workers left
            clean_stale_temp_files(folder)
    if recorder.fatal is not None:
        raise _stopped(recorder.fatal, result, len(todo))
    return result

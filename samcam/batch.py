"""The one batch runner: list names -> per-image job -> atomic write -> failure report.

Every batch command (refine, adapt, masks, eval's per-image reads) goes through
:func:`run_batch`, so resuming, ``--workers``, progress bars and failure reports
behave the same everywhere.

What can go wrong, and what happens:

* a job raises on bad input (``ImageError``, ``ValueError``, ``OSError``, ``KeyError``):
  that image is a failure, listed with its reason; the others go on (exit code 1);
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
  (:func:`samcam.files.clean_stale_temp_files`).
"""
from __future__ import annotations

import ctypes
import multiprocessing
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
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from tqdm import tqdm

from .errors import ImageError, OutputError
from .files import clean_stale_temp_files, is_output_file
from .locks import close_inherited, release_folder
from .names import clip_lines, short, unique_names

__all__ = ["BatchResult", "run_batch", "progress_bar", "failure_pattern", "group_failures", "describe_failures"]

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


@dataclass
class BatchResult:
    """What a batch did: names written, names skipped as already done, and failures.

    ``failed`` lists every failed image with its reason; ``internal`` holds those whose
    failure is a bug in samcam (or a library it uses) rather than bad input, each with
    its traceback.
    """

    done: List[str] = field(default_factory=list)
    skipped: List[str] = field(default_factory=list)
    failed: List[Tuple[str, str]] = field(default_factory=list)
    internal: List[Tuple[str, str]] = field(default_factory=list)

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
                f"{short(names[0])}:\n  {reasons[names[0]]}")
    lines = ["failures:"]
    for _, names in groups:
        if len(names) == 1:
            lines.append(f"  {short(names[0])}: {reasons[names[0]]}")
        else:  # the first one's own words (exact values), for all of them
            lines.append(f"  {len(names)} images ({_some(names)}), all like {short(names[0])}: {reasons[names[0]]}")
    return "\n".join(lines)


def _some(names: Sequence[str]) -> str:
    shown = ", ".join(short(name) for name in names[:_NAMES_SHOWN])
    return shown + (f", ... and {len(names) - _NAMES_SHOWN} more" if len(names) > _NAMES_SHOWN else "")


Outcome = Tuple[str, str, Optional[str], object]  # (name, kind, reason, value or traceback)


def _call(job: Callable[[str], object], name: str) -> Outcome:
    """Run one job -> (name, kind, failure reason or None, return value / traceback); never raises."""
    try:
        return name, _OK, None, job(name)
    except OutputError as error:
        if error.fatal:
            return name, _FATAL, None, (error.errno, error.strerror, error.filename)
        return name, _FAILED, clip_lines(f"OutputError: {error}"), None
    except (ImageError, ValueError, OSError, KeyError) as error:
        # clipped: a 5 MB name in a list would otherwise echo in every message
        return name, _FAILED, clip_lines(f"{type(error).__name__}: {error}"), None
    except Exception as error:  # a bug: keep going, but keep the trace
        detail = traceback.format_exception_only(type(error), error)[-1].strip()
        return name, _INTERNAL, f"{detail} (internal error; please report)", traceback.format_exc()


# ------------------------------------------------------------------------ worker processes

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


def _worker_init(parent_pid: int, forked: bool) -> None:
    """Start of every worker: exit with the parent; leave Ctrl-C to the parent."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    close_inherited()  # the output folder's lock is the parent's: it must go when the parent goes
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
    if exitcode is not None and exitcode < 0:
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
    return name, _FAILED, f"the worker process exited with code {exitcode} while processing this image", None


def _run_isolated(job, name: str, context) -> Outcome:
    """Run one job in a fresh process of its own; a death there is this image's."""
    receiver, sender = context.Pipe(duplex=False)
    forked = context.get_start_method() == "fork"
    process = context.Process(target=_isolated_main, args=(sender, job, name, os.getpid(), forked),
                              name=f"samcam-retry-{name}", daemon=True)
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


def _run_pool(items: Sequence[Tuple[int, str]], job, workers: int, emit: Callable[[int, Outcome], None]) -> None:
    """Run ``items`` in ``workers`` processes, calling ``emit(index, outcome)`` for each.

    Stops submitting once an outcome is fatal (the caller raises it). When the pool
    breaks (a worker died), the images it still held are each run again alone
    (:func:`_run_isolated`) and a new pool takes the rest.
    """
    try:
        pickle.dumps(job)
    except Exception as error:
        raise TypeError(f"run_batch: the job must be picklable to run in worker processes ({error})") from error
    context = multiprocessing.get_context()
    forked = context.get_start_method() == "fork"
    window = 2 * workers  # in flight: enough to keep every worker busy, few to re-run after a crash
    pending = deque(items)
    fatal = False
    while pending and not fatal:
        suspects: List[Tuple[int, str]] = []
        broken = False
        pool = ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=_worker_init,
                                   initargs=(os.getpid(), forked))
        in_flight: Dict[object, Tuple[int, str]] = {}
        try:
            while in_flight or (pending and not broken and not fatal):
                while pending and not broken and not fatal and len(in_flight) < window:
                    index, name = pending.popleft()
                    try:
                        future = pool.submit(_call, job, name)
                    except BrokenProcessPool:
                        pending.appendleft((index, name))
                        broken = True
                        break
                    in_flight[future] = (index, name)
                if not in_flight:
                    break
                finished, _ = wait(list(in_flight), return_when=FIRST_COMPLETED)
                for future in finished:
                    index, name = in_flight.pop(future)
                    try:
                        outcome = future.result()
                    except BrokenProcessPool:
                        broken = True
                        suspects.append((index, name))
                        continue
                    except Exception as error:  # e.g. the job's return value could not be sent back
                        detail = traceback.format_exception_only(type(error), error)[-1].strip()
                        outcome = (name, _INTERNAL, f"{detail} (internal error; please report)",
                                   "".join(traceback.format_exception(error)))
                    fatal = fatal or outcome[1] == _FATAL
                    emit(index, outcome)
        except BaseException:  # Ctrl-C or a bug here: do not leave workers running
            _kill_workers(pool)
            raise
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
        for index, name in sorted(suspects):
            if fatal:
                pending.append((index, name))
                continue
            outcome = _run_isolated(job, name, context)
            fatal = outcome[1] == _FATAL
            emit(index, outcome)


# ---------------------------------------------------------------------------- the batch

def _plan(names: Sequence[str], output_path: Optional[Callable[[str], Path]], overwrite: bool,
          result: BatchResult) -> Tuple[List[Tuple[int, str]], set]:
    """(index, name) of the names to do, and the output folders; finished names go to ``result.skipped``.

    Finished means a regular file at the output path (:func:`samcam.files.is_output_file`):
    a folder of that name, or a name too long for a file name, is not done; its job runs
    and fails alone, saying why.
    """
    todo: List[Tuple[int, str]] = []
    folders = set()
    for name in names:
        if output_path is not None:
            path = Path(output_path(name))
            folders.add(path.parent)
            if not overwrite and is_output_file(path):
                result.skipped.append(name)
                continue
        todo.append((len(todo), name))
    return todo, folders


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
            :func:`samcam.names.check_name`); a name given twice is done once.
        job: a picklable callable (module-level function or ``functools.partial``) that
            does one image and writes its output atomically. It raises on failure.
        output_path: name -> the file the job writes. When given, names whose output
            already exists are skipped unless ``overwrite``, temp files that killed
            runs left in the output folders are removed before and after, and at the
            end this process lets go of those folders' locks (:mod:`samcam.locks`).
        workers: number of processes; 1 runs in this process.
        overwrite: redo names whose output exists.
        desc: label of the tqdm progress bar (printed to stderr).
        progress: show the progress bar (see :func:`progress_bar`).
        on_result: called in this process as ``on_result(name, value)`` with each
            successful job's return value (e.g. to sum per-image confusion matrices),
            in the order of ``names``.

    Returns:
        A :class:`BatchResult`; failures are collected, never raised, so one bad image
        never stops the others. Its lists follow the order of ``names``.

    Raises:
        ValueError: a name is not a plain file name (before any work).
        OutputError: outputs cannot be written to their folder (disk full, read-only,
            no permission); raised at the first such error, naming the folder, after
            the images in flight finished. Finished outputs are kept; a rerun resumes.
    """
    names = unique_names(names, "run_batch")
    result = BatchResult()
    todo, folders = _plan(names, output_path, overwrite, result)
    for folder in sorted(folders):
        clean_stale_temp_files(folder)

    outcomes: Dict[int, Outcome] = {}
    cursor = [0]
    fatal: List[Outcome] = []
    bar = progress_bar(len(todo), desc, progress and bool(todo))

    def emit(index: int, outcome: Outcome) -> None:
        bar.update(1)
        if outcome[1] == _FATAL:
            fatal.append(outcome)
            return
        outcomes[index] = outcome
        while cursor[0] in outcomes:  # record in the order of names
            _record(result, outcomes.pop(cursor[0]), on_result)
            cursor[0] += 1

    try:
        if workers <= 1 or len(todo) <= 1:
            for index, name in todo:
                emit(index, _call(job, name))
                if fatal:
                    break
        else:
            _run_pool(todo, job, workers, emit)
    finally:
        bar.close()
        for index in sorted(outcomes):  # after a stop, what finished out of order
            _record(result, outcomes.pop(index), on_result)
        for folder in sorted(folders):  # what killed workers left
            clean_stale_temp_files(folder)
            release_folder(folder)  # the run that claimed the folder is over (samcam.locks)
    if fatal:
        raise _stopped(fatal[0], len(todo), result)
    return result


def _stopped(outcome: "Outcome", todo: int, result: BatchResult) -> OutputError:
    """The error a batch stops with after a write that concerns the whole folder failed."""
    _, _, _, (code, strerror, filename) = outcome
    folder = Path(filename).parent if filename else None
    left = todo - len(result.done) - len(result.failed)
    return OutputError(
        code,
        f"cannot write outputs there ({strerror}, writing {Path(filename).name if filename else '?'}); "
        f"stopped with {len(result.done)} image(s) written and {left} not done. Finished outputs are "
        "kept: free space or fix the folder's permissions, then rerun to resume",
        str(folder) if folder is not None else None,
    )


def _record(result: BatchResult, outcome: Outcome, on_result) -> None:
    name, kind, reason, value = outcome
    if kind == _OK:
        result.done.append(name)
        if on_result is not None:
            on_result(name, value)
    else:
        result.failed.append((name, reason))
        if kind == _INTERNAL:
            result.internal.append((name, str(value)))

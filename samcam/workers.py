"""Running a batch's jobs: in this process, or in worker processes that die cleanly.

:func:`samcam.batch.run_batch` hands each image to :func:`call_job` (here, ``workers=1``)
or to :func:`run_pool` (``workers`` processes). A job's outcome is a tuple ``(name, kind,
reason, value)``: :data:`OK` with its return value, :data:`FAILED` (bad input, out of
memory) with the reason, :data:`INTERNAL` (a bug) with the reason and traceback, or
:data:`FATAL` (the output folder cannot be written) with ``(errno, strerror, filename)``.

Worker processes exit with the main process (Linux ``PR_SET_PDEATHSIG``, and a thread
watching the parent elsewhere), ignore Ctrl-C (the main process handles it, also while
they start), and a pool whose worker died is replaced, the images it held each run
again alone (:func:`run_isolated`). ``workers`` is capped by :func:`worker_count`.
"""
from __future__ import annotations

import contextlib
import ctypes
import logging
import multiprocessing
import os
import pickle
import signal
import sys
import threading
import time
import traceback
from collections import deque
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Callable, Deque, Dict, Iterator, List, Optional, Sequence, Tuple

from .errors import ImageError, OutputError
from .locks import close_inherited
from .names import clip_lines

__all__ = ["Outcome", "OK", "FAILED", "INTERNAL", "FATAL", "WORKERS_PER_CORE", "call_job", "usable_cores",
           "worker_count", "run_pool", "run_isolated"]

log = logging.getLogger(__name__)

# Worker processes per usable core, at most: the jobs are CPU-bound numpy, so more only
# costs memory and start-up (and 1,000,000 would fork until the machine stops).
WORKERS_PER_CORE = 4

# outcome kinds of one job
OK, FAILED, INTERNAL, FATAL = "ok", "failed", "internal", "fatal"
# signals that mean "crashed" (a bug somewhere), as opposed to "was killed"
_CRASH_SIGNALS = {getattr(signal, name) for name in ("SIGSEGV", "SIGBUS", "SIGILL", "SIGFPE", "SIGABRT")
                  if hasattr(signal, name)}

Outcome = Tuple[str, str, Optional[str], object]  # (name, kind, reason, value or traceback)


class Recorder:
    """What :func:`run_pool` reports to: ``emit(index, outcome)`` for each image, and
    ``stopped`` once a fatal outcome came (nothing more is started)."""

    stopped: bool

    def emit(self, index: int, outcome: Outcome) -> None:
        raise NotImplementedError


def call_job(job: Callable[[str], object], name: str) -> Outcome:
    """Run one job -> (name, kind, failure reason or None, return value / traceback); never raises."""
    try:
        return name, OK, None, job(name)
    except Exception as error:
        return _outcome_of_error(name, error)


def _outcome_of_error(name: str, error: Exception) -> Outcome:
    """The outcome of a job that raised ``error`` (called inside its ``except``, for the traceback)."""
    if isinstance(error, OutputError) and error.fatal:
        return name, FATAL, None, (error.errno, error.strerror, error.filename)
    if isinstance(error, (ImageError, ValueError, OSError, KeyError)):
        # clipped: a 5 MB name in a list would otherwise echo in every message
        return name, FAILED, clip_lines(f"{type(error).__name__}: {error}"), None
    if isinstance(error, MemoryError):  # the image (or what it asks for) does not fit: not a bug
        detail = f" ({error})" if str(error) else ""
        return name, FAILED, (f"out of memory while processing this image (MemoryError{detail}); free memory, "
                               "use fewer workers or lower the SAMCAM_MAX_* size limits"), None
    return _internal(name, error)  # a bug: keep going, but keep the trace


def _internal(name: str, error: BaseException) -> Outcome:
    detail = traceback.format_exception_only(type(error), error)[-1].strip()
    trace = "".join(traceback.format_exception(type(error), error, error.__traceback__))
    return name, INTERNAL, f"{detail} (internal error; please report)", trace


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
    close_inherited()  # the output folder's lock is the parent's: it must go when the parent goes
    if _CAN_MASK:  # started with SIGINT blocked (_interrupts_held); a pending one is dropped, being ignored
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    _set_parent_death_signal()
    parent = os.getppid()
    if forked and parent != parent_pid:  # the parent died before the death signal was set
        os._exit(1)
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True, name="samcam-watch-parent").start()


def _isolated_main(connection, job, name: str, parent_pid: int, forked: bool) -> None:
    _worker_init(parent_pid, forked)
    connection.send(call_job(job, name))
    connection.close()


def _death(name: str, exitcode: Optional[int]) -> Outcome:
    """The outcome of an image whose process died running it alone."""
    if exitcode is None or exitcode >= 0:
        return name, FAILED, f"the worker process exited with code {exitcode} while processing this image", None
    number = -exitcode
    try:
        signame = signal.Signals(number).name
    except ValueError:
        signame = f"signal {number}"
    if number in _CRASH_SIGNALS:
        reason = (f"the worker process crashed on this image ({signame}): a bug in samcam or a library it "
                  "uses; please report it with this file (internal error)")
        return name, INTERNAL, reason, f"worker process died with {signame} while processing {name!r}\n"
    hint = " (the kernel's out-of-memory killer sends SIGKILL)" if signame == "SIGKILL" else ""
    return name, FAILED, f"the worker process was killed by {signame} while processing this image{hint}", None


def run_isolated(job, name: str, context) -> Outcome:
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

    def __init__(self, pool: ProcessPoolExecutor, job, window: int, recorder: "Recorder"):
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
                    future = self.pool.submit(call_job, self.job, name)
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


def _one_pool(pending: Deque[Tuple[int, str]], job, workers: int, context, recorder: "Recorder"):
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


def run_pool(items: Sequence[Tuple[int, str]], job, workers: int, recorder: "Recorder") -> None:
    """Run ``items`` in ``workers`` processes, giving each outcome to ``recorder``.

    Stops submitting once an outcome is fatal (the caller raises it). When the pool
    breaks (a worker died), the images it still held are each run again alone
    (:func:`run_isolated`) and a new pool takes the rest.
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
                recorder.emit(index, run_isolated(job, name, context))

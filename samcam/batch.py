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
  (:func:`samcam.files.clean_stale_temp_files`);
* Ctrl-C: ``KeyboardInterrupt`` in the main process (workers ignore SIGINT, also while
  they start); the workers are killed, finished outputs are kept and temp files removed.

``workers`` is capped at the number of images to do and at :data:`WORKERS_PER_CORE`
processes per usable core (logged once when the cores cap it). A job may return
:class:`ImageStats`, small numbers about its image that :attr:`BatchResult.stats` collects.
"""
from __future__ import annotations

import math
import numbers
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Mapping, Optional, Sequence, Tuple

from tqdm import tqdm

from .errors import OutputError
from .files import clean_stale_temp_files, is_output_file
from .locks import release_folder
from .names import short, unique_names
from .workers import FATAL, INTERNAL, OK, WORKERS_PER_CORE, Outcome, Recorder, call_job, run_pool, worker_count

__all__ = ["BatchResult", "ImageStats", "run_batch", "worker_count", "WORKERS_PER_CORE", "progress_bar",
           "failure_pattern", "group_failures", "describe_failures"]


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

    @classmethod
    def of_refinement(cls, before, after, masks_used: Optional[int] = None) -> "ImageStats":
        """The numbers of one refined label: its pixels, those that changed, the masks used.

        before, after: (H, W) uint8 labels; masks_used: None when the rule does not say.
        """
        values = {"pixels": int(before.size), "changed": int((before != after).sum())}
        if masks_used is not None:
            values["masks_used"] = int(masks_used)
        return cls(values)

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


# ---------------------------------------------------------------------------- the batch

class _Recorder(Recorder):
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
        if outcome[1] == FATAL:
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
        if kind != OK:
            result.failed.append((name, reason))
            if kind == INTERNAL:
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
            # a folder of that name, or a name too long for a file name, is not done: its job
            # runs and fails alone, saying why (samcam.files.is_output_file)
            if not overwrite and is_output_file(path):
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
            :func:`samcam.names.check_name`); a name given twice is done once.
        job: a picklable callable (module-level function or ``functools.partial``) that
            does one image and writes its output atomically. It raises on failure. It
            may return :class:`ImageStats` (collected in :attr:`BatchResult.stats`).
        output_path: name -> the file the job writes. When given, names whose output
            already exists are skipped unless ``overwrite``, temp files that killed
            runs left in the output folders are removed before and after, and at the
            end this process lets go of those folders' locks (:mod:`samcam.locks`).
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
            run_pool(todo, job, processes, recorder)
        else:
            for index, name in todo:
                if recorder.stopped:
                    break
                recorder.emit(index, call_job(job, name))
    finally:
        recorder.close()
        for folder in folders:  # what killed workers left
            clean_stale_temp_files(folder)
            release_folder(folder)  # the run that claimed the folder is over (samcam.locks)
    if recorder.fatal is not None:
        raise _stopped(recorder.fatal, result, len(todo))
    return result

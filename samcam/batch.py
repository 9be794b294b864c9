"""The one batch runner: list names -> per-image job -> atomic write -> failure report.

Every batch command (refine, adapt, masks, eval's per-image reads) goes through
:func:`run_batch`, so resuming, ``--workers``, progress bars and failure reports
behave the same everywhere.
"""
from __future__ import annotations

import sys
import traceback
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, List, Optional, Sequence, Tuple

from tqdm import tqdm

from .errors import ImageError

__all__ = ["BatchResult", "run_batch", "progress_bar"]


def progress_bar(total: Optional[float], desc: str, enabled: bool, unit: str = "img", **options) -> tqdm:
    """The one progress bar of samcam: tqdm on stderr, shown only when ``enabled``.

    Library functions take ``progress=False`` by default and pass it here; the CLI
    turns it on unless ``--no-progress``.
    """
    return tqdm(total=total, desc=desc, unit=unit, disable=not enabled, file=sys.stderr, **options)


@dataclass
class BatchResult:
    """What a batch did: names written, names skipped as already done, and failures."""

    done: List[str] = field(default_factory=list)
    skipped: List[str] = field(default_factory=list)
    failed: List[Tuple[str, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failed

    def summary(self) -> str:
        text = f"{len(self.done)} written, {len(self.skipped)} already done (skipped), {len(self.failed)} failed"
        if self.failed:
            lines = [text, "failures:"]
            lines += [f"  {name}: {reason}" for name, reason in self.failed]
            text = "\n".join(lines)
        return text


def _call(job: Callable[[str], object], name: str) -> Tuple[str, Optional[str], object]:
    """Run one job -> (name, failure reason or None, job's return value); never raises."""
    try:
        return name, None, job(name)
    except (ImageError, ValueError, OSError, KeyError) as error:
        return name, f"{type(error).__name__}: {error}", None
    except Exception as error:  # a bug or an odd file: keep going, but keep the trace
        detail = traceback.format_exception_only(type(error), error)[-1].strip()
        return name, f"{detail} (unexpected; please report)", None


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
        job: a picklable callable (module-level function or ``functools.partial``) that
            does one image and writes its output atomically. It raises on failure.
        output_path: name -> the file the job writes. When given, names whose output
            already exists are skipped unless ``overwrite``.
        workers: number of processes; 1 runs in this process.
        overwrite: redo names whose output exists.
        desc: label of the tqdm progress bar (printed to stderr).
        progress: show the progress bar (see :func:`progress_bar`).
        on_result: called in this process as ``on_result(name, value)`` with each
            successful job's return value (e.g. to sum per-image confusion matrices).

    Returns:
        A :class:`BatchResult`; failures are collected, never raised, so one bad image
        never stops the others.
    """
    result = BatchResult()
    todo: List[str] = []
    for name in names:
        if output_path is not None and not overwrite and Path(output_path(name)).exists():
            result.skipped.append(name)
        else:
            todo.append(name)
    bar = progress_bar(len(todo), desc, progress and bool(todo))
    try:
        if workers <= 1 or len(todo) <= 1:
            for name in todo:
                _record(result, *_call(job, name), on_result)
                bar.update(1)
        else:
            with ProcessPoolExecutor(max_workers=workers) as pool:
                chunk = max(1, min(16, len(todo) // (workers * 8) or 1))
                for outcome in pool.map(_call, [job] * len(todo), todo, chunksize=chunk):
                    _record(result, *outcome, on_result)
                    bar.update(1)
    finally:
        bar.close()
    return result


def _record(result: BatchResult, name: str, reason: Optional[str], value: object, on_result) -> None:
    if reason is None:
        result.done.append(name)
        if on_result is not None:
            on_result(name, value)
    else:
        result.failed.append((name, reason))

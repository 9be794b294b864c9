"""Worker processes (samcam.workers): the cap, killed and crashed workers, out of memory per image."""
from __future__ import annotations

import ctypes
import faulthandler
import functools
import logging
import os
import signal
import sys
from pathlib import Path

import pytest

import samcam
import samcam.folders
import samcam.workers
from samcam.batch import WORKERS_PER_CORE, run_batch, worker_count


def _siblings() -> int:
    """Live processes that share this process's parent, this one included (Linux /proc)."""
    parent, count = os.getppid(), 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as handle:
                fields = handle.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        count += int(fields[1]) == parent and fields[0] not in (b"Z", b"X")
    return count


def _count_siblings(name: str, marker: str) -> int:
    Path(marker, name).write_text(str(os.getpid()))
    return _siblings()


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="counts worker processes through /proc (Linux)")
def test_workers_are_capped_at_the_number_of_images(tmp_path):
    """Before: 24 workers for 3 images started 24 processes (256 started 257; 1,000,000 forked
    until the machine stopped)."""
    job = functools.partial(_count_siblings, marker=str(tmp_path))
    result = run_batch(["a", "b", "c"], job, workers=24)
    assert result.done == ["a", "b", "c"]
    assert len({p.read_text() for p in tmp_path.iterdir()}) > 1  # it did run in worker processes
    counts = []
    run_batch(["a", "b", "c"], job, workers=24, on_result=lambda name, value: counts.append(value))
    assert max(counts) <= 3, counts  # the workers, each the main process's child


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="counts worker processes through /proc (Linux)")
def test_workers_are_capped_at_a_multiple_of_the_cores_said_once(tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(samcam.workers, "usable_cores", lambda: 1)
    job = functools.partial(_count_siblings, marker=str(tmp_path))
    counts = []
    names = [f"n{i}" for i in range(3 * WORKERS_PER_CORE)]
    with caplog.at_level(logging.INFO, logger="samcam"):
        result = run_batch(names, job, workers=50, on_result=lambda name, value: counts.append(value))
    assert result.done == names and max(counts) <= WORKERS_PER_CORE, counts
    said = [r.getMessage() for r in caplog.records if "worker processes asked for" in r.getMessage()]
    assert said == [f"50 worker processes asked for, {WORKERS_PER_CORE} used: at most {WORKERS_PER_CORE} per "
                    "core and this machine lets samcam use 1 core(s)"]


def test_worker_count():
    cap = WORKERS_PER_CORE * samcam.workers.usable_cores()
    assert worker_count(1, 100) == 1
    assert worker_count(256, 2) == 2
    assert worker_count(1_000_000, 10 ** 7) == cap
    assert worker_count(4, 0) == 1  # nothing to do: this process


def _memory_hungry(name: str) -> str:
    if name == "huge":
        raise MemoryError()
    return name


@pytest.mark.parametrize("workers", [1, 2])
def test_an_image_that_runs_out_of_memory_fails_alone(workers):
    """Before: an internal error (exit 3) with a traceback, as if samcam had a bug."""
    names = ["a", "huge", "b", "c"]
    result = run_batch(names, _memory_hungry, workers=workers)
    assert result.done == ["a", "b", "c"] and not result.internal and result.exit_code == 1
    [(name, reason)] = result.failed
    assert name == "huge" and reason.startswith("out of memory while processing this image (MemoryError)")


def _job_that_dies(name):
    if name == "oom":
        os.kill(os.getpid(), signal.SIGKILL)  # what the OOM killer does
    if name == "crash":
        ctypes.string_at(0)  # a segfault in native code
    return name.upper()


def test_6_a_killed_worker_fails_its_image_and_the_batch_goes_on(tmp_path):
    names = [f"n{i}" for i in range(8)] + ["oom"] + [f"m{i}" for i in range(8)] + ["crash"]
    seen = []
    dumping = faulthandler.is_enabled()
    faulthandler.disable()  # forked workers would print pytest's crash dump for the planned segfault
    try:
        result = run_batch(names, _job_that_dies, workers=2, on_result=lambda name, value: seen.append((name, value)))
    finally:
        if dumping:
            faulthandler.enable(file=sys.__stderr__)
    assert sorted(result.done) == sorted(n for n in names if n not in ("oom", "crash"))
    reasons = dict(result.failed)
    assert set(reasons) == {"oom", "crash"}
    assert "killed by SIGKILL" in reasons["oom"] and "out-of-memory" in reasons["oom"]
    assert "crashed on this image (SIGSEGV)" in reasons["crash"]
    assert [n for n, _ in result.internal] == ["crash"] and result.exit_code == 3
    assert seen == [(n, n.upper()) for n in names if n not in ("oom", "crash")]  # in order, once each


def _job_killed_once(name, marker):
    if name == "victim" and not Path(marker).exists():
        Path(marker).write_text("killed once")
        os.kill(os.getpid(), signal.SIGKILL)
    return name


def test_6_an_image_whose_worker_was_killed_by_something_else_is_run_again(tmp_path):
    """A kill from outside (OOM under load, an admin) is not the image's fault: alone, it succeeds."""
    import functools

    names = ["a", "b", "victim", "c", "d"]
    job = functools.partial(_job_killed_once, marker=str(tmp_path / "marker"))
    # the first time "victim" runs it dies; it is then run alone and succeeds
    (tmp_path / "marker").unlink(missing_ok=True)
    result = run_batch(names, job, workers=2)
    assert (tmp_path / "marker").exists()
    assert result.done == names and not result.failed and result.exit_code == 0


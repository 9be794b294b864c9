"""samcam.batch (the one batch runner) and samcam.workers (its processes): order, resume,
workers and their cap, per-image failures (out of memory included), per-image numbers
(ImageStats) and their summary.

Dying workers and full disks are in tests/test_failures.py (6, 11); kills and Ctrl-C of
whole runs in tests/test_chaos.py.
"""
from __future__ import annotations

import functools
import logging
import os
from pathlib import Path

import numpy as np
import pytest

import samcam.folders
import samcam.workers
from samcam import masks as store
from samcam.batch import WORKERS_PER_CORE, BatchResult, ImageStats, run_batch, worker_count
from samcam.cli import main
from samcam.cli.common import change_summary, report_batch
from samcam.demo.synthetic import cam_to_label, make_scene
from samcam.io import read_label_png, write_label_png

NAMES = [f"im{i}" for i in range(6)]


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


def _upper(name: str) -> str:
    return name.upper()


def _write(name: str, out: str) -> None:
    Path(out, f"{name}.txt").write_text(name)


# ----------------------------------------------------------------------------- basics

@pytest.mark.parametrize("workers", [1, 3])
def test_values_come_back_in_the_order_of_the_names_once_each(workers):
    seen = []
    names = ["c", "a", "b", "a", "d"]
    result = run_batch(names, _upper, workers=workers, on_result=lambda name, value: seen.append((name, value)))
    assert result.done == ["c", "a", "b", "d"] and not result.failed and result.exit_code == 0
    assert seen == [("c", "C"), ("a", "A"), ("b", "B"), ("d", "D")]


def test_existing_outputs_are_skipped_unless_overwrite(tmp_path):
    job = functools.partial(_write, out=str(tmp_path))
    (tmp_path / "b.txt").write_text("old")
    result = run_batch(["a", "b"], job, lambda name: tmp_path / f"{name}.txt")
    assert result.done == ["a"] and result.skipped == ["b"] and (tmp_path / "b.txt").read_text() == "old"
    result = run_batch(["a", "b"], job, lambda name: tmp_path / f"{name}.txt", overwrite=True)
    assert result.done == ["a", "b"] and (tmp_path / "b.txt").read_text() == "b"


def test_names_that_could_leave_a_folder_are_refused_before_any_work():
    with pytest.raises(ValueError, match="path separator"):
        run_batch(["a", "../b"], _upper)


# ------------------------------------------------------------------- --workers is capped

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


def test_workers_flag_refuses_zero_and_the_cli_says_the_cap_once(tmp_path, monkeypatch, capsys):
    labels, masks = _scenes(tmp_path)
    argv = ["refine", "--labels", str(labels), "--masks", str(masks), "--out", str(tmp_path / "out"), "--no-progress"]
    with pytest.raises(SystemExit) as exit_info:
        main(argv + ["--workers", "0"])
    assert exit_info.value.code == 2 and "--workers" in capsys.readouterr().err
    monkeypatch.setattr(samcam.workers, "usable_cores", lambda: 1)
    assert main(argv + ["--workers", "9"]) == 0
    err = capsys.readouterr().err
    assert err.count("worker processes asked for") == 1
    assert f"samcam refine: 9 worker processes asked for, {WORKERS_PER_CORE} used" in err


# ----------------------------------------------------------------- MemoryError per image

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


def _scenes(root: Path, count: int = 6):
    rng = np.random.default_rng(0)
    for index in range(count):
        scene = make_scene(rng, 32, 40)
        write_label_png(root / "labels" / f"im{index}.png", cam_to_label(scene.cam))
        store.write(root / "masks" / f"im{index}", scene.masks)
    return root / "labels", root / "masks"


@pytest.mark.parametrize("workers", ["1", "2"])
def test_refine_reports_an_out_of_memory_image_by_name_and_finishes_the_others(tmp_path, monkeypatch, capsys,
                                                                              workers):
    labels, masks = _scenes(tmp_path)
    real, hungry = samcam.folders.refine_counted, read_label_png(labels / "im2.png")

    def refine_or_run_out(label, masks, **params):
        if np.array_equal(label, hungry):
            raise MemoryError()
        return real(label, masks, **params)

    monkeypatch.setattr(samcam.folders, "refine_counted", refine_or_run_out)  # forked workers inherit it
    out = tmp_path / "out"
    code = main(["refine", "--labels", str(labels), "--masks", str(masks), "--out", str(out), "--no-progress",
                 "--workers", workers])
    err = capsys.readouterr().err
    assert code == 1, err
    assert "Traceback" not in err and "internal error" not in err
    assert "im2: out of memory while processing this image" in err
    assert sorted(p.name for p in out.glob("*.png")) == [f"im{i}.png" for i in (0, 1, 3, 4, 5)]


def test_out_of_memory_outside_the_images_is_one_line(tmp_path, monkeypatch, capsys):
    labels, masks = _scenes(tmp_path, 2)

    def no_memory(*args, **kwargs):
        raise MemoryError()

    monkeypatch.setattr(samcam.cli.refine, "refine_dir", no_memory)
    code = main(["refine", "--labels", str(labels), "--masks", str(masks), "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and err.startswith("samcam refine: error: out of memory (MemoryError)")


# ------------------------------------------------------------------- per-image numbers

def _with_stats(name: str):
    if name == "plain":
        return "not numbers"
    if name == "bad":
        raise ValueError("bad image")
    changed = {"a": 0, "b": 30, "c": 10, "d": 0}[name]
    return ImageStats(pixels=100, changed=changed, masks_used={"a": 2, "b": 5, "c": 7, "d": 3}[name])


@pytest.mark.parametrize("workers", [1, 2])
def test_jobs_return_per_image_numbers_that_the_result_collects(workers):
    names = ["d", "a", "bad", "plain", "b", "c"]
    values = []
    result = run_batch(names, _with_stats, workers=workers, on_result=lambda name, value: values.append(value))
    assert list(result.stats) == ["d", "a", "b", "c"]  # done images with numbers, in the order of the names
    assert result.stats["b"] == {"pixels": 100, "changed": 30, "masks_used": 5}
    assert type(result.stats["b"]) is dict and isinstance(values[-1], ImageStats)  # on_result still gets them
    assert "plain" in result.done and "plain" not in result.stats


def test_image_stats_are_finite_numbers():
    assert ImageStats({"pixels": 4}, changed=1.5) == {"pixels": 4, "changed": 1.5}
    for bad in (float("nan"), float("inf"), True, "3", None, [1]):
        with pytest.raises(ValueError, match="'changed' must be a finite number"):
            ImageStats(pixels=4, changed=bad)


def test_change_summary_sums_the_images_numbers(capsys):
    result = run_batch(["a", "b", "c", "d"], _with_stats)
    assert change_summary(result.stats) == "2 of 4 images changed, 10.00% of their pixels; median 4 masks used per image"
    assert change_summary({}) is None
    assert change_summary({"x": {"masks_used": 3}}) == "median 3 masks used per image"
    assert report_batch(result, "samcam refine") == 0
    assert capsys.readouterr().err.splitlines() == [
        "samcam refine: 4 written, 0 already done (skipped), 0 failed",
        "samcam refine: 2 of 4 images changed, 10.00% of their pixels; median 4 masks used per image"]
    assert report_batch(BatchResult(done=["a"]), "samcam refine") == 0  # no numbers: no line
    assert capsys.readouterr().err.splitlines() == ["samcam refine: 1 written, 0 already done (skipped), 0 failed"]

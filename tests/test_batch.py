"""The batch runner (samcam.batch.run_batch): order, resume, names refused before any work,
a full disk stopping the batch with one error, per-image numbers (ImageStats) and failure
patterns.

Worker processes and their cap are in tests/test_workers.py; kills and Ctrl-C of whole runs
in tests/system/test_chaos.py.
"""
from __future__ import annotations

import errno
import functools
import os
from pathlib import Path

import pytest
from batch_data import with_stats as _with_stats
from refine_data import refine_cli

from samcam.batch import (
    BatchResult,
    ImageStats,
    describe_failures,
    failure_pattern,
    group_failures,
    run_batch,
)

NAMES = [f"im{i}" for i in range(6)]


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


# ----------------------------------------------------------------- MemoryError per image


# ------------------------------------------------------------------- per-image numbers


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


@pytest.mark.slow
@pytest.mark.parametrize("workers", ["1", "2"])
@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EACCES, errno.EROFS])
def test_11_disk_full_or_read_only_stops_the_batch_with_one_error(refine_data, capsys, monkeypatch, workers, code):
    root, labels, maskss = refine_data
    real_fsync = os.fsync

    def labels_fail(fd):  # samcam.json (written first) fits, then the disk is full
        if "samcam.json" not in os.readlink(f"/proc/self/fd/{fd}"):
            raise OSError(code, os.strerror(code))
        return real_fsync(fd)

    monkeypatch.setattr(os, "fsync", labels_fail)
    assert refine_cli(root, "--workers", workers) == 2
    err = capsys.readouterr().err
    assert err.count("error:") == 1, err
    assert f"{root / 'out'}: cannot write outputs there ({os.strerror(code)}" in err
    assert "stopped with 0 image(s) written and 6 not done" in err and "rerun to resume" in err
    assert sorted(p.name for p in (root / "out").iterdir()) == ["samcam.json"]  # no labels, no temp files

    def everything_fails(fd):
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(os, "fsync", everything_fails)
    assert refine_cli(root, "--workers", workers, out="out2") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert [line for line in err if "error:" in line] == [
        f"samcam refine: error: {root / 'out2' / 'samcam.json'}: {os.strerror(code)}"]
    assert not list((root / "out2").iterdir())

    monkeypatch.setattr(os, "fsync", real_fsync)
    assert refine_cli(root, "--workers", workers) == 0
    assert "6 written" in capsys.readouterr().err


def test_failure_patterns_group_by_reason_not_by_name():
    assert failure_pattern("a", "ground truth missing for a: a.png") == "ground truth missing for {name}: {name}.png"
    assert failure_pattern("x1", "label holds values [21, 40] outside 0..20") == "label holds values [...] outside 0..20"
    failed = [("x1", "no masks for 'x1' in m"), ("x2", "no masks for 'x2' in m"), ("x3", "corrupt x3.png")]
    assert group_failures(failed) == [("no masks for '{name}' in m", ["x1", "x2"]), ("corrupt {name}.png", ["x3"])]
    text = describe_failures(failed)
    assert text.splitlines() == ["failures:", "  2 images (x1, x2), all like x1: no masks for 'x1' in m",
                                 "  x3: corrupt x3.png"]
    result = BatchResult(failed=failed[:2])
    assert result.all_failed_alike
    assert result.summary().splitlines() == [
        "0 written, 0 already done (skipped), 2 failed",
        "every image failed (2: x1, x2), for the same reason; the first, x1:",
        "  no masks for 'x1' in m",
    ]
    many = [(f"n{i}", f"bad n{i}") for i in range(25)]
    assert "n19, ... and 5 more" in describe_failures(many)

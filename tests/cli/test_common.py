"""What every command shares (samcam.cli.common): --num-classes and --workers checked as usage
errors, the worker cap said once, and the batch summary with what changed."""
from __future__ import annotations

import pytest
from batch_data import scenes as _scenes
from batch_data import with_stats as _with_stats
from cli_calls import exit_and_err, one_line

import samcam
import samcam.folders
import samcam.workers
from samcam.batch import WORKERS_PER_CORE, BatchResult, run_batch
from samcam.cli import main
from samcam.cli.common import change_summary, report_batch


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


@pytest.mark.parametrize("flags", [("--num-classes", "0"), ("--num-classes", "1"), ("--num-classes", "256"),
                                   ("--num-classes", "300"), ("--num-classes", "x"), ("--workers", "0"),
                                   ("--workers", "-3")])
def test_13_out_of_range_flags_are_one_usage_line_for_every_command(refine_data, tmp_path, capsys, flags):
    """Before: --num-classes 300 (or 0 for eval) passed, then failed every image (exit 1)."""
    root, _, _ = refine_data
    commands = {
        "refine": ["refine", "--pseudo", str(root / "pseudo"), "--masks", str(root / "masks"), "--out", str(tmp_path / "r")],
        "adapt": ["adapt", "--method", "irn", "--cams", str(root / "pseudo"), "--masks", str(root / "masks"),
                  "--out", str(tmp_path / "a")],
        "eval": ["eval", "--gt", str(root / "pseudo"), "--labels", str(root / "pseudo")],
        "vis": ["vis", "--images", str(root / "pseudo"), "--labels", str(root / "pseudo"), "--out", str(tmp_path / "v")],
    }
    for name, argv in commands.items():
        code, err = exit_and_err(argv + list(flags), capsys)
        assert code == 2, (name, err)
        line = one_line(err, f"samcam {name}: error: ")
        assert flags[0] in line, line
    assert not any((tmp_path / out).exists() for out in "rav")


def test_13_num_classes_accepts_2_to_255():
    from samcam.cli import build_parser

    parser = build_parser()
    for value in (2, 21, 81, 255):
        assert parser.parse_args(["eval", "--gt", "g", "--labels", "l", "--num-classes", str(value)]).num_classes == value
        assert parser.parse_args(["refine", "--labels", "l", "--masks", "m", "--out", "o", "--num-classes",
                                  str(value)]).num_classes == value

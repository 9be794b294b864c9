"""``samcam vis`` (samcam.cli.vis): --worst/--random/--names choose the panels, seeded and
resumable, and its usage errors."""
from __future__ import annotations

from pathlib import Path

from vis_data import build_dataset

from samcam import evaluate
from samcam.cli import main


def test_cli_worst_writes_only_chosen_panels(tmp_path, capsys):
    names = ("a", "b", "c", "d", "e", "f")
    data = build_dataset(tmp_path / "data", names=names)
    out = tmp_path / "panels"
    code = main([
        "vis", "--images", data["JPEGImages"], "--labels", f"cam={data['cam']}", "--labels", f"refined={data['refined']}",
        "--masks", data["masks"], "--gt", data["SegmentationClass"], "--out", str(out), "--worst", "2", "--num-classes", "5",
    ])
    assert code == 0
    assert sorted(p.name for p in out.glob("*.png")) == ["b.png", "d.png"] and (out / "samcam.json").is_file()
    printed = capsys.readouterr().out.splitlines()
    # in %, as eval and the report (not fractions)
    scores, _ = evaluate.score_images(["b"], data["cam"], data["refined"], data["SegmentationClass"], 5)
    before, after = scores["b"]
    assert printed[0] == "per-image mIoU (%), refined against cam:"
    assert printed[2].split() == ["b", f"{100 * before:.2f}", f"{100 * after:.2f}", f"{100 * (after - before):+.2f}"]
    assert after < before and 100 * before > 1
    # --baseline refined: the change is measured from refined to cam, so b rose most
    capsys.readouterr()
    assert main([
        "vis", "--images", data["JPEGImages"], "--labels", f"cam={data['cam']}", "--labels", f"refined={data['refined']}",
        "--gt", data["SegmentationClass"], "--out", str(tmp_path / "p2"), "--best", "1", "--num-classes", "5",
        "--baseline", "refined",
    ]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed[0] == "per-image mIoU (%), cam against refined:" and printed[2].split()[0] == "b"


def test_cli_random_is_seeded_and_resumes(tmp_path, capsys):
    names = ("a", "b", "c", "d", "e", "f")
    data = build_dataset(tmp_path / "data", names=names)
    args = ["vis", "--images", data["JPEGImages"], "--labels", f"cam={data['cam']}", "--random", "3",
            "--seed", "7", "--num-classes", "5"]
    assert main(args + ["--out", str(tmp_path / "one")]) == 0
    assert main(args + ["--out", str(tmp_path / "two")]) == 0
    first = sorted(p.name for p in (tmp_path / "one").glob("*.png"))
    assert len(first) == 3 and first == sorted(p.name for p in (tmp_path / "two").glob("*.png"))
    assert main(args + ["--out", str(tmp_path / "one")]) == 0
    assert "3 already done" in capsys.readouterr().err


def test_cli_errors(tmp_path, capsys):
    data = build_dataset(tmp_path / "data")
    base = ["vis", "--images", data["JPEGImages"], "--labels", f"cam={data['cam']}", "--num-classes", "5"]
    assert main(base + ["--out", str(tmp_path / "o"), "--best", "1"]) == 2
    assert "--best compares two --labels sets against --gt" in capsys.readouterr().err
    assert main(base + ["--out", str(Path(data["cam"]) / "panels")]) == 2
    assert "never writes into its inputs" in capsys.readouterr().err
    assert main(base + ["--out", str(tmp_path / "o"), "--gt", str(tmp_path / "missing")]) == 2
    assert "not a folder" in capsys.readouterr().err


def test_cli_names_draw_exactly_those_images(tmp_path, capsys):
    data = build_dataset(tmp_path / "data", names=("a", "b", "c", "d"))
    base = ["vis", "--images", data["JPEGImages"], "--labels", f"cam={data['cam']}", "--labels",
            f"refined={data['refined']}", "--gt", data["SegmentationClass"], "--num-classes", "5", "--no-progress"]
    assert main(base + ["--out", str(tmp_path / "o"), "d", "b", "d"]) == 0
    assert sorted(p.name for p in (tmp_path / "o").glob("*.png")) == ["b.png", "d.png"]
    # a name with no image is that image's failure, the others are drawn
    assert main(base + ["--out", str(tmp_path / "o2"), "a", "nosuch"]) == 1
    assert "nosuch" in capsys.readouterr().err
    assert sorted(p.name for p in (tmp_path / "o2").glob("*.png")) == ["a.png"]
    # names choose the images: a picking flag as well is a usage error
    assert main(base + ["--out", str(tmp_path / "o3"), "--best", "1", "a"]) == 2
    assert "drop --best" in capsys.readouterr().err
    assert not (tmp_path / "o3").exists()


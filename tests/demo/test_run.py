"""The demo (samcam.demo.run): it runs, refinement helps, what it lists runs on it, and it
ends with the report."""
import json

import pytest
from html_links import links as _links

from samcam.cli import main
from samcam.demo.run import LAYOUT

pytestmark = pytest.mark.slow  # every test runs the demo


def test_demo_runs_and_refinement_helps(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path / "demo"), "--num-images", "6"]) == 0
    out = capsys.readouterr().out
    assert "SYNTHETIC" in out and "mIoU" in out
    metrics = json.loads((tmp_path / "demo" / "metrics.json").read_text())["sets"]
    assert metrics["+sam_like"]["miou"] > metrics["cam"]["miou"] + 0.1
    assert metrics["+proposals"]["miou"] > metrics["cam"]["miou"]
    for folder in ("JPEGImages", "SegmentationClass", "cam", "cam_label", "masks_proposals", "refined_proposals"):
        # refined folders also hold samcam.json (which rule and parameters made them)
        assert len([p for p in (tmp_path / "demo" / folder).iterdir() if p.name != "samcam.json"]) == 6
    assert (tmp_path / "demo" / "refined_proposals" / "samcam.json").is_file()
    # it says what it wrote where, and every folder and file it names exists
    lines = out.splitlines()
    start = lines.index("what it wrote there, and what reads it:") + 1
    listed = lines[start:start + len(LAYOUT)]
    for line, (path, _) in zip(listed, LAYOUT):
        assert line.split()[0] == path and (tmp_path / "demo" / path).exists(), line
    assert len(listed) == len(LAYOUT) and "cam_label/" in out and "masks_sam_like/" in out


def test_demo_lists_make_mmseg_config_run_on_it(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path / "demo"), "--num-images", "8", "--no-progress"]) == 0
    lists = tmp_path / "demo" / "ImageSets" / "Segmentation"
    names = sorted(p.stem for p in (tmp_path / "demo" / "JPEGImages").glob("*.jpg"))
    assert (lists / "train_aug.txt").read_text().split() == names == (lists / "train.txt").read_text().split()
    assert (lists / "val.txt").read_text().split() == names[::4]
    capsys.readouterr()
    config = tmp_path / "deeplab_demo.py"
    assert main(["mmseg-config", "--labels", str(tmp_path / "demo" / "refined_sam_like"), "--data-root",
                 str(tmp_path / "demo"), "--out", str(config)]) == 0
    text = config.read_text()
    assert str((lists / "train_aug.txt").resolve()) in text and str((lists / "val.txt").resolve()) in text
    # without the lists, the error says which flag gives them
    (lists / "train_aug.txt").unlink()
    assert main(["mmseg-config", "--labels", str(tmp_path / "demo" / "refined_sam_like"), "--data-root",
                 str(tmp_path / "demo"), "--out", str(config)]) == 2
    assert "give --train-list FILE" in capsys.readouterr().err


def test_demo_ends_with_report(tmp_path, capsys):
    from samcam.demo.run import run_demo

    demo = run_demo(tmp_path / "demo", num_images=3)
    page = tmp_path / "demo" / "report" / "index.html"
    assert demo.report == page and page.is_file()
    links = _links(page)
    assert links.anchors and all((page.parent / link).is_file() for link in links.anchors + links.images)

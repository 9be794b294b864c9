import json

from samcam.cli import main


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

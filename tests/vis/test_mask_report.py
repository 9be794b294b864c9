"""The mask sources' comparison page (samcam.vis.mask_report), on the demo."""
import json

import pytest


@pytest.mark.slow
def test_demo_report_compares_the_two_mask_sources(tmp_path):
    """The comparison's refined mIoU per source is the evaluation's (same rule, same labels)."""
    from samcam.demo.run import run_demo

    demo = run_demo(tmp_path / "demo", num_images=4)
    comparison = json.loads((tmp_path / "demo" / "mask_comparison.json").read_text())
    sets = demo.results["sets"]
    assert list(comparison["sources"]) == ["proposals", "sam_like"] and len(comparison["names"]) == 4
    for source, label_set in (("proposals", "+proposals"), ("sam_like", "+sam_like")):
        assert comparison["sources"][source]["refined"]["miou"] == sets[label_set]["miou"]
        assert comparison["sources"][source]["masks_per_image"]["mean"] > 0
    assert comparison["pseudo"]["miou"] == sets["cam"]["miou"]
    page = demo.report.read_text()
    assert "<h2>Mask sources</h2>" in page and "refined mIoU" in page
    assert (demo.report.parent / "mask_sources.png").stat().st_size > 1000


"""The HTML evaluation report (samcam.vis.report): links resolve, galleries pick the right
images, Chromium renders it, and it says where its numbers come from."""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from html_links import link_target as _target
from html_links import links as _links
from PIL import Image
from vis_data import build_dataset

from samcam.evaluate import evaluate_dirs
from samcam.vis.report import THUMB_WIDTH, ReportData, ReportOptions, write_report

NAMES = ("a", "b", "c", "d", "e", "f")


@pytest.fixture()
def report(tmp_path):
    data = build_dataset(tmp_path / "data", names=NAMES)
    preds = {"cam": data["cam"], "refined": data["refined"]}
    results = evaluate_dirs(data["SegmentationClass"], preds, list(NAMES), num_classes=5, progress=False)
    page = write_report(
        ReportData(results, pred_dirs=preds, images_dir=data["JPEGImages"], gt_dir=data["SegmentationClass"],
                   masks_dir=data["masks"], names=list(NAMES)),
        tmp_path / "report", ReportOptions(num_classes=5, top=2),
    )
    return page, results


def test_report_links_all_exist_and_galleries_are_right(report):
    page, results = report
    assert page.name == "index.html" and page.exists()
    links = _links(page)
    assert "per_class_iou.png" in links.images
    for target in links.images + links.anchors:
        assert (page.parent / target).is_file(), f"{target} linked from the page is missing"
        with Image.open(page.parent / target) as image:  # every link is a readable picture
            assert image.width > 0
    # a/e gained most, b/d lost most (see build_dataset); c/f did not change so are not shown.
    assert sorted(links.anchors) == ["panels/a.png", "panels/b.png", "panels/d.png", "panels/e.png"]
    assert sorted(links.images) == ["per_class_iou.png", "thumbs/a.png", "thumbs/b.png", "thumbs/d.png", "thumbs/e.png"]
    text = page.read_text(encoding="utf-8")
    assert text.index("panels/a.png") < text.index("panels/e.png") < text.index("panels/b.png") < text.index("panels/d.png")
    for set_name in ("cam", "refined"):
        assert f"{100 * results['sets'][set_name]['miou']:.2f}" in text
    with Image.open(page.parent / "panels" / "a.png") as panel:
        assert panel.width == 6 * 56 + 5 * 6  # image, cam, refined, masks, GT, difference map columns


def test_report_without_images_has_tables_and_says_why(tmp_path):
    data = build_dataset(tmp_path / "data", names=NAMES[:3])
    results = evaluate_dirs(data["SegmentationClass"], {"cam": data["cam"]}, list(NAMES[:3]), num_classes=5, progress=False)
    page = write_report(ReportData(results), tmp_path / "report", ReportOptions(num_classes=5))
    text = page.read_text(encoding="utf-8")
    assert "No picture panels" in text and "two prediction folders" in text
    assert _links(page).images == ["per_class_iou.png"]
    assert not (tmp_path / "report" / "panels").exists()


def test_report_refuses_bad_input(tmp_path):
    data = build_dataset(tmp_path / "data", names=NAMES[:2])
    with pytest.raises(ValueError, match="no label set"):
        write_report(ReportData({"sets": {}}), tmp_path / "report")
    results = evaluate_dirs(data["SegmentationClass"], {"cam": data["cam"]}, list(NAMES[:2]), num_classes=5, progress=False)
    with pytest.raises(ValueError, match="never writes into its inputs"):
        write_report(ReportData(results, pred_dirs={"cam": data["cam"]}), Path(data["cam"]) / "report")


def _chromium() -> str:
    for candidate in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(candidate)
        if path:
            return path
    return ""


@pytest.mark.slow
def test_report_renders_in_headless_chromium(report, tmp_path):
    browser = _chromium()
    if not browser:
        reason = "chromium is not installed (apt-get install -y chromium; .ci/run installs it)"
        print(f"SKIPPED test_report_renders_in_headless_chromium: {reason}")
        pytest.skip(reason)
    page, _ = report
    shot = tmp_path / "shot.png"
    command = [
        browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
        f"--user-data-dir={tmp_path / 'chrome-profile'}", f"--screenshot={shot}", "--window-size=1200,900",
        page.resolve().as_uri(),
    ]
    completed = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert shot.exists(), f"chromium wrote no screenshot (exit {completed.returncode}): {completed.stderr[-2000:]}"
    pixels = np.array(Image.open(shot).convert("RGB"))
    assert pixels.shape[:2] == (900, 1200)
    colours = np.unique(pixels.reshape(-1, 3), axis=0)
    assert len(colours) > 50, "the screenshot is (nearly) one colour: the page did not render"
    # The chart sits below the tables and must have loaded: its bar colours appear.
    grey_bars = np.all(pixels == [0x9E, 0x9E, 0x9E], axis=-1).sum()
    blue_bars = np.all(pixels == [0x1F, 0x77, 0xB4], axis=-1).sum()
    assert grey_bars > 100 and blue_bars > 100, "the per-class IoU chart is not visible in the screenshot"


def test_report_says_where_its_numbers_come_from(tmp_path, capsys):
    """Provenance block: folders, list, how each label set was made (its samcam.json), version, command, date."""
    from samcam import __version__
    from samcam.cli import main

    data = build_dataset(tmp_path / "data", names=NAMES)
    refined = tmp_path / "by_samcam"
    assert main(["refine", "--labels", data["cam"], "--masks", data["masks"], "--out", str(refined),
                 "--num-classes", "5", "--cover-thresh", "0.9", "--no-progress"]) == 0
    listed = tmp_path / "list.txt"
    listed.write_text("\n".join(NAMES) + "\n")
    out = tmp_path / "report"
    argv = ["eval", "--gt", data["SegmentationClass"], "--labels", f"cam={data['cam']}", "--labels",
            f"refined={refined}", "--num-classes", "5", "--no-progress", "--list", str(listed), "--report", str(out),
            "--images", data["JPEGImages"], "--masks", data["masks"]]
    assert main(argv) == 0
    text = (out / "index.html").read_text(encoding="utf-8")
    source = text[text.index("Where these numbers come from"):text.index("<h2>Overall</h2>")]
    for expected in (str(Path(data["SegmentationClass"]).resolve()), str(Path(data["cam"]).resolve()),
                     str(refined.resolve()), str(Path(data["JPEGImages"]).resolve()), str(Path(data["masks"]).resolve()),
                     f"{listed.resolve()} (6 names)", "made by samcam refine", "rule samcam: num_classes=5",
                     "cover_thresh=0.9", "mask format samcam mask store", f"<td>{__version__}</td>",
                     "samcam eval --gt", "--report " + str(out), " UTC</td>"):
        assert expected in source, expected
    # the cam folder was not written by samcam: the page says so rather than guessing
    assert "no samcam.json: not written by samcam refine / adapt" in source


def test_report_support_baseline_and_top(tmp_path):
    data = build_dataset(tmp_path / "data", names=NAMES)
    preds = {"cam": data["cam"], "refined": data["refined"]}
    results = evaluate_dirs(data["SegmentationClass"], preds, list(NAMES), num_classes=5, progress=False)
    page = write_report(ReportData(results, pred_dirs=preds, images_dir=data["JPEGImages"],
                                   gt_dir=data["SegmentationClass"], names=list(NAMES)),
                        tmp_path / "r1", ReportOptions(num_classes=5, top=1, baseline="refined"))
    text = page.read_text(encoding="utf-8")
    # per-class support: GT pixels and images of each class, as evaluate_dirs counted them
    assert "<th title=\"valid ground-truth pixels of the class\">GT pixels</th>" in text
    for index, class_name in enumerate(results["class_names"]):
        pixels, images = results["support"]["pixels"][index], results["support"]["images"][index]
        assert f"<tr><td>{class_name}</td><td>{pixels:,}</td><td>{images:,}</td>" in text
    assert results["support"]["images"] == [6, 2, 2, 1, 1]  # classes 1..4 cycle over the six images
    # deltas and ranking against the baseline: refined -> cam, so b (cam better there) is most improved
    assert "Δ mIoU vs refined" in text and "<b>refined</b> → <b>cam</b>" in text
    delta = 100 * (results["sets"]["cam"]["miou"] - results["sets"]["refined"]["miou"])
    assert f"{delta:+.2f}</td>" in text
    # --top 1: one of each; b gained most from refined to cam, a lost most
    assert _links(page).anchors == ["panels/b.png", "panels/a.png"]
    with pytest.raises(ValueError, match="compare='cam' must be a label set other than the baseline"):
        write_report(ReportData(results, pred_dirs=preds), tmp_path / "r2", ReportOptions(baseline="cam", compare="cam"))
    with pytest.raises(ValueError, match="--baseline 'x' is not one of the label sets"):
        write_report(ReportData(results), tmp_path / "r2", ReportOptions(baseline="x"))


@pytest.mark.slow
def test_demo_report_ranks_its_headline_against_cam(tmp_path):
    from samcam.demo.run import run_demo

    demo = run_demo(tmp_path / "demo", num_images=3)
    text = demo.report.read_text(encoding="utf-8")
    assert "Δ mIoU vs cam" in text and "<b>cam</b> → <b>+sam_like</b>" in text
    assert "label set +sam_like (compared in the pictures)" in text and "label set cam (baseline)" in text
    for thumb in sorted((demo.report.parent / "thumbs").glob("*.png")):
        with Image.open(thumb) as small, Image.open(demo.report.parent / "panels" / thumb.name) as panel:
            # page-wide, so the panels' class legends stay readable
            assert small.width == min(panel.width, THUMB_WIDTH) and small.width >= 1200


def test_report_opens_with_a_headline_and_collapsed_provenance(report):
    page, results = report
    text = page.read_text(encoding="utf-8")
    cam, refined = (results["sets"][name]["miou"] for name in ("cam", "refined"))
    headline = (f'<p class="headline">mIoU <b>cam</b> {100 * cam:.2f} → <b>refined</b> {100 * refined:.2f} '
                f'<span class="{"up" if refined > cam else "down"}">(Δ {100 * (refined - cam):+.2f} points)</span></p>')
    assert headline in text
    # the first thing under the title; where the numbers come from is folded away below it
    assert text.index("</h1>") + len("</h1>") == text.index(headline)
    assert text.index(headline) < text.index("<details><summary><b>Where these numbers come from") < text.index(
        "<h2>Overall</h2>")
    assert "<details open" not in text


def test_eval_report_with_a_name_that_is_not_utf8(tmp_path, capsys):
    """A file name that is not UTF-8 is shown with escapes and linked by its bytes; the report is written."""
    from samcam.cli import main

    data = build_dataset(tmp_path / "data", names=NAMES)
    bad = os.fsdecode(b"x\xff")
    for key, suffix in (("JPEGImages", ".jpg"), ("SegmentationClass", ".png"), ("cam", ".png"),
                        ("refined", ".png"), ("masks", ".masks.npz")):
        shutil.copy(Path(data[key]) / f"a{suffix}", Path(data[key]) / f"{bad}{suffix}")
    out = tmp_path / "report"
    assert main(["eval", "--gt", data["SegmentationClass"], "--labels", f"cam={data['cam']}", "--labels",
                 f"refined={data['refined']}", "--num-classes", "5", "--no-progress", "--report", str(out),
                 "--images", data["JPEGImages"], "--masks", data["masks"], "--top", "8"]) == 0
    assert f"report written to {out / 'index.html'}" in capsys.readouterr().err
    page = out / "index.html"
    text = page.read_text(encoding="utf-8")
    assert "x\\xff: mIoU" in text  # the caption, with the byte escaped
    links = _links(page)
    assert out / "panels" / f"{bad}.png" in [_target(page, link) for link in links.anchors]
    assert all(_target(page, link).is_file() for link in links.anchors + links.images)


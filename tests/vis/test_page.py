"""HTML page helpers (samcam.vis.page): links are URL-quoted and text escaped."""
from __future__ import annotations

from html_links import link_target as _target
from html_links import links as _links
from vis_data import build_dataset

from samcam.evaluate import evaluate_dirs
from samcam.vis.report import ReportData, ReportOptions, write_report

ODD = ("a#b?c%20", "x<i>&'\"y", "c", "d", "e", "f")  # a, b of build_dataset's gains and losses


def test_report_links_are_url_quoted_and_text_escaped(tmp_path):
    data = build_dataset(tmp_path / "data", names=ODD)
    preds = {"cam": data["cam"], "<script>alert(1)</script>": data["refined"]}
    results = evaluate_dirs(data["SegmentationClass"], preds, list(ODD), num_classes=5, progress=False)
    page = write_report(ReportData(results, pred_dirs=preds, images_dir=data["JPEGImages"],
                                   gt_dir=data["SegmentationClass"], names=list(ODD)),
                        tmp_path / "report", ReportOptions(num_classes=5, top=2))
    links = _links(page)
    # a and e gained most, b and d lost most: each links to its own files, not to "thumbs/a"
    assert sorted(_target(page, link) for link in links.anchors) == sorted(
        page.parent / "panels" / f"{name}.png" for name in (ODD[0], ODD[1], "d", "e"))
    assert sorted(_target(page, link) for link in links.images) == sorted(
        [page.parent / "per_class_iou.png"] + [page.parent / "thumbs" / f"{name}.png" for name in (ODD[0], ODD[1], "d", "e")])
    for link in links.anchors + links.images:
        assert _target(page, link).is_file()
    text = page.read_text(encoding="utf-8")
    assert "<script>" not in text and "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "<i>" not in text and "x&lt;i&gt;&amp;&#x27;&quot;y: mIoU" in text  # a caption


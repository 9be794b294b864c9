"""Panels (samcam.vis.panels): layout and columns, per-image mIoU in the titles, best/worst
selection, legends, and their inputs checked when built."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from vis_data import H, W, build_dataset

from samcam import evaluate
from samcam.evaluate import confusion_matrix
from samcam.io import read_label_png, write_label_png
from samcam.vis import panels as vis


def _columns_from_gaps(panel: np.ndarray) -> int:
    """Count picture columns by finding the all-white gap columns between them."""
    body = panel[vis.TITLE_HEIGHT : vis.TITLE_HEIGHT + H]
    white = np.all(body == 255, axis=(0, 2))
    runs, inside = 0, False
    for is_white in white:
        if not is_white and not inside:
            runs += 1
        inside = not is_white
    return runs


def test_panel_size_and_columns(tmp_path):
    data = build_dataset(tmp_path / "data")
    out = tmp_path / "out"
    sources = vis.PanelSources(images_dir=data["JPEGImages"], label_dirs=[("cam", data["cam"]), ("refined", data["refined"])],
                               masks_dir=data["masks"], gt_dir=data["SegmentationClass"])
    vis.render_image("a", sources, out, vis.PanelSettings(num_classes=5))
    panel = np.array(Image.open(out / "a.png").convert("RGB"))
    ncols = 6  # image, cam, refined, masks, gt, difference map
    assert panel.shape[1] == ncols * W + (ncols - 1) * vis.COLUMN_GAP
    assert panel.shape[0] > vis.TITLE_HEIGHT + H  # titles above, legends below
    # Each gap is pure background from top to bottom.
    for gap in range(1, ncols):
        left = gap * W + (gap - 1) * vis.COLUMN_GAP
        assert np.all(panel[:, left : left + vis.COLUMN_GAP] == 255)
    assert _columns_from_gaps(panel) == ncols
    # Column 0 is the image itself, unchanged.
    image = np.array(Image.open(Path(data["JPEGImages"]) / "a.jpg").convert("RGB"))
    np.testing.assert_array_equal(panel[vis.TITLE_HEIGHT : vis.TITLE_HEIGHT + H, :W], image)


def test_fewer_columns_without_masks_and_gt(tmp_path):
    data = build_dataset(tmp_path / "data", image_suffix=".png")
    out = tmp_path / "out"
    vis.render_image("b", vis.PanelSources(data["JPEGImages"], [("cam", data["cam"])]), out, vis.PanelSettings(num_classes=5))
    panel = np.array(Image.open(out / "b.png").convert("RGB"))
    assert panel.shape[1] == 2 * W + vis.COLUMN_GAP
    assert _columns_from_gaps(panel) == 2


def test_bad_label_is_reported_with_its_file(tmp_path):
    data = build_dataset(tmp_path / "data")
    write_label_png(Path(data["cam"]) / "a.png", np.full((H, W), 9, dtype=np.uint8))
    write_label_png(Path(data["cam"]) / "b.png", np.zeros((H + 1, W), dtype=np.uint8))
    result = vis.render_panels(["a", "b", "c"], vis.PanelSources(data["JPEGImages"], [("cam", data["cam"])]),
                               tmp_path / "out", vis.PanelSettings(num_classes=5))
    assert result.done == ["c"]
    reasons = dict(result.failed)
    assert "a.png" in reasons["a"] and "outside 0..4" in reasons["a"]
    assert "b.png" in reasons["b"] and "the image is" in reasons["b"]


def test_per_image_miou_counts_hallucinated_classes():
    gt = np.array([[0, 0, 1, 1, 255]], dtype=np.uint8)
    exact = np.array([[0, 0, 1, 1, 2]], dtype=np.uint8)  # the class under ignore is not counted
    extra = np.array([[0, 2, 1, 255, 0]], dtype=np.uint8)
    classes = np.array([True, True, True])
    assert evaluate.per_image_miou(confusion_matrix(gt=gt, pred=exact, num_classes=3), classes) == 1.0  # 2 absent in both: agrees
    # background 1/2, class 1 1/2 (the unlabelled pixel is a miss), class 2 hallucinated 0.
    assert evaluate.per_image_miou(confusion_matrix(gt=gt, pred=extra, num_classes=3), classes) == pytest.approx((0.5 + 0.5 + 0.0) / 3)
    assert evaluate.per_image_miou(confusion_matrix(gt=gt, pred=extra, num_classes=3), np.array([True, True, False])) == 0.5


def test_best_and_worst_selection(tmp_path):
    names = ("a", "b", "c", "d", "e", "f")
    data = build_dataset(tmp_path / "data", names=names)
    scores, problems = evaluate.score_images(names, data["cam"], data["refined"], data["SegmentationClass"], 5)
    assert problems == []
    change = {name: after - before for name, (before, after) in scores.items()}
    # Shifts cam/refined: a 8->0 (big gain), e 6->1 (gain), b 1->5 (big loss), d 0->3 (loss),
    # c and f unchanged.
    assert change["a"] > change["e"] > 0
    assert change["b"] < change["d"] < 0
    assert change["c"] == change["f"] == 0
    assert evaluate.select_changed(scores, 2, "best") == ["a", "e"]
    assert evaluate.select_changed(scores, 2, "worst") == ["b", "d"]
    assert evaluate.select_changed(scores, 3, "worst") == ["b", "d", "c"]  # tie c/f broken by name


def test_missing_gt_is_a_grey_column_and_not_ranked(tmp_path):
    data = build_dataset(tmp_path / "data", names=("a", "b"))
    (Path(data["SegmentationClass"]) / "b.png").unlink()
    vis.render_image("b", vis.PanelSources(data["JPEGImages"], [("cam", data["cam"])], gt_dir=data["SegmentationClass"]),
                     tmp_path / "out", vis.PanelSettings(num_classes=5))
    panel = np.array(Image.open(tmp_path / "out" / "b.png").convert("RGB"))
    left = 2 * (W + vis.COLUMN_GAP)
    assert np.all(panel[vis.TITLE_HEIGHT : vis.TITLE_HEIGHT + H, left : left + W] == 200)
    scores, problems = evaluate.score_images(["a", "b"], data["cam"], data["refined"], data["SegmentationClass"], 5)
    assert list(scores) == ["a"]
    assert problems[0][0] == "b" and "ground truth missing" in problems[0][1]


def test_titles_carry_per_image_miou_and_the_last_column_maps_the_change(tmp_path):
    data = build_dataset(tmp_path / "data", names=("a", "b"))
    labels = [("cam", data["cam"]), ("refined", data["refined"])]
    settings = vis.PanelSettings(num_classes=5)
    tiles = vis.image_tiles("a", vis.PanelSources(data["JPEGImages"], labels, gt_dir=data["SegmentationClass"]), settings)
    assert [tile.title for tile in tiles] == ["a", "cam", "refined", "ground truth", "cam -> refined"]
    # the titles' mIoU are the ranking's (samcam vis --best, the report)
    scores, _ = evaluate.score_images(["a"], data["cam"], data["refined"], data["SegmentationClass"], 5)
    before, after = scores["a"]
    assert tiles[1].suffix == f" · mIoU {100 * before:.2f}" and tiles[2].suffix == f" · mIoU {100 * after:.2f}"
    assert after > before
    gt, cam, refined = (read_label_png(Path(data[key]) / "a.png") for key in ("SegmentationClass", "cam", "refined"))
    valid = gt != 255
    fixed = int(((refined == gt) & (cam != gt) & valid).sum())
    broken = int(((cam == gt) & (refined != gt) & valid).sum())
    assert fixed > 0 and broken == 0  # image a: cam is shifted 8 px, refined is right
    assert tiles[-1].legend == [(vis.FIXED_COLOUR, f"fixed {fixed} px"), (vis.BROKEN_COLOUR, f"broken {broken} px")]
    # --baseline refined: the change goes the other way
    back = vis.image_tiles("a", vis.PanelSources(data["JPEGImages"], labels, gt_dir=data["SegmentationClass"],
                                                 baseline="refined"), settings)
    assert back[-1].title == "refined -> cam"
    assert back[-1].legend == [(vis.FIXED_COLOUR, f"fixed {broken} px"), (vis.BROKEN_COLOUR, f"broken {fixed} px")]
    # drawn: the last column holds the fixed pixels in green
    vis.render_image("a", vis.PanelSources(data["JPEGImages"], labels, gt_dir=data["SegmentationClass"]),
                     tmp_path / "out", settings)
    panel = np.array(Image.open(tmp_path / "out" / "a.png").convert("RGB"))
    last = panel[vis.TITLE_HEIGHT: vis.TITLE_HEIGHT + H, 4 * (W + vis.COLUMN_GAP):]
    assert np.all(last == vis.FIXED_COLOUR, axis=-1).sum() == fixed
    # without ground truth: no scores and no difference column
    plain = vis.image_tiles("a", vis.PanelSources(data["JPEGImages"], labels), settings)
    assert [tile.title for tile in plain] == ["a", "cam", "refined"] and {tile.suffix for tile in plain} == {""}
    # an image without a GT file: grey GT and difference columns, no scores
    (Path(data["SegmentationClass"]) / "b.png").unlink()
    missing = vis.image_tiles("b", vis.PanelSources(data["JPEGImages"], labels, gt_dir=data["SegmentationClass"]),
                              settings)
    assert [tile.title for tile in missing][-2:] == ["ground truth", "cam -> refined"]
    assert np.all(missing[-1].picture == 200) and {tile.suffix for tile in missing} == {""}


def test_legends_stay_readable_when_a_wide_panel_is_shown_1200_px_wide():
    # 7 columns of a VOC-sized image (500x375) are 3,536 px wide: the report and a laptop
    # screen show such a panel about 1,200 px wide, which made 12 px legends 4 px high.
    white = np.full((375, 500, 3), 255, dtype=np.uint8)
    tiles = [vis.Tile(title="", picture=white, legend=[(None, "background")]) for _ in range(7)]
    panel = vis.compose_panel(tiles)
    shown = panel.resize((vis.SHOWN_WIDTH, round(panel.height * vis.SHOWN_WIDTH / panel.width)), Image.LANCZOS)
    dark_rows = np.flatnonzero((np.asarray(shown.convert("L")) < 128).any(axis=1))
    assert dark_rows.size and dark_rows[-1] - dark_rows[0] + 1 >= 11, "legend text under 11 px when shown"
    # a narrow panel keeps the base size
    narrow = vis.compose_panel(tiles[:1])
    narrow_rows = np.flatnonzero((np.asarray(narrow.convert("L")) < 128).any(axis=1))
    assert 11 <= narrow_rows[-1] - narrow_rows[0] + 1 <= 18


def test_panel_sources_and_settings_are_checked_when_built(tmp_path):
    with pytest.raises(ValueError, match="baseline 'x' is not one of the label sets: cam"):
        vis.PanelSources("images", [("cam", "c")], baseline="x")
    with pytest.raises(ValueError, match="two label sets have the same title"):
        vis.PanelSources("images", [("cam", "c"), ("cam", "d")])
    with pytest.raises(ValueError, match="alpha must be a finite number, got nan"):
        vis.PanelSettings(alpha=float("nan"))
    with pytest.raises(ValueError, match=r"alpha must lie in \[0, 1\], got 1.5"):
        vis.PanelSettings(alpha=1.5)
    with pytest.raises(ValueError, match="num_classes"):
        vis.PanelSettings(num_classes=300)


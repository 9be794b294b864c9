"""samcam vis: panel layout, overlays, best/worst selection, CLI."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from samcam import evaluate
from samcam import masks as mask_io
from samcam.cli import main
from samcam.evaluate import confusion_matrix
from samcam.io import read_label_png, write_label_png
from samcam.vis import panels as vis

H, W = 40, 56


def _square_label(value: int, top: int, left: int, size: int) -> np.ndarray:
    label = np.zeros((H, W), dtype=np.uint8)
    label[top : top + size, left : left + size] = value
    return label


def build_dataset(root: Path, names=("a", "b", "c", "d"), image_suffix=".jpg") -> dict:
    """Small VOC-like folders: images, GT, two label sets (cam, refined), a mask store.

    Per-image quality is built so that, against the GT, ``refined`` beats ``cam`` by a
    known amount on some images and loses on others: image i's cam square is shifted by
    ``cam_shift[i]`` pixels and refined's by ``refined_shift[i]``.
    """
    rng = np.random.default_rng(0)
    folders = {key: root / key for key in ("JPEGImages", "SegmentationClass", "cam", "refined", "masks")}
    for folder in folders.values():
        folder.mkdir(parents=True)
    cam_shift = [8, 1, 4, 0, 6, 2]
    refined_shift = [0, 5, 4, 3, 1, 2]
    for index, name in enumerate(names):
        image = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
        Image.fromarray(image).save(folders["JPEGImages"] / f"{name}{image_suffix}")
        value = 1 + index % 4
        gt = _square_label(value, 10, 10, 20)
        gt[0, :] = 255  # a VOC-style ignore border
        write_label_png(folders["SegmentationClass"] / f"{name}.png", gt, palette=True)
        write_label_png(folders["cam"] / f"{name}.png", _square_label(value, 10, 10 + cam_shift[index], 20))
        write_label_png(folders["refined"] / f"{name}.png", _square_label(value, 10, 10 + refined_shift[index], 20))
        dense = np.stack([_square_label(1, 10, 10, 20) > 0, _square_label(1, 0, 0, 8) > 0, np.ones((H, W), bool)])
        mask_io.write(folders["masks"] / name, dense)
    return {key: str(folder) for key, folder in folders.items()}


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


def test_overlay_label_blends_and_hatches_ignore():
    image = np.full((4, 6, 3), 100, dtype=np.uint8)
    label = np.zeros((4, 6), dtype=np.uint8)
    label[:, 3:] = 1
    label[0, 0] = 255
    out = vis.overlay_label(image, label, alpha=0.5)
    # VOC class 1 is (128, 0, 0): halfway between image and colour.
    np.testing.assert_array_equal(out[1, 4], [114, 50, 50])
    np.testing.assert_array_equal(out[1, 0], [50, 50, 50])  # background is black
    assert tuple(out[0, 0]) in vis.IGNORE_COLOURS
    np.testing.assert_array_equal(vis.overlay_label(image, label, alpha=0.0)[1:], image[1:])
    with pytest.raises(ValueError, match="alpha"):
        vis.overlay_label(image, label, alpha=1.5)


def test_mask_colours_are_deterministic_with_outlines():
    image = np.zeros((20, 20, 3), dtype=np.uint8)
    masks = np.zeros((2, 20, 20), dtype=bool)
    masks[0, 2:12, 2:12] = True
    masks[1, 10:18, 10:18] = True
    first = vis.overlay_masks(image, masks, alpha=0.5, seed=3)
    np.testing.assert_array_equal(first, vis.overlay_masks(image, masks, alpha=0.5, seed=3))
    assert not np.array_equal(first, vis.overlay_masks(image, masks, alpha=0.5, seed=4))
    colours = vis.mask_colours(2, 3)
    np.testing.assert_array_equal(first[2, 5], colours[0])  # outline at full colour
    assert np.all(first[6, 6] < colours[0])  # interior blended with the black image
    np.testing.assert_array_equal(first[0, 0], [0, 0, 0])  # outside every mask


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


def test_difference_map_marks_fixed_and_broken_pixels():
    image = np.full((2, 4, 3), 100, dtype=np.uint8)
    gt = np.array([[1, 1, 2, 255], [0, 0, 2, 255]], dtype=np.uint8)
    before = np.array([[0, 1, 2, 0], [0, 255, 1, 1]], dtype=np.uint8)
    after = np.array([[1, 0, 2, 1], [1, 0, 0, 1]], dtype=np.uint8)
    picture, counts = vis.difference_map(image, before, after, gt)
    # fixed: wrong before, right after (an unlabelled 255 is wrong); broken: the reverse
    assert counts == {"fixed": 2, "broken": 2}
    for row, col in ((0, 0), (1, 1)):
        assert tuple(picture[row, col]) == vis.FIXED_COLOUR
    for row, col in ((0, 1), (1, 0)):
        assert tuple(picture[row, col]) == vis.BROKEN_COLOUR
    # right in both, wrong in both, and ignore (even where the labels changed): neither, the greyed image
    for row, col in ((0, 2), (1, 2), (0, 3), (1, 3)):
        red, green, blue = picture[row, col]
        assert red == green == blue
    # the change the other way round swaps the two
    assert vis.difference_map(image, after, before, gt)[1] == {"fixed": 2, "broken": 2}
    np.testing.assert_array_equal(vis.difference_map(image, after, before, gt)[0][0, 0], vis.BROKEN_COLOUR)


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

import numpy as np
import pytest

from samcam.demo.synthetic import make_scene
from samcam.io import ensure_not_inside, read_label_png, read_name_list, write_label_png
from samcam.masks import MaskSet
from samcam.sam import proposals


def test_proposals_give_nested_multiscale_masks_that_follow_the_scene():
    scene = make_scene(np.random.default_rng(0), 96, 128)
    masks = proposals.generate(scene.image)
    assert isinstance(masks, MaskSet) and masks.image_shape == (96, 128)
    dense = masks.dense
    assert dense.dtype == bool and 5 <= len(masks) <= 200
    assert len({m.tobytes() for m in dense}) == len(masks)  # no duplicates
    areas = dense.reshape(len(masks), -1).sum(1)
    assert (np.diff(areas) <= 0).all() and masks.scores["area"].tolist() == areas.tolist()
    # every object of the GT is matched by some proposal with IoU > 0.5
    for cls in set(np.unique(scene.gt)) - {0, 255}:
        region = scene.gt == cls
        ious = (dense & region).sum((1, 2)) / (dense | region).sum((1, 2))
        assert ious.max() > 0.5
    # a fine scale nests inside a coarse one: some mask is contained in another
    contained = [(a & ~b).sum() == 0 for i, a in enumerate(dense) for j, b in enumerate(dense) if i != j]
    assert any(contained)


def test_proposals_reject_bad_images():
    with pytest.raises(ValueError, match="H×W×3 uint8"):
        proposals.generate(np.zeros((8, 8, 3), np.float32))
    gray = proposals.generate(np.zeros((16, 16), np.uint8))
    assert gray.image_shape == (16, 16)


def test_label_png_round_trip_modes_and_errors(tmp_path):
    label = np.arange(48, dtype=np.uint8).reshape(6, 8)
    label[0, 0] = 255
    for palette in (False, True):
        path = write_label_png(tmp_path / f"l{palette}.png", label, palette=palette)
        assert np.array_equal(read_label_png(path), label)
    from PIL import Image
    Image.new("RGB", (4, 4)).save(tmp_path / "rgb.png")
    with pytest.raises(ValueError, match="rgb.png.*mode 'RGB'"):
        read_label_png(tmp_path / "rgb.png")
    with pytest.raises(ValueError, match="2-D uint8"):
        write_label_png(tmp_path / "x.png", label.astype(np.int32))
    assert not (tmp_path / "x.png").exists() and not list(tmp_path.glob("*.tmp"))


def test_name_lists_and_output_folder_guard(tmp_path):
    (tmp_path / "l.txt").write_text("2007_000032\n\n# comment\n/JPEGImages/2007_000039.jpg /SegmentationClassAug/2007_000039.png\n")
    assert read_name_list(tmp_path / "l.txt") == ["2007_000032", "2007_000039"]
    ensure_not_inside(tmp_path / "out", [tmp_path / "in", None])
    for bad in (tmp_path / "in", tmp_path / "in" / "sub"):
        with pytest.raises(ValueError, match="never writes into its inputs"):
            ensure_not_inside(bad, [tmp_path / "in"])

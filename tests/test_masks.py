import json
import os

import numpy as np
import pytest
from PIL import Image
from pycocotools import mask as coco_mask

from samcam import masks as store
from samcam.masks import MaskSet


def random_masks(rng, count=5, height=17, width=23):
    masks = rng.random((count, height, width)) < 0.3
    masks[0] = False
    masks[0, 2:9, 3:12] = True
    return masks


def write_amg_folder(folder, masks, scores):
    """What segment-anything's scripts/amg.py writes without --convert-to-rle."""
    folder.mkdir(parents=True)
    header = ("id,area,bbox_x0,bbox_y0,bbox_w,bbox_h,point_input_x,point_input_y,predicted_iou,"
              "stability_score,crop_box_x0,crop_box_y0,crop_box_w,crop_box_h")
    rows = [header]
    for index, mask in enumerate(masks):
        Image.fromarray(mask.astype(np.uint8) * 255).save(folder / f"{index}.png")
        rows.append(",".join(str(v) for v in [index, int(mask.sum()), 1, 2, 3, 4, 5.5, 6.5,
                                              scores[index], 0.97, 0, 0, mask.shape[1], mask.shape[0]]))
    (folder / "metadata.csv").write_text("\n".join(rows) + "\n")


def write_amg_json(path, masks, scores):
    """What amg.py --convert-to-rle writes: pycocotools-compressed RLE per annotation."""
    annotations = []
    for index, mask in enumerate(masks):
        rle = coco_mask.encode(np.asfortranarray(mask.astype(np.uint8)))
        rle["counts"] = rle["counts"].decode("utf-8")
        annotations.append({"segmentation": rle, "area": int(mask.sum()), "bbox": [1, 2, 3, 4],
                            "predicted_iou": scores[index], "point_coords": [[5.5, 6.5]],
                            "stability_score": 0.97, "crop_box": [0, 0, mask.shape[1], mask.shape[0]]})
    path.write_text(json.dumps(annotations))


def test_store_round_trip_keeps_order_and_scores(tmp_path):
    rng = np.random.default_rng(0)
    masks = random_masks(rng)
    iou = rng.random(len(masks))
    written = store.write(tmp_path / "img", masks, {"predicted_iou": iou, "bbox": rng.random((len(masks), 4))})
    assert written.name == "img.masks.npz"
    loaded = store.load(written)
    assert np.array_equal(loaded.dense, masks)
    assert np.allclose(loaded.scores["predicted_iou"], iou)
    assert loaded.areas.tolist() == masks.reshape(len(masks), -1).sum(1).tolist()
    assert np.array_equal(store.read(written), masks)
    # the stem write() was given reads the same file
    assert np.array_equal(store.read(tmp_path / "img"), masks)
    assert store.resolve(tmp_path / "img") == written
    with pytest.raises(FileNotFoundError, match="looked for nope, nope.masks.npz, nope.json"):
        store.load(tmp_path / "nope")
    assert not list(tmp_path.glob("*.tmp"))


def test_amg_png_folder_and_rle_json_read_like_sam_wrote_them(tmp_path):
    rng = np.random.default_rng(1)
    masks = random_masks(rng, count=12)
    scores = [round(float(v), 4) for v in rng.random(12)]
    write_amg_folder(tmp_path / "a", masks, scores)
    write_amg_json(tmp_path / "b.json", masks, scores)
    from_folder = store.load(tmp_path / "a")
    from_json = store.load(tmp_path / "b.json")
    assert np.array_equal(store.read(tmp_path / "b"), masks)  # an RLE JSON named without .json
    # 10.png must come after 9.png, not after 1.png
    assert np.array_equal(from_folder.dense, masks)
    assert np.array_equal(from_json.dense, masks)
    assert np.allclose(from_folder.scores["predicted_iou"], scores)
    assert np.allclose(from_json.scores["predicted_iou"], scores)
    assert from_json.scores["point_coords"].shape == (12, 2)
    listdir_order = [int(f[:-4]) for f in os.listdir(tmp_path / "a") if f.endswith(".png")]
    assert np.array_equal(store.load(tmp_path / "a", png_order="listdir").dense, masks[listdir_order])


def test_find_auto_detects_each_form(tmp_path):
    rng = np.random.default_rng(2)
    masks = random_masks(rng)
    store.write(tmp_path / "x", masks)
    write_amg_folder(tmp_path / "y", masks, [0.9] * len(masks))
    write_amg_json(tmp_path / "z.json", masks, [0.9] * len(masks))
    for name in "xyz":
        assert np.array_equal(store.read(store.find(tmp_path, name)), masks)
    assert store.names_in(tmp_path) == ["x", "y", "z"]
    with pytest.raises(FileNotFoundError, match="no masks for 'w'"):
        store.find(tmp_path, "w")


def test_coco_rle_codec_matches_pycocotools():
    rng = np.random.default_rng(3)
    for _ in range(30):
        mask = rng.random((int(rng.integers(1, 30)), int(rng.integers(1, 30)))) < rng.random()
        ours = store.encode_coco_rle(mask)
        theirs = coco_mask.encode(np.asfortranarray(mask.astype(np.uint8)))
        assert ours["counts"] == theirs["counts"].decode()
        assert np.array_equal(store.decode_coco_rle(theirs), mask)
        assert np.array_equal(store.decode_coco_rle({"size": list(mask.shape),
                                                     "counts": _uncompressed(mask)}), mask)


def _uncompressed(mask):
    flat = mask.T.reshape(-1)
    runs, value, run = [], False, 0
    for pixel in flat:
        if pixel == value:
            run += 1
        else:
            runs.append(run)
            value, run = pixel, 1
    runs.append(run)
    return runs


@pytest.mark.parametrize("make_bad, message", [
    (lambda p: (p / "bad.masks.npz").write_bytes(b"not a zip"), "corrupt or truncated"),
    (lambda p: (p / "bad.json").write_text("{nope"), "cannot read RLE JSON"),
    (lambda p: (p / "bad.json").write_text(json.dumps([{"segmentation": {"size": [2, 2], "counts": [1]}}])),
     "annotation 0"),
])
def test_bad_mask_files_name_the_file(tmp_path, make_bad, message):
    make_bad(tmp_path)
    path = next(tmp_path.iterdir())
    with pytest.raises(ValueError, match=message) as info:
        store.load(path)
    assert str(path) in str(info.value)


def test_truncated_store_and_bad_png_are_reported(tmp_path):
    written = store.write(tmp_path / "t", random_masks(np.random.default_rng(4)))
    payload = written.read_bytes()
    written.write_bytes(payload[: len(payload) // 2])
    with pytest.raises(ValueError, match="t.masks.npz"):
        store.load(written)
    folder = tmp_path / "f"
    folder.mkdir()
    (folder / "0.png").write_bytes(b"\x89PNG garbage")
    with pytest.raises(ValueError, match="0.png"):
        store.load(folder)


def test_maskset_rejects_non_boolean_and_checks_scores():
    with pytest.raises(ValueError, match="boolean"):
        MaskSet.from_dense(np.zeros((1, 2, 2), np.uint8))
    with pytest.raises(ValueError, match="rows"):
        MaskSet.from_dense(np.zeros((2, 2, 2), bool), {"predicted_iou": np.zeros(3)})


def test_store_round_trip_of_empty_masks_and_empty_sets(tmp_path):
    masks = np.zeros((3, 9, 13), bool)
    masks[1, 8, 12] = True   # the very last pixel: ends inside the padded last word
    masks[2, 0, 0] = True
    assert np.array_equal(store.read(store.write(tmp_path / "a", masks)), masks)
    none = store.load(store.write(tmp_path / "b", np.zeros((0, 9, 13), bool)))
    assert len(none) == 0 and none.image_shape == (9, 13)

import json
import os

import hostile
import numpy as np
import pytest
from PIL import Image
from pycocotools import mask as coco_mask

import samcam
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


# ------------------------------------------------------------ amg.py readers with budgets (issue 21)

def test_amg_png_masks_of_0_1_read_like_0_255(tmp_path):
    """amg.py writes cv2.imwrite(mask * 255) (scripts/amg.py:158); cv2.imwrite(mask.astype(np.uint8))
    writes 0/1, which the old `> 127` test read as empty masks. Any nonzero pixel is inside."""
    cv2 = pytest.importorskip("cv2", reason="opencv-python writes amg.py's PNGs: pip install 'samcam[dev]'")
    rng = np.random.default_rng(5)
    masks = random_masks(rng, count=4)
    scores = [0.9, 0.8, 0.7, 0.6]
    write_amg_folder(tmp_path / "pil", masks, scores)  # PIL, 0/255
    for folder, scale in (("amg", 255), ("ones", 1)):
        (tmp_path / folder).mkdir()
        for index, mask in enumerate(masks):
            assert cv2.imwrite(str(tmp_path / folder / f"{index}.png"), mask.astype(np.uint8) * scale)
        (tmp_path / folder / "metadata.csv").write_bytes((tmp_path / "pil" / "metadata.csv").read_bytes())
    assert np.unique(cv2.imread(str(tmp_path / "ones" / "0.png"), cv2.IMREAD_UNCHANGED)).tolist() == [0, 1]
    reference = store.load(tmp_path / "pil")
    assert np.array_equal(reference.dense, masks)
    for folder in ("amg", "ones"):
        loaded = store.load(tmp_path / folder)
        assert np.array_equal(loaded.packed, reference.packed), folder
        assert np.allclose(loaded.scores["predicted_iou"], scores)


def test_rle_json_of_millions_of_lists_is_refused_before_parsing(tmp_path):
    """60 MB of [[],[],...] were 20 million lists (1.4 GB, 22 s) before the mask count was
    checked. Now the lists and objects are counted in the bytes first."""
    data = hostile.json_of_empty_lists(12_000_000)
    with hostile.traced_peak() as peak:  # control: what parsing it would cost
        json.loads(hostile.json_of_empty_lists(1_200_000))
    assert peak.bytes > 20 * 1_200_000
    path = tmp_path / "2007_000032.json"
    path.write_bytes(data)
    with hostile.traced_peak() as peak, pytest.raises(ValueError) as caught:
        store.load(path)
    assert str(caught.value) == (f"{path}: 4,000,002 JSON lists and objects, more than amg.py annotations of 10,000 "
                                 "masks hold (at most 16 per mask; raise SAMCAM_MAX_MASKS if the file is genuine)")
    assert peak.bytes < 2.5 * len(data), peak.bytes  # the file's bytes and a copy without strings


def test_rle_json_brackets_inside_strings_are_not_counted(tmp_path, monkeypatch):
    """Compressed RLE counts use '[' and ']' as characters: only brackets outside strings count."""
    monkeypatch.setenv("SAMCAM_MAX_MASKS", "3")  # 64 lists and objects allowed
    masks = random_masks(np.random.default_rng(6), count=3)
    write_amg_json(tmp_path / "a.json", masks, [0.9, 0.8, 0.7])
    annotations = json.loads((tmp_path / "a.json").read_text())
    for annotation in annotations:
        annotation["note"] = '[{"\\' * 40  # brackets, braces, quotes and backslashes inside a string
    (tmp_path / "a.json").write_text(json.dumps(annotations))
    assert (tmp_path / "a.json").read_bytes().count(b"[") > 64
    assert np.array_equal(store.load(tmp_path / "a.json").dense, masks)
    annotations[0]["bbox"] = [[]] * 60  # 60 more lists outside strings
    (tmp_path / "a.json").write_text(json.dumps(annotations))
    with pytest.raises(ValueError, match=r"a\.json: 8\d JSON lists and objects, more than amg\.py annotations of 3 "):
        store.load(tmp_path / "a.json")


def test_amg_metadata_csv_is_bounded_by_the_pngs_present(tmp_path):
    """62 MB of metadata.csv rows were read in full (1.3 GB, exit 0) for one mask PNG. The
    file may hold 4 KiB per PNG present, and no line longer than 4 KiB."""
    masks = random_masks(np.random.default_rng(7), count=2)
    write_amg_folder(tmp_path / "a", masks, [0.9, 0.8])
    metadata = tmp_path / "a" / "metadata.csv"
    metadata.write_text(hostile.amg_metadata_rows(300_000))  # 12 MB: ids 0..299999
    with hostile.traced_peak() as peak, pytest.raises(ValueError) as caught:
        store.load(tmp_path / "a")
    assert str(caught.value).startswith(f"{metadata}: {metadata.stat().st_size:,} bytes of amg.py metadata for 2 mask "
                                        "PNG(s); amg.py writes one row of about 150 bytes per mask")
    assert peak.bytes < 2**20, peak.bytes
    metadata.write_text(hostile.AMG_METADATA_HEADER + "\n" + "0" + "," * 5000 + "\n")  # 5 KB: within 12 KiB
    with pytest.raises(ValueError, match=r"metadata\.csv: line 2 has 5,002 characters; amg\.py's rows have about 150"):
        store.load(tmp_path / "a")
    # rows of PNGs removed from the folder are read past, as before
    metadata.write_text(hostile.amg_metadata_rows(20, width=23, height=17))
    loaded = store.load(tmp_path / "a")
    assert np.array_equal(loaded.dense, masks) and loaded.scores["area"].tolist() == [1, 2]


# ------------------------------------------------ a generator's own output, in memory

def _annotations(masks, segmentation):
    """What SamAutomaticMaskGenerator.generate returns (automatic_mask_generator.py:183-192),
    each mask's ``segmentation`` made by ``segmentation(mask)``."""
    return [{"segmentation": segmentation(mask), "area": int(mask.sum()), "bbox": [1, 2, 3 + k, 4],
             "predicted_iou": 0.9 - k / 100, "point_coords": [[5.5, 6.5 + k]], "stability_score": 0.97,
             "crop_box": [0, 0, mask.shape[1], mask.shape[0]], "id": f"ignored {k}"}
            for k, mask in enumerate(masks)]


def _pycocotools_rle(mask):
    rle = coco_mask.encode(np.asfortranarray(mask.astype(np.uint8)))
    rle["counts"] = rle["counts"].decode("utf-8")  # as segment-anything's coco_encode_rle (utils/amg.py:299)
    return rle


@pytest.mark.parametrize("form", [
    lambda mask: mask,                                                   # output_mode="binary_mask"
    _pycocotools_rle,                                                    # "coco_rle"
    lambda mask: coco_mask.encode(np.asfortranarray(mask.astype(np.uint8))),  # counts as bytes
    lambda mask: {"size": list(mask.shape), "counts": _uncompressed(mask)},   # "uncompressed_rle"
], ids=["binary_mask", "coco_rle", "coco_rle_bytes", "uncompressed_rle"])
def test_a_generators_annotations_become_masks_with_their_scores(form):
    masks = random_masks(np.random.default_rng(7), count=6)
    annotations = _annotations(masks, form)
    maskset = store.as_maskset(annotations)
    assert np.array_equal(maskset.dense, masks)
    assert sorted(maskset.scores) == sorted(store.SCORE_FIELDS)
    expected = {"predicted_iou": (np.float32, [0.9 - k / 100 for k in range(6)]),
                "stability_score": (np.float32, [0.97] * 6), "area": (np.int64, masks.sum(axis=(1, 2))),
                "bbox": (np.int64, [[1, 2, 3 + k, 4] for k in range(6)]),
                "point_coords": (np.float64, [[5.5, 6.5 + k] for k in range(6)]),
                "crop_box": (np.int64, [[0, 0, 23, 17]] * 6)}
    for key, (dtype, values) in expected.items():
        assert maskset.scores[key].dtype == dtype, key
        np.testing.assert_array_equal(maskset.scores[key], np.asarray(values, dtype), err_msg=key)
    label = np.zeros(masks.shape[1:], np.uint8)
    label[2:9, 3:8] = 4
    assert np.array_equal(samcam.refine(label, annotations), samcam.refine(label, masks))
    # the same converter as the mask models' pipeline uses
    from samcam.sam.official import annotations_to_maskset

    assert annotations_to_maskset is store.annotations_to_maskset


def test_fields_are_optional_together_and_boxes_stay_as_given():
    masks = random_masks(np.random.default_rng(8), count=2)
    only_masks = store.as_maskset([{"segmentation": m} for m in masks])
    assert np.array_equal(only_masks.dense, masks) and only_masks.scores == {}
    fractional = store.as_maskset([{"segmentation": m, "bbox": [0.5, 1, 2, 3], "point_coords": [4, 5]}
                                   for m in masks])
    assert fractional.scores["bbox"].dtype == np.float64 and fractional.scores["bbox"][0, 0] == 0.5
    np.testing.assert_array_equal(fractional.scores["point_coords"], [[4, 5], [4, 5]])


def test_predicted_iou_of_the_dicts_decides_conflicts():
    """conflict="score": where two masks claim different classes, the higher predicted_iou paints."""
    label = np.zeros((12, 12), np.uint8)
    label[:, :6], label[:, 6:] = 1, 2
    left, right = np.zeros((2, 12, 12), bool)
    left[:, :8], right[:, 4:] = True, True
    rows = {}
    for ious in ((0.9, 0.5), (0.5, 0.9)):
        annotations = [{"segmentation": left, "predicted_iou": ious[0]},
                       {"segmentation": right, "predicted_iou": ious[1]}]
        rows[ious] = samcam.refine(label, annotations, conflict="score")[0].tolist()
    assert rows[(0.9, 0.5)] == [1] * 8 + [2] * 4  # the left mask wins the overlap
    assert rows[(0.5, 0.9)] == [1] * 4 + [2] * 8  # the right mask does


def test_an_empty_generator_output_is_no_masks():
    label = np.zeros((5, 7), np.uint8)
    label[1:3, 1:4] = 2
    assert np.array_equal(samcam.refine(label, []), samcam.refine(label, np.zeros((0, 5, 7), bool)))
    assert len(store.annotations_to_maskset([], image_shape=(5, 7))) == 0
    with pytest.raises(ValueError, match="needs image_shape"):
        store.annotations_to_maskset([])


GOOD = np.zeros((4, 5), bool)


@pytest.mark.parametrize("annotations, message", [
    ([{"segmentation": GOOD}, {"predicted_iou": 0.5}], "mask 1 has no 'segmentation' (its keys: predicted_iou)"),
    ([{}], "mask 0 has no 'segmentation' (its keys: none)"),
    ([{"segmentation": GOOD}, {"segmentation": GOOD.astype(np.uint8)}],
     "mask 1: segmentation is uint8, not bool; pass `mask > 0`"),
    ([{"segmentation": np.zeros((2, 4, 5), bool)}], "mask 0: segmentation has shape (2, 4, 5); expected an H×W"),
    ([{"segmentation": [[1, 2, 3, 4, 5, 6]]}], "mask 0: segmentation is a list; expected an H×W bool array "
                                                "(output_mode='binary_mask') or a COCO RLE dict"),
    ([{"segmentation": GOOD}, {"segmentation": np.zeros((5, 4), bool)}], "mask 1 is 5×4, mask 0 is 4×5"),
    ([{"segmentation": {"size": [4, 5]}}], "mask 0: segmentation is not a valid COCO RLE (no 'counts')"),
    ([{"segmentation": {"size": [4, 5], "counts": [3, 4]}}],
     "mask 0: segmentation is not a valid COCO RLE (RLE counts sum to 7, not h*w = 20)"),
    ([{"segmentation": {"size": [4, 5], "counts": "~~~"}}], "mask 0: segmentation is not a valid COCO RLE (character"),
    ([{"segmentation": {"size": "4x5", "counts": [20]}}], "mask 0: segmentation is not a valid COCO RLE (RLE size"),
    ([{"segmentation": GOOD}, GOOD], "mask 1 is ndarray, not an annotation dict like the others"),
    ([GOOD, {"segmentation": GOOD}], "mask 0 is ndarray, not an annotation dict like the others"),
    ([{"segmentation": GOOD, "predicted_iou": 0.9}, {"segmentation": GOOD}],
     "mask 1 has no 'predicted_iou' but mask 0 has one; give every mask the same fields"),
    ([{"segmentation": GOOD, "predicted_iou": 0.9}, {"segmentation": GOOD, "predicted_iou": None}],
     "mask 1: predicted_iou is None, expected a number"),
    ([{"segmentation": GOOD, "bbox": [1, 2, 3, 4]}, {"segmentation": GOOD, "bbox": [1, 2]}],
     "mask 1: bbox is [1, 2], expected 4 numbers [x, y, w, h]"),
    ([{"segmentation": GOOD, "point_coords": [[1, 2], [3, 4]]}],
     "mask 0: point_coords is [[1, 2], [3, 4]], expected a point [[x, y]]"),
])
def test_bad_annotations_are_refused_naming_the_mask(annotations, message):
    with pytest.raises(ValueError) as info:
        store.as_maskset(annotations)
    assert str(info.value).startswith(message), str(info.value)
    with pytest.raises(ValueError) as info:  # refine says the same
        samcam.refine(np.zeros((4, 5), np.uint8), annotations)
    assert str(info.value).startswith(message)

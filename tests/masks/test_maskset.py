"""MaskSet and generator output (samcam.masks.maskset): boolean masks and scores checked, a
generator's list of dicts converted with its scores, bad annotations refused by index."""
import numpy as np
import pytest
from mask_samples import random_masks
from mask_samples import uncompressed_rle as _uncompressed
from pycocotools import mask as coco_mask

import samcam
from samcam import masks as store
from samcam.masks import MaskSet


def test_maskset_rejects_non_boolean_and_checks_scores():
    with pytest.raises(ValueError, match="boolean"):
        MaskSet.from_dense(np.zeros((1, 2, 2), np.uint8))
    with pytest.raises(ValueError, match="rows"):
        MaskSet.from_dense(np.zeros((2, 2, 2), bool), {"predicted_iou": np.zeros(3)})


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


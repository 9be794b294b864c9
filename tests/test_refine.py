import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from reference_rule import official_naive

import samcam
from samcam.demo.synthetic import cam_to_label, make_scene
from samcam.masks import MaskSet
from samcam.refine import core_cover


def random_case(rng, height=24, width=30, count=12, num_classes=21, ignore=True):
    label = np.zeros((height, width), np.uint8)
    for cls in rng.choice(np.arange(1, num_classes), size=rng.integers(1, 4), replace=False):
        y, x = rng.integers(0, height - 4), rng.integers(0, width - 4)
        label[y:y + rng.integers(3, height - y + 1), x:x + rng.integers(3, width - x + 1)] = cls
    if ignore:
        label[rng.random((height, width)) < 0.05] = 255
    masks = np.zeros((count, height, width), bool)
    for k in range(count):
        y, x = rng.integers(0, height - 2), rng.integers(0, width - 2)
        masks[k, y:y + rng.integers(1, height - y + 1), x:x + rng.integers(1, width - x + 1)] = True
        if rng.random() < 0.3:
            masks[k] = rng.random((height, width)) < 0.3
    return label, masks


def test_official_matches_reference_rule_on_random_cases():
    rng = np.random.default_rng(0)
    for _ in range(150):
        label, masks = random_case(rng)
        expected = official_naive(label, masks)
        assert np.array_equal(samcam.refine(label, masks, rule="official"), expected)
        assert np.array_equal(samcam.refine(label, list(masks), rule="official"), expected)
        assert np.array_equal(samcam.refine(label, MaskSet.from_dense(masks), rule="official"), expected)


def test_official_matches_reference_rule_on_synthetic_scenes_and_coco_classes():
    rng = np.random.default_rng(1)
    for _ in range(8):
        scene = make_scene(rng, 60, 80)
        label = cam_to_label(scene.cam)
        assert np.array_equal(samcam.refine(label, scene.masks, rule="official"), official_naive(label, scene.masks))
    for _ in range(20):
        label, masks = random_case(rng, num_classes=81)
        assert np.array_equal(samcam.refine(label, masks, rule="official", num_classes=81),
                              official_naive(label, masks, num_classes=81))


def test_official_gives_a_shared_mask_to_the_lower_class_index_but_samcam_to_the_majority():
    label = np.zeros((4, 10), np.uint8)
    label[:, 0:2] = 1             # small class-1 region
    label[:, 2:8] = 2             # class 2 holds most of the mask below
    mask = np.zeros((1, 4, 10), bool)
    mask[0, :, 0:9] = True        # all of class 1 (>= 85%), 2/3 class 2, one column of background
    official = samcam.refine(label, mask, rule="official")
    assert (official[:, 0:2] == 1).all() and (official[:, 8] == 1).all()  # class 1 took the mask
    assert (official[:, 2:8] == 2).all()  # class 2 keeps its pixels outside its (empty) union
    assert (samcam.refine(label, mask)[:, 0:9] == 2).all()


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), perm_seed=st.integers(0, 2**32 - 1),
       conflict=st.sampled_from(["smaller", "ratio", "score"]), core_rescue=st.booleans(),
       with_scores=st.booleans())
def test_samcam_rule_is_permutation_invariant(seed, perm_seed, conflict, core_rescue, with_scores):
    rng = np.random.default_rng(seed)
    label, masks = random_case(rng, count=int(rng.integers(0, 16)))
    if rng.random() < 0.3 and len(masks) > 1:  # duplicates and ties
        masks[1] = masks[0]
    predicted_iou = rng.choice([0.9, 0.95, 1.0], size=len(masks))  # ties included
    scores = rng.random((21,) + label.shape).astype(np.float32) if with_scores else None
    perm = np.random.default_rng(perm_seed).permutation(len(masks))
    options = dict(conflict=conflict, core_rescue=core_rescue, scores=scores)
    expected = samcam.refine(label, MaskSet.from_dense(masks, {"predicted_iou": predicted_iou}), **options)
    permuted = MaskSet.from_dense(masks[perm], {"predicted_iou": predicted_iou[perm]})
    assert np.array_equal(samcam.refine(label, permuted, **options), expected)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), perm_seed=st.integers(0, 2**32 - 1))
def test_official_rule_is_permutation_invariant_too(seed, perm_seed):
    # A mask's fate depends only on the mask and the classes before; the union U of a
    # class is every mask no earlier class took, whatever their order.
    rng = np.random.default_rng(seed)
    label, masks = random_case(rng, count=int(rng.integers(0, 16)))
    perm = np.random.default_rng(perm_seed).permutation(len(masks))
    expected = official_naive(label, masks)
    assert np.array_equal(samcam.refine(label, masks[perm], rule="official"), expected)
    assert np.array_equal(official_naive(label, masks[perm]), expected)


def test_core_cover_measures_the_thick_middle_or_the_score_peak():
    label = np.zeros((9, 12), np.uint8)
    label[1:8, 1:8] = 4            # a 7×7 region: city-block depth 1..4, core (>= 2) the middle 5×5
    label[2:4, 10:12] = 4          # a second, separate region of the same class
    middle = np.zeros((9, 12), bool)
    middle[2:7, 2:7] = True
    centre = np.zeros((9, 12), bool)
    centre[3:6, 3:6] = True
    right = np.zeros((9, 12), bool)
    right[:, 9:] = True
    cover = core_cover(label, np.stack([middle, centre, right]))
    assert cover.shape == (3, 21) and not cover[:, [0, 1, 5]].any()
    assert cover[0, 4] == 1.0                  # holds all of the big region's core
    assert cover[1, 4] == pytest.approx(9 / 25)
    assert cover[2, 4] == 1.0                  # holds all of the small region
    scores = np.zeros((21, 9, 12), np.float32)
    scores[4][label == 4] = 0.5
    scores[4, 1, 1] = 1.0                      # the CAM peaks in a corner of the big region
    corner = np.zeros((9, 12), bool)
    corner[:3, :3] = True
    with_scores = core_cover(label, np.stack([corner, middle]), scores=scores, core_score=0.85)
    assert with_scores[0, 4] == 1.0 and with_scores[1, 4] == 0.0


def test_core_rescue_completes_an_object_whose_class_region_also_spilled_elsewhere():
    label = np.zeros((12, 30), np.uint8)
    label[2:6, 2:8] = 7             # CAM on the discriminative part of the object (24 px)
    label[4:8, 18:26] = 7           # spill on the wall, 32 px: the object's part is 43% of the class
    obj = np.zeros((12, 30), bool)
    obj[1:9, 1:10] = True           # SAM: the object, 72 px, a third of it class 7
    wall = np.zeros((12, 30), bool)
    wall[:, 12:] = True             # SAM: the wall, 216 px, 15% spill
    masks = np.stack([obj, wall])
    refined = samcam.refine(label, masks)
    assert (refined[1:9, 1:10] == 7).all()       # the object mask holds its region's core
    assert (refined[:, 12:] == 0).all()          # the wall holds the spill's core but is mostly not class 7
    without = samcam.refine(label, masks, core_rescue=False)
    assert (without[1:9, 1:10] == 0).all()       # 24 of 56 class pixels: no whole-region rescue
    official = samcam.refine(label, masks, rule="official")
    assert (official[1:9, 1:10] == 0).all()


def test_conflict_score_lets_the_higher_predicted_iou_win_and_needs_it():
    label = np.zeros((4, 8), np.uint8)
    label[:, :5] = 1
    label[:, 5:] = 2
    first = np.zeros((4, 8), bool)
    first[:, :6] = True              # class 1 (20 of 24)
    second = np.zeros((4, 8), bool)
    second[:, 4:] = True             # class 2 (12 of 16), smaller
    masks = MaskSet.from_dense(np.stack([first, second]), {"predicted_iou": np.array([0.99, 0.9])})
    assert (samcam.refine(label, masks)[:, 4:6] == 2).all()                      # smaller wins
    assert (samcam.refine(label, masks, conflict="score")[:, 4:6] == 1).all()  # higher predicted_iou wins
    with pytest.raises(ValueError, match="predicted_iou"):
        samcam.refine(label, np.stack([first, second]), conflict="score")


def test_smaller_mask_wins_and_ignore_is_kept_where_nothing_is_known():
    label = np.zeros((6, 6), np.uint8)
    label[:, :3] = 1
    label[:, 3:] = 2
    label[0, :] = 255
    whole = np.zeros((6, 6), bool)
    whole[1:, :5] = True          # mostly class 1? no: 15 px of 1, 10 px of 2 -> class 1
    part = np.zeros((6, 6), bool)
    part[2:4, 3:5] = True         # all class 2, smaller: wins where they overlap
    refined = samcam.refine(label, np.stack([whole, part]))
    assert (refined[2:4, 3:5] == 2).all()
    assert (refined[1, :5] == 1).all() and (refined[4:, :5] == 1).all()
    assert (refined[0] == 255).all()  # no mask covers row 0: ignore stays
    assert (refined[1:, 5] == 2).all()  # no mask: pseudo label stays
    as_background = samcam.refine(label, np.stack([whole, part]), ignore="background")
    assert (as_background[0] == 0).all()


def test_ignore_pixels_do_not_count_as_evidence():
    label = np.full((4, 4), 255, np.uint8)
    label[0, 0] = 5
    mask = np.ones((1, 4, 4), bool)
    # 1 known pixel of 16 is below min_evidence=0.1: the mask is not judged.
    assert (samcam.refine(label, mask) == label).all()
    assert (samcam.refine(label, mask, min_evidence=0.0) == 5).all()


def test_overlap_counts_match_naive_counts():
    rng = np.random.default_rng(3)
    label, masks = random_case(rng, count=9)
    counts, ignored, class_area = samcam.overlap_counts(label, masks)
    for k, mask in enumerate(masks):
        for c in range(21):
            assert counts[k, c] == int((mask & (label == c)).sum())
        assert ignored[k] == int((mask & (label == 255)).sum())
    assert class_area.tolist() == [int((label == c).sum()) for c in range(21)]


def test_empty_mask_set_leaves_label_unchanged():
    rng = np.random.default_rng(4)
    label, _ = random_case(rng)
    empty = np.zeros((0,) + label.shape, bool)
    assert np.array_equal(samcam.refine(label, empty), label)
    official = label.copy()
    official[official == 255] = 0
    assert np.array_equal(samcam.refine(label, [], rule="official"), official)


def test_scores_path_runs_and_validates():
    label = np.zeros((8, 8), np.uint8)
    label[2:6, 2:6] = 1
    scores = np.zeros((21, 8, 8), np.float32)
    scores[0] = 0.2
    scores[1, 1:7, 1:7] = 0.9
    mask = np.zeros((1, 8, 8), bool)
    mask[0, 1:7, 1:7] = True
    refined = samcam.refine(label, mask, scores=scores)
    assert (refined[1:7, 1:7] == 1).all()
    with pytest.raises(ValueError, match="scores must be C"):
        samcam.refine(label, mask, scores=scores[:5])
    with pytest.raises(ValueError, match="official"):
        samcam.refine(label, mask, rule="official", scores=scores)


@pytest.mark.parametrize("label, masks, message", [
    (np.zeros((4, 4), np.uint8), np.zeros((2, 4, 5), bool), "masks are 4×5 but the label is 4×4"),
    (np.full((4, 4), 30, np.uint8), np.zeros((1, 4, 4), bool), r"values \[30\] outside 0..20"),
    (np.zeros((4, 4), np.uint8), np.zeros((1, 4, 4), np.uint8), "boolean"),
    (np.zeros((0, 4), np.uint8), np.zeros((1, 0, 4), bool), "empty"),
    (np.zeros((4, 4), np.float32), np.zeros((1, 4, 4), bool), "integer"),
    (np.zeros((4, 4, 3), np.uint8), np.zeros((1, 4, 4), bool), "2-D"),
])
def test_bad_input_raises_clear_value_error(label, masks, message):
    with pytest.raises(ValueError, match=message):
        samcam.refine(label, masks)


def test_unknown_rule_and_options_are_refused():
    label = np.zeros((2, 2), np.uint8)
    masks = np.zeros((1, 2, 2), bool)
    for kwargs in ({"rule": "paper"}, {"conflict": "larger"}, {"ignore": "drop"}):
        with pytest.raises(ValueError):
            samcam.refine(label, masks, **kwargs)


def test_a_class_over_the_whole_image_is_all_core_without_a_warning():
    """The distance transform has no edge to measure from: the whole region is its core."""
    import warnings
    label = np.full((16, 16), 7, np.uint8)
    masks = np.zeros((2, 16, 16), bool)
    masks[0, :, :8] = True
    masks[1, :4, :4] = True
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cover = core_cover(label, masks)
        refined = samcam.refine(label, masks)
    assert cover[0, 7] == 0.5 and cover[1, 7] == 16 / 256
    assert (refined == 7).all()

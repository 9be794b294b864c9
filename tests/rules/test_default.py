"""samcam's rule (samcam.rules.default): permutation invariance, core rescue, conflicts by
predicted IoU, and its parameters checked before any work."""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from label_cases import random_case

import samcam
from samcam.masks import MaskSet
from samcam.settings import SettingsError


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


# The rules' parameters are settings: refine checks them before any work.
LABEL = np.zeros((6, 6), np.uint8)
LABEL[1:4, 1:4] = 2


MASKS = np.zeros((1, 6, 6), bool)
MASKS[0, :5, :5] = True


@pytest.mark.parametrize("params, name", [
    (dict(ratio_thresh=math.nan), "ratio_thresh"), (dict(ratio_thresh=-5), "ratio_thresh"),
    (dict(cover_thresh=math.inf), "cover_thresh"), (dict(min_evidence=[1]), "min_evidence"),
    (dict(min_area="x"), "min_area"), (dict(conflict="largest"), "conflict"), (dict(core_rescue="no"), "core_rescue"),
    (dict(rule="official", ratio_thresh=math.nan), "ratio_thresh"),
])
def test_refine_refuses_bad_rule_parameters(params, name):
    with pytest.raises(SettingsError) as caught:
        samcam.refine(LABEL, MASKS, **params)
    assert caught.value.parameter == name


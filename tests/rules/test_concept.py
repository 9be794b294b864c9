"""The ``concept`` rule (samcam/rules/concept.py): SAM 3's class-tagged masks against the CAM."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import samcam
from samcam.cli import main
from samcam.io import read_label_png, write_label_png
from samcam.masks import MaskSet
from samcam.refine import BUILTIN_RULES, rule_parameters
from samcam.rules import RULES, ConceptRuleParams

H, W = 24, 32


def tagged(masks, classes, scores=None) -> MaskSet:
    """A SAM 3 store's masks: ``class_index`` and ``predicted_iou`` per mask."""
    masks = np.asarray(masks, bool)
    scores = np.linspace(0.9, 0.5, len(masks)) if scores is None else scores
    return MaskSet.from_dense(masks, {"class_index": np.asarray(classes, np.int64),
                                      "predicted_iou": np.asarray(scores, np.float32)})


def box(y0, y1, x0, x1):
    mask = np.zeros((H, W), bool)
    mask[y0:y1, x0:x1] = True
    return mask


def test_registered_as_a_built_in_rule_with_declared_parameters():
    assert RULES.names()[:3] == ["samcam", "official", "concept"]
    assert RULES.origin("concept") == "built in" and BUILTIN_RULES["concept"] is RULES.get("concept")
    resolved = rule_parameters(rule="concept")
    assert "rule_origin" not in resolved  # recorded as built in
    assert {k: resolved[k] for k in ("concept_share", "concept_core", "concept_disagree", "concept_outside")} == {
        "concept_share": 0.3, "concept_core": 0.3, "concept_disagree": "drop", "concept_outside": "background"}
    # the samcam rule's parameters judge the untagged masks
    assert set(samcam.rules.SamcamRuleParams.names()) < set(ConceptRuleParams.names())
    with pytest.raises(ValueError, match="concept_share must lie in \\[0, 1\\]"):
        samcam.refine(np.zeros((H, W), np.uint8), np.zeros((0, H, W), bool), rule="concept", concept_share=1.5)
    with pytest.raises(ValueError, match="concept_outside"):
        samcam.refine(np.zeros((H, W), np.uint8), np.zeros((0, H, W), bool), rule="concept", concept_outside="x")


def test_a_tag_that_agrees_with_the_cam_fills_a_partially_activated_object():
    """The CAM holds only the object's discriminative part (its head): the whole object
    mask, tagged with that class, is painted whole (the samcam rule cannot: the mask is
    mostly "background" by the label)."""
    label = np.zeros((H, W), np.uint8)
    label[4:9, 4:10] = 12                         # the dog's head: 30 of the mask's 160 pixels
    dog = box(4, 14, 4, 20)
    masks = tagged([dog], [12])
    for outside in ("keep", "regions", "background"):
        refined = samcam.refine(label, masks, rule="concept", concept_outside=outside)
        assert (refined[dog] == 12).all() and (refined[~dog] == 0).all()
    assert (samcam.refine(label, masks)[dog] == 0).all(), "the samcam rule paints it background"
    # with neither test passing (no share, no core), the tag is not trusted
    refined = samcam.refine(label, masks, rule="concept", concept_core=2.0, concept_outside="keep")
    assert np.array_equal(refined, label)


def test_a_tag_the_cam_does_not_back_is_dropped_or_judged_by_the_samcam_rule():
    label = np.zeros((H, W), np.uint8)
    label[2:12, 2:12] = 15                        # person
    label[14:22, 14:30] = 13                      # horse
    horse_as_person = box(14, 22, 14, 30)         # SAM 3's hard negative: the horse, tagged person
    masks = tagged([horse_as_person], [15])
    dropped = samcam.refine(label, masks, rule="concept", concept_outside="keep")
    assert np.array_equal(dropped, label)
    judged = samcam.refine(label, masks, rule="concept", concept_outside="keep", concept_disagree="samcam")
    assert np.array_equal(judged, samcam.refine(label, MaskSet.from_dense(horse_as_person[None])))


def test_conflicts_go_to_the_higher_score_then_the_higher_cam_share():
    label = np.zeros((H, W), np.uint8)
    label[2:20, 2:16] = 8                         # cat
    label[2:20, 16:30] = 12                       # dog
    cat, dog = box(2, 20, 2, 20), box(2, 20, 12, 30)   # they overlap on columns 12..19
    overlap = cat & dog
    high_cat = samcam.refine(label, tagged([cat, dog], [8, 12], [0.9, 0.6]), rule="concept")
    assert (high_cat[overlap] == 8).all()
    high_dog = samcam.refine(label, tagged([cat, dog], [8, 12], [0.6, 0.9]), rule="concept")
    assert (high_dog[overlap] == 12).all()
    # equal scores: the higher share of its own class wins (cat 14/18 of its mask, dog 14/18: make the dog's lower)
    dog_wide = box(2, 20, 8, 30)
    tie = samcam.refine(label, tagged([cat, dog_wide], [8, 12], [0.7, 0.7]), rule="concept")
    assert (tie[cat & dog_wide] == 8).all()


def test_untagged_masks_fall_back_to_the_samcam_rule():
    rng = np.random.default_rng(3)
    for _ in range(20):
        label = rng.choice([0, 0, 0, 5, 9, 255], size=(H, W)).astype(np.uint8)
        dense = rng.random((6, H, W)) < rng.uniform(0.05, 0.6, (6, 1, 1))
        plain = MaskSet.from_dense(dense, {"predicted_iou": rng.random(6).astype(np.float32)})
        untagged = tagged(dense, np.zeros(6), plain.scores["predicted_iou"])
        for params in ({}, {"conflict": "score", "ignore": "background"}, {"core_rescue": False}):
            expected = samcam.refine(label, plain, **params)
            assert np.array_equal(samcam.refine(label, plain, rule="concept", **params), expected)
            assert np.array_equal(samcam.refine(label, untagged, rule="concept", **params), expected)


def test_outside_pixels_of_a_found_class_become_background_unless_kept():
    label = np.zeros((H, W), np.uint8)
    label[2:12, 2:14] = 3                         # a bird and its spill to the right
    label[16:22, 20:28] = 3                       # another bird region no mask touches
    bird = box(2, 12, 2, 9)
    masks = tagged([bird], [3])
    everywhere = samcam.refine(label, masks, rule="concept")
    assert (everywhere == 3).sum() == bird.sum() and (everywhere[bird] == 3).all()
    regions = samcam.refine(label, masks, rule="concept", concept_outside="regions")
    assert (regions[16:22, 20:28] == 3).all() and (regions[2:12, 9:14] == 0).all()
    kept = samcam.refine(label, masks, rule="concept", concept_outside="keep")
    assert np.array_equal(kept, label)


def test_bad_class_index_is_one_clear_error():
    label = np.zeros((H, W), np.uint8)
    masks = MaskSet.from_dense(box(0, 4, 0, 4)[None], {"class_index": np.array([1.5])})
    with pytest.raises(ValueError, match="class_index must be one integer class per mask"):
        samcam.refine(label, masks, rule="concept")


@st.composite
def _case(draw):
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    present = rng.choice(np.arange(1, 21), size=int(rng.integers(1, 4)), replace=False)
    label = np.zeros((H, W), np.uint8)
    for cls in present:
        y, x = rng.integers(0, H - 4), rng.integers(0, W - 4)
        label[y:y + rng.integers(3, 12), x:x + rng.integers(3, 14)] = cls
    label[rng.random((H, W)) < 0.03] = 255
    count = int(rng.integers(0, 8))
    dense = np.zeros((count, H, W), bool)
    for k in range(count):
        y, x = rng.integers(0, H - 2), rng.integers(0, W - 2)
        dense[k, y:y + rng.integers(1, H), x:x + rng.integers(1, W)] = True
    tags = rng.choice(np.concatenate([[0], present, [int(rng.integers(1, 21))]]), size=count)
    absent = [c for c in range(1, 25) if c not in present]
    extra_count = int(rng.integers(1, 5))
    extra = np.zeros((extra_count, H, W), bool)
    for k in range(extra_count):
        y, x = rng.integers(0, H - 2), rng.integers(0, W - 2)
        extra[k, y:y + rng.integers(1, H), x:x + rng.integers(1, W)] = True
    extra_tags = rng.choice(absent, size=extra_count)  # absent from the label, or beyond the 21 classes
    params = {"concept_outside": str(rng.choice(["keep", "regions", "background"])),
              "concept_disagree": str(rng.choice(["drop", "samcam"])),
              "concept_share": float(rng.uniform(0, 1)), "concept_core": float(rng.uniform(0, 1.2))}
    return label, dense, tags, extra, extra_tags, params, rng


@pytest.mark.slow
@settings(max_examples=120, deadline=None)
@given(_case())
def test_property_a_tag_of_an_absent_class_never_paints(case):
    """Masks tagged with classes the label does not hold change nothing: not their class
    (never painted), not another, not the order of the rest."""
    label, dense, tags, extra, extra_tags, params, rng = case
    scores = rng.random(len(dense) + len(extra)).astype(np.float32)
    without = samcam.refine(label, tagged(dense, tags, scores[:len(dense)]), rule="concept", **params)
    both = np.concatenate([dense, extra])
    with_extra = tagged(both, np.concatenate([tags, extra_tags]), scores)
    refined = samcam.refine(label, with_extra, rule="concept", **params)
    assert np.array_equal(refined, without)
    assert not np.isin(refined, extra_tags).any()
    # and the result does not depend on the masks' order
    order = rng.permutation(len(both))
    shuffled = tagged(both[order], np.concatenate([tags, extra_tags])[order], scores[order])
    assert np.array_equal(samcam.refine(label, shuffled, rule="concept", **params), refined)


def test_refine_command_takes_the_concept_flags(tmp_path):
    label = np.zeros((H, W), np.uint8)
    label[4:9, 4:10] = 12
    write_label_png(tmp_path / "labels" / "a.png", label)
    samcam.masks.write(tmp_path / "masks" / "a", tagged([box(4, 14, 4, 20)], [12]))
    code = main(["refine", "--labels", tmp_path / "labels", "--masks", tmp_path / "masks", "--out", tmp_path / "out",
                 "--rule", "concept", "--concept-core", "2", "--concept-share", "0.9", "--no-progress"])
    assert code == 0
    assert np.array_equal(read_label_png(tmp_path / "out" / "a.png"), label), "neither test passes: not painted"
    code = main(["refine", "--labels", tmp_path / "labels", "--masks", tmp_path / "masks", "--out", tmp_path / "o2",
                 "--rule", "concept", "--no-progress"])
    assert code == 0 and (read_label_png(tmp_path / "o2" / "a.png")[4:14, 4:20] == 12).all()

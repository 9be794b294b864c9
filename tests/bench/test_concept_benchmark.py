"""The rule benchmark's SAM 3 concept families (benchmarks/scene_concepts.py) and concept variants."""
import hashlib
import json

import numpy as np
import pytest
from rule_quality import CONCEPT_TRIED, CONCEPT_VARIANTS, VARIANTS, Variant, family_stats, scene_stats
from scene_concepts import SAM3_THRESHOLD, with_untagged
from scenes import CONCEPT_FAMILIES, FAMILIES, SAM_FAMILIES, make_bench_scene

import samcam


def test_concept_families_are_apart_from_the_rule_table():
    assert len(CONCEPT_FAMILIES) >= 5 and set(CONCEPT_FAMILIES).isdisjoint(SAM_FAMILIES)
    assert set(CONCEPT_FAMILIES) | set(SAM_FAMILIES) == set(FAMILIES)
    assert all(make_bench_scene(name, 0).concept_masks is None for name in SAM_FAMILIES[:3])


@pytest.mark.slow
@pytest.mark.parametrize("family", CONCEPT_FAMILIES)
def test_sam3_masks_come_as_a_sam3_store_holds_them(family):
    for index in range(6):
        scene = make_bench_scene(family, index)
        masks, again = scene.concept_masks, make_bench_scene(family, index).concept_masks
        assert np.array_equal(masks.packed, again.packed), "deterministic per (family, index, seed)"
        scores = masks.scores
        assert set(scores) == {"class_index", "predicted_iou", "presence_score", "box_xyxy", "area"}
        assert scores["class_index"].dtype == np.int64 and scores["predicted_iou"].dtype == np.float32
        gt_classes = set(np.unique(scene.gt).tolist()) - {0, 255}
        assert set(scores["class_index"].tolist()) <= gt_classes, "prompts are the image's classes"
        assert (scores["predicted_iou"] > SAM3_THRESHOLD).all()
        order = np.lexsort((-scores["predicted_iou"], scores["class_index"]))
        assert np.array_equal(order, np.arange(len(masks))), "by prompt, then by score"
        np.testing.assert_array_equal(scores["area"], masks.areas)
        # SAM's class-agnostic masks are made as for every family
        assert len(scene.masks) > 0 and "class_index" not in scene.masks.scores

@pytest.mark.slow

def test_sam3_finds_most_instances_and_makes_the_mistakes_it_should():
    """Over many scenes: most masks are of their own class's objects, some are hard
    negatives of the partner class (cooccur), some merge neighbours (instances)."""
    own, other = 0, 0
    for index in range(30):
        scene = make_bench_scene("sam3_cooccur", index)
        for mask, cls in zip(scene.concept_masks.dense, scene.concept_masks.scores["class_index"]):
            inside = scene.gt[mask]
            share = np.mean(inside == cls)
            own += share > 0.5
            other += share < 0.2 and np.isin(inside, [c for c in np.unique(scene.gt) if c not in (0, 255, cls)]).mean() > 0.5
    assert own > 5 * other > 0


def test_a_store_of_both_tags_sams_masks_as_untagged():
    scene = make_bench_scene("sam3_voc_like", 1)
    both = with_untagged(scene.concept_masks, scene.masks)
    assert len(both) == len(scene.concept_masks) + len(scene.masks)
    tags = both.scores["class_index"]
    assert (tags[len(scene.concept_masks):] == 0).all() and (tags[:len(scene.concept_masks)] > 0).all()
    assert np.array_equal(both.dense[len(scene.concept_masks):], scene.masks.dense)


def test_concept_variants_run_and_the_rule_ignores_the_masks_order():
    variants = [v for v in CONCEPT_VARIANTS if v.name.startswith("concept")]
    stats = np.stack([scene_stats("sam3_instances", i, 0, variants) for i in range(4)])
    names = [v.name for v in variants]
    default = names.index("concept (default), SAM 3 masks")
    reverse = names.index("concept, SAM 3 masks in reverse order")
    assert np.array_equal(stats[:, default], stats[:, reverse])
    scene = make_bench_scene("sam3_instances", 2)
    by_hand = samcam.refine(scene.label, scene.concept_masks, rule="concept")
    assert by_hand.shape == scene.gt.shape


def test_variants_on_sams_masks_keep_their_cache_keys():
    """Adding Variant.masks left every key of the rule table as it was (their caches stay valid)."""
    for variant in VARIANTS:
        spec = json.dumps({"params": dict(variant.params), "order": variant.order, "scores": variant.cam_scores,
                           "experiment": variant.experiment}, sort_keys=True, default=str)
        assert variant.key() == hashlib.sha1(spec.encode()).hexdigest()[:16]
    assert Variant("a", masks="sam3").key() != Variant("a").key()


def test_a_sam3_variant_on_a_family_without_sam3_masks_is_an_error():
    with pytest.raises(ValueError, match="needs SAM 3's masks: run it on the sam3_\\* families"):
        family_stats("voc_like", 1, [Variant("concept", {"rule": "concept"}, masks="sam3")])


def test_the_tried_concept_parameters_are_distinct_variants():
    keys = [v.key() for v in CONCEPT_TRIED]
    assert len(set(keys)) == len(keys)

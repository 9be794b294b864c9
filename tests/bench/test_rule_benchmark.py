"""The rule benchmark's parts: scene families, per-scene counts, the paired bootstrap, the decision."""
import numpy as np
import pytest
from rule_quality import (
    NUM_CLASSES,
    Comparison,
    Variant,
    bootstrap_differences,
    family_stats,
    miou_from_stats,
    scene_stats,
)
from scenes import FAMILIES, SAM_BOX_NMS_THRESH, SAM_PRED_IOU_THRESH, SAM_STABILITY_THRESH, make_bench_scene

from samcam.evaluate import confusion_matrix, metrics_from_confusion
from samcam.refine import refine


def test_at_least_five_families_of_the_benchmarks_own_plus_the_demo():
    own = [name for name, family in FAMILIES.items() if family.generator == "families"]
    assert len(own) >= 5 and "demo" in FAMILIES


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_scenes_are_deterministic_per_family_index_and_seed(family):
    first, again = make_bench_scene(family, 3, seed=7), make_bench_scene(family, 3, seed=7)
    for field in ("gt", "label", "cam_classes", "cam_maps"):
        assert np.array_equal(getattr(first, field), getattr(again, field))
    assert np.array_equal(first.masks.packed, again.masks.packed)
    for key, value in first.masks.scores.items():
        assert np.array_equal(value, again.masks.scores[key])
    other = make_bench_scene(family, 3, seed=8)
    assert not (np.array_equal(first.gt, other.gt) and np.array_equal(first.masks.packed, other.masks.packed))
    # a scene does not depend on which scenes were made before it
    make_bench_scene(family, 4, seed=7)
    assert np.array_equal(make_bench_scene(family, 3, seed=7).label, first.label)


@pytest.mark.parametrize("family", sorted(set(FAMILIES) - {"demo"}))
def test_masks_come_as_sams_generator_leaves_them(family):
    for index in range(4):
        scene = make_bench_scene(family, index)
        scores = scene.masks.scores
        iou, stability = scores["predicted_iou"], scores["stability_score"]
        assert len(scene.masks) > 0 and len(iou) == len(scene.masks)
        assert (iou > SAM_PRED_IOU_THRESH).all() and (stability >= SAM_STABILITY_THRESH).all()
        assert np.all(np.diff(iou) <= 0), "SAM's output order is the NMS keep order: predicted_iou descending"
        np.testing.assert_array_equal(scores["area"], scene.masks.areas)
        x, y, w, h = scores["bbox"].T
        x1, y1 = x + w, y + h
        for a in range(len(iou)):  # box NMS left no pair above its threshold
            inter = np.clip(np.minimum(x1[a], x1) - np.maximum(x[a], x), 0, None) * \
                np.clip(np.minimum(y1[a], y1) - np.maximum(y[a], y), 0, None)
            box_iou = inter / np.maximum(w[a] * h[a] + w * h - inter, 1e-9)
            box_iou[a] = 0
            assert box_iou.max() <= SAM_BOX_NMS_THRESH
        assert scene.gt.shape == scene.label.shape == scene.masks.image_shape == (120, 160)
        assert set(np.unique(scene.gt)) <= set(range(21)) | {255}


def test_scene_stats_sum_to_the_dataset_confusion():
    variants = [Variant("cam", {"rule": "cam"}), Variant("official", {"rule": "official"})]
    stats = np.stack([scene_stats("voc_like", i, 0, variants) for i in range(3)])
    total = np.zeros((NUM_CLASSES, NUM_CLASSES + 1), np.int64)
    for i in range(3):
        scene = make_bench_scene("voc_like", i)
        total += confusion_matrix(gt=scene.gt, pred=refine(scene.label, scene.masks, rule="official"))
    assert miou_from_stats(stats[:, 1].sum(axis=0)) == pytest.approx(metrics_from_confusion(total)["miou"])

@pytest.mark.slow

def test_family_stats_cache_and_workers_give_the_same_counts(tmp_path):
    variants = [Variant("official", {"rule": "official"}), Variant("samcam", {"rule": "samcam"})]
    plain = family_stats("thin", 4, variants)
    cached = family_stats("thin", 4, variants, cache_dir=tmp_path, workers=2)
    assert np.array_equal(plain, cached) and len(list(tmp_path.glob("*.npy"))) == 2
    again = family_stats("thin", 3, variants[::-1], cache_dir=tmp_path)  # from the cache, any order
    assert np.array_equal(again, plain[:3, ::-1])


def _stats_of(tp, gt, pred):
    """(3, C) counts for a 2-class problem."""
    return np.array([tp, gt, pred], np.int64)


def test_miou_from_stats_leaves_out_absent_classes():
    stats = _stats_of([5, 0], [10, 0], [5, 0])  # class 1 absent from GT and prediction
    assert miou_from_stats(stats) == pytest.approx(0.5)
    assert miou_from_stats(_stats_of([5, 0], [10, 2], [5, 0])) == pytest.approx(0.25)


def test_paired_bootstrap_on_a_two_scene_case_matches_the_enumeration():
    # Two scenes; variant "b" is perfect on scene A and wrong on scene B, "a" the reverse.
    # Resamples are AA, AB or BB (prob. 1/4, 1/2, 1/4), so with many resamples the 2.5% and
    # 97.5% percentiles are the differences on AA and on BB.
    scene_a = np.stack([_stats_of([4, 4], [8, 8], [4, 4]), _stats_of([8, 8], [8, 8], [8, 8])])
    scene_b = np.stack([_stats_of([8, 8], [8, 8], [8, 8]), _stats_of([2, 2], [8, 8], [2, 2])])
    stats = {"f": np.stack([scene_a, scene_b])}
    result = bootstrap_differences(stats, ["a", "b"], reference="a", resamples=4000, seed=0)
    diff_aa = miou_from_stats(2 * scene_a[1]) - miou_from_stats(2 * scene_a[0])   # +0.5
    diff_bb = miou_from_stats(2 * scene_b[1]) - miou_from_stats(2 * scene_b[0])   # -0.75
    full = miou_from_stats(scene_a[1] + scene_b[1]) - miou_from_stats(scene_a[0] + scene_b[0])
    assert result.groups == ["f", "pooled"]
    assert result.row("f", "b")[1] == pytest.approx(full)
    assert result.row("f", "b")[2] == pytest.approx(diff_bb) and result.row("f", "b")[3] == pytest.approx(diff_aa)
    assert result.row("f", "a")[1:] == (0.0, 0.0, 0.0)   # the reference against itself
    # one family: pooled is that family
    assert result.row("pooled", "b") == pytest.approx(result.row("f", "b"))


def test_pooled_bootstrap_sums_the_families():
    rng = np.random.default_rng(0)
    stats = {name: rng.integers(1, 50, size=(30, 2, 3, 4)) for name in ("x", "y")}
    for value in stats.values():
        value[:, :, 1] += value[:, :, 0]  # GT >= TP
        value[:, :, 2] += value[:, :, 0]  # predicted >= TP
    result = bootstrap_differences(stats, ["ref", "v"], reference="ref", resamples=200)
    pooled = stats["x"].sum(axis=0) + stats["y"].sum(axis=0)
    assert result.row("pooled", "v")[0] == pytest.approx(miou_from_stats(pooled[1]))
    low, high = result.row("pooled", "v")[2:]
    assert low <= result.row("pooled", "v")[1] <= high


def _comparison(low, high):
    groups = ["f1", "f2", "pooled"]
    shape = (3, 2)
    return Comparison(groups=groups, variants=["official", "samcam"], reference="official",
                      miou=np.zeros(shape), diff=np.zeros(shape), low=np.array(low), high=np.array(high),
                      num_scenes={"f1": 1, "f2": 1}, resamples=1)


def test_the_decision_rule():
    passes = _comparison([[0, -0.01], [0, -0.02], [0, 0.001]], [[0, 0.02], [0, 0.03], [0, 0.01]])
    assert passes.decides_for("samcam")
    pooled_touches_zero = _comparison([[0, -0.01], [0, -0.02], [0, -0.001]], [[0, 0.02], [0, 0.03], [0, 0.01]])
    assert not pooled_touches_zero.decides_for("samcam")
    one_family_below = _comparison([[0, -0.03], [0, 0.02], [0, 0.001]], [[0, -0.001], [0, 0.03], [0, 0.01]])
    assert not one_family_below.decides_for("samcam")

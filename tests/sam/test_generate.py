"""Exact mode (samcam.sam.generate.MaskGenerator): the same masks as segment-anything's own
generator, thresholds that filter, other dtypes, bad settings and images."""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="samcam masks needs torch ([sam] extra)")
pytest.importorskip("segment_anything", reason="samcam masks needs segment-anything ([sam] extra)")

from sam_checks import SETTINGS, assert_same_exact  # noqa: E402
from tiny_sam import noise_image  # noqa: E402

from samcam.sam.agreement import agreement  # noqa: E402
from samcam.sam.generate import (  # noqa: E402
    MaskGenerator,
    SamSettings,
    official_masks,
)


@pytest.mark.slow
@pytest.mark.parametrize("changes", [
    {},
    {"box_nms_thresh": 0.7},
    {"points_per_batch": 20},  # a last, partial batch
    {"crop_n_layers": 1},  # crops: per-crop NMS, uncropping, cross-crop NMS
    {"min_mask_region_area": 30},
    {"pred_iou_thresh": 0.0, "stability_score_thresh": 0.0},  # filters off
])
def test_same_masks_as_segment_anything(sam, changes):
    settings = SamSettings(**{**SETTINGS.official_kwargs(), **changes})
    generator = MaskGenerator(sam, settings)
    pairs = []
    for seed, shape in enumerate([(48, 60), (37, 29)]):
        image = noise_image(shape, seed)
        expected = official_masks(sam, image, settings)
        actual = generator.generate(image)
        assert_same_exact(actual, expected, f"{changes} image {shape}")
        pairs.append((expected, actual))
    # The benchmark's agreement measure says the same: every official mask matched, no extra mask.
    scores = agreement(pairs)
    assert scores["reference_masks"] > 0, "the test model should keep some masks"
    assert scores["other_masks"] == scores["reference_masks"]
    assert scores["reference_matched_99"] == scores["other_matched_99"] == 1.0
    assert scores["identical_images"] == 2


def test_thresholds_really_filter(sam):
    image = noise_image((48, 60), 0)
    loose = MaskGenerator(sam, SamSettings(points_per_side=8, box_nms_thresh=1.0, pred_iou_thresh=0.0,
                                           stability_score_thresh=0.0)).generate(image)
    strict = MaskGenerator(sam, SETTINGS).generate(image)
    assert 0 < len(strict) < len(loose)
    assert strict.scores["predicted_iou"].min() > 0.88
    assert strict.scores["stability_score"].min() >= 0.95


@pytest.mark.parametrize("dtype", ["bfloat16", "tf32"])
def test_faster_dtypes_run_and_keep_the_format(sam, dtype):
    flags = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    result = MaskGenerator(sam, SETTINGS, dtype=dtype).generate(noise_image((48, 60), 0))
    assert result.image_shape == (48, 60)
    assert result.scores["predicted_iou"].dtype == np.float32
    assert (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32) == flags  # restored
    if dtype == "tf32":  # no TF32 on a CPU: same masks as float32
        assert_same_exact(result, MaskGenerator(sam, SETTINGS).generate(noise_image((48, 60), 0)))


def test_bad_settings_and_images_are_refused(sam):
    with pytest.raises(ValueError, match="points-per-batch"):
        MaskGenerator(sam, SamSettings(points_per_batch=0))
    with pytest.raises(ValueError, match="dtype"):
        MaskGenerator(sam, SETTINGS, dtype="float16")
    with pytest.raises(ValueError, match="H×W×3 uint8"):
        MaskGenerator(sam, SETTINGS).generate(np.zeros((8, 8), np.uint8))


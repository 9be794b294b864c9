"""What the SAM tests share (tests/sam/): the test images' sizes, the settings the tiny
models run with, and the comparisons of samcam's masks with a generator's own.

No torch at import: tests/sam/conftest.py imports this module in an environment without it.
"""
from __future__ import annotations

import numpy as np

from samcam.masks import MaskSet
from samcam.sam.settings import SamSettings

SHAPES = {"img_a": (48, 60), "img_b": (40, 40), "img_c": (50, 36), "img_d": (30, 70)}
# Small grid. The random model's masks all reach the image borders, so any box NMS
# keeps one of them; box_nms_thresh 1.0 (IoU > 1 never happens) keeps them all, giving
# dozens of masks to compare. SAM's 0.7 is tested too.
CLI_SETTINGS = ["--points-per-side", "8", "--box-nms-thresh", "1.0", "--device", "cpu", "--no-progress"]
SETTINGS = SamSettings(points_per_side=8, box_nms_thresh=1.0)  # box NMS off: dozens of masks to compare


def assert_same_exact(actual: MaskSet, expected: MaskSet, where: str = ""):
    """Exact mode against the official generator: masks bit for bit; scores to rounding."""
    assert actual.image_shape == expected.image_shape, where
    assert len(actual) == len(expected), f"{where}: {len(actual)} masks vs {len(expected)}"
    assert np.array_equal(actual.dense, expected.dense), where
    assert sorted(actual.scores) == sorted(expected.scores), where
    for key in expected.scores:
        if key == "predicted_iou":
            # The shared-image decoder projects the image tokens once instead of once per
            # prompt: a differently shaped matrix product, so float scores may differ in
            # the last bits; masks, boxes, areas and points stay identical.
            np.testing.assert_allclose(actual.scores[key], expected.scores[key], rtol=1e-5, atol=1e-6,
                                       err_msg=f"{where} {key}")
        elif key == "stability_score":
            # A ratio of two pixel counts of the logits thresholded at +-1: a last-bit change of
            # one logit lying on such a threshold moves a count by one pixel (seen with torch
            # 2.14's CPU kernels when no filter drops such masks). Allow one pixel either count.
            one_pixel = 2.0 / np.maximum(expected.areas, 1)
            difference = np.abs(actual.scores[key] - expected.scores[key])
            assert (difference <= one_pixel + 1e-6).all(), f"{where} {key}: {difference.max()} > one pixel"
        else:
            np.testing.assert_array_equal(actual.scores[key], expected.scores[key], err_msg=f"{where} {key}")


def assert_same_fast(actual: MaskSet, expected: MaskSet, where: str = ""):
    """Same masks bit for bit, in the same order, with the same boxes, areas, points and
    crops; float scores equal up to rounding."""
    assert actual.image_shape == expected.image_shape, where
    assert len(actual) == len(expected), f"{where}: {len(actual)} masks vs {len(expected)}"
    assert np.array_equal(actual.packed, expected.packed), where
    assert sorted(actual.scores) == sorted(expected.scores), where
    for key, value in expected.scores.items():
        assert actual.scores[key].dtype == value.dtype, f"{where} {key}"
        if key == "predicted_iou":  # float rounding of differently shaped matrix products
            np.testing.assert_allclose(actual.scores[key], value, rtol=1e-5, atol=1e-6, err_msg=f"{where} {key}")
        elif key == "stability_score":
            # The stability score counts pixels whose logit exceeds ±1; the tiny model's
            # logits are scaled by 3000, so a rounding difference of the fused attention
            # or the batched encoder can move one pixel of ~1000 across: 1e-3.
            np.testing.assert_allclose(actual.scores[key], value, atol=2e-3, err_msg=f"{where} {key}")
        else:
            np.testing.assert_array_equal(actual.scores[key], value, err_msg=f"{where} {key}")


def assert_same_family(actual, expected, exact: bool, where: str):
    """A family's masks against its own generator's: scores exactly when ``exact``, else to rounding."""
    assert actual.image_shape == expected.image_shape, where
    assert len(actual) == len(expected), f"{where}: {len(actual)} masks vs {len(expected)}"
    assert np.array_equal(actual.dense, expected.dense), where
    assert sorted(actual.scores) == sorted(expected.scores), where
    for key, value in expected.scores.items():
        if exact or key not in ("predicted_iou", "stability_score"):
            np.testing.assert_array_equal(actual.scores[key], value, err_msg=f"{where} {key}")
        else:  # MobileSAM runs through samcam's faster copy of SAM's generator
            np.testing.assert_allclose(actual.scores[key], value, rtol=1e-5, atol=1e-6, err_msg=f"{where} {key}")

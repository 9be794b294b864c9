"""What every generator shares (samcam.sam.official): the image check, the dtypes as a
context, and a family's own generator behind samcam's interface (AutomaticGenerator) giving
the generator's own masks and scores."""
from __future__ import annotations

import numpy as np
import pytest

from samcam.sam.official import AutomaticGenerator, check_image, precision


def test_an_image_must_be_h_w_3_uint8():
    image = np.zeros((5, 7, 3), np.uint8)
    assert check_image(image) is image
    for bad in (np.zeros((5, 7), np.uint8), np.zeros((5, 7, 4), np.uint8), np.zeros((5, 7, 3), np.float32)):
        with pytest.raises(ValueError, match="H×W×3 uint8 RGB"):
            check_image(bad)


def test_dtypes_are_checked_before_anything_runs():
    with pytest.raises(ValueError, match="--dtype must be one of"):
        AutomaticGenerator(object(), "cpu", dtype="float8")


def test_tf32_is_restored_and_bfloat16_autocasts_and_other_dtypes_are_refused():
    torch = pytest.importorskip("torch", reason="the dtypes need torch ([sam] extra)")
    with pytest.raises(ValueError, match="--dtype must be one of"), precision("int8", "cpu"):
        pass
    before = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    with precision("tf32", "cpu"):
        assert torch.backends.cuda.matmul.allow_tf32 and torch.backends.cudnn.allow_tf32
    assert (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32) == before
    with precision("bfloat16", "cpu"):
        assert (torch.ones(2, 2) @ torch.ones(2, 2)).dtype == torch.bfloat16
    with precision("bfloat16", "cpu", autocast=False):
        assert (torch.ones(2, 2) @ torch.ones(2, 2)).dtype == torch.float32


def test_the_generators_own_masks_and_scores_come_through(sam):
    """segment-anything's own generator behind AutomaticGenerator gives official_masks."""
    pytest.importorskip("segment_anything", reason="needs the [sam] extra")
    from sam_checks import SETTINGS
    from segment_anything import SamAutomaticMaskGenerator
    from tiny_sam import noise_image

    from samcam.sam.official import official_masks

    image = noise_image((40, 52), 3)
    generator = AutomaticGenerator(SamAutomaticMaskGenerator(sam, output_mode="binary_mask",
                                                             **SETTINGS.official_kwargs()), "cpu")
    masks = generator.generate(generator.prepare(image))
    expected = official_masks(sam, image, SETTINGS)
    assert len(masks) > 0 and masks.image_shape == (40, 52)
    assert np.array_equal(masks.dense, expected.dense)
    assert sorted(masks.scores) == sorted(expected.scores)
    for key, value in expected.scores.items():
        np.testing.assert_array_equal(masks.scores[key], value, err_msg=key)
    with pytest.raises(ValueError, match="H×W×3 uint8 RGB"):
        generator.generate(image.astype(np.float32))

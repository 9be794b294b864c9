"""`samcam.refine` takes what the mask generators' own ``generate()`` returns, a list of
dicts, in every output mode: segment-anything's ``SamAutomaticMaskGenerator``, sam2's
``SAM2AutomaticMaskGenerator``, HQ-SAM's and MobileSAM's, each run on a tiny
random-weight model built with its own code (tests/support/tiny_sam.py, tests/support/tiny_models.py).
The refined label is the one the stacked masks give, and the per-mask scores come along."""
from __future__ import annotations

import importlib
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="the mask generators need torch ([sam] extra)")

from tiny_sam import noise_image  # noqa: E402

import samcam  # noqa: E402
from samcam.masks import MaskSet, as_maskset  # noqa: E402

# Every generator's output modes (segment_anything/automatic_mask_generator.py:112-116,
# sam2/automatic_mask_generator.py:120-124; HQ-SAM's and MobileSAM's as segment-anything's).
MODES = ("binary_mask", "coco_rle", "uncompressed_rle")
SHAPE = (48, 60)
# The package, its generator class, the tiny model's builder in tiny_models, points per side
# (the tiny TinyViT and SAM 2 models run at 1024 px: few points keep them quick).
GENERATORS = {
    "sam": ("segment_anything", "SamAutomaticMaskGenerator", None, 8),
    "sam2.1": ("sam2.automatic_mask_generator", "SAM2AutomaticMaskGenerator", "tiny_sam2", 4),
    "hq": ("segment_anything_hq", "SamAutomaticMaskGenerator", "tiny_hq", 4),
    "mobilesam": ("mobile_sam", "SamAutomaticMaskGenerator", "tiny_mobile_sam", 3),
}


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny ops: intra-op threads only slow them down on 2 cores
    yield
    torch.set_num_threads(threads)


def _generator_class(family: str):
    module, name, _, _ = GENERATORS[family]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        package = pytest.importorskip(module.split(".")[0], reason=f"{module} is not installed (its extra)")
        return getattr(importlib.import_module(module) if "." in module else package, name)


def _network(family: str):
    builder = GENERATORS[family][2]
    if builder is None:
        from tiny_sam import tiny_sam

        return tiny_sam()
    import tiny_models

    network = getattr(tiny_models, builder)()
    return network[0] if isinstance(network, tuple) else network  # tiny_sam2: (network, its config)


def _label(shape):
    """A pseudo label with two classes and an ignored strip, for the masks to refine."""
    height, width = shape
    label = np.zeros(shape, np.uint8)
    label[height // 4: height // 2, width // 3: width // 2] = 3
    label[height // 2: height - 4, 2: width // 2] = 7
    label[:3] = 255
    return label


@pytest.mark.slow
@pytest.mark.parametrize("family", list(GENERATORS))
def test_refine_takes_the_generators_own_output_in_every_mode(family):
    generator_class = _generator_class(family)
    network = _network(family)
    points = GENERATORS[family][3]
    image = noise_image(SHAPE, 0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        outputs = {mode: generator_class(network, output_mode=mode, points_per_side=points,
                                         box_nms_thresh=1.0).generate(image) for mode in MODES}
    binary = outputs["binary_mask"]
    assert len(binary) > 0, "the tiny model should keep some masks"
    stacked = np.stack([annotation["segmentation"] for annotation in binary])
    label = _label(SHAPE)
    expected = samcam.refine(label, stacked)
    if family == "sam":  # the tiny SAM's masks change the label: the comparison means something
        assert (expected != label).sum() > 100
    iou = np.array([annotation["predicted_iou"] for annotation in binary], np.float32)
    with_scores = MaskSet.from_dense(stacked, {"predicted_iou": iou})
    expected_by_score = samcam.refine(label, with_scores, conflict="score")
    with pytest.raises(ValueError, match="conflict='score' needs SAM's predicted_iou"):
        samcam.refine(label, stacked, conflict="score")
    for mode, output in outputs.items():
        assert len(output) == len(binary), mode
        maskset = as_maskset(output)
        assert np.array_equal(maskset.dense, stacked), mode
        np.testing.assert_array_equal(maskset.scores["predicted_iou"], iou, err_msg=mode)
        np.testing.assert_array_equal(maskset.scores["stability_score"],
                                      np.array([a["stability_score"] for a in binary], np.float32), err_msg=mode)
        np.testing.assert_array_equal(maskset.scores["area"], stacked.sum(axis=(1, 2)), err_msg=mode)
        np.testing.assert_array_equal(maskset.scores["bbox"], [a["bbox"] for a in binary], err_msg=mode)
        np.testing.assert_array_equal(maskset.scores["point_coords"], [a["point_coords"][0] for a in binary],
                                      err_msg=mode)
        assert np.array_equal(samcam.refine(label, output), expected), mode
        assert np.array_equal(samcam.refine(label, output, conflict="score"), expected_by_score), mode

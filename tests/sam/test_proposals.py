"""Weight-free mask proposals (samcam.sam.proposals)."""
import numpy as np
import pytest

from samcam.demo.synthetic import make_scene
from samcam.masks import MaskSet
from samcam.sam import proposals


def test_proposals_give_nested_multiscale_masks_that_follow_the_scene():
    scene = make_scene(np.random.default_rng(0), 96, 128)
    masks = proposals.generate(scene.image)
    assert isinstance(masks, MaskSet) and masks.image_shape == (96, 128)
    dense = masks.dense
    assert dense.dtype == bool and 5 <= len(masks) <= 200
    assert len({m.tobytes() for m in dense}) == len(masks)  # no duplicates
    areas = dense.reshape(len(masks), -1).sum(1)
    assert (np.diff(areas) <= 0).all() and masks.scores["area"].tolist() == areas.tolist()
    # every object of the GT is matched by some proposal with IoU > 0.5
    for cls in set(np.unique(scene.gt)) - {0, 255}:
        region = scene.gt == cls
        ious = (dense & region).sum((1, 2)) / (dense | region).sum((1, 2))
        assert ious.max() > 0.5
    # a fine scale nests inside a coarse one: some mask is contained in another
    contained = [(a & ~b).sum() == 0 for i, a in enumerate(dense) for j, b in enumerate(dense) if i != j]
    assert any(contained)


def test_proposals_reject_bad_images():
    with pytest.raises(ValueError, match="H×W×3 uint8"):
        proposals.generate(np.zeros((8, 8, 3), np.float32))
    gray = proposals.generate(np.zeros((16, 16), np.uint8))
    assert gray.image_shape == (16, 16)


"""Drawing (samcam.vis.draw): label overlays, mask colours, the difference map."""
from __future__ import annotations

import numpy as np
import pytest

from samcam.vis import panels as vis


def test_overlay_label_blends_and_hatches_ignore():
    image = np.full((4, 6, 3), 100, dtype=np.uint8)
    label = np.zeros((4, 6), dtype=np.uint8)
    label[:, 3:] = 1
    label[0, 0] = 255
    out = vis.overlay_label(image, label, alpha=0.5)
    # VOC class 1 is (128, 0, 0): halfway between image and colour.
    np.testing.assert_array_equal(out[1, 4], [114, 50, 50])
    np.testing.assert_array_equal(out[1, 0], [50, 50, 50])  # background is black
    assert tuple(out[0, 0]) in vis.IGNORE_COLOURS
    np.testing.assert_array_equal(vis.overlay_label(image, label, alpha=0.0)[1:], image[1:])
    with pytest.raises(ValueError, match="alpha"):
        vis.overlay_label(image, label, alpha=1.5)


def test_mask_colours_are_deterministic_with_outlines():
    image = np.zeros((20, 20, 3), dtype=np.uint8)
    masks = np.zeros((2, 20, 20), dtype=bool)
    masks[0, 2:12, 2:12] = True
    masks[1, 10:18, 10:18] = True
    first = vis.overlay_masks(image, masks, alpha=0.5, seed=3)
    np.testing.assert_array_equal(first, vis.overlay_masks(image, masks, alpha=0.5, seed=3))
    assert not np.array_equal(first, vis.overlay_masks(image, masks, alpha=0.5, seed=4))
    colours = vis.mask_colours(2, 3)
    np.testing.assert_array_equal(first[2, 5], colours[0])  # outline at full colour
    assert np.all(first[6, 6] < colours[0])  # interior blended with the black image
    np.testing.assert_array_equal(first[0, 0], [0, 0, 0])  # outside every mask


def test_difference_map_marks_fixed_and_broken_pixels():
    image = np.full((2, 4, 3), 100, dtype=np.uint8)
    gt = np.array([[1, 1, 2, 255], [0, 0, 2, 255]], dtype=np.uint8)
    before = np.array([[0, 1, 2, 0], [0, 255, 1, 1]], dtype=np.uint8)
    after = np.array([[1, 0, 2, 1], [1, 0, 0, 1]], dtype=np.uint8)
    picture, counts = vis.difference_map(image, before, after, gt)
    # fixed: wrong before, right after (an unlabelled 255 is wrong); broken: the reverse
    assert counts == {"fixed": 2, "broken": 2}
    for row, col in ((0, 0), (1, 1)):
        assert tuple(picture[row, col]) == vis.FIXED_COLOUR
    for row, col in ((0, 1), (1, 0)):
        assert tuple(picture[row, col]) == vis.BROKEN_COLOUR
    # right in both, wrong in both, and ignore (even where the labels changed): neither, the greyed image
    for row, col in ((0, 2), (1, 2), (0, 3), (1, 3)):
        red, green, blue = picture[row, col]
        assert red == green == blue
    # the change the other way round swaps the two
    assert vis.difference_map(image, after, before, gt)[1] == {"fixed": 2, "broken": 2}
    np.testing.assert_array_equal(vis.difference_map(image, after, before, gt)[0][0, 0], vis.BROKEN_COLOUR)


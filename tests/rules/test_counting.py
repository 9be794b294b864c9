"""What the rules count (samcam.rules.counting): overlap counts, core cover, ignore pixels."""
from __future__ import annotations

import numpy as np
import pytest
from label_cases import random_case

import samcam
from samcam.refine import core_cover


def test_overlap_counts_is_the_three_tuple_the_readme_shows():
    label = np.zeros((4, 6), np.uint8)
    label[:, 3:] = 2
    label[0, 0] = 255
    masks = np.zeros((2, 4, 6), bool)
    masks[0, :, :4] = True
    masks[1, 1:, 3:] = True
    counts, ignored, class_area = samcam.overlap_counts(label, masks)
    assert counts.shape == (2, 21) and ignored.shape == (2,) and class_area.shape == (21,)
    assert counts.dtype == ignored.dtype == class_area.dtype == np.int64
    assert counts[0, 0] == 11 and counts[0, 2] == 4 and ignored.tolist() == [1, 0] and counts[1, 2] == 9
    assert class_area[0] == 11 and class_area[2] == 12


def test_core_cover_measures_the_thick_middle_or_the_score_peak():
    label = np.zeros((9, 12), np.uint8)
    label[1:8, 1:8] = 4            # a 7×7 region: city-block depth 1..4, core (>= 2) the middle 5×5
    label[2:4, 10:12] = 4          # a second, separate region of the same class
    middle = np.zeros((9, 12), bool)
    middle[2:7, 2:7] = True
    centre = np.zeros((9, 12), bool)
    centre[3:6, 3:6] = True
    right = np.zeros((9, 12), bool)
    right[:, 9:] = True
    cover = core_cover(label, np.stack([middle, centre, right]))
    assert cover.shape == (3, 21) and not cover[:, [0, 1, 5]].any()
    assert cover[0, 4] == 1.0                  # holds all of the big region's core
    assert cover[1, 4] == pytest.approx(9 / 25)
    assert cover[2, 4] == 1.0                  # holds all of the small region
    scores = np.zeros((21, 9, 12), np.float32)
    scores[4][label == 4] = 0.5
    scores[4, 1, 1] = 1.0                      # the CAM peaks in a corner of the big region
    corner = np.zeros((9, 12), bool)
    corner[:3, :3] = True
    with_scores = core_cover(label, np.stack([corner, middle]), scores=scores, core_score=0.85)
    assert with_scores[0, 4] == 1.0 and with_scores[1, 4] == 0.0


def test_ignore_pixels_do_not_count_as_evidence():
    label = np.full((4, 4), 255, np.uint8)
    label[0, 0] = 5
    mask = np.ones((1, 4, 4), bool)
    # 1 known pixel of 16 is below min_evidence=0.1: the mask is not judged.
    assert (samcam.refine(label, mask) == label).all()
    assert (samcam.refine(label, mask, min_evidence=0.0) == 5).all()


def test_overlap_counts_match_naive_counts():
    rng = np.random.default_rng(3)
    label, masks = random_case(rng, count=9)
    counts, ignored, class_area = samcam.overlap_counts(label, masks)
    for k, mask in enumerate(masks):
        for c in range(21):
            assert counts[k, c] == int((mask & (label == c)).sum())
        assert ignored[k] == int((mask & (label == 255)).sum())
    assert class_area.tolist() == [int((label == c).sum()) for c in range(21)]


def test_a_class_over_the_whole_image_is_all_core_without_a_warning():
    """The distance transform has no edge to measure from: the whole region is its core."""
    import warnings
    label = np.full((16, 16), 7, np.uint8)
    masks = np.zeros((2, 16, 16), bool)
    masks[0, :, :8] = True
    masks[1, :4, :4] = True
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cover = core_cover(label, masks)
        refined = samcam.refine(label, masks)
    assert cover[0, 7] == 0.5 and cover[1, 7] == 16 / 256
    assert (refined == 7).all()


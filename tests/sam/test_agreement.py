"""Mask agreement between two mask sets (samcam.sam.agreement)."""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="fast mode needs torch ([sam] extra)")
pytest.importorskip("segment_anything", reason="fast mode needs segment-anything ([sam] extra)")


from samcam.masks import MaskSet  # noqa: E402
from samcam.sam.agreement import agreement, mask_ious  # noqa: E402


def test_agreement_counts_matches_both_ways():
    base = np.zeros((4, 10, 10), bool)
    base[0, :5] = True          # 50 px
    base[1, 5:] = True          # 50 px
    base[2, :, :2] = True       # 20 px
    base[3, 0, 0] = True        # 1 px
    other = base[[1, 0, 2]].copy()
    other[2, 0, 2] = True       # 21 px: IoU 20/21 with base[2]
    extra = np.zeros((1, 10, 10), bool)
    extra[0, 9, 9] = True
    other = np.concatenate([other, extra])
    reference, candidate = MaskSet.from_dense(base), MaskSet.from_dense(other)
    ious = mask_ious(reference, candidate)
    assert ious[0, 1] == 1.0 and ious[1, 0] == 1.0 and ious[2, 2] == pytest.approx(20 / 21)
    scores = agreement([(reference, candidate)])
    assert scores["reference_matched_90"] == 0.75 and scores["reference_matched_99"] == 0.5
    assert scores["other_matched_90"] == 0.75 and scores["other_matched_99"] == 0.5
    assert scores["reference_min_iou"] == pytest.approx(1 / 21) and scores["identical_images"] == 0
    assert agreement([(reference, reference)])["identical_images"] == 1

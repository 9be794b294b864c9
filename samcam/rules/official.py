"""The ``official`` rule: the public reference code's rule, bit for bit.

Classes in ascending order; for class c every mask not taken by an earlier class joins
the union U and is taken for c if more than half of it lies in c (``ratio_thresh``) or
it covers at least 85% of c (``cover_thresh``); c's pixels outside U keep c; later
classes paint over earlier ones; everything else (ignore included) becomes background.
A mask's fate depends only on the mask and on which classes came before, so the order
of the masks does not change the result; the class index does (a mask two classes could
take goes to the lower index).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..masks.maskset import MaskSet, pack_words
from ..settings import Settings, setting
from .contract import Rule, RuleInputs

__all__ = ["OfficialRuleParams", "OFFICIAL_RULE"]


@dataclass(frozen=True)
class OfficialRuleParams(Settings):
    """The ``official`` rule's parameters: the reference code's two thresholds."""

    ratio_thresh: float = setting(0.5, "take a mask for class c when more than this fraction of it lies in c",
                                  low=0.0, high=1.0)
    cover_thresh: float = setting(0.85, "... or when it covers at least this fraction of c's region (above 1: "
                                        "never)", low=0.0)


def _official_rule(inputs: RuleInputs, **params) -> np.ndarray:
    """The reference code's rule (module docstring) -> its label map: it paints class by class,
    so a later class's own pixels can cover an earlier class's mask (no single paint order)."""
    p = OfficialRuleParams(**params)
    taken_by = _decide_official(inputs.counts, inputs.class_area, inputs.areas, p.ratio_thresh, p.cover_thresh)
    return _paint_official(inputs.label, inputs.masks, taken_by, inputs.class_area)


def _decide_official(counts: np.ndarray, class_area: np.ndarray, areas: np.ndarray, ratio_thresh: float,
                     cover_thresh: float) -> np.ndarray:
    """The class that takes each mask in the reference rule (lowest index first) -> (K,) int64, -1 for none."""
    taken_by = np.full(len(areas), -1, np.int64)
    for cls in np.flatnonzero(class_area[1:]) + 1:
        column = counts[:, cls]
        take = (taken_by < 0) & ((column > ratio_thresh * areas) | (column >= cover_thresh * class_area[cls]))
        taken_by[take] = cls
    return taken_by


def _paint_official(label: np.ndarray, maskset: MaskSet, taken_by: np.ndarray, class_area: np.ndarray) -> np.ndarray:
    """Class by class in ascending order: its taken masks, and its pixels outside the union U of
    the masks no earlier class took, are painted over what earlier classes painted."""
    flat = label.ravel()
    out = np.zeros(flat.size, np.uint8)
    words = maskset.words
    empty = np.zeros(words.shape[1], np.uint64)
    for cls in np.flatnonzero(class_area[1:]) + 1:
        eligible = (taken_by < 0) | (taken_by >= cls)
        union = np.bitwise_or.reduce(words[eligible], axis=0) if eligible.any() else empty
        region = pack_words(flat == cls) & ~union
        take = taken_by == cls
        if take.any():
            region |= np.bitwise_or.reduce(words[take], axis=0)
        bits = np.unpackbits(region.view(np.uint8), count=flat.size).view(bool)
        out[bits] = cls
    return out.reshape(label.shape)


OFFICIAL_RULE = Rule("official", _official_rule, "the reference code's rule, bit-exact", uses_scores=False,
                     params=OfficialRuleParams)

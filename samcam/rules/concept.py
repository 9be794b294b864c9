"""The ``concept`` rule: masks that come tagged with a class (SAM 3's concept masks).

SAM 3 (``samcam masks --model sam3``) is prompted with each image's class names and
returns masks that carry the class they were found for (``class_index``) and SAM 3's
score (``predicted_iou``). The rule trusts a tag only where the CAM agrees:

* a tag of a class **absent** from the pseudo label (or outside ``0..C-1``) is never
  painted: the mask is not used at all, so adding it changes nothing;
* a tag of a class c present in the label is painted c when the CAM evidence agrees:
  at least ``concept_share`` of the mask's known (non-ignore) pixels are c, or the
  mask covers at least ``concept_core`` of the *core* of one connected c region (the
  region's thick middle, ``core_depth``, or with CAM ``scores`` its peak,
  ``core_score``: the same cores as the ``samcam`` rule's rescue). The core test is
  what fills a partially activated object: the CAM holds only its discriminative part,
  so most of the object mask is "background" by the label, but the mask holds the
  part's core;
* a tag the CAM does not back (``concept_disagree``) is dropped (``"drop"``, the
  default) or judged like an untagged mask (``"samcam"``);
* **conflicts** between tagged masks: the higher SAM 3 score wins, then the higher CAM
  share of the mask's own class, then the smaller mask, then the lower class;
* **untagged** masks (no ``class_index``, or a value below 1: e.g. SAM's class-agnostic
  masks stored beside SAM 3's) fall back to the ``samcam`` rule, with its parameters
  (this class inherits them); tagged masks outrank them;
* pixels of a class outside every painted mask of that class (``concept_outside``):
  ``"background"`` (the default): become background, for every class with a painted
  mask (CAM spill and blur around the objects SAM 3 found; an instance SAM 3 missed is
  lost too); ``"regions"``: only in the connected regions of that class a painted mask
  touches (a region no mask touches stays); ``"keep"``: the pseudo label stays.

Pixels no used mask covers keep the pseudo label (``ignore`` as for ``samcam``).
The result does not depend on the masks' order. Parameters: :class:`ConceptRuleParams`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Tuple

import numpy as np
from scipy import ndimage

from ..settings import setting
from .contract import Rule, RuleDecision, RuleInputs
from .counting import candidate_core_cover
from .default import SamcamRuleParams, base_label, paint_order, predicted_iou_of, samcam_assign

__all__ = ["ConceptRuleParams", "CONCEPT_RULE", "concept_tags", "CONCEPT_FLAGS"]

_FRACTION = dict(low=0.0, high=1.0)
OUTSIDE = ("keep", "regions", "background")
_EIGHT = np.ones((3, 3), bool)


@dataclass(frozen=True)
class ConceptRuleParams(SamcamRuleParams):
    """The ``concept`` rule's parameters: its own (``concept_*``) and the ``samcam`` rule's,
    which judge the untagged masks (``core_depth`` and ``core_score`` also shape the
    cores the tags are checked against)."""

    concept_share: float = setting(0.3, "a tagged mask is painted with its class when more than this "
                                        "fraction of its known pixels carry that class in the pseudo label ...",
                                   **_FRACTION)
    concept_core: float = setting(0.3, "... or when it covers at least this fraction of the core of one "
                                       "connected region of its class (above 1: never)", low=0.0)
    concept_disagree: str = setting("drop", "a tagged mask the CAM does not back is not used (drop) or "
                                            "judged like an untagged mask by the samcam rule (samcam)",
                                    choices=("drop", "samcam"))
    concept_outside: str = setting("background", "pixels of a class outside every painted tagged mask of it, for "
                                                 "classes with one: become background (background; an instance "
                                                 "SAM 3 missed is lost too), only in the connected regions of the "
                                                 "class a painted mask touches (regions), or keep the pseudo label "
                                                 "(keep)", choices=OUTSIDE)


# The flags of the concept rule's own parameters (its samcam ones share the samcam rule's).
CONCEPT_FLAGS = ("concept_share", "concept_core", "concept_disagree", "concept_outside")


def concept_tags(inputs: RuleInputs) -> np.ndarray:
    """Each mask's tag -> (K,) int64: its ``class_index`` (0 for an untagged mask, and for
    every mask when the masks carry no ``class_index``); ValueError for a malformed one."""
    count = len(inputs.areas)
    tags = inputs.mask_scores.get("class_index")
    if tags is None:
        return np.zeros(count, np.int64)
    tags = np.asarray(tags)
    if tags.shape != (count,) or (count and not np.issubdtype(tags.dtype, np.integer)):
        raise ValueError(f"class_index must be one integer class per mask ({count},), got {tags.dtype} {tags.shape}")
    return np.maximum(tags.astype(np.int64), 0)


def _tag_evidence(inputs: RuleInputs, p: ConceptRuleParams,
                  tags: np.ndarray) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(present (K,) bool: the tag's class is in the label; agree (K,) bool: ... and the CAM
    backs it; share (K,) float64: the fraction of each mask's known pixels labelled with its
    tag's class)."""
    count, classes = len(tags), inputs.num_classes
    rows = np.arange(count)
    present = (tags > 0) & (tags < classes)
    present[present] &= inputs.class_area[tags[present]] > 0
    present &= inputs.areas >= max(p.min_area, 1)
    known = np.maximum(inputs.areas - inputs.ignored, 1).astype(np.float64)
    share = np.zeros(count, np.float64)
    share[present] = inputs.counts[rows[present], tags[present]] / known[present]
    agree = present & (share > p.concept_share)
    doubtful = present & ~agree
    if doubtful.any() and p.concept_core <= 1:
        # The core cover only for the masks the share does not decide, against their own class.
        candidates = np.zeros((count, classes), bool)
        candidates[rows[doubtful], tags[doubtful]] = True
        cover = candidate_core_cover(inputs.label, inputs.masks, classes, inputs.scores, p.core_depth, p.core_score,
                                     candidates)
        agree |= doubtful & (cover[rows, np.minimum(tags, classes - 1)] >= p.concept_core)
    return present, agree, share


def _tagged_order(kept: np.ndarray, scores: np.ndarray, share: np.ndarray, areas: np.ndarray,
                  tags: np.ndarray) -> np.ndarray:
    """The painted tagged masks from the winner down: SAM 3's score, then the CAM share, then
    the smaller mask, then the lower class (``np.lexsort``: the last key is the primary one)."""
    return kept[np.lexsort((tags[kept], areas[kept], -share[kept], -scores[kept]))]


def _tag_scores(inputs: RuleInputs) -> np.ndarray:
    """SAM 3's per-mask score (``predicted_iou``) -> (K,) float64; zeros when the masks carry none."""
    if "predicted_iou" not in inputs.mask_scores:
        return np.zeros(len(inputs.areas), np.float64)
    return predicted_iou_of(inputs)


def _outside_to_background(base: np.ndarray, inputs: RuleInputs, assigned: np.ndarray, painted: np.ndarray,
                           where: str) -> None:
    """``base`` (modified): pixels of each class with a painted tagged mask, outside all of them,
    -> 0: everywhere (``where="background"``) or in the class's connected regions a mask touches
    (``"regions"``)."""
    flat = base.reshape(-1)
    words = inputs.masks.words
    for cls in np.unique(assigned[painted]):
        union = np.bitwise_or.reduce(words[painted & (assigned == cls)], axis=0)
        covered = np.unpackbits(union.view(np.uint8), count=flat.size).view(bool).reshape(inputs.label.shape)
        region = inputs.label == cls
        if where == "regions":
            components, _ = ndimage.label(region, structure=_EIGHT)
            touched = np.unique(components[covered & region])
            region = np.isin(components, touched[touched > 0])
        flat[(region & ~covered).reshape(-1)] = 0


def _concept_rule(inputs: RuleInputs, **params) -> RuleDecision:
    """The ``concept`` rule (module docstring)."""
    p = ConceptRuleParams(**params)
    tags = concept_tags(inputs)
    present, agree, share = _tag_evidence(inputs, p, tags)
    fallback = tags == 0
    if p.concept_disagree == "samcam":  # a tag of an absent class is never judged: SAM 3 saw what the CAM lacks
        fallback |= present & ~agree
    # SAM's predicted_iou decides the untagged masks' overlaps only if there are any to decide.
    use_scores = p.conflict == "score" and fallback.any()
    predicted_iou = predicted_iou_of(inputs) if use_scores else np.zeros(len(tags))
    assigned, ratio = samcam_assign(inputs, p, rows=fallback)
    assigned = np.where(fallback, assigned, -1)
    assigned[agree] = tags[agree]
    tagged = _tagged_order(np.flatnonzero(agree), _tag_scores(inputs), share, inputs.areas, tags)
    untagged = paint_order(np.where(agree, -1, assigned), inputs.areas, ratio, p.conflict, predicted_iou)
    base = base_label(inputs, p)
    if p.concept_outside != "keep" and agree.any():
        base = inputs.label.copy() if base is None else base
        _outside_to_background(base, inputs, assigned, agree, p.concept_outside)
    return RuleDecision(assigned=assigned, order=np.concatenate([tagged, untagged]), base=base)


CONCEPT_RULE = Rule("concept", _concept_rule, "for SAM 3's class-tagged masks: paints a mask with its tag's class "
                                              "where the CAM agrees; untagged masks go to the samcam rule",
                    params=ConceptRuleParams)

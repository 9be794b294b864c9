"""The ``samcam`` rule (the default): order independent, one class per judged mask.

Each mask is scored against every class at once (a K×C overlap matrix). A mask goes to
the class it overlaps most (background included) when that class holds more than
``ratio_thresh`` of its known pixels. A mask that fails that test is *rescued* for a
foreground class c, when at least ``cover_min_ratio`` of it is c, if it covers at least
``cover_thresh`` of c's whole region or of the *core* of one connected region of c: the
pixels at least ``core_depth`` of the region's largest inside distance away from its
edge (with ``scores``: the pixels scoring at least ``core_score`` of the region's peak).
The core is where the CAM is surest, the discriminative part, while blur and spill only
widen the region: the object mask holding the core is the object (partial activation),
although most of it is "background" by the label. Every other judged mask paints
background (``unclaimed_background``, as the reference rule does: SAM says "one thing"
and no class owns it, which is mostly CAM bleeding into sky, water or a wall); with
``unclaimed_background=False`` only masks more than ``background_thresh`` background
do. Foreground masks always outrank background masks. Where kept foreground masks
overlap, the smaller mask wins (``conflict="smaller"``: parts beat wholes, objects beat
the scene), ties going to the higher ratio, then the lower class index; or the higher
ratio wins (``"ratio"``), or SAM's higher ``predicted_iou`` (``"score"``, from
``MaskSet.scores``). Pixels no kept mask covers keep the pseudo label, ignore (255)
included unless ``ignore="background"``.

Its parameters, with their ranges and defaults, are :class:`SamcamRuleParams`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from ..settings import Settings, setting
from .contract import Rule, RuleDecision, RuleInputs
from .counting import candidate_core_cover

__all__ = ["SamcamRuleParams", "SAMCAM_RULE", "CONFLICTS", "decide_masks", "paint_order", "samcam_assign",
           "base_label", "predicted_iou_of"]

CONFLICTS = ("smaller", "ratio", "score")
_FRACTION = dict(low=0.0, high=1.0)


@dataclass(frozen=True)
class SamcamRuleParams(Settings):
    """The ``samcam`` rule's parameters (``samcam.refine(..., **params)``; ``samcam refine`` flags)."""

    ratio_thresh: float = setting(0.5, "keep a mask for the class holding more than this fraction of its known "
                                       "pixels", **_FRACTION)
    cover_thresh: float = setting(0.85, "also keep a mask covering at least this fraction of a class region, or "
                                        "of the core of one connected region of it (above 1: never)", low=0.0)
    cover_min_ratio: float = setting(0.3, "... if at least this fraction of the mask is that class", **_FRACTION)
    core_rescue: bool = setting(True, "rescue masks by the cores of connected class regions (off: by whole class "
                                      "regions only, the rule before the core rescue, with cover_min_ratio 0.2)",
                                negate="--no-core-rescue",
                                negate_help="rescue masks by whole class regions only, not by the cores of "
                                            "connected regions (the rule before the core rescue, with "
                                            "--cover-min-ratio 0.2)")
    core_depth: float = setting(0.5, "a region's core is its pixels at least this fraction of its largest "
                                     "distance-to-edge deep", **_FRACTION)
    core_score: float = setting(0.85, "with CAM scores (adapt --use-scores): a region's core is its pixels scoring "
                                      "at least this fraction of its peak", **_FRACTION)
    background_thresh: float = setting(0.5, "with --keep-unclaimed (unclaimed_background=False): a mask more than "
                                            "this fraction background paints background", **_FRACTION)
    background_masks: bool = setting(True, "paint kept background masks as background (off: never paint "
                                           "background from masks, which keeps CAM false activation)",
                                     negate="--no-background-masks",
                                     negate_help="never paint background from masks (keeps CAM false activation)")
    conflict: str = setting("smaller", "overlapping kept masks: the smaller one wins, the higher ratio, or the "
                                       "higher SAM predicted_iou (score; needs masks with SAM's scores)",
                            choices=CONFLICTS)
    ignore: str = setting("keep", "ignore (255) pixels no kept mask covers stay 255 (keep) or become 0",
                          choices=("keep", "background"))
    min_evidence: float = setting(0.1, "a mask is only judged when at least this fraction of it is known "
                                       "(not ignore)", cli=False, **_FRACTION)
    min_area: int = setting(0, "masks smaller than this many pixels are not used", cli=False, low=0)
    unclaimed_background: bool = setting(True, "a judged mask no foreground class claims paints background (off: "
                                               "only masks more than background_thresh background do, and CAM "
                                               "foreground under other masks is kept)", negate="--keep-unclaimed",
                                         negate_help="masks no class claims do NOT paint background (only masks "
                                                     "more than --background-thresh background do); CAM "
                                                     "foreground under them is kept")


def _samcam_rule(inputs: RuleInputs, **params) -> RuleDecision:
    """The ``samcam`` rule: one class per judged mask, the winner order, the base label."""
    p = SamcamRuleParams(**params)
    predicted_iou = predicted_iou_of(inputs) if p.conflict == "score" else None
    assigned, ratio = samcam_assign(inputs, p)
    order = paint_order(assigned, inputs.areas, ratio, p.conflict, predicted_iou)
    return RuleDecision(assigned=assigned, order=order, base=base_label(inputs, p))


def samcam_assign(inputs: RuleInputs, p: SamcamRuleParams, rows: Optional[np.ndarray] = None):
    """The ``samcam`` rule's per-mask decision (:func:`decide_masks`, with the core cover).

    ``rows``: (K,) bool, the masks this rule decides (None: all); the core cover is
    counted for those only (the others' decisions are computed but meant to be ignored).
    Returns ``(assigned, ratio)`` as :func:`decide_masks`.
    """
    cover = None
    if p.core_rescue:
        # Only masks that are at least cover_min_ratio of a class can be rescued for it.
        known = np.maximum(inputs.areas - inputs.ignored, 1)[:, None]
        candidates = inputs.counts >= p.cover_min_ratio * known
        candidates[:, 0] = False
        if rows is not None:
            candidates &= rows[:, None]
        cover = candidate_core_cover(inputs.label, inputs.masks, inputs.num_classes, inputs.scores, p.core_depth,
                                     p.core_score, candidates)
    return decide_masks(inputs.counts, inputs.ignored, inputs.class_area, inputs.areas, cover, p)


def base_label(inputs: RuleInputs, p: SamcamRuleParams) -> Optional[np.ndarray]:
    """The label under the masks: None (the pseudo label as it is) unless ``ignore="background"``."""
    if p.ignore != "background":
        return None
    base = inputs.label.copy()
    base[base == inputs.ignore_index] = 0
    return base


def predicted_iou_of(inputs: RuleInputs) -> np.ndarray:
    """SAM's per-mask predicted IoU for ``conflict="score"`` -> (K,) float64, checked."""
    predicted_iou = inputs.mask_scores.get("predicted_iou")
    if predicted_iou is None:
        raise ValueError("conflict='score' needs SAM's predicted_iou with the masks (a samcam mask store or "
                         "an amg.py folder with metadata.csv); use conflict='smaller'")
    values = np.asarray(predicted_iou)
    if values.shape != inputs.areas.shape or not np.issubdtype(values.dtype, np.number):
        raise ValueError(f"conflict='score': predicted_iou must be one number per mask ({len(inputs.areas)},), "
                         f"got {values.dtype} {values.shape}")
    values = values.astype(np.float64)
    if not np.isfinite(values).all():
        raise ValueError("conflict='score': predicted_iou holds NaN or infinite values")
    return values


def decide_masks(counts, ignored, class_area, areas, cover, params: SamcamRuleParams):
    """Per-mask decision of the samcam rule -> (assigned (K,) int64: class, 0 background, -1 unused;
    ratio (K,) float64: the share of the assigned class in the mask's known pixels).

    counts (K, C), ignored (K,), class_area (C,), areas (K,) int64 as in
    :class:`~samcam.rules.RuleInputs`; cover (K, C) float64 core cover or None.
    """
    p = params
    counts = counts.astype(np.float64)
    class_area = class_area.astype(np.float64)
    known = (areas - ignored).astype(np.float64)
    judged = (known > 0) & (known >= p.min_evidence * areas) & (areas >= max(p.min_area, 1))
    ratio = counts / np.maximum(known, 1.0)[:, None]
    rows = np.arange(len(areas))

    # Primary class: the one the mask overlaps most; ties go to the lower index.
    best = np.argmax(counts, axis=1) if len(areas) else np.zeros(0, np.int64)
    threshold = np.where(best == 0, p.background_thresh, p.ratio_thresh)
    assigned = np.where(judged & (ratio[rows, best] > threshold), best, -1)

    # Rescue for partial activation: the mask holds a foreground class's region, or the
    # core of one of its connected regions, and is not mainly noise around it.
    covered = counts[:, 1:] >= p.cover_thresh * class_area[1:]
    if cover is not None:
        covered |= cover[:, 1:] >= p.cover_thresh
    eligible = covered & (ratio[:, 1:] >= p.cover_min_ratio) & (class_area[1:] > 0)
    # It overrides a background decision: an object mask with CAM only on its
    # discriminative part is mostly "background" by the pseudo label.
    rescue = judged & (assigned <= 0) & eligible.any(axis=1)
    if rescue.any():
        masked_ratio = np.where(eligible, ratio[:, 1:], -1.0)
        assigned = np.where(rescue, np.argmax(masked_ratio, axis=1) + 1, assigned)
    if p.unclaimed_background:
        # Like the reference rule: a mask no foreground class claims is background
        # (SAM says "one thing", CAM cannot say which class: usually spill).
        assigned = np.where(judged & (assigned < 0), 0, assigned)
    if not p.background_masks:
        assigned = np.where(assigned == 0, -1, assigned)
    assigned_ratio = np.where(assigned >= 0, ratio[rows, np.maximum(assigned, 0)], 0.0)
    return assigned.astype(np.int64), assigned_ratio


def paint_order(assigned: np.ndarray, areas: np.ndarray, ratio: np.ndarray, conflict: str,
                predicted_iou: Optional[np.ndarray] = None) -> np.ndarray:
    """Kept masks from the winner down -> (n_kept,) indices. Foreground before background.

    ``np.lexsort``'s last key is the primary one; the class key, first, sends exact
    ties to the lower class index. A background part mask must not erase the object
    mask it lies in, so background masks rank below every foreground mask.
    """
    kept = np.flatnonzero(assigned >= 0)
    is_background = assigned[kept] == 0
    if conflict == "smaller":
        keys = (assigned[kept], -ratio[kept], areas[kept], is_background)
    elif conflict == "ratio":
        keys = (assigned[kept], areas[kept], -ratio[kept], is_background)
    else:  # "score": SAM's predicted IoU, then the smaller mask
        keys = (assigned[kept], areas[kept], -np.asarray(predicted_iou, np.float64)[kept], is_background)
    return kept[np.lexsort(keys)]


SAMCAM_RULE = Rule("samcam", _samcam_rule, "counts every mask against every class, rescues object masks by the "
                                           "cores of class regions (default)", params=SamcamRuleParams)

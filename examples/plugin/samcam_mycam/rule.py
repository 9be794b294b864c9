"""An example merge rule as a plug-in: each mask goes to its majority class, SAM's surest mask wins.

samcam counts (``inputs.counts``: pixels of each mask per class), validates and paints;
the rule only decides. Registered in ``pyproject.toml``::

    [project.entry-points."samcam.rules"]
    majority = "samcam_mycam.rule:RULE"

and used as ``samcam refine --rule majority --rule-param share=0.7`` or
``samcam.refine(label, masks, rule="majority", share=0.7)``.
"""
import numpy as np

from samcam.rules import Rule, RuleDecision, RuleInputs


def decide(inputs: RuleInputs, share: float = 0.6, min_iou: float = 0.0) -> RuleDecision:
    """Each mask goes to the class holding more than ``share`` of its known pixels.

    Masks SAM rated below ``min_iou`` (``predicted_iou``) are not used. Where used masks
    overlap, the one with the higher ``predicted_iou`` wins (without SAM's scores, the
    smaller mask). Pixels no used mask covers keep the pseudo label.
    """
    known = inputs.areas - inputs.ignored
    best = np.argmax(inputs.counts, axis=1) if len(known) else np.zeros(0, np.int64)
    best_share = inputs.counts[np.arange(len(known)), best] / np.maximum(known, 1)
    used = (known > 0) & (best_share > share)
    iou = inputs.mask_scores.get("predicted_iou")
    if iou is not None:
        used &= np.asarray(iou) >= min_iou
    kept = np.flatnonzero(used)
    winner_key = -np.asarray(iou, np.float64)[kept] if iou is not None else inputs.areas[kept]
    order = kept[np.argsort(winner_key, kind="stable")]
    return RuleDecision(assigned=np.where(used, best, -1), order=order)


RULE = Rule("majority", decide, "each mask to its majority class; SAM's surest mask wins overlaps")

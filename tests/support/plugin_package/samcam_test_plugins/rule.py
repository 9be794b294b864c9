"""Two made-up merge rules, registered the way any rule plugs into samcam.

``toyrule`` returns a decision: each mask to the class holding more than ``share`` of its
known pixels, smaller masks winning overlaps; pixels under no used mask keep the label.
``toymap`` returns a label map: every pixel under a mask becomes background.
"""
import numpy as np

from samcam.rules import Rule, RuleDecision


def decide(inputs, share=0.5):
    known = inputs.areas - inputs.ignored
    best = np.argmax(inputs.counts, axis=1) if len(known) else np.zeros(0, np.int64)
    used = (known > 0) & (inputs.counts[np.arange(len(known)), best] > share * known)
    kept = np.flatnonzero(used)
    return RuleDecision(assigned=np.where(used, best, -1), order=kept[np.argsort(inputs.areas[kept], kind="stable")])


def toymap(inputs):
    """Every pixel under a mask becomes background."""
    covered = inputs.masks.dense.any(axis=0) if len(inputs.areas) else np.zeros(inputs.label.shape, bool)
    return np.where(covered, 0, inputs.label).astype(np.uint8)


RULE = Rule("toyrule", decide, "each mask to its majority class, smaller masks win")

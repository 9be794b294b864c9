"""The rule-quality benchmark on synthetic scenes (shared by tests/bench and benchmarks/).

CAM pseudo labels with partial and false activation are refined with SAM-like masks by
each rule; one dataset-level mIoU per variant. SYNTHETIC data: it ranks rules on the
failure modes the paper targets, it does not predict VOC numbers.
"""
from __future__ import annotations

from typing import Dict

import numpy as np

from ..evaluate import evaluate_arrays
from ..refine import refine
from .synthetic import cam_scores, cam_to_label, make_scene

__all__ = ["rule_quality"]


def rule_quality(num_scenes: int = 100, seed: int = 0, height: int = 120, width: int = 160) -> Dict[str, float]:
    """mIoU of: CAM labels, official rule, samcam rule (+ variants, + CAM scores)."""
    rng = np.random.default_rng(seed)
    scenes = [make_scene(rng, height, width) for _ in range(num_scenes)]
    gts = [s.gt for s in scenes]
    labels = [cam_to_label(s.cam) for s in scenes]
    variants = {
        "cam": lambda s, label: label,
        "official": lambda s, label: refine(label, s.masks, rule="official"),
        "paper's description (majority class > 0.5)": lambda s, label: refine(
            label, s.masks, cover_thresh=2.0, unclaimed_background=False),
        "samcam": lambda s, label: refine(label, s.masks),
        "samcam, masks in reverse order": lambda s, label: refine(label, s.masks[::-1]),
        "samcam conflict=ratio": lambda s, label: refine(label, s.masks, conflict="ratio"),
        "samcam unclaimed_background=False": lambda s, label: refine(label, s.masks, unclaimed_background=False),
        "samcam no background masks": lambda s, label: refine(label, s.masks, background_masks=False),
        "samcam + CAM scores": lambda s, label: refine(label, s.masks, scores=cam_scores(s.cam)),
    }
    return {name: evaluate_arrays([f(s, label) for s, label in zip(scenes, labels)], gts)["miou"]
            for name, f in variants.items()}

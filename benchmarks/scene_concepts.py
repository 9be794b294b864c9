"""SAM 3's concept masks, simulated, for the rule benchmark's ``sam3_*`` families (:mod:`scenes`).

SAM 3 is prompted with each class of the image (its image-level labels: the classes the
ground truth holds, as in weakly supervised segmentation) and returns, for each prompt,
instance masks with a score (query score x presence score) above its threshold (0.3,
transformers' ``post_process_instance_segmentation`` default). What the simulation
puts in, per prompt of class c:

* each instance of c is **found** with probability ``found`` (less for small or mostly
  occluded instances), as a mask with a noisy boundary (SAM 3's masks are predicted at
  288x288 and resized) whose score rises with its true quality; a found instance is
  sometimes returned as a **part** only (``part``), and sometimes twice (``duplicate``,
  the second copy noisier and lower scored);
* neighbouring instances of c are **merged** into one mask (``merge``, instead of their
  own masks), with a lower score;
* **hard negatives**: an object of another class of the image, a co-occurring partner
  (rider and horse, bottle and table) far more often than any other object, is returned
  as c (``hard_negative``), with a lower score;
* **background** false positives: a piece of background stuff or a small background
  thing is returned as c (``stuff_fp``), with a low score;
* the whole prompt **misses** (``miss_class``: SAM 3's presence score says "absent").

Then SAM 3's threshold, and its order: prompts by class, each prompt's masks by score.
The masks carry the fields of a SAM 3 mask store: ``class_index`` (int64),
``predicted_iou`` (the score, float32), ``presence_score``, ``box_xyxy`` and ``area``.
SYNTHETIC masks: the rates are choices, not measurements of SAM 3.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import List, Sequence, Tuple

import numpy as np
from scene_sam import noisy_variant

from samcam.masks.maskset import MaskSet

# SAM 3's keep threshold (transformers' post_process_instance_segmentation default).
SAM3_THRESHOLD = 0.3


@dataclass(frozen=True)
class ConceptSim:
    """How SAM 3 behaves on one family's scenes (probabilities per instance, object or prompt)."""

    found: float = 0.9
    part: float = 0.08
    duplicate: float = 0.1
    merge: float = 0.3
    hard_negative: float = 0.05           # per other object of the image (partner: x ``partner_factor``)
    partner_factor: float = 5.0
    stuff_fp: float = 0.03                # per background piece or small thing
    miss_class: float = 0.03
    noise: Tuple[float, float] = (0.3, 1.0)


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.count_nonzero(a | b)
    return np.count_nonzero(a & b) / union if union else 0.0


def _find_rate(thing, sim: ConceptSim) -> float:
    """The chance SAM 3 finds an instance: lower when small or mostly hidden."""
    visible = thing.whole.sum()
    drawn = np.logical_or.reduce(thing.parts).sum()
    size = min(1.0, np.sqrt(visible) / 8.0)
    shown = min(1.0, visible / max(drawn, 1) / 0.5)
    return sim.found * size * shown


def _part_of(thing, rng) -> np.ndarray:
    """Some of an instance's visible parts (its discriminative part always among them)."""
    parts = [p & thing.whole for p in thing.parts]
    keep = [i for i in range(len(parts)) if i == thing.key or rng.random() < 0.5]
    return np.logical_or.reduce([parts[i] for i in keep])


class _Output:
    """The masks of one scene, collected prompt by prompt."""

    def __init__(self, rng, sim: ConceptSim):
        self.rng, self.sim = rng, sim
        self.masks: List[np.ndarray] = []
        self.scores: List[float] = []
        self.classes: List[int] = []
        self.presence: List[float] = []

    def add(self, region: np.ndarray, reference: np.ndarray, cls: int, presence: float, base: float) -> None:
        """A noisy mask of ``region``, its score rising with its IoU with ``reference``."""
        if region.sum() < 4:
            return
        mask = noisy_variant(region, self.rng, self.rng.uniform(*self.sim.noise))
        if mask.sum() < 4:
            return
        quality = _iou(mask, reference)
        score = presence * float(np.clip(base + 0.5 * quality + self.rng.normal(0, 0.08), 0, 1))
        self.masks.append(mask)
        self.scores.append(score)
        self.classes.append(cls)
        self.presence.append(presence)


def _instances(out: _Output, things: Sequence, cls: int, presence: float, merged: set) -> None:
    """Every instance of ``cls``: found (whole, part, duplicate) or missed; merged ones skipped."""
    sim, rng = out.sim, out.rng
    for index, thing in enumerate(things):
        if thing.cls != cls or index in merged or thing.whole.sum() < 6 or rng.random() >= _find_rate(thing, sim):
            continue
        region = _part_of(thing, rng) if rng.random() < sim.part else thing.whole
        out.add(region, thing.whole, cls, presence, 0.4)
        if rng.random() < sim.duplicate:
            out.add(thing.whole, thing.whole, cls, presence, 0.2)


def _merges(out: _Output, things: Sequence, pairs: Sequence[Tuple[int, int]], cls: int, presence: float) -> set:
    """Neighbouring instances of ``cls`` returned as one mask -> the indices merged away."""
    merged = set()
    for a, b in pairs:
        if things[a].cls == cls == things[b].cls and not {a, b} & merged and out.rng.random() < out.sim.merge:
            union = things[a].whole | things[b].whole
            out.add(union, things[a].whole if things[a].whole.sum() >= things[b].whole.sum() else things[b].whole,
                    cls, presence, 0.2)
            merged |= {a, b}
    return merged


def _partners(layout, cls: int) -> set:
    """The objects paired (rider and horse, bottle and table) with an object of ``cls``."""
    return {i for pair in layout.pairs for i in pair if any(layout.things[j].cls == cls for j in pair)}


def _false_positives(out: _Output, layout, cls: int, presence: float) -> None:
    """Hard negatives (other classes' objects, partners first) and background pieces, as ``cls``."""
    sim, rng = out.sim, out.rng
    partners = _partners(layout, cls)
    for index, thing in enumerate(layout.things):
        if thing.cls == cls or thing.whole.sum() < 6:
            continue
        if rng.random() < sim.hard_negative * (sim.partner_factor if index in partners else 1.0):
            out.add(thing.whole, thing.whole, cls, presence, -0.1)
    for region in _background(layout):
        if rng.random() < sim.stuff_fp:
            out.add(region, region, cls, presence, -0.25)


def _background(layout) -> List[np.ndarray]:
    """The visible pieces of background stuff and the small background things."""
    return ([piece & ~layout.occupied for group in layout.pieces for piece in group]
            + [blob & ~layout.occupied for blob in layout.junk])


def concept_masks(sim: ConceptSim, rng, layout, shape: Tuple[int, int]) -> MaskSet:
    """SAM 3's masks for a scene's ``layout`` (:class:`scenes._Layout`) -> MaskSet with SAM 3's scores."""
    classes = sorted({t.cls for t in layout.things if t.whole.sum() > 0})
    out = _Output(rng, sim)
    for cls in classes:  # one prompt per class of the image
        if rng.random() < sim.miss_class:
            continue
        presence = float(rng.uniform(0.8, 1.0))
        merged = _merges(out, layout.things, layout.pairs, cls, presence)
        _instances(out, layout.things, cls, presence, merged)
        _false_positives(out, layout, cls, presence)
    return _sam3_output(out, shape)


def _sam3_output(out: _Output, shape: Tuple[int, int]) -> MaskSet:
    """SAM 3's threshold and order (by prompt, then score), with a SAM 3 store's fields."""
    scores = np.array(out.scores, np.float32)
    classes = np.array(out.classes, np.int64)
    keep = np.flatnonzero(scores > SAM3_THRESHOLD)
    keep = keep[np.lexsort((-scores[keep], classes[keep]))]
    dense = np.stack([out.masks[i] for i in keep]) if keep.size else np.zeros((0,) + tuple(shape), bool)
    boxes = np.zeros((len(keep), 4), np.float32)
    for row, mask in enumerate(dense):
        rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
        boxes[row] = (cols[0], rows[0], cols[-1] + 1, rows[-1] + 1)
    return MaskSet.from_dense(dense, {
        "class_index": classes[keep], "predicted_iou": scores[keep],
        "presence_score": np.array(out.presence, np.float32)[keep] if keep.size else np.zeros(0, np.float32),
        "box_xyxy": boxes, "area": dense.reshape(len(dense), shape[0] * shape[1]).sum(axis=1).astype(np.int64),
    })


def with_untagged(concept: MaskSet, sam: MaskSet) -> MaskSet:
    """One store of SAM 3's tagged masks and SAM's class-agnostic ones (``class_index`` 0: untagged),
    with the fields both have."""
    packed = np.concatenate([concept.packed, sam.packed])
    scores = {
        "class_index": np.concatenate([concept.scores["class_index"], np.zeros(len(sam), np.int64)]),
        "predicted_iou": np.concatenate([concept.scores["predicted_iou"], sam.scores["predicted_iou"]])
                           .astype(np.float32),
    }
    return MaskSet(packed, concept.image_shape, scores)

"""Scene families for the rule benchmark (SYNTHETIC data, rendered shapes, not photographs).

Not part of the installed package: :mod:`rule_quality` and ``bench_rules.py`` import it
with ``benchmarks/`` on ``sys.path``. The objects are drawn by :mod:`scene_objects`, the
masks made by :mod:`scene_sam` (SAM's generator, simulated).

Each family varies what real VOC/COCO images vary, so that a refinement rule is judged
on more than one kind of picture:

``voc_like``   1-3 objects of any class, medium size, CAM faults mild to severe.
``scale``      1-5 objects from tiny (0.2% of the image) to image-filling (cut by the
               frame); CAM blur is in pixels, so tiny objects are over-covered and
               large ones only partly activated.
``instances``  2-7 instances of one class, touching and occluding each other; CAMs
               miss some instances and fill the gaps between others; SAM adds masks
               of groups of instances.
``cooccur``    co-occurring classes: a person on a horse, motorbike or bicycle, a
               bottle, plant or monitor on a dining table, a person on a sofa or chair,
               in a boat; each class's CAM bleeds onto its partner; SAM adds the
               union of the pair.
``thin``       thin and non-convex objects with holes (bicycles, chairs, plants,
               motorbikes, monitors, boats with masts); CAMs fill the holes; SAM
               drops thin parts and sometimes fills holes (a wheel as a disc).
``clutter``    busy backgrounds: stuff over-segmented into many pieces, many small
               background things with their own masks, severe CAM false activation,
               CAMs missing instances, SAM missing more masks with noisier boundaries.
``partial``    conservative CAMs (a method with a high threshold): strong partial
               activation, little spill.
``post``       post-processed pseudo labels (random walk, CRF): near the object's
               edges, a part sometimes lost, the object sometimes grown into a piece of
               background.
``demo``       the demo's own scenes (:mod:`samcam.demo.synthetic`, written before this
               module, with other shapes, CAMs and masks): masks in random order and
               without SAM scores.
``sam3_*``     concept-mask families: scenes of the layouts above that also carry SAM 3's
               class-tagged masks (:mod:`scene_concepts`: misses, merged instances,
               hard negatives of co-occurring classes, scores); :data:`CONCEPT_FAMILIES`.

What every scene has:

* ground truth: 0 background, VOC class indices 1..20 (each class has a shape
  template: animals with head/body/legs, people, vehicles with wheels and windows,
  bicycles and chairs of thin bars, tables, sofas, monitors, bottles, plants), 255 on
  a band along object boundaries as in VOC;
* IRN-style CAMs: per class, the object weighted towards a discriminative part
  (partial activation), blurred (CAMs are low-resolution), plus spill blobs on the
  context next to the object (false activation), normalised to max 1; the pseudo
  label is IRN's (background plane 0.15, argmax). Per scene, a partial-activation
  and a false-activation strength, each in [0, 1], say how partial and how spilled.
  On 100 scenes per family (seed 0) the CAM labels of the families above have a
  mean foreground precision of 50-74% and recall of 67-85%, mIoU 44-67%;
* SAM-like masks made the way SAM's automatic generator makes them: candidate masks
  for every level of the hierarchy (whole objects, parts, sub-parts, groups,
  background stuff and its pieces, small background things, objects merged with a
  bit of background), several noisy-boundary variants of each, each with a
  synthetic ``predicted_iou`` that rises with the candidate's true quality (its IoU
  with the region it stands for) and a ``stability_score`` that falls with its
  boundary noise; then SAM's filters (``predicted_iou > 0.88``,
  ``stability_score >= 0.95``), box NMS at 0.7 keeping the higher ``predicted_iou``,
  and SAM's output order (the NMS keep order: ``predicted_iou`` descending).
  Some regions get no mask, and some pixels are covered by none.

Scenes are 160×120 (VOC's 4:3 at a third of its size). They are deterministic per ``(family, index, seed)``: each draws from its own
random stream, so any subset can be made in any order or process.
"""
from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
from scene_concepts import ConceptSim, concept_masks
from scene_objects import (
    CLASS_WEIGHTS,
    CROWD_CLASSES,
    PAIRS,
    TABLE,
    TEMPLATES,
    THIN_CLASSES,
    Canvas,
    Thing,
    stuff_regions,
)
from scene_sam import (
    SAM_BOX_NMS_THRESH,
    SAM_PRED_IOU_THRESH,
    SAM_STABILITY_THRESH,
    SamTargets,
    noisy_variant,
    sam_masks,
    smooth_noise,
)
from scipy import ndimage

from samcam.cams import label_from_cams, scores_from_cams
from samcam.demo.synthetic import make_scene
from samcam.masks.maskset import MaskSet

__all__ = ["FAMILIES", "SAM_FAMILIES", "CONCEPT_FAMILIES", "BenchScene", "make_bench_scene", "CAM_THRESHOLD",
           "SAM_PRED_IOU_THRESH", "SAM_STABILITY_THRESH", "SAM_BOX_NMS_THRESH"]

CAM_THRESHOLD = 0.15  # IRN's cam_eval_thres: the background plane of the pseudo label


@dataclass
class BenchScene:
    """One benchmark scene.

    family, index, seed: what made it (the same triple makes the same scene).
    gt: H×W uint8 ground truth (0, 1..20, 255 boundary band).
    label: H×W uint8 CAM pseudo label (IRN's rule, 0 background, no 255).
    cam_classes: (N,) int64 classes (1-based) of ``cam_maps``; cam_maps: (N, H, W) float32 in [0, 1].
    masks: :class:`~samcam.masks.MaskSet` in SAM's output order, with ``scores``
        ``predicted_iou`` (K,) float32, ``stability_score`` (K,) float32, ``area`` (K,)
        int64 and ``bbox`` (K, 4) XYWH, as the mask store carries them.
    partial, spill: the scene's partial / false activation strengths in [0, 1].
    concept_masks: ``sam3_*`` families: SAM 3's class-tagged masks (``class_index``,
        ``predicted_iou``, ...), :mod:`scene_concepts`; None otherwise.
    """

    family: str
    index: int
    seed: int
    gt: np.ndarray
    label: np.ndarray
    cam_classes: np.ndarray
    cam_maps: np.ndarray
    masks: MaskSet
    partial: float
    spill: float
    concept_masks: Optional[MaskSet] = None

    def cam_scores(self, num_classes: int = 21) -> np.ndarray:
        """(num_classes, H, W) float32 class scores for ``refine(..., scores=)`` (channel 0: 0.15)."""
        return scores_from_cams(self.cam_classes, self.cam_maps, CAM_THRESHOLD, num_classes)


# ----------------------------------------------------------------------------- family settings
@dataclass(frozen=True)
class Family:
    """What a family draws. Ranges are (low, high) of uniform draws per scene."""

    name: str
    description: str
    partial: Tuple[float, float] = (0.1, 0.9)         # CAM partial activation strength
    spill: Tuple[float, float] = (0.1, 0.9)           # CAM false activation strength
    labels: str = "cam"                               # "cam" or "post" (post-processed labels)
    stuff_pieces: Tuple[int, int] = (1, 3)            # pieces per background region
    extra_stuff: Tuple[int, int] = (0, 2)             # background things (trees, buildings)
    junk: Tuple[int, int] = (1, 5)                    # small background things with own masks
    miss_instance: float = 0.0                        # CAM misses an instance whose class has another
    miss_class: float = 0.0                           # CAM misses a class (if another class remains)
    sam_found: float = 1.0                            # scales SAM's find rate for every region
    sam_noise: Tuple[float, float] = (0.3, 1.2)       # boundary noise (pixels)
    filled: float = 0.15                              # SAM returns a hole-filled object
    leak: float = 0.2                                 # SAM merges an object with some background
    group: float = 0.0                                # SAM returns a union of instances / a pair
    cross_bleed: Tuple[float, float] = (0.0, 0.0)     # CAM of one class on its partner
    layout: str = ""                                  # object layout (default: the family's name)
    generator: str = "families"                       # "families" (this module) or "demo"
    concepts: Optional[ConceptSim] = None             # also SAM 3's concept masks (scene_concepts)


FAMILIES: Dict[str, Family] = {f.name: f for f in (
    Family("voc_like", "1-3 objects of any class, medium size"),
    Family("scale", "1-5 objects, tiny (0.2% of the image) to image-filling"),
    Family("instances", "2-7 instances of one class, touching; CAM misses some; group masks",
           miss_instance=0.25, group=0.35),
    Family("cooccur", "person on horse/bike, things on a table, person on sofa; CAM bleeds across the pair",
           group=0.4, cross_bleed=(0.2, 0.8)),
    Family("thin", "bicycles, chairs, plants, monitors: thin, non-convex, holes; SAM fills holes",
           filled=0.5, sam_noise=(0.4, 1.4)),
    Family("clutter", "over-segmented background, many small things, severe CAM spill and misses",
           partial=(0.4, 1.0), spill=(0.6, 1.0), stuff_pieces=(2, 6), extra_stuff=(1, 4), junk=(5, 15),
           miss_instance=0.3, miss_class=0.1, sam_found=0.8, sam_noise=(0.6, 1.8)),
    Family("partial", "conservative CAMs: strong partial activation, little spill (high thresholds)",
           partial=(0.6, 1.0), spill=(0.0, 0.3), layout="voc_like"),
    Family("post", "post-processed labels (random walk / CRF): near the edges, parts missing or overgrown",
           labels="post", miss_instance=0.1, layout="voc_like"),
    Family("demo", "the demo's scenes (samcam.demo.synthetic, written before this module): masks shuffled, "
           "no SAM scores", generator="demo"),
    Family("sam3_voc_like", "voc_like scenes with SAM 3's concept masks", layout="voc_like", concepts=ConceptSim()),
    Family("sam3_instances", "instances: SAM 3 merges neighbours, misses some", layout="instances",
           miss_instance=0.25, group=0.35, concepts=ConceptSim(found=0.8, merge=0.4)),
    Family("sam3_cooccur", "cooccur: SAM 3 returns the partner object as the class (hard negatives)",
           layout="cooccur", group=0.4, cross_bleed=(0.2, 0.8), concepts=ConceptSim(hard_negative=0.06)),
    Family("sam3_partial", "partial: conservative CAMs, SAM 3's whole objects", layout="voc_like",
           partial=(0.6, 1.0), spill=(0.0, 0.3), concepts=ConceptSim()),
    Family("sam3_clutter", "clutter: severe spill and CAM misses; SAM 3 false positives on background",
           layout="clutter", partial=(0.4, 1.0), spill=(0.6, 1.0), stuff_pieces=(2, 6), extra_stuff=(1, 4),
           junk=(5, 15), miss_instance=0.3, miss_class=0.1, sam_found=0.8, sam_noise=(0.6, 1.8),
           concepts=ConceptSim(found=0.85, stuff_fp=0.02)),
    Family("sam3_misses", "voc_like with a pessimistic SAM 3: finds 60% of instances, misses 15% of prompts",
           layout="voc_like", concepts=ConceptSim(found=0.6, miss_class=0.15)),
)}
# The families of SAM's class-agnostic masks (the rule table) and those with SAM 3's concept masks.
SAM_FAMILIES = tuple(name for name, family in FAMILIES.items() if family.concepts is None)
CONCEPT_FAMILIES = tuple(name for name, family in FAMILIES.items() if family.concepts is not None)


# ----------------------------------------------------------------------------- layout
def _object_size(rng, canvas, low, high):
    """Characteristic size (sqrt of area) for an area fraction drawn log-uniformly in [low, high]."""
    fraction = np.exp(rng.uniform(np.log(low), np.log(high)))
    return np.sqrt(fraction * canvas.height * canvas.width)


def _place(rng, canvas, s, spread=0.35):
    return (canvas.height * (0.5 + rng.uniform(-spread, spread)), canvas.width * (0.5 + rng.uniform(-spread, spread)))


def _draw(canvas, rng, cls, cy, cx, s) -> Thing:
    return TEMPLATES[cls](canvas, rng, cls, cy, cx, s)


def _random_class(rng) -> int:
    return int(rng.choice(np.arange(1, 21), p=CLASS_WEIGHTS))


def _new_object(canvas, rng, low, high, spread=0.35, classes: Optional[Sequence[int]] = None) -> Thing:
    """An object of area fraction in [low, high], of a class from ``classes`` (default: any, by
    VOC's frequencies), placed within ``spread`` of the centre. Draws size, class, place, shape."""
    s = _object_size(rng, canvas, low, high)
    cls = _random_class(rng) if classes is None else int(rng.choice(classes))
    return _draw(canvas, rng, cls, *_place(rng, canvas, s, spread), s)


def _shifted(pairs: List[Tuple[int, int]]) -> List[Tuple[int, int]]:
    """The pairs' indices after an object was inserted at the back (index 0)."""
    return [(a + 1, b + 1) for a, b in pairs]


# Each layout returns the objects, back to front, and the pairs (indices) whose CAMs
# bleed into each other / that SAM groups.
def _layout_voc_like(canvas, rng):
    things = [_new_object(canvas, rng, 0.03, 0.3) for _ in range(int(rng.choice([1, 2, 3], p=[0.5, 0.3, 0.2])))]
    return things, []


def _layout_scale(canvas, rng):
    things = [_new_object(canvas, rng, 0.002, 0.8, 0.4) for _ in range(int(rng.integers(1, 6)))]
    things.sort(key=lambda t: -sum(p.sum() for p in t.parts))  # big ones behind
    return things, []


def _layout_instances(canvas, rng):
    cls = int(rng.choice(CROWD_CLASSES))
    count = int(rng.integers(2, 8))
    s = _object_size(rng, canvas, 0.01, 0.12)
    cy, cx = _place(rng, canvas, s, 0.15)
    things, pairs = [], []
    for index in range(count):  # a row or a cluster: neighbours touch or overlap
        y = cy + rng.normal(0, s * 0.35) + (index - count / 2) * rng.uniform(0, s * 0.2)
        x = cx + (index - (count - 1) / 2) * s * rng.uniform(0.7, 1.3) + rng.normal(0, s * 0.2)
        things.append(_draw(canvas, rng, cls, y, x, s * rng.uniform(0.8, 1.2)))
        if index:
            pairs.append((index - 1, index))
    if rng.random() < 0.3:
        other = _random_class(rng)  # drawn before the size, unlike _new_object
        s2 = _object_size(rng, canvas, 0.02, 0.15)
        things.insert(0, _draw(canvas, rng, other, *_place(rng, canvas, s2), s2))
        pairs = _shifted(pairs)
    return things, pairs


def _layout_cooccur(canvas, rng):
    front, back = PAIRS[int(rng.integers(len(PAIRS)))]
    s = _object_size(rng, canvas, 0.08, 0.35)
    cy, cx = _place(rng, canvas, s, 0.15)
    things = [_draw(canvas, rng, back, cy, cx, s)]
    pairs = []
    if back == TABLE:  # things standing on the table top
        for _ in range(int(rng.integers(1, 4))):
            s2 = s * rng.uniform(0.25, 0.45)
            things.append(_draw(canvas, rng, front, cy - s2 * 0.5, cx + rng.uniform(-0.8, 0.8) * s, s2))
            pairs.append((0, len(things) - 1))
    else:  # a rider / sitter overlapping the upper half
        s2 = s * rng.uniform(0.45, 0.7)
        things.append(_draw(canvas, rng, front, cy - s * rng.uniform(0.3, 0.6), cx + rng.normal(0, s * 0.15), s2))
        pairs.append((0, 1))
    if rng.random() < 0.3:
        things.insert(0, _new_object(canvas, rng, 0.02, 0.1))
        pairs = _shifted(pairs)
    return things, pairs


def _layout_thin(canvas, rng):
    things = [_new_object(canvas, rng, 0.04, 0.3, classes=THIN_CLASSES) for _ in range(int(rng.integers(1, 4)))]
    if rng.random() < 0.3:
        things.insert(0, _new_object(canvas, rng, 0.03, 0.15))
    return things, []


def _layout_clutter(canvas, rng):
    return [_new_object(canvas, rng, 0.01, 0.2, 0.4) for _ in range(int(rng.integers(1, 5)))], []


_LAYOUTS: Dict[str, Callable] = {
    "voc_like": _layout_voc_like, "scale": _layout_scale, "instances": _layout_instances,
    "cooccur": _layout_cooccur, "thin": _layout_thin, "clutter": _layout_clutter,
}


def _layout(family: Family, canvas: Canvas, rng) -> Tuple[List[Thing], List[Tuple[int, int]]]:
    """Objects, back to front, and the pairs (indices) whose CAMs bleed into each other / SAM groups."""
    name = family.layout or family.name
    if name not in _LAYOUTS:  # pragma: no cover - FAMILIES and _LAYOUTS change together
        raise ValueError(f"unknown family {name!r}")
    return _LAYOUTS[name](canvas, rng)


@dataclass
class _Layout:
    """What the CAMs and masks are made from: the objects (back to front, ``whole`` set), the pairs
    of object indices that go together, the background regions, their pieces, the small
    background things, and the pixels any object covers."""

    things: List[Thing]
    pairs: List[Tuple[int, int]]
    regions: List[np.ndarray]
    pieces: List[List[np.ndarray]]
    junk: List[np.ndarray]
    occupied: np.ndarray


# ----------------------------------------------------------------------------- CAMs
def _make_cams(family: Family, canvas: Canvas, rng, layout: _Layout, partial: float, spill: float):
    """Class score maps -> (classes (N,) 1-based, maps (N, H, W) float32 normalised to max 1).

    ``labels="cam"``: IRN-style CAMs (partial activation on the discriminative part,
    spill blobs beside the object, blur). ``labels="post"``: maps whose thresholded
    label looks post-processed (random walk, CRF): near the object's edges, with a
    part sometimes lost and the object sometimes grown into a neighbouring piece of
    background.
    """
    h, w = canvas.height, canvas.width
    things = layout.things
    classes = sorted({t.cls for t in things if t.whole.any()})
    missed_class = _missed_class(family, rng, classes)
    maps = {c: np.zeros((h, w), np.float32) for c in classes}
    sigma = _blur(family, rng, partial, spill)
    missed = _missed_instances(family, rng, things, classes)
    for index, thing in enumerate(things):
        if not thing.whole.any() or thing.cls == missed_class or index in missed:
            continue
        if family.labels == "post":
            region = _post_processed_region(thing, rng, partial, spill, layout.pieces, layout.occupied)
            activation = ndimage.gaussian_filter(region.astype(np.float32), sigma)
            activation = activation / (activation.max() + 1e-6)
        else:
            activation = _cam_activation(canvas, rng, thing, partial, spill, sigma)
        maps[thing.cls] = np.maximum(maps[thing.cls], activation)
    _cross_bleed(family, rng, layout, maps, spill, sigma)
    return _normalised_maps(rng, classes, maps, (h, w))


def _missed_class(family: Family, rng, classes) -> Optional[int]:
    """The class the CAMs miss altogether (only if another class remains), or None."""
    if len(classes) > 1 and rng.random() < family.miss_class:
        return int(rng.choice(classes))
    return None


def _blur(family: Family, rng, partial: float, spill: float) -> float:
    """The maps' blur (Gaussian sigma, px): CAMs are coarse (stride 4-16) and upsampled, more so
    the more partial or spilled; post-processed labels follow edges."""
    return rng.uniform(1.5, 3.0) + 1.5 * max(partial, spill) if family.labels == "cam" else rng.uniform(0.6, 1.2)


def _missed_instances(family: Family, rng, things: List[Thing], classes) -> set:
    """Indices of the instances the CAMs miss: of each class with several instances, some
    (never all) are lost."""
    missed = set()
    for cls in classes:
        instances = [i for i, t in enumerate(things) if t.cls == cls and t.whole.any()]
        if len(instances) > 1:
            lost = [i for i in instances if rng.random() < family.miss_instance]
            missed.update(lost[: len(instances) - 1])
    return missed


def _cam_activation(canvas: Canvas, rng, thing: Thing, partial: float, spill: float, sigma: float) -> np.ndarray:
    """One object's IRN-style CAM: peaked on its key part (partial activation), blurred,
    with blobs on the context beside it (false activation) -> H×W float."""
    key = thing.parts[thing.key] & thing.whole
    if not key.any():
        key = thing.whole
    # Partial activation: the rest of the object scores a fraction of the key part.
    rest = np.clip(rng.uniform(0.35, 1.0) - 0.8 * partial, 0.0, 1.0)
    weight = thing.whole * rest + key * (1 - rest)
    activation = ndimage.gaussian_filter(weight.astype(np.float32), sigma)
    activation /= activation.max() + 1e-6
    # False activation: blobs on the context beside the object.
    extent = np.sqrt(thing.whole.sum())
    cy, cx = np.argwhere(thing.whole).mean(axis=0)
    for _ in range(int(rng.integers(1, 3))):
        if rng.random() > 0.15 + 0.7 * spill:
            continue
        angle = rng.uniform(0, 2 * np.pi)
        distance = extent * rng.uniform(0.5, 1.0)
        fy, fx = cy + np.sin(angle) * distance, cx + np.cos(angle) * distance
        radius = max(2.0, extent * rng.uniform(0.15, 0.4))
        strength = rng.uniform(0.05, 0.25) + 0.5 * spill
        blob = strength * np.exp(-((canvas.yy - fy) ** 2 + (canvas.xx - fx) ** 2) / (2 * radius ** 2))
        activation = np.maximum(activation, blob)
    return activation


def _cross_bleed(family: Family, rng, layout: _Layout, maps: Dict[int, np.ndarray], spill: float, sigma: float):
    """Co-occurrence: each class of a pair also scores on its partner (``maps`` updated in place)."""
    low, high = family.cross_bleed
    for a, b in layout.pairs:
        ta, tb = layout.things[a], layout.things[b]
        if ta.cls == tb.cls or ta.cls not in maps or tb.cls not in maps:
            continue
        for src, dst in ((ta, tb), (tb, ta)):
            if high > 0 and maps[src.cls].any():
                strength = rng.uniform(low, high) * (0.4 + 0.6 * spill)
                bleed = ndimage.gaussian_filter(dst.whole.astype(np.float32), sigma) * strength
                maps[src.cls] = np.maximum(maps[src.cls], bleed)


def _normalised_maps(rng, classes, maps: Dict[int, np.ndarray], shape) -> Tuple[np.ndarray, np.ndarray]:
    """The classes that scored anywhere, each map with a little smooth noise, normalised to max 1."""
    keys, planes = [], []
    for cls in classes:
        plane = maps[cls]
        if plane.max() <= 0:
            continue
        plane = np.clip(plane + 0.03 * smooth_noise(rng, shape, 3.0), 0, None)
        keys.append(cls)
        planes.append(plane / plane.max())
    if not keys:
        return np.zeros(0, np.int64), np.zeros((0,) + tuple(shape), np.float32)
    return np.array(keys, np.int64), np.stack(planes).astype(np.float32)


def _post_processed_region(thing: Thing, rng, partial: float, spill: float, pieces, occupied) -> np.ndarray:
    """What a random walk / CRF makes of one object: its edges moved, a part lost, some background taken."""
    region = noisy_variant(thing.whole, rng, rng.uniform(1.0, 2.5))
    parts = [p & thing.whole for p in thing.parts if (p & thing.whole).any()]
    for index, part in enumerate(parts):
        if index != thing.key and rng.random() < 0.5 * partial:
            region &= ~ndimage.binary_dilation(part, iterations=1)
    if rng.random() < spill:
        region |= _taken_background(thing, rng, pieces, occupied)
    return region


def _taken_background(thing: Thing, rng, pieces, occupied) -> np.ndarray:
    """Part of a background piece next to the object (none if no piece touches it) -> H×W bool."""
    grown = ndimage.binary_dilation(thing.whole, iterations=int(rng.integers(2, 8)))
    touching = [p for group in pieces for p in group if (p & grown & ~occupied).any()]
    if not touching:
        return np.zeros_like(thing.whole)
    piece = touching[int(rng.integers(len(touching)))]
    return piece & ndimage.binary_dilation(thing.whole, iterations=int(rng.integers(4, 16)))


# ----------------------------------------------------------------------------- SAM-like masks
def _make_masks(family: Family, canvas: Canvas, rng, layout: _Layout) -> MaskSet:
    """Candidate masks for every level of the hierarchy -> SAM's filters, NMS and order."""
    granularity = rng.uniform(0.3, 1.0)   # how eagerly this "image" splits into parts
    targets = SamTargets(family.sam_found)
    for thing in layout.things:
        _thing_targets(targets, family, rng, thing, layout.occupied, granularity)
    for a, b in layout.pairs:
        if rng.random() < family.group:
            targets.add(layout.things[a].whole | layout.things[b].whole, 0.9)
    _background_targets(targets, layout, granularity)
    return sam_masks(rng, targets, family.sam_noise, (canvas.height, canvas.width))


def _thing_targets(targets: SamTargets, family: Family, rng, thing: Thing, occupied: np.ndarray,
                   granularity: float) -> None:
    """An object's regions: the whole, its parts and sub-parts, sometimes the object with its
    holes filled, sometimes the object leaking into the background."""
    whole = thing.whole
    if whole.sum() < 6:
        return
    targets.add(whole, 0.85)
    visible_parts = [p & whole for p in thing.parts]
    if len(visible_parts) > 1:
        for part in visible_parts:
            targets.add(part, 0.75 * granularity)
    for sub in thing.subparts:
        targets.add(sub & whole, 0.5 * granularity)
    if thing.filled is not None and rng.random() < family.filled:
        filled = thing.filled & ~(occupied & ~whole)  # holes filled, occluders excluded
        targets.add(filled, 0.9)
    if rng.random() < family.leak:
        grown = ndimage.binary_dilation(whole, iterations=int(rng.integers(2, 7)))
        targets.add(grown & ~(occupied & ~whole), 0.9, reference=whole)


def _background_targets(targets: SamTargets, layout: _Layout, granularity: float) -> None:
    """The background regions' visible parts, their pieces, and the small background things."""
    occupied = layout.occupied
    for region, region_pieces in zip(layout.regions, layout.pieces):
        visible = region & ~occupied
        targets.add(visible, 0.7)
        if len(region_pieces) > 1:
            for piece in region_pieces:
                targets.add(piece & ~occupied, 0.65 * granularity + 0.2)
    for blob in layout.junk:
        targets.add(blob & ~occupied, 0.8)


# ----------------------------------------------------------------------------- one scene
def _ground_truth(things: List[Thing], shape) -> Tuple[np.ndarray, np.ndarray]:
    """Paint back to front; set each thing's visible ``whole``; 255 band along object boundaries."""
    gt = np.zeros(shape, np.uint8)
    owner = np.full(shape, -1, np.int64)
    for index, thing in enumerate(things):
        whole = np.logical_or.reduce(thing.parts)
        gt[whole] = thing.cls
        owner[whole] = index
    for index, thing in enumerate(things):
        thing.whole = owner == index
    # VOC's "void" band along object boundaries: about 5 px in a 500 px image, 1-2 px at
    # this size: pixels whose 2×2 neighbourhood holds two labels, one of them an object.
    grown = ndimage.maximum_filter(owner, size=2)
    shrunk = ndimage.minimum_filter(owner, size=2)
    band = (grown != shrunk) & (grown >= 0)
    out = gt.copy()
    out[band] = 255
    return out, owner >= 0


def _family_code(name: str) -> int:
    return zlib.crc32(name.encode())


def make_bench_scene(family: str, index: int, seed: int = 0, height: int = 120, width: int = 160) -> BenchScene:
    """Scene ``index`` of ``family`` (see the module docstring); deterministic per (family, index, seed)."""
    if family not in FAMILIES:
        raise ValueError(f"unknown scene family {family!r}; choose one of {sorted(FAMILIES)}")
    spec = FAMILIES[family]
    rng = np.random.default_rng([int(seed), _family_code(family), int(index)])
    if spec.generator == "demo":
        return _demo_scene(rng, family, index, seed, height, width)
    canvas = Canvas(height, width)
    partial = float(rng.uniform(*spec.partial))
    spill = float(rng.uniform(*spec.spill))
    regions, pieces, junk = stuff_regions(spec, canvas, rng)
    things, pairs = _layout(spec, canvas, rng)
    gt, occupied = _ground_truth(things, (height, width))
    layout = _Layout(things, pairs, regions, pieces, junk, occupied)
    cam_classes, cam_maps = _make_cams(spec, canvas, rng, layout, partial, spill)
    label = label_from_cams(cam_classes, cam_maps, CAM_THRESHOLD)
    masks = _make_masks(spec, canvas, rng, layout)
    concepts = None
    if spec.concepts is not None:  # its own stream: SAM 3 draws nothing from the scene's
        concepts = concept_masks(spec.concepts, np.random.default_rng([int(seed), _family_code(family), int(index), 3]),
                                 layout, (height, width))
    return BenchScene(family=family, index=int(index), seed=int(seed), gt=gt, label=label, cam_classes=cam_classes,
                      cam_maps=cam_maps, masks=masks, partial=partial, spill=spill, concept_masks=concepts)


def _demo_scene(rng, family: str, index: int, seed: int, height: int, width: int) -> BenchScene:
    """A scene of :mod:`samcam.demo.synthetic` (the demo's generator) as a benchmark scene.

    Its masks are in random order and carry no SAM scores; ``predicted_iou`` and
    ``stability_score`` are set to 1 so that score-based variants run (and see ties).
    """
    scene = make_scene(rng, height, width)
    keys = np.asarray(scene.cam["keys"], np.int64) + 1
    maps = np.asarray(scene.cam["high_res"], np.float32)
    count = len(scene.masks)
    masks = MaskSet.from_dense(scene.masks, {"predicted_iou": np.ones(count, np.float32),
                                             "stability_score": np.ones(count, np.float32)})
    return BenchScene(family=family, index=int(index), seed=int(seed), gt=scene.gt,
                      label=label_from_cams(keys, maps, CAM_THRESHOLD), cam_classes=keys, cam_maps=maps,
                      masks=masks, partial=float("nan"), spill=float("nan"))

"""The rule benchmark: refinement rules compared on synthetic scene families, with intervals.

For every family of :mod:`scenes` (``benchmarks/scenes.py``) and every rule variant, each scene's
refined label is compared with its ground truth (one confusion matrix per scene,
summed into one per family, as VOC evaluates a dataset). The question a benchmark
must answer is whether one rule beats another by more than the scenes' luck, so the
difference of every variant to the reference (``official``) is given with a paired
bootstrap 95% interval: scenes are resampled with replacement (the same resample for
every variant), the dataset-level mIoU is recomputed from the summed per-scene
confusions, and the 2.5th and 97.5th percentiles of the difference are reported, per
family and pooled over families (each family resampled within itself, then the
confusions of all families summed).

SYNTHETIC data: it ranks rules on the failure modes the paper targets and on the
variation of real images the families model; it does not predict VOC numbers.
"""
from __future__ import annotations

import hashlib
import importlib
import io
import json
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np
from scene_concepts import with_untagged
from scenes import SAM_FAMILIES, make_bench_scene
from scipy import ndimage

from samcam.batch import progress_bar
from samcam.evaluate import confusion_matrix
from samcam.io import atomic_write_bytes
from samcam.masks.maskset import MaskSet, as_maskset
from samcam.refine import refine
from samcam.rules import SamcamRuleParams
from samcam.rules import paint as _paint
from samcam.rules.counting import candidate_core_cover, check_label, class_counts
from samcam.rules.default import decide_masks, paint_order

__all__ = [
    "Variant",
    "VARIANTS",
    "TRIED",
    "EXPERIMENTS",
    "TUNED_FAMILIES",
    "CONCEPT_VARIANTS",
    "CONCEPT_TRIED",
    "CONCEPT_TUNED_FAMILIES",
    "format_table",
    "scene_stats",
    "family_stats",
    "miou_from_stats",
    "bootstrap_differences",
    "Comparison",
    "compare",
]

NUM_CLASSES = 21


@dataclass(frozen=True)
class Variant:
    """One way of refining a scene's pseudo label.

    name: row label. params: :func:`samcam.refine` keyword arguments (``rule`` ...).
    order: the masks' order given to the rule: ``"sam"`` (SAM's output order:
    ``predicted_iou`` descending), ``"reverse"`` or ``"shuffled"`` (a fixed
    permutation per scene). cam_scores: pass the scene's CAM scores (``scores=``).
    ``"cam"`` as ``params["rule"]`` means no refinement (the CAM pseudo label itself).
    experiment: the name of a rule tried for the default and not kept (see
    :data:`EXPERIMENTS`); ``params`` then go to it instead of :func:`samcam.refine`.
    masks: which masks: ``"sam"`` (SAM's class-agnostic masks, every family),
    ``"sam3"`` (SAM 3's class-tagged masks, ``sam3_*`` families) or ``"both"`` (one
    store of both, SAM's untagged).
    """

    name: str
    params: Mapping[str, object] = field(default_factory=dict)
    order: str = "sam"
    cam_scores: bool = False
    experiment: str = ""
    masks: str = "sam"

    def key(self) -> str:
        """A stable identifier of what this variant computes (for the cache)."""
        spec = {"params": dict(self.params), "order": self.order, "scores": self.cam_scores,
                "experiment": self.experiment}
        if self.masks != "sam":  # the keys of the variants on SAM's masks stay what they were
            spec["masks"] = self.masks
        return hashlib.sha1(json.dumps(spec, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _reordered(masks: MaskSet, order: str, seed: int) -> MaskSet:
    if order == "sam":
        return masks
    count = len(masks)
    if order == "reverse":
        index = np.arange(count)[::-1]
    elif order == "shuffled":
        index = np.random.default_rng([seed, count]).permutation(count)
    else:
        raise ValueError(f"unknown mask order {order!r}")
    return MaskSet(masks.packed[index], masks.image_shape, {k: v[index] for k, v in masks.scores.items()})


def _scene_masks(variant: Variant, scene) -> MaskSet:
    """The masks a variant refines with (see :attr:`Variant.masks`)."""
    if variant.masks == "sam":
        return scene.masks
    if scene.concept_masks is None:
        raise ValueError(f"variant {variant.name!r} needs SAM 3's masks: run it on the sam3_* families")
    return scene.concept_masks if variant.masks == "sam3" else with_untagged(scene.concept_masks, scene.masks)


def _apply(variant: Variant, scene) -> np.ndarray:
    params = dict(variant.params)
    if params.get("rule") == "cam":
        return scene.label
    masks = _reordered(_scene_masks(variant, scene), variant.order, scene.index)
    scores = scene.cam_scores(NUM_CLASSES) if variant.cam_scores else None
    if variant.experiment:
        return EXPERIMENTS[variant.experiment](scene.label, masks, scores, **params)
    return refine(scene.label, masks, num_classes=NUM_CLASSES, scores=scores, **params)


def _stats(confusion: np.ndarray) -> np.ndarray:
    """(C, C+1) confusion -> (3, C): true positives, GT pixels, predicted pixels per class."""
    square = confusion[:, :NUM_CLASSES]
    return np.stack([np.diag(square), confusion.sum(axis=1), square.sum(axis=0)])


def scene_stats(family: str, index: int, seed: int, variants: Sequence[Variant]) -> np.ndarray:
    """Per-class counts of one scene under each variant -> (V, 3, C) int64.

    Rows of the 3: true positives, GT pixels (255 excluded), predicted pixels: what
    a confusion matrix contributes to IoU, so summing them over scenes and taking
    :func:`miou_from_stats` equals the mIoU of the summed confusion matrices.
    """
    scene = make_bench_scene(family, index, seed)
    return np.stack([_stats(confusion_matrix(gt=scene.gt, pred=_apply(v, scene), num_classes=NUM_CLASSES)) for v in variants])


def _chunk(args) -> np.ndarray:
    family, indices, seed, variants = args
    return np.stack([scene_stats(family, i, seed, variants) for i in indices])


# The samcam modules whose code decides the numbers: the rules and their steps, the
# scoring, the pseudo label of a CAM, the masks' container, and the demo family's scenes.
_NUMBER_MODULES = ("samcam.refine", "samcam.rules", "samcam.evaluate", "samcam.cams", "samcam.masks.maskset",
                   "samcam.demo.synthetic")


def _fingerprinted_sources() -> List[Path]:
    """This file, the scene modules beside it, and the source of every module of
    :data:`_NUMBER_MODULES` (all of a package's ``.py`` files, should one of them become a package)."""
    here = Path(__file__).resolve().parent
    paths = [here / name for name in ("scenes.py", "scene_objects.py", "scene_sam.py", "scene_concepts.py",
                                      "rule_quality.py")]
    for name in _NUMBER_MODULES:
        source = Path(importlib.import_module(name).__file__).resolve()
        paths += sorted(source.parent.rglob("*.py")) if source.name == "__init__.py" else [source]
    return paths


def _code_fingerprint() -> str:
    """Hash of the sources that decide the numbers, so a cache never outlives a code change."""
    digest = hashlib.sha1()
    for path in _fingerprinted_sources():
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def family_stats(
    family: str,
    num_scenes: int,
    variants: Sequence[Variant],
    *,
    seed: int = 0,
    workers: int = 1,
    cache_dir: Optional[os.PathLike] = None,
    progress: bool = False,
) -> np.ndarray:
    """Per-scene counts of scenes 0..num_scenes-1 of ``family`` -> (num_scenes, V, 3, C) int64.

    With ``cache_dir``, each variant's counts are kept in
    ``{cache_dir}/{family}-s{seed}-{variant key}-{code fingerprint}.npy`` and reused
    when at least ``num_scenes`` scenes are cached; only missing variants are computed.
    """
    fingerprint = _code_fingerprint()

    def cache_path(variant: Variant) -> Optional[Path]:
        return None if cache_dir is None else Path(cache_dir) / f"{family}-s{seed}-{variant.key()}-{fingerprint}.npy"

    out = np.zeros((num_scenes, len(variants), 3, NUM_CLASSES), np.int64)
    missing = []
    for position, variant in enumerate(variants):
        cached = _load_cached(cache_path(variant), num_scenes)
        if cached is None:
            missing.append(position)
        else:
            out[:, position] = cached
    if missing:
        todo = [variants[p] for p in missing]
        bar = progress_bar(num_scenes, f"{family} ({len(todo)} variants)", progress, unit="scene")
        computed = _compute(family, num_scenes, seed, todo, workers, bar)
        bar.close()
        for column, position in enumerate(missing):
            out[:, position] = computed[:, column]
            path = cache_path(variants[position])
            if path is not None:
                atomic_write_bytes(path, _npy_bytes(computed[:, column].astype(np.int64)))
    return out


def _load_cached(path: Optional[Path], num_scenes: int) -> Optional[np.ndarray]:
    """The first ``num_scenes`` cached counts of one variant, or None (no cache, or too few scenes)."""
    if path is None or not path.exists():
        return None
    cached = np.load(path, allow_pickle=False)
    return cached[:num_scenes] if len(cached) >= num_scenes else None


def _compute(family: str, num_scenes: int, seed: int, variants: Sequence[Variant], workers: int, bar) -> np.ndarray:
    """Per-scene counts of ``variants`` on scenes 0..num_scenes-1, in chunks of 20 scenes
    (over ``workers`` processes if more than 1) -> (num_scenes, V, 3, C) int64."""
    chunks = [list(range(start, min(start + 20, num_scenes))) for start in range(0, num_scenes, 20)]
    jobs = [(family, chunk, seed, variants) for chunk in chunks]
    results = []
    if workers > 1:
        with ProcessPoolExecutor(workers) as pool:
            for result in pool.map(_chunk, jobs):
                results.append(result)
                bar.update(len(result))
    else:
        for job in jobs:
            results.append(_chunk(job))
            bar.update(len(results[-1]))
    return np.concatenate(results)


def _npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def miou_from_stats(stats: np.ndarray) -> np.ndarray:
    """mIoU from summed per-class counts (..., 3, C) -> (...) float64.

    IoU_c = TP / (GT + predicted - TP); classes with no GT and no prediction are left
    out of the mean (as :func:`samcam.evaluate.metrics_from_confusion` does).
    """
    stats = np.asarray(stats, dtype=np.float64)
    true_positive, gt_total, pred_total = stats[..., 0, :], stats[..., 1, :], stats[..., 2, :]
    union = gt_total + pred_total - true_positive
    present = union > 0
    iou = np.where(present, true_positive / np.where(present, union, 1.0), 0.0)
    return iou.sum(axis=-1) / np.maximum(present.sum(axis=-1), 1)


def _resample_weights(rng: np.random.Generator, num_scenes: int, resamples: int) -> np.ndarray:
    """(resamples, num_scenes) float64: how often each scene is drawn in each bootstrap resample."""
    draws = rng.integers(0, num_scenes, size=(resamples, num_scenes))
    weights = np.zeros((resamples, num_scenes), np.float64)
    np.add.at(weights, (np.repeat(np.arange(resamples), num_scenes), draws.ravel()), 1.0)
    return weights


@dataclass
class Comparison:
    """mIoU per variant and its difference to the reference, with bootstrap intervals.

    groups: family names, then ``"pooled"``. variants: variant names.
    miou: (G, V) dataset-level mIoU (fractions). diff: (G, V) mIoU minus the
    reference's. low, high: (G, V) the 2.5th / 97.5th percentiles of the
    bootstrap differences. num_scenes: scenes per family. resamples: bootstrap size.
    """

    groups: List[str]
    variants: List[str]
    reference: str
    miou: np.ndarray
    diff: np.ndarray
    low: np.ndarray
    high: np.ndarray
    num_scenes: Dict[str, int]
    resamples: int

    def row(self, group: str, variant: str) -> Tuple[float, float, float, float]:
        """(mIoU, difference, low, high) of one cell, as fractions."""
        g, v = self.groups.index(group), self.variants.index(variant)
        return float(self.miou[g, v]), float(self.diff[g, v]), float(self.low[g, v]), float(self.high[g, v])

    def decides_for(self, variant: str) -> bool:
        """The issue's decision rule: pooled interval above zero, no family's interval wholly below zero."""
        v = self.variants.index(variant)
        pooled = self.groups.index("pooled")
        families_ok = all(self.high[g, v] >= 0 for g in range(len(self.groups)) if g != pooled)
        return bool(self.low[pooled, v] > 0 and families_ok)


def bootstrap_differences(
    stats: Mapping[str, np.ndarray],
    variant_names: Sequence[str],
    reference: str = "official",
    resamples: int = 2000,
    seed: int = 0,
) -> Comparison:
    """Paired bootstrap of every variant's mIoU difference to ``reference``.

    Args:
        stats: family -> (n_f, V, 3, C) per-scene counts (see :func:`scene_stats`).
        variant_names: the V names, in the stats' order.
        reference: the variant the differences are taken to.
        resamples: bootstrap resamples; each resamples every family's scenes with
            replacement (the same draw for all variants: paired), and the pooled value
            sums the resampled counts of all families (a stratified bootstrap).

    Returns:
        A :class:`Comparison`; intervals are percentile intervals (2.5%, 97.5%).
    """
    names = list(variant_names)
    ref = names.index(reference)
    rng = np.random.default_rng(seed)
    groups = list(stats) + ["pooled"]
    shape = next(iter(stats.values())).shape[1:]
    pooled_full = np.zeros(shape, np.float64)
    pooled_boot = np.zeros((resamples,) + shape, np.float64)
    miou, diff, low, high = (np.zeros((len(groups), len(names))) for _ in range(4))

    def summarise(g, full, boot):
        point = miou_from_stats(full)
        samples = miou_from_stats(boot)
        miou[g] = point
        diff[g] = point - point[ref]
        delta = samples - samples[:, ref:ref + 1]
        low[g], high[g] = np.percentile(delta, [2.5, 97.5], axis=0)

    for g, family_stats_ in enumerate(stats.values()):
        family_stats_ = np.asarray(family_stats_, np.float64)
        weights = _resample_weights(rng, len(family_stats_), resamples)
        boot = (weights @ family_stats_.reshape(len(family_stats_), -1)).reshape((resamples,) + shape)
        full = family_stats_.sum(axis=0)
        pooled_full += full
        pooled_boot += boot
        summarise(g, full, boot)
    summarise(len(groups) - 1, pooled_full, pooled_boot)
    return Comparison(groups=groups, variants=names, reference=reference, miou=miou, diff=diff, low=low, high=high,
                      num_scenes={f: len(s) for f, s in stats.items()}, resamples=resamples)


def compare(
    variants: Sequence[Variant],
    families: Optional[Sequence[str]] = None,
    num_scenes: int = 500,
    *,
    seed: int = 0,
    reference: str = "official",
    resamples: int = 2000,
    workers: int = 1,
    cache_dir: Optional[os.PathLike] = None,
    progress: bool = False,
) -> Comparison:
    """Run ``variants`` on ``num_scenes`` scenes of each family and bootstrap the differences."""
    families = list(families or SAM_FAMILIES)
    stats = {f: family_stats(f, num_scenes, variants, seed=seed, workers=workers, cache_dir=cache_dir,
                             progress=progress) for f in families}
    return bootstrap_differences(stats, [v.name for v in variants], reference, resamples, seed)


# ----------------------------------------------------------------------------- rules tried, not kept
# Each was tried as a way to beat the reference rule and lost to the core rescue on the
# tuning families (docs/rule.md, "Rule quality"). They reuse refine's steps (count, decide,
# paint) and change one of them; kept here so that those numbers can be reproduced.

# The default rule's decision thresholds (its defaults).
_SAMCAM_DECISION = SamcamRuleParams()


def _evidence(label, masks, scores=None, core=True):
    label, histogram = check_label(label, NUM_CLASSES, 255)
    maskset = as_maskset(masks, label.shape)
    counts, ignored, class_area = class_counts(label, histogram, maskset, NUM_CLASSES, 255)
    cover = candidate_core_cover(label, maskset, NUM_CLASSES, scores, 0.5, 0.85) if core else None
    return label, maskset, counts, ignored, class_area, cover


def _finish(label, maskset, assigned, ratio, order=None):
    if order is None:
        order = paint_order(assigned, maskset.areas, ratio, "smaller")
    return _paint(label.copy(), maskset, assigned, order)


def _component_cover(label, masks, scores=None, cover=0.7, min_ratio=0.3):
    """Rescue by whole connected class regions: for each region, the smallest mask covering
    ``cover`` of it (and at least ``min_ratio`` that class) takes the class."""
    label, maskset, counts, ignored, class_area, _ = _evidence(label, masks, core=False)
    assigned, ratio = decide_masks(counts, ignored, class_area, maskset.areas, None, _SAMCAM_DECISION)
    dense = maskset.dense.reshape(len(maskset), -1)
    known = np.maximum(maskset.areas - ignored, 1)
    for cls in np.flatnonzero(class_area[1:]) + 1:
        components, count = ndimage.label(label == cls, structure=np.ones((3, 3), bool))
        flat = components.ravel()
        for component in range(1, count + 1):
            inside = flat == component
            covers = dense[:, inside].sum(axis=1) >= cover * inside.sum()
            candidates = np.flatnonzero(covers & (counts[:, cls] >= min_ratio * known) & (assigned <= 0))
            if candidates.size:
                chosen = candidates[np.argmin(maskset.areas[candidates])]
                assigned[chosen] = cls
                ratio[chosen] = counts[chosen, cls] / known[chosen]
    return _finish(label, maskset, assigned, ratio)


def _nesting(label, masks, scores=None, dominance=0.8):
    """Mask hierarchy: a foreground mask that holds masks (>= 90% inside it) kept for another
    foreground class decides only where one class dominates it (ratio >= ``dominance``);
    otherwise the masks inside decide."""
    label, maskset, counts, ignored, class_area, cover = _evidence(label, masks, scores)
    assigned, ratio = decide_masks(counts, ignored, class_area, maskset.areas, cover, _SAMCAM_DECISION)
    dense = maskset.dense.reshape(len(maskset), -1).astype(np.int32)
    inside = (dense @ dense.T) >= 0.9 * maskset.areas[None, :]
    np.fill_diagonal(inside, False)
    for parent in np.flatnonzero(assigned > 0):
        children = np.flatnonzero(inside[parent])
        mixed = ((assigned[children] > 0) & (assigned[children] != assigned[parent])).any()
        if mixed and ratio[parent] < dominance:
            assigned[parent] = -1
    return _finish(label, maskset, assigned, ratio)


def _soft_scores(label, masks, scores, temperature=0.3):
    """CAM scores as the class signal: a mask's class shares are its mean per-pixel
    probabilities, softmax(log(scores) / temperature) (1: scores normalised to sum 1, the
    former ``scores=`` behaviour; towards 0: the hard label)."""
    label, maskset, _, _, _, _ = _evidence(label, masks, core=False)
    logits = np.log(np.maximum(scores.reshape(NUM_CLASSES, -1).astype(np.float64), 1e-6)) / temperature
    probabilities = np.exp(logits - logits.max(axis=0))
    probabilities[scores.reshape(NUM_CLASSES, -1) <= 0] = 0
    probabilities /= probabilities.sum(axis=0)
    counts = maskset.dense.reshape(len(maskset), -1).astype(np.float64) @ probabilities.T
    assigned, ratio = decide_masks(counts, np.zeros(len(maskset)), probabilities.sum(axis=1), maskset.areas,
                                     None, _SAMCAM_DECISION)
    return _finish(label, maskset, assigned, ratio)


def _larger_wins(label, masks, scores=None):
    """The default rule with the larger of two overlapping foreground masks winning."""
    label, maskset, counts, ignored, class_area, cover = _evidence(label, masks, scores)
    assigned, ratio = decide_masks(counts, ignored, class_area, maskset.areas, cover, _SAMCAM_DECISION)
    kept = np.flatnonzero(assigned >= 0)
    order = kept[np.lexsort((assigned[kept], -maskset.areas[kept], assigned[kept] == 0))]
    return _finish(label, maskset, assigned, ratio, order)


EXPERIMENTS = {
    "component_cover": _component_cover,
    "nesting": _nesting,
    "soft_scores": _soft_scores,
    "larger_wins": _larger_wins,
}

# Families the default's parameters were chosen on (seed 0); every other family, and
# every family at the seed docs/rule.md reports (1), was not looked at while tuning.
TUNED_FAMILIES = ("voc_like", "instances", "thin")

# The variants the benchmark reports (docs/rule.md, "Rule quality").
VARIANTS: Tuple[Variant, ...] = (
    Variant("CAM pseudo label (no masks)", {"rule": "cam"}),
    Variant("official", {"rule": "official"}),
    Variant("official, masks in reverse order", {"rule": "official"}, order="reverse"),
    Variant("samcam (default)", {"rule": "samcam"}),
    Variant("samcam, masks in reverse order", {"rule": "samcam"}, order="reverse"),
    Variant("samcam + CAM scores (scores=)", {"rule": "samcam"}, cam_scores=True),
    Variant("samcam without core rescue (the former default)",
            {"rule": "samcam", "core_rescue": False, "cover_min_ratio": 0.2}),
    Variant("samcam, conflict=score (SAM predicted_iou)", {"rule": "samcam", "conflict": "score"}),
    Variant("samcam, conflict=ratio", {"rule": "samcam", "conflict": "ratio"}),
    Variant("paper's description (majority > 0.5, else keep)",
            {"rule": "samcam", "cover_thresh": 2.0, "core_rescue": False, "unclaimed_background": False}),
)

# What was tried for the default and not kept (``bench_rules.py --tried``).
TRIED: Tuple[Variant, ...] = (
    Variant("official", {"rule": "official"}),
    Variant("samcam (default)", {"rule": "samcam"}),
    Variant("samcam without core rescue (the former default)",
            {"rule": "samcam", "core_rescue": False, "cover_min_ratio": 0.2}),
    Variant("whole-region cover 0.6 instead of cores", {"rule": "samcam", "core_rescue": False, "cover_thresh": 0.6}),
    Variant("connected-region cover 0.7, smallest mask", {}, experiment="component_cover"),
    Variant("mask nesting, dominance 0.8", {}, experiment="nesting"),
    Variant("larger mask wins", {}, experiment="larger_wins"),
    Variant("ratio_thresh 0.6", {"rule": "samcam", "ratio_thresh": 0.6}),
    Variant("core cover 0.7", {"rule": "samcam", "cover_thresh": 0.7}),
    Variant("cover_min_ratio 0.2 (first choice; lost 3.5 to the former default on demo)",
            {"rule": "samcam", "cover_min_ratio": 0.2}),
    Variant("core_depth 0.3", {"rule": "samcam", "core_depth": 0.3}),
    Variant("core_depth 0.7", {"rule": "samcam", "core_depth": 0.7}),
    Variant("CAM scores as soft class shares, T=1 (former scores=)", {"temperature": 1.0}, cam_scores=True,
            experiment="soft_scores"),
    Variant("CAM scores as soft class shares, T=0.3", {"temperature": 0.3}, cam_scores=True,
            experiment="soft_scores"),
)


# ----------------------------------------------------------------------------- concept masks (SAM 3)
# The concept rule's defaults were chosen on these families at seed 0 (CONCEPT_TRIED).
CONCEPT_TUNED_FAMILIES = ("sam3_voc_like", "sam3_cooccur")

# What the concept families report (docs/sam3.md): the reference is official on SAM's masks.
CONCEPT_VARIANTS: Tuple[Variant, ...] = (
    Variant("CAM pseudo label (no masks)", {"rule": "cam"}),
    Variant("official", {"rule": "official"}),
    Variant("samcam (default), SAM masks", {"rule": "samcam"}),
    Variant("samcam, SAM 3 masks (tags ignored)", {"rule": "samcam"}, masks="sam3"),
    Variant("concept (default), SAM 3 masks", {"rule": "concept"}, masks="sam3"),
    Variant("concept, SAM 3 masks in reverse order", {"rule": "concept"}, masks="sam3", order="reverse"),
    Variant("concept, concept_outside=keep", {"rule": "concept", "concept_outside": "keep"}, masks="sam3"),
    Variant("concept, concept_outside=regions", {"rule": "concept", "concept_outside": "regions"}, masks="sam3"),
    Variant("concept, share test only (concept_core=2)", {"rule": "concept", "concept_core": 2.0}, masks="sam3"),
    Variant("concept, concept_disagree=samcam", {"rule": "concept", "concept_disagree": "samcam"}, masks="sam3"),
    Variant("concept + CAM scores (scores=)", {"rule": "concept"}, masks="sam3", cam_scores=True),
    Variant("concept, SAM 3 + SAM masks (untagged: samcam)", {"rule": "concept"}, masks="both"),
)

# The concept rule's parameters tried (bench_rules.py --concepts --tried: tuning families, seed 0).
CONCEPT_TRIED: Tuple[Variant, ...] = (
    Variant("official", {"rule": "official"}),
    Variant("samcam (default), SAM masks", {"rule": "samcam"}),
) + tuple(
    Variant(f"share {share}, core {core}, outside {outside}",
            {"rule": "concept", "concept_share": share, "concept_core": core, "concept_outside": outside},
            masks="sam3")
    for outside in ("keep", "regions", "background") for share in (0.3, 0.5, 0.7) for core in (0.3, 0.5, 0.7, 2.0)
) + (
    Variant("every tag of a present class trusted (share 0)", {"rule": "concept", "concept_share": 0.0},
            masks="sam3"),
    Variant("share 0.1, core 0.1", {"rule": "concept", "concept_share": 0.1, "concept_core": 0.1}, masks="sam3"),
) + tuple(
    Variant(f"{masks}, outside {outside}, disagree {disagree}",
            {"rule": "concept", "concept_outside": outside, "concept_disagree": disagree}, masks=masks)
    for masks in ("sam3", "both") for outside in ("keep", "regions", "background") for disagree in ("drop", "samcam")
)


def format_table(comparison: Comparison, tuned: Sequence[str] = ()) -> str:
    """A markdown table: each variant's mIoU difference to the reference with its 95% interval,
    per family and pooled, and the reference's own mIoU (all in mIoU points)."""
    groups = comparison.groups
    names = [f"{g} (tuned)" if g in tuned else g for g in groups]
    lines = ["| variant | " + " | ".join(names) + " |", "|---|" + "---|" * len(groups)]
    for v, variant in enumerate(comparison.variants):
        if variant == comparison.reference:
            cells = [f"**{100 * comparison.miou[g, v]:.2f}** mIoU" for g in range(len(groups))]
        else:
            cells = [f"{100 * comparison.diff[g, v]:+.2f} [{100 * comparison.low[g, v]:+.2f}, "
                     f"{100 * comparison.high[g, v]:+.2f}]" for g in range(len(groups))]
        lines.append(f"| {variant} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


"""Refine a pseudo label with class-agnostic masks: arrays in, array out (numpy + scipy.ndimage).

Three built-in rules, all independent of the masks' order (:mod:`samcam.rules`):

``"samcam"`` (default, :mod:`samcam.rules.default`)
    Counts every mask against every class; a mask goes to the class holding most of it
    when that class holds more than ``ratio_thresh`` of it, and object masks are rescued
    by the cores of class regions (partial activation); overlapping kept masks are
    resolved by a stated rule (the smaller one wins). Parameters:
    :class:`~samcam.rules.SamcamRuleParams`.

``"official"`` (:mod:`samcam.rules.official`)
    The public reference code's rule, bit for bit. Parameters:
    :class:`~samcam.rules.OfficialRuleParams`.

``"concept"`` (:mod:`samcam.rules.concept`)
    For class-tagged masks (SAM 3's, ``class_index``): a tag is painted where the CAM
    agrees, a tag of a class absent from the label never; untagged masks go to the
    ``samcam`` rule. Parameters: :class:`~samcam.rules.ConceptRuleParams`.

A rule is three steps, kept apart so that each can be tested and replaced: count
(:mod:`samcam.rules.counting`), decide (the rule's), paint (samcam checks the decision
and paints it: :mod:`samcam.rules.contract`). Other packages add rules through the
entry point group ``samcam.rules`` (:data:`samcam.rules.RULES`, the registry), and
``refine`` also takes a rule object or a ``decide`` function.
"""
from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional, Tuple, Union

import numpy as np

from .rules import CONFLICTS, RULES, Rule, RuleDecision, RuleInputs, apply_decision, as_rule
from .rules.concept import CONCEPT_RULE
from .rules.counting import check_label, check_masks, check_scores, class_counts, core_cover, overlap_counts
from .rules.default import SAMCAM_RULE
from .rules.official import OFFICIAL_RULE
from .settings import SettingsError

__all__ = ["refine", "refine_counted", "describe_rule", "overlap_counts", "core_cover", "rule_parameters", "RULES", "CONFLICTS", "BUILTIN_RULES",
           "available_rules", "get_rule", "rule_origin", "rule_problems", "refresh_rules"]

BUILTIN_RULES: Dict[str, Rule] = {SAMCAM_RULE.name: SAMCAM_RULE, OFFICIAL_RULE.name: OFFICIAL_RULE,
                                  CONCEPT_RULE.name: CONCEPT_RULE}


def refine(
    label: np.ndarray,
    masks,
    *,
    rule: Union[str, Rule, Callable[..., Any]] = "samcam",
    num_classes: int = 21,
    scores: Optional[np.ndarray] = None,
    ignore_index: int = 255,
    **params: Any,
) -> np.ndarray:
    """Refine a pseudo label with class-agnostic masks (SAM "segment everything").

    samcam validates the inputs and counts every mask against every class, the rule
    decides (:mod:`samcam.rules`: the contract, for rules of your own), samcam checks
    and paints the decision.

    Args:
        label: H×W uint8 pseudo label: 0 background, 1..num_classes-1 classes,
            ``ignore_index`` (255) unknown.
        masks: K×H×W bool array, a list of H×W bool arrays, a
            :class:`samcam.masks.MaskSet` (K may be 0), or what the mask generators'
            own ``generate()`` returns (segment-anything's, sam2's, HQ-SAM's,
            MobileSAM's): a list of dicts whose ``segmentation`` is an H×W bool array
            or a COCO RLE, their ``predicted_iou`` and ``stability_score`` kept as
            mask scores (:func:`samcam.masks.annotations_to_maskset`). The result does
            not depend on their order (any built-in rule).
        rule: ``"samcam"`` (default), ``"official"`` (the reference code's rule,
            bit-exact), ``"concept"`` (for SAM 3's class-tagged masks), the name of an installed plug-in rule (entry point group
            ``samcam.rules``, see :func:`available_rules`), a
            :class:`~samcam.rules.Rule`, or a function ``decide(inputs, **params)``.
        num_classes: classes including background (21 for VOC, 81 for COCO).
        scores: optional C×H×W float class scores (channel 0 background, C ==
            num_classes), e.g. CAMs with a background plane, given to the rule
            (``samcam``: they locate each class region's core, where the CAM peaks,
            for the core rescue; the class ratios still come from the label;
            ``official`` refuses them).
        ignore_index: the label value meaning "unknown".
        **params: the rule's parameters, checked before the rule runs:
            :class:`~samcam.rules.SamcamRuleParams` for ``"samcam"`` (``ratio_thresh``,
            ``cover_thresh``, ``conflict``...), :class:`~samcam.rules.OfficialRuleParams`
            for ``"official"``, :class:`~samcam.rules.ConceptRuleParams` for ``"concept"``;
            :func:`rule_parameters` lists any rule's with their defaults.

    Returns:
        H×W uint8 refined label with the same value conventions.

    Raises:
        ValueError: label/mask size mismatch, values outside the class range,
            non-boolean masks or a generator's dict without a valid ``segmentation``
            (naming the mask), empty label, unknown rule or parameter, a parameter of
            the wrong type or out of range (:class:`~samcam.settings.SettingsError`,
            naming it), bad scores, ``conflict="score"`` without ``predicted_iou``
            scores, a rule's result that is not a valid decision or label.
    """
    return refine_counted(label, masks, rule=rule, num_classes=num_classes, scores=scores, ignore_index=ignore_index,
                          **params)[0]


def refine_counted(label: np.ndarray, masks, *, rule: Union[str, Rule, Callable[..., Any]] = "samcam",
                   num_classes: int = 21, scores: Optional[np.ndarray] = None, ignore_index: int = 255,
                   **params: Any) -> Tuple[np.ndarray, Optional[int]]:
    """:func:`refine`, and how many masks the rule used -> ``(refined, masks_used)``.

    ``masks_used`` counts the masks a :class:`~samcam.rules.RuleDecision` assigns (a class,
    background or ignore); None for a rule that returns a label map (``official``), which
    says no such thing. Arguments and errors as :func:`refine`.
    """
    chosen = get_rule(rule)
    chosen_params = chosen.resolve(params)
    label, histogram = check_label(label, num_classes, ignore_index)
    maskset = check_masks(masks, label.shape)
    if scores is not None:
        if not chosen.uses_scores:
            raise ValueError(f"rule {chosen.name!r} uses the hard label only; drop scores= or use rule='samcam'")
        scores = _read_only(check_scores(scores, num_classes, label.shape))
    counts, ignored, class_area = class_counts(label, histogram, maskset, num_classes, ignore_index)
    inputs = RuleInputs(
        label=_read_only(label), masks=maskset, counts=_read_only(counts), ignored=_read_only(ignored),
        areas=_read_only(maskset.areas), class_area=_read_only(class_area), num_classes=num_classes,
        ignore_index=ignore_index, scores=scores, mask_scores=dict(maskset.scores),
    )
    result = chosen.decide(inputs, **chosen_params)
    refined = apply_decision(result, inputs, chosen.name)
    used = int((np.asarray(result.assigned) >= 0).sum()) if isinstance(result, RuleDecision) else None
    return refined, used


def _read_only(array: np.ndarray) -> np.ndarray:
    view = array.view()
    view.flags.writeable = False
    return view


def refresh_rules() -> None:
    """Look for plug-in rules again (after installing one into a running interpreter)."""
    RULES.refresh()


def available_rules() -> List[str]:
    """Names ``rule=`` and ``--rule`` accept: the built-in rules, then the usable plug-ins, sorted
    (a built-in name a plug-in also claims is left out: :func:`get_rule` says why)."""
    return RULES.names()


def rule_problems() -> Dict[str, str]:
    """name -> why that plug-in rule is left out (failed import, name clash, not a rule)."""
    return RULES.problems()


def rule_origin(name: str) -> str:
    """``"built in"`` or the package and object a plug-in rule comes from."""
    return RULES.origin(name)


def get_rule(rule: Union[str, Rule, Callable[..., Any]]) -> Rule:
    """The :class:`~samcam.rules.Rule` for a name (built in or plug-in), a Rule, or a ``decide`` function.

    Raises:
        ValueError: an unknown name (listing the known ones), or a plug-in of that name
            that could not be used (saying why); a function whose parameters lack defaults.
    """
    if isinstance(rule, str):
        return RULES.get(rule)
    try:
        return as_rule(rule)
    except TypeError as error:
        raise ValueError(str(error)) from None


def rule_parameters(**params: Any) -> Dict[str, Any]:
    """Every parameter :func:`refine` uses with these keyword arguments, defaults filled in.

    ``scores`` (data, not a setting) is not a parameter. ``rule`` is recorded by name;
    a plug-in rule also by where it comes from (``rule_origin``: package and object,
    no version), a rule object passed directly by its module and name. This is what
    ``samcam.json`` records.

    Raises:
        ValueError: an unknown keyword or rule, or a value of the wrong type or out of range.
    """
    params = dict(params)
    params.pop("scores", None)
    chosen = get_rule(params.pop("rule", "samcam"))
    resolved: Dict[str, Any] = {"rule": chosen.name}
    origin = _origin_for_record(chosen)
    if origin:
        resolved["rule_origin"] = origin
    resolved["num_classes"] = params.pop("num_classes", 21)
    resolved["ignore_index"] = params.pop("ignore_index", 255)
    try:
        resolved.update(chosen.resolve(params))
    except SettingsError:
        raise  # a known parameter with a bad value: the error names it
    except ValueError as error:
        raise ValueError(f"unknown refine parameter(s): {error}") from None
    return resolved


def describe_rule(recorded: Dict[str, Any]) -> str:
    """``samcam`` or ``official (ratio_thresh=0.6)``: the rule of a :func:`rule_parameters`
    record and the parameters that differ from their defaults (every one, for a rule that
    is not registered)."""
    try:
        defaults = rule_parameters(rule=recorded["rule"])
    except (KeyError, ValueError):
        defaults = {}
    changed = [f"{key}={value!r}" for key, value in recorded.items()
               if key not in ("rule", "rule_origin") and defaults.get(key, not value) != value]
    return f"{recorded.get('rule')}" + (f" ({', '.join(changed)})" if changed else " (defaults)")


def _origin_for_record(chosen: Rule) -> str:
    if BUILTIN_RULES.get(chosen.name) is chosen:
        return ""
    plugin = RULES.plugin(chosen.name) if chosen.name in RULES else None
    if plugin is not None and RULES.get(chosen.name) is chosen:
        return plugin.source  # package and object; a new version of it is logged, like samcam's own
    decide = chosen.decide
    return f"python object {getattr(decide, '__module__', '?')}.{getattr(decide, '__qualname__', repr(decide))}"

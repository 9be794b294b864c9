"""The contract of a refinement rule: what it is given, what it returns, how samcam paints it.

A rule *decides*; samcam counts, validates and paints. :func:`samcam.refine` validates
the label and the masks, counts every mask against every class (one pass over the
bit-packed masks), hands the rule a :class:`RuleInputs` and the rule's parameters, and
checks and paints what the rule returns:

* a :class:`RuleDecision`: for each mask the class it paints (or -1: not used), the
  order in which the used masks claim pixels (the winner first; each mask paints the
  pixels no mask before it claimed), and optionally the label under the masks; or
* an H×W label map, for rules whose result is not "masks painted over a label" (the
  reference code's rule paints class by class, so a later class's label pixels can
  cover an earlier class's mask).

Both built-in rules (``"samcam"``, ``"official"``) are :class:`Rule` objects going through
this contract. Other packages register theirs under the entry point group
``samcam.rules`` (:mod:`samcam.plugins`)::

    [project.entry-points."samcam.rules"]
    myrule = "mypackage.rules:MY_RULE"      # a Rule, or a function decide(inputs, **params)

and ``samcam.refine(label, masks, rule="myrule", alpha=0.3)`` or ``samcam refine --rule
myrule --rule-param alpha=0.3`` use them. A rule's parameters are a settings dataclass
(``Rule(..., params=MyParams)``, :mod:`samcam.settings`: types, ranges and help, checked
before ``decide`` runs), or else the keyword parameters of its ``decide`` function with
their defaults.
"""
from __future__ import annotations

import functools
import inspect
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Mapping, Optional, Tuple, Type, Union

import numpy as np

from ..masks.maskset import MaskSet
from ..settings import Settings, Spec, check_value

__all__ = ["RuleInputs", "RuleDecision", "Rule", "as_rule", "apply_decision", "paint"]


@dataclass(frozen=True)
class RuleInputs:
    """What a rule is given (all arrays read-only views; do not modify them).

    K masks, C classes (``num_classes``, background included), an H×W image.

    Attributes:
        label: (H, W) uint8 pseudo label: 0 background, 1..C-1 classes,
            ``ignore_index`` unknown (validated: no other value occurs).
        masks: the K masks as a :class:`~samcam.masks.MaskSet` (bit-packed; ``.dense``
            gives (K, H, W) bool, ``.words`` the packed rows).
        counts: (K, C) int64, ``counts[k, c]`` = pixels of mask k labelled c.
        ignored: (K,) int64, pixels of mask k labelled ``ignore_index``.
        areas: (K,) int64, pixels of mask k (``counts.sum(1) + ignored``).
        class_area: (C,) int64, pixels labelled c in the whole label.
        num_classes: C.
        ignore_index: the label value meaning "unknown" (255).
        scores: (C, H, W) float class scores (channel 0 background; finite, >= 0),
            e.g. CAMs with the method's background plane, or None when not given.
        mask_scores: per-mask scores that came with the masks, name -> (K,) array:
            SAM's ``predicted_iou`` and ``stability_score`` (also ``area``,
            ``bbox`` (K, 4) XYWH, ...) when the mask store or amg.py's metadata has
            them; empty otherwise.
    """

    label: np.ndarray
    masks: MaskSet
    counts: np.ndarray
    ignored: np.ndarray
    areas: np.ndarray
    class_area: np.ndarray
    num_classes: int
    ignore_index: int
    scores: Optional[np.ndarray] = None
    mask_scores: Mapping[str, np.ndarray] = field(default_factory=dict)


@dataclass(frozen=True)
class RuleDecision:
    """What a rule returns (or an (H, W) label map instead).

    Attributes:
        assigned: (K,) int, the value mask k paints: a class 0..C-1 (0 background),
            ``ignore_index`` (mark it unknown), or -1 (mask not used).
        order: the used masks, the winner first, as (n,) int indices: each mask paints
            the pixels that no mask before it painted. Every used mask appears once;
            unused ones do not appear. None: the used masks in index order.
        base: (H, W) label under the masks (where no used mask lies); None: the input
            label unchanged (ignore pixels stay ``ignore_index``).
    """

    assigned: np.ndarray
    order: Optional[np.ndarray] = None
    base: Optional[np.ndarray] = None


@dataclass(frozen=True)
class Rule:
    """A named rule.

    Attributes:
        name: what ``rule=`` and ``--rule`` take.
        decide: ``decide(inputs: RuleInputs, **params) -> RuleDecision | (H, W) label``.
        description: one line for ``--rule`` listings.
        uses_scores: False for a rule that works on the hard label only: it refuses
            ``scores=`` rather than ignore them.
        params: the rule's parameters as a :class:`~samcam.settings.Settings` dataclass
            (types, ranges, defaults and help; values are checked before ``decide`` runs),
            or None: the keyword parameters of ``decide`` with their defaults, each
            checked against its default's type (a number stays a finite number, a flag
            a bool, text text).
    """

    name: str
    decide: Callable[..., Union[RuleDecision, np.ndarray]]
    description: str = ""
    uses_scores: bool = True
    params: Optional[Type[Settings]] = None

    @functools.cached_property
    def _signature(self) -> Tuple[Dict[str, Any], bool]:
        if self.params is not None:
            return self.params.defaults(), False
        accepts_any = any(p.kind is inspect.Parameter.VAR_KEYWORD
                          for p in inspect.signature(self.decide).parameters.values())
        return _parameters(self.decide), accepts_any

    def parameters(self) -> Dict[str, Any]:
        """The rule's parameters and their defaults."""
        return dict(self._signature[0])

    def resolve(self, params: Mapping[str, Any]) -> Dict[str, Any]:
        """``params`` checked, with the defaults filled in.

        Raises:
            ValueError: an unknown parameter (listing the rule's), or a value of the wrong
                type or out of range (:class:`~samcam.settings.SettingsError`, naming it).
        """
        known, accepts_any = self._signature
        unknown = sorted(set(params) - set(known))
        if unknown and not accepts_any:
            raise ValueError(f"rule {self.name!r} has no parameter(s) {unknown}; its parameters: "
                             f"{', '.join(sorted(known)) or 'none'}")
        if self.params is not None:
            return self.params(**params).as_dict()
        checked = {name: _check_plain(name, value, known[name]) if name in known else value
                   for name, value in params.items()}
        return {**known, **checked}


_PLAIN_KINDS = (bool, int, float, str)


def _check_plain(name: str, value: Any, default: Any) -> Any:
    """A plug-in rule's parameter checked against its default's type (an int default takes any finite number)."""
    kind = type(default)
    if kind not in _PLAIN_KINDS:
        return value
    if kind is int and isinstance(value, float):
        kind = float
    return check_value(name, value, kind, Spec(help=""))


def _parameters(decide: Callable) -> Dict[str, Any]:
    """The keyword parameters of ``decide`` after its first (the inputs), with their defaults."""
    found: Dict[str, Any] = {}
    for index, (name, parameter) in enumerate(inspect.signature(decide).parameters.items()):
        if index == 0 and parameter.kind in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD):
            continue  # the inputs
        if parameter.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD):
            continue
        if parameter.default is inspect.Parameter.empty:
            raise TypeError(f"rule parameter {name!r} of {getattr(decide, '__name__', decide)!r} needs a default")
        found[name] = parameter.default
    return found


def as_rule(value: Any, name: Optional[str] = None) -> Rule:
    """A :class:`Rule` from a Rule or a plain ``decide`` function (named ``name`` or after the function)."""
    if isinstance(value, Rule):
        return value
    if callable(value):
        label = name or getattr(value, "__name__", None) or type(value).__name__
        _parameters(value)  # every parameter has a default
        return Rule(label, value, (inspect.getdoc(value) or "").split("\n")[0])
    raise TypeError(f"a rule is a samcam.rules.Rule or a function decide(inputs, **params), got {type(value).__name__}")


def _check_map(what: str, array: Any, shape, num_classes: int, ignore_index: int) -> np.ndarray:
    array = np.asarray(array)
    if array.shape != tuple(shape):
        raise ValueError(f"{what} must be {shape[0]}×{shape[1]}, got shape {array.shape}")
    if not np.issubdtype(array.dtype, np.integer):
        raise ValueError(f"{what} must hold integer class indices, got dtype {array.dtype}")
    if array.size and array.max() < num_classes and (array.dtype == np.uint8 or array.min() >= 0):
        return array.astype(np.uint8, copy=False)  # the usual case, one pass
    bad = (array < 0) | ((array >= num_classes) & (array != ignore_index))
    if bad.any():
        raise ValueError(f"{what} holds values {np.unique(array[bad])[:8].tolist()} outside 0..{num_classes - 1} "
                         f"and {ignore_index}")
    return array.astype(np.uint8)


def apply_decision(result: Any, inputs: RuleInputs, rule_name: str) -> np.ndarray:
    """Check a rule's result and paint it -> (H, W) uint8 refined label.

    Raises:
        ValueError: naming the rule and what is wrong with its result.
    """
    shape = inputs.label.shape
    try:
        if isinstance(result, RuleDecision):
            assigned = _checked_assigned(result.assigned, inputs)
            order = _checked_order(result.order, assigned)
            base = inputs.label if result.base is None else _check_map(
                "base", result.base, shape, inputs.num_classes, inputs.ignore_index)
            return paint(base.copy(), inputs.masks, assigned, order)
        out = _check_map("the label map", result, shape, inputs.num_classes, inputs.ignore_index)
        if not out.flags.writeable or np.may_share_memory(out, inputs.label):
            out = out.copy()  # never hand back (a view of) the caller's label
        return out
    except ValueError as error:
        raise ValueError(f"rule {rule_name!r} returned a bad result: {error}") from None


def _checked_assigned(assigned: Any, inputs: RuleInputs) -> np.ndarray:
    """A decision's ``assigned`` -> (K,) int64, each -1, a class or the ignore value."""
    count = len(inputs.areas)
    assigned = np.asarray(assigned)
    if assigned.shape != (count,) or (count and not np.issubdtype(assigned.dtype, np.integer)):
        raise ValueError(f"assigned must be ({count},) integers, one per mask, got {assigned.dtype} "
                         f"{assigned.shape}")
    assigned = assigned.astype(np.int64)
    bad = (assigned < -1) | ((assigned >= inputs.num_classes) & (assigned != inputs.ignore_index))
    if bad.any():
        raise ValueError(f"assigned holds {np.unique(assigned[bad])[:8].tolist()}: use -1 (unused), "
                         f"0..{inputs.num_classes - 1} or {inputs.ignore_index}")
    return assigned


def _checked_order(order: Any, assigned: np.ndarray) -> np.ndarray:
    """A decision's ``order`` -> (n,) int64 listing every used mask once (None: index order)."""
    used = np.flatnonzero(assigned >= 0)
    if order is None:
        return used
    count = len(assigned)
    order = np.asarray(order)
    if order.ndim != 1 or (order.size and not np.issubdtype(order.dtype, np.integer)):
        raise ValueError(f"order must be a 1-D array of mask indices, got {order.dtype} {order.shape}")
    order = order.astype(np.int64)
    if order.size and (order.min() < 0 or order.max() >= count):
        raise ValueError(f"order holds indices outside 0..{count - 1}")
    if len(np.unique(order)) != len(order):
        raise ValueError("order lists a mask more than once")
    if not np.array_equal(np.sort(order), used):
        missing = np.setdiff1d(used, order)[:8].tolist()
        extra = np.setdiff1d(order, used)[:8].tolist()
        raise ValueError(f"order must list exactly the used masks (assigned >= 0): missing {missing}, "
                         f"unused {extra}")
    return order


def paint(out: np.ndarray, maskset: MaskSet, assigned: np.ndarray, order: np.ndarray) -> np.ndarray:
    """Paint masks onto ``out`` (H×W uint8, modified and returned) in ``order``, the winner first.

    Each mask claims the pixels no mask before it claimed and paints them
    ``assigned[mask]``. A run of masks of one value at the end of the order paints one
    union (the same pixels, one operation).
    """
    flat = out.reshape(-1)
    words = maskset.words
    claimed = np.zeros(words.shape[1], np.uint64)
    regions: Dict[int, np.ndarray] = {}
    order = np.asarray(order, np.int64)
    values = assigned[order]
    # masks of the last value at the tail: they only take what is left, so one union does
    tail = len(order)
    while tail > 0 and values[tail - 1] == values[-1]:
        tail -= 1
    for index in order[:tail]:
        fresh = words[index] & ~claimed
        claimed |= fresh
        value = int(assigned[index])
        regions[value] = regions[value] | fresh if value in regions else fresh
    if tail < len(order):
        value = int(values[-1])
        rest = np.bitwise_or.reduce(words[order[tail:]], axis=0) & ~claimed
        regions[value] = regions[value] | rest if value in regions else rest
    for value, region in regions.items():
        # Branch-free paint: out ^= (out ^ v) * bit is out where bit is 0, v where 1.
        bits = np.unpackbits(region.view(np.uint8), count=flat.size)
        change = flat ^ np.uint8(value)
        change *= bits
        flat ^= change
    return out

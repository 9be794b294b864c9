"""The rule contract (samcam.rules): what a rule is given, what it may return, how samcam paints it."""
from __future__ import annotations

import numpy as np
import pytest
from reference_rule import official_naive

import samcam
from samcam.masks.maskset import MaskSet
from samcam.refine import BUILTIN_RULES, get_rule, rule_parameters
from samcam.rules import Rule, RuleDecision, RuleInputs

H, W = 19, 27


def random_case(seed: int, count: int = 9, num_classes: int = 6):
    rng = np.random.default_rng(seed)
    label = rng.integers(0, num_classes, (H, W)).astype(np.uint8)
    label[rng.random((H, W)) < 0.05] = 255
    masks = np.zeros((count, H, W), bool)
    for k in range(count):
        y, x = rng.integers(0, H - 3), rng.integers(0, W - 3)
        masks[k, y:y + rng.integers(3, H), x:x + rng.integers(3, W)] = True
    masks[rng.integers(0, count)] = False  # an empty mask
    return rng, label, masks


def naive_paint(base, masks, assigned, order):
    """The contract's painting, one pixel at a time: the first mask in ``order`` covering a pixel
    paints it ``assigned[mask]``; pixels no mask in ``order`` covers keep ``base``."""
    out = base.copy()
    for y in range(base.shape[0]):
        for x in range(base.shape[1]):
            for k in order:
                if masks[k, y, x]:
                    out[y, x] = assigned[k]
                    break
    return out


@pytest.mark.parametrize("seed", range(6))
def test_a_decision_is_painted_in_its_order_over_its_base(seed):
    rng, label, masks = random_case(seed)
    assigned = rng.integers(-1, 6, len(masks))
    assigned[0] = 255  # a mask may mark its pixels unknown
    used = np.flatnonzero(assigned >= 0)
    order = rng.permutation(used)
    base = rng.integers(0, 6, (H, W)).astype(np.uint8)

    def decide(inputs):
        return RuleDecision(assigned=assigned, order=order, base=base if seed % 2 else None)

    out = samcam.refine(label, masks, rule=decide, num_classes=6)
    np.testing.assert_array_equal(out, naive_paint(base if seed % 2 else label, masks, assigned, order))

    def index_order(inputs):  # order None: the used masks in index order
        return RuleDecision(assigned=assigned)

    np.testing.assert_array_equal(samcam.refine(label, masks, rule=index_order, num_classes=6),
                                  naive_paint(label, masks, assigned, used))


def test_a_rule_gets_the_counts_the_label_the_masks_and_their_scores():
    rng, label, masks = random_case(1)
    maskset = MaskSet.from_dense(masks, scores={"predicted_iou": np.linspace(0.9, 1.0, len(masks), dtype=np.float32)})
    scores = rng.random((6, H, W)).astype(np.float32)
    seen = {}

    def decide(inputs: RuleInputs, alpha: float = 1.0):
        seen.update(inputs=inputs, alpha=alpha)
        return RuleDecision(assigned=np.full(len(inputs.areas), -1))

    out = samcam.refine(label, maskset, rule=decide, num_classes=6, scores=scores, alpha=0.25)
    np.testing.assert_array_equal(out, label)  # no mask used: the label itself
    inputs = seen["inputs"]
    assert seen["alpha"] == 0.25
    counts, ignored, class_area = samcam.overlap_counts(label, masks, num_classes=6)
    np.testing.assert_array_equal(inputs.counts, counts)
    np.testing.assert_array_equal(inputs.ignored, ignored)
    np.testing.assert_array_equal(inputs.class_area, class_area)
    np.testing.assert_array_equal(inputs.areas, masks.sum(axis=(1, 2)))
    np.testing.assert_array_equal(inputs.counts.sum(axis=1) + inputs.ignored, inputs.areas)
    np.testing.assert_array_equal(inputs.masks.dense, masks)
    np.testing.assert_array_equal(inputs.label, label)
    np.testing.assert_array_equal(inputs.scores, scores)
    np.testing.assert_array_equal(inputs.mask_scores["predicted_iou"], maskset.scores["predicted_iou"])
    assert inputs.counts.dtype == np.int64 and inputs.label.dtype == np.uint8
    assert (inputs.num_classes, inputs.ignore_index) == (6, 255)


def test_a_rule_cannot_change_the_callers_arrays():
    _, label, masks = random_case(2)
    before = label.copy()

    def vandal(inputs):
        inputs.label[:] = 0
        return inputs.label

    with pytest.raises(ValueError, match="read-only"):
        samcam.refine(label, masks, rule=vandal, num_classes=6)
    np.testing.assert_array_equal(label, before)


def test_a_rule_may_return_a_label_map():
    _, label, masks = random_case(3)
    same = samcam.refine(label, masks, rule=lambda inputs: inputs.label, num_classes=6)
    np.testing.assert_array_equal(same, label)
    assert same.flags.writeable and not np.shares_memory(same, label)  # a copy, never the caller's array

    def covered_to_background(inputs):
        return np.where(inputs.masks.dense.any(axis=0), 0, inputs.label)

    np.testing.assert_array_equal(samcam.refine(label, masks, rule=covered_to_background, num_classes=6),
                                  np.where(masks.any(axis=0), 0, label))


@pytest.mark.parametrize("result,message", [
    (lambda n: RuleDecision(assigned=np.zeros(n + 1, int)), "one per mask"),
    (lambda n: RuleDecision(assigned=np.full(n, 9)), "assigned holds \\[9\\]"),
    (lambda n: RuleDecision(assigned=np.zeros(n, float)), "integers"),
    (lambda n: RuleDecision(assigned=np.zeros(n, int), order=np.arange(n - 1)), "missing \\[" ),
    (lambda n: RuleDecision(assigned=np.r_[-1, np.zeros(n - 1, int)], order=np.arange(n)), "unused \\[0\\]"),
    (lambda n: RuleDecision(assigned=np.zeros(n, int), order=np.r_[np.arange(n), 0]), "more than once"),
    (lambda n: RuleDecision(assigned=np.zeros(n, int), order=np.arange(n) + 1), "outside"),
    (lambda n: RuleDecision(assigned=np.zeros(n, int), base=np.zeros((2, 2), np.uint8)), "base must be"),
    (lambda n: np.full((H, W), 7, np.uint8), "the label map holds values \\[7\\]"),
    (lambda n: np.zeros((H, W), np.float32), "integer class indices"),
])
def test_bad_results_are_refused_naming_the_rule(result, message):
    _, label, masks = random_case(4)

    def sloppy(inputs):
        return result(len(inputs.areas))

    with pytest.raises(ValueError, match=f"rule 'sloppy' returned a bad result: .*{message}"):
        samcam.refine(label, masks, rule=sloppy, num_classes=6)


def test_parameters_are_the_rules_own():
    _, label, masks = random_case(5)

    def needs(inputs, share=0.5):
        return RuleDecision(assigned=np.full(len(inputs.areas), -1))

    with pytest.raises(ValueError, match="rule 'needs' has no parameter"):
        samcam.refine(label, masks, rule=needs, num_classes=6, shares=0.4)

    def no_default(inputs, share):
        return inputs.label

    with pytest.raises(ValueError, match="needs a default"):
        samcam.refine(label, masks, rule=no_default, num_classes=6)
    with pytest.raises(ValueError, match="rule 'official' has no parameter"):
        samcam.refine(label, masks, rule="official", num_classes=6, conflict="ratio")
    with pytest.raises(ValueError, match="unknown rule 'paper'"):
        samcam.refine(label, masks, rule="paper")
    assert Rule("needs", needs).parameters() == {"share": 0.5}
    record = rule_parameters(rule=needs, share=0.7)
    assert record["rule"] == "needs" and record["share"] == 0.7
    assert record["rule_origin"] == f"python object {__name__}.test_parameters_are_the_rules_own.<locals>.needs"


def test_a_label_only_rule_refuses_scores():
    _, label, masks = random_case(6)
    scores = np.ones((6, H, W), np.float32)
    hard = Rule("hard", lambda inputs: inputs.label, uses_scores=False)
    with pytest.raises(ValueError, match="'hard' uses the hard label only"):
        samcam.refine(label, masks, rule=hard, num_classes=6, scores=scores)
    with pytest.raises(ValueError, match="'official' uses the hard label only"):
        samcam.refine(label, masks, rule="official", num_classes=6, scores=scores)


@pytest.mark.parametrize("seed", range(8))
def test_the_built_in_rules_go_through_the_same_contract(seed):
    """official: its label map, bit-exact against the naive oracle; samcam: a decision that
    samcam paints. Calling the Rule objects or their names gives the same labels."""
    _, label, masks = random_case(seed, num_classes=21)
    label[label >= 21] = 255
    official = BUILTIN_RULES["official"]
    assert get_rule("official") is official and not official.uses_scores
    out = samcam.refine(label, masks, rule=official)
    np.testing.assert_array_equal(out, official_naive(label, masks))
    np.testing.assert_array_equal(out, samcam.refine(label, masks, rule="official"))
    inputs_seen = {}

    def spy(inputs, **params):
        inputs_seen["decision"] = BUILTIN_RULES["samcam"].decide(inputs, **params)
        return inputs_seen["decision"]

    ours = samcam.refine(label, masks, rule=Rule("spy", spy))
    np.testing.assert_array_equal(ours, samcam.refine(label, masks))
    decision = inputs_seen["decision"]
    assert isinstance(decision, RuleDecision)
    painted = naive_paint(label, masks, decision.assigned, decision.order)
    np.testing.assert_array_equal(ours, painted)

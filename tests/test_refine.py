"""refine (samcam.refine): empty mask sets, the scores path, bad input, unknown rules and
options, and the rule parameters a run records.

The rules themselves are in tests/rules/.
"""

import numpy as np
import pytest
from label_cases import random_case

import samcam
from samcam.rules import OfficialRuleParams, SamcamRuleParams


def test_empty_mask_set_leaves_label_unchanged():
    rng = np.random.default_rng(4)
    label, _ = random_case(rng)
    empty = np.zeros((0,) + label.shape, bool)
    assert np.array_equal(samcam.refine(label, empty), label)
    official = label.copy()
    official[official == 255] = 0
    assert np.array_equal(samcam.refine(label, [], rule="official"), official)


def test_scores_path_runs_and_validates():
    label = np.zeros((8, 8), np.uint8)
    label[2:6, 2:6] = 1
    scores = np.zeros((21, 8, 8), np.float32)
    scores[0] = 0.2
    scores[1, 1:7, 1:7] = 0.9
    mask = np.zeros((1, 8, 8), bool)
    mask[0, 1:7, 1:7] = True
    refined = samcam.refine(label, mask, scores=scores)
    assert (refined[1:7, 1:7] == 1).all()
    with pytest.raises(ValueError, match="scores must be C"):
        samcam.refine(label, mask, scores=scores[:5])
    with pytest.raises(ValueError, match="official"):
        samcam.refine(label, mask, rule="official", scores=scores)


@pytest.mark.parametrize("label, masks, message", [
    (np.zeros((4, 4), np.uint8), np.zeros((2, 4, 5), bool), "masks are 4×5 but the label is 4×4"),
    (np.full((4, 4), 30, np.uint8), np.zeros((1, 4, 4), bool), r"values \[30\] outside 0..20"),
    (np.zeros((4, 4), np.uint8), np.zeros((1, 4, 4), np.uint8), "boolean"),
    (np.zeros((0, 4), np.uint8), np.zeros((1, 0, 4), bool), "empty"),
    (np.zeros((4, 4), np.float32), np.zeros((1, 4, 4), bool), "integer"),
    (np.zeros((4, 4, 3), np.uint8), np.zeros((1, 4, 4), bool), "2-D"),
])
def test_bad_input_raises_clear_value_error(label, masks, message):
    with pytest.raises(ValueError, match=message):
        samcam.refine(label, masks)


def test_unknown_rule_and_options_are_refused():
    label = np.zeros((2, 2), np.uint8)
    masks = np.zeros((1, 2, 2), bool)
    for kwargs in ({"rule": "paper"}, {"conflict": "larger"}, {"ignore": "drop"}):
        with pytest.raises(ValueError):
            samcam.refine(label, masks, **kwargs)


def test_rule_parameters_record_every_field_in_declaration_order():
    from samcam.refine import rule_parameters
    recorded = rule_parameters(rule="samcam", ratio_thresh=0.4)
    assert list(recorded)[3:] == SamcamRuleParams.names()
    assert recorded["ratio_thresh"] == 0.4
    assert list(rule_parameters(rule="official"))[3:] == OfficialRuleParams.names()

"""The rule registry (samcam.rules.RULES): the two built-in rules, under their names, with
their parameter classes, and plug-in rules found through the ``samcam.rules`` entry points."""
from __future__ import annotations

import pytest

from samcam.plugins import RULE_GROUP
from samcam.rules import RULES, OfficialRuleParams, Rule, SamcamRuleParams


def test_the_built_in_rules_are_samcams_and_the_papers():
    builtins = RULES.builtins()
    assert list(builtins)[:2] == ["samcam", "official"]  # the default first
    for name, rule in builtins.items():
        assert isinstance(rule, Rule) and rule.name == name
        assert RULES.get(name.upper()) is rule and RULES.origin(name) == "built in"
    for name, params in (("samcam", SamcamRuleParams), ("official", OfficialRuleParams)):
        assert builtins[name].params is params
    assert builtins["samcam"].uses_scores and not builtins["official"].uses_scores  # official: hard label only
    assert RULES.group == RULE_GROUP == "samcam.rules"


def test_an_unknown_rule_names_the_rules_there_are():
    with pytest.raises(ValueError) as caught:
        RULES.get("offical")
    message = str(caught.value)
    assert "official" in message and "samcam" in message

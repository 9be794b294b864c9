"""Refinement rules: the contract, the counting samcam does for every rule, the built-in rules.

* :mod:`.contract`: what a rule is given (:class:`RuleInputs`), what it returns
  (:class:`RuleDecision` or a label map), and how samcam checks and paints it;
* :mod:`.counting`: every mask against every class at once, and the cover of class cores;
* :mod:`.default`: the ``samcam`` rule (the default) and its :class:`SamcamRuleParams`;
* :mod:`.official`: the reference code's rule, bit for bit, and its :class:`OfficialRuleParams`;
* :mod:`.concept`: the ``concept`` rule for class-tagged masks (SAM 3) and its :class:`ConceptRuleParams`.

:data:`RULES` is the registry of rules (:class:`samcam.registry.Registry`): the two
built-in ones (``samcam``, ``official``, ``concept``) and those other packages declare under the entry point group
``samcam.rules``::

    [project.entry-points."samcam.rules"]
    myrule = "mypackage.rules:MY_RULE"      # a Rule, or a function decide(inputs, **params)
"""
from __future__ import annotations

from ..plugins import RULE_GROUP
from ..registry import Registry
from .concept import CONCEPT_RULE, ConceptRuleParams
from .contract import Rule, RuleDecision, RuleInputs, apply_decision, as_rule, paint
from .default import CONFLICTS, SAMCAM_RULE, SamcamRuleParams
from .official import OFFICIAL_RULE, OfficialRuleParams

__all__ = ["RuleInputs", "RuleDecision", "Rule", "as_rule", "apply_decision", "paint", "RULES",
           "SamcamRuleParams", "OfficialRuleParams", "ConceptRuleParams", "CONFLICTS"]


def _builtin_rules(registry: Registry) -> None:
    registry.register(SAMCAM_RULE.name, SAMCAM_RULE)
    registry.register(OFFICIAL_RULE.name, OFFICIAL_RULE)
    registry.register(CONCEPT_RULE.name, CONCEPT_RULE)


RULES: Registry[Rule] = Registry("rule", group=RULE_GROUP, builtins=_builtin_rules, convert=as_rule,
                                 declared_name=lambda rule: rule.name)

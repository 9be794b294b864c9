"""A rule whose decision names classes that do not exist, and an object that is no rule."""
import numpy as np

from samcam.rules import RuleDecision


def nonsense(inputs):
    return RuleDecision(assigned=np.full(len(inputs.areas), 99))


NOT_A_RULE = 42

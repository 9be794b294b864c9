"""Settings objects (samcam.settings): checked when built, normalised, frozen.

The flags the CLI builds from them are in tests/cli/test_flags.py.
"""
from __future__ import annotations

import math
from dataclasses import FrozenInstanceError

import numpy as np
import pytest
from toy_settings import Toy

from samcam.settings import SettingsError, parse_value, setting


@pytest.mark.parametrize("name, value, problem", [
    ("share", math.nan, "finite"), ("share", math.inf, "finite"), ("share", -0.1, "[0, 1]"),
    ("share", 1.5, "[0, 1]"), ("share", "0.5", "a number"), ("share", True, "a number"), ("share", [1], "a number"),
    ("count", 0, ">= 1"), ("count", 2.5, "an integer"), ("count", "x", "an integer"), ("count", None, "must be set"),
    ("mode", "c", "one of a, b"), ("mode", 1, "text"), ("fast", 1, "True or False"), ("fast", "yes", "True or False"),
    ("limit", -1, ">= 0"),
])
def test_bad_values_are_refused_when_built_naming_the_parameter(name, value, problem):
    with pytest.raises(SettingsError) as caught:
        Toy(**{name: value})
    assert caught.value.parameter == name and str(caught.value).startswith(name + " ")
    assert problem in caught.value.problem
    assert isinstance(caught.value, ValueError)  # callers that catch ValueError keep working


def test_values_are_normalised_and_the_object_is_frozen():
    toy = Toy(share=1, count=np.int64(4), fast=np.bool_(True), limit=None)
    assert toy.share == 1.0 and type(toy.share) is float
    assert toy.count == 4 and type(toy.count) is int
    assert toy.fast is True
    with pytest.raises(FrozenInstanceError):
        toy.share = 0.2
    assert toy.changed() == {"share": 1.0, "count": 4, "fast": True}
    assert toy.replace(share=0.25).share == 0.25
    with pytest.raises(SettingsError):
        toy.replace(share=2.0)


def test_from_mapping_names_unknown_parameters_and_lists_the_known_ones():
    with pytest.raises(SettingsError, match=r"shar is not a parameter of Toy; its parameters: share, count"):
        Toy.from_mapping({"shar": 0.2})
    assert Toy.from_mapping({"count": 7}).count == 7


@pytest.mark.parametrize("text, expected", [("0.25", 0.25), (" 1 ", 1.0)])
def test_parse_value_reads_command_line_text(text, expected):
    assert parse_value("share", text, float, Toy.specs()["share"]) == expected


@pytest.mark.parametrize("text", ["nan", "inf", "-5", "abc", ""])
def test_parse_value_refuses_bad_text(text):
    with pytest.raises(SettingsError):
        parse_value("share", text, float, Toy.specs()["share"])


def test_settings_refuse_mutable_defaults():
    with pytest.raises(TypeError, match="immutable"):
        setting([1], "a list")


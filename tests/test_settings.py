"""Settings objects (samcam.settings) and the flags the CLI builds from them (samcam.cli.flags)."""
from __future__ import annotations

import argparse
import math
from dataclasses import FrozenInstanceError, dataclass
from typing import Optional

import numpy as np
import pytest

import samcam
from samcam.cli.flags import add_settings_flags, flag_error, settings_from_args
from samcam.rules import OfficialRuleParams, SamcamRuleParams
from samcam.settings import Settings, SettingsError, parse_value, setting


@dataclass(frozen=True)
class Toy(Settings):
    share: float = setting(0.5, "a fraction", low=0.0, high=1.0)
    count: int = setting(3, "a count", low=1)
    mode: str = setting("a", "a choice", choices=("a", "b"))
    fast: bool = setting(False, "go fast")
    careful: bool = setting(True, "be careful", negate="--careless", negate_help="do not be careful")
    limit: Optional[int] = setting(None, "optional", low=0)
    hidden: float = setting(0.1, "no flag", cli=False, low=0.0)


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


def test_flags_come_from_the_fields():
    parser = argparse.ArgumentParser()
    add_settings_flags(parser, Toy)
    args = parser.parse_args([])
    assert settings_from_args(Toy, args) == Toy()
    assert not hasattr(args, "hidden")  # cli=False: no flag
    args = parser.parse_args(["--share", "0.75", "--count", "9", "--mode", "b", "--fast", "--careless",
                              "--limit", "4"])
    assert settings_from_args(Toy, args) == Toy(share=0.75, count=9, mode="b", fast=True, careful=False, limit=4)
    help_text = parser.format_help()
    assert "do not be careful" in help_text and "--careful " not in help_text


@pytest.mark.parametrize("argv, flag", [(["--share", "nan"], "--share"), (["--share", "-5"], "--share"),
                                        (["--count", "0"], "--count"), (["--count", "x"], "--count")])
def test_a_bad_flag_value_is_a_one_line_usage_error_under_the_flag(argv, flag, capsys):
    parser = argparse.ArgumentParser(prog="toy")
    add_settings_flags(parser, Toy)
    with pytest.raises(SystemExit) as caught:
        parser.parse_args(argv)
    assert caught.value.code == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith(f"toy: error: argument {flag}:")


def test_library_errors_are_reworded_under_the_flag():
    error = SettingsError("unclaimed_background", "must be True or False, got 1")
    assert flag_error(error, SamcamRuleParams) == "--keep-unclaimed must be True or False, got 1"
    assert flag_error(SettingsError("min_area", "must be >= 0, got -1"), SamcamRuleParams) == \
        "min_area must be >= 0, got -1"


def test_settings_refuse_mutable_defaults():
    with pytest.raises(TypeError, match="immutable"):
        setting([1], "a list")


# The rules' parameters are settings: refine checks them before any work.
LABEL = np.zeros((6, 6), np.uint8)
LABEL[1:4, 1:4] = 2
MASKS = np.zeros((1, 6, 6), bool)
MASKS[0, :5, :5] = True


@pytest.mark.parametrize("params, name", [
    (dict(ratio_thresh=math.nan), "ratio_thresh"), (dict(ratio_thresh=-5), "ratio_thresh"),
    (dict(cover_thresh=math.inf), "cover_thresh"), (dict(min_evidence=[1]), "min_evidence"),
    (dict(min_area="x"), "min_area"), (dict(conflict="largest"), "conflict"), (dict(core_rescue="no"), "core_rescue"),
    (dict(rule="official", ratio_thresh=math.nan), "ratio_thresh"),
])
def test_refine_refuses_bad_rule_parameters(params, name):
    with pytest.raises(SettingsError) as caught:
        samcam.refine(LABEL, MASKS, **params)
    assert caught.value.parameter == name


def test_rule_parameters_record_every_field_in_declaration_order():
    from samcam.refine import rule_parameters
    recorded = rule_parameters(rule="samcam", ratio_thresh=0.4)
    assert list(recorded)[3:] == SamcamRuleParams.names()
    assert recorded["ratio_thresh"] == 0.4
    assert list(rule_parameters(rule="official"))[3:] == OfficialRuleParams.names()

"""Flags built from settings fields (samcam.cli.flags): defaults and help from the fields, bad
values as one-line usage errors, library errors reworded under the flag."""
from __future__ import annotations

import argparse

import pytest
from toy_settings import Toy

from samcam.cli.flags import add_settings_flags, flag_error, settings_from_args
from samcam.rules import SamcamRuleParams
from samcam.settings import SettingsError


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


"""One vocabulary across commands: the same flag and metavar for a concept, every default in
--help, errors named after the command, and the old spellings still working."""
from __future__ import annotations

import argparse
import re
import shlex
from pathlib import Path

import numpy as np
import pytest

from samcam.cli import adapt_main, build_parser, main
from samcam.io import write_label_png

PARSER = build_parser()
COMMANDS = dict(PARSER.commands)
# The value forms an option may show (choices show as {a,b}; PATH: a file or a folder).
METAVARS = {"DIR", "FILE", "PATH", "NAME=DIR", "NAME=VALUE", "N", "X", "NAME", "I/N", "DEVICE", "LAYOUT"}
# One concept, one flag and one metavar, wherever the flag exists.
SAME_METAVAR = {"--images": "DIR", "--masks": "DIR", "--gt": "DIR", "--cams": "DIR", "--list": "FILE",
                "--workers": "N", "--num-classes": "N", "--baseline": "NAME", "--json": "FILE", "--report": "DIR",
                "--per-image": "FILE", "--top": "N", "--seed": "N"}
# Where several folders are compared side by side, the same flag names them: NAME=DIR.
SEVERAL = {("compare", "--masks"), ("eval", "--labels")}


def options(parser: argparse.ArgumentParser):
    return [a for a in parser._actions if a.option_strings and a.help is not argparse.SUPPRESS
            and not isinstance(a, argparse._HelpAction)]


def expanded_help(parser: argparse.ArgumentParser, action: argparse.Action) -> str:
    return parser._get_formatter()._expand_help(action)


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_value_has_a_known_metavar_and_every_default_is_shown(command):
    parser = COMMANDS[command]
    for action in options(parser):
        flag = action.option_strings[0]
        if action.nargs == 0:
            continue
        if action.choices is None and not str(action.metavar).startswith("{"):  # {a,b}: the choices shown
            assert action.metavar in METAVARS, f"samcam {command} {flag}: metavar {action.metavar!r}"
        if (command, flag) in SEVERAL:
            assert action.metavar == "NAME=DIR", f"samcam {command} {flag}"
        elif flag in SAME_METAVAR:
            assert action.metavar == SAME_METAVAR[flag], f"samcam {command} {flag}"
        if action.default not in (None, False, []):
            text = expanded_help(parser, action)
            assert "default" in text.lower(), f"samcam {command} {flag}: default {action.default!r} not shown: {text}"


def _help_examples(text: str):
    """The ``samcam COMMAND ...`` lines of a --help text (a line ending in a backslash goes on)."""
    lines = iter(text.splitlines())
    for line in lines:
        words = line.split()
        if words[:1] == ["samcam"] and len(words) > 1 and words[1] in COMMANDS:  # not a wrapped "samcam rule"
            while line.endswith("\\"):
                line = line[:-1] + next(lines)
            yield shlex.split(line.split(" #")[0])


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_the_examples_in_help_are_commands_that_parse(command):
    """An example in a --help text uses the command's real flags (argparse exits 2 otherwise)."""
    examples = list(_help_examples(COMMANDS[command].format_help()))
    assert examples and all(argv[1] == command for argv in examples), f"samcam {command} --help has no example"
    for argv in examples:
        args = build_parser().parse_args(argv[1:])
        assert args.command == argv[1]


def test_label_folders_are_labels_everywhere():
    for command in ("refine", "adapt", "eval", "vis", "mmseg-config", "compare"):
        flags = {flag for action in COMMANDS[command]._actions for flag in action.option_strings}
        assert "--labels" in flags, command
        assert not {"--pseudo", "--pred"} & {f for a in options(COMMANDS[command]) for f in a.option_strings}


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_help_has_no_backticks_and_names_the_command(command, capsys):
    with pytest.raises(SystemExit) as stop:
        main([command, "--help"])
    assert stop.value.code == 0
    text = capsys.readouterr().out
    assert text.startswith(f"usage: samcam {command} ")
    assert "`" not in text and "--pseudo" not in text and "--pred " not in text


def test_samcam_adapt_help_and_errors_say_samcam_adapt(capsys):
    with pytest.raises(SystemExit):
        adapt_main(["--help"])
    text = capsys.readouterr().out
    assert text.startswith("usage: samcam-adapt ") and "`" not in text and "samcam adapt" not in text
    with pytest.raises(SystemExit) as stop:
        adapt_main(["--method", "irn", "--masks", "m"])
    assert stop.value.code == 2
    assert capsys.readouterr().err == "samcam-adapt: error: missing required flag --out\n"
    assert adapt_main(["--method", "irn", "--cams", "nope", "--masks", "nope", "--out", "o"]) == 2
    assert capsys.readouterr().err.startswith("samcam-adapt: error: --masks nope")


def test_usage_errors_are_prefixed_with_the_subcommand(tmp_path, capsys):
    with pytest.raises(SystemExit) as stop:
        main(["vis", "--images", "i", "--labels", "l", "--out", "o", "--bogus"])
    assert stop.value.code == 2
    assert capsys.readouterr().err == "samcam vis: error: unknown flag --bogus\n"  # one line, no usage dump
    with pytest.raises(SystemExit):
        main(["refine", "--out", "o"])
    assert capsys.readouterr().err == "samcam refine: error: missing required flags --labels, --masks\n"
    with pytest.raises(SystemExit):
        main(["refine", "--help"])
    assert "usage: samcam refine [-h] --labels DIR --masks DIR --out DIR" in capsys.readouterr().out  # no brackets
    with pytest.raises(SystemExit):
        main(["eval", "--gt", "g", "--labels", "x", "--top", "0"])
    assert "samcam eval: error: argument --top: expected a positive integer" in capsys.readouterr().err


@pytest.mark.parametrize("argv, message", [
    # a typo is named, with the flag meant, before the required flags are checked
    (["refine", "--lables", "l", "--masks", "m", "--out", "o"], "unknown flag --lables (did you mean --labels?)"),
    (["refine", "--labels", "l", "--masks", "m", "--out", "o", "--ovewrite", "--workres=2"],
     "unknown flags --ovewrite (did you mean --overwrite?), --workres (did you mean --workers?)"),
    (["adapt", "--method", "mctfromer", "--masks", "m", "--out", "o"],
     "argument --method: unknown method 'mctfromer' (did you mean mctformer?)"),
    (["refine", "--labels", "l", "--masks", "m", "--out", "o", "--rule", "Oficial"],
     "argument --rule: unknown rule 'Oficial' (did you mean official?)"),
    ([], "missing COMMAND, one of: refine, adapt"),
])
def test_honest_mistakes_get_one_line_that_says_what_to_do(argv, message, capsys):
    with pytest.raises(SystemExit) as stop:
        main(argv)
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "usage:" not in err
    assert message in err


def test_method_and_rule_names_are_case_insensitive(tmp_path):
    from samcam.cli import build_parser
    args = build_parser().parse_args(["adapt", "--method", "IRN", "--masks", "m", "--out", "o", "--rule", "OFFICIAL"])
    assert args.method == "irn" and args.rule == "official"


def _tiny_dataset(root):
    gt = np.zeros((6, 8), np.uint8)
    gt[2:5, 2:6] = 1
    before = np.zeros_like(gt)
    after = gt.copy()
    for name in ("a", "b"):
        write_label_png(root / "gt" / f"{name}.png", gt)
        write_label_png(root / "before" / f"{name}.png", before)
        write_label_png(root / "after" / f"{name}.png", after)
        write_label_png(root / "mid" / f"{name}.png", np.where(np.arange(8) < 4, gt, 0).astype(np.uint8))


def test_old_spellings_still_work(tmp_path, capsys):
    _tiny_dataset(tmp_path)
    new = main(["eval", "--gt", str(tmp_path / "gt"), "--labels", f"cam={tmp_path / 'before'}",
                "--labels", f"refined={tmp_path / 'after'}", "--num-classes", "2", "--no-progress"])
    new_out = capsys.readouterr().out
    old = main(["eval", "--gt", str(tmp_path / "gt"), "--pred", f"cam={tmp_path / 'before'}",
                "--pred", f"refined={tmp_path / 'after'}", "--num-classes", "2", "--no-progress"])
    assert new == old == 0 and capsys.readouterr().out == new_out
    # mixed, in the order given
    assert main(["eval", "--gt", str(tmp_path / "gt"), "--pred", f"cam={tmp_path / 'before'}",
                 "--labels", f"refined={tmp_path / 'after'}", "--num-classes", "2", "--no-progress"]) == 0
    assert capsys.readouterr().out == new_out


def test_eval_three_sets_have_deltas_against_the_baseline(tmp_path, capsys):
    _tiny_dataset(tmp_path)
    argv = ["eval", "--gt", str(tmp_path / "gt"), "--labels", f"cam={tmp_path / 'before'}",
            "--labels", f"mid={tmp_path / 'mid'}", "--labels", f"refined={tmp_path / 'after'}",
            "--num-classes", "2", "--no-progress"]
    assert main(argv) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["cam", "mid", "refined", "Δ", "mid", "Δ", "refined"]
    miou = [float(v) for v in lines[1].split()[1:]]
    assert miou[3] == pytest.approx(miou[1] - miou[0], abs=0.011) and miou[4] == pytest.approx(miou[2] - miou[0], abs=0.011)
    assert lines[-1].endswith("values in %; Δ: percentage points against cam)")
    assert main(argv + ["--baseline", "refined"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["cam", "mid", "refined", "Δ", "cam", "Δ", "mid"]
    assert lines[-1].endswith("against refined)") and float(lines[1].split()[4]) < 0
    assert main(argv + ["--baseline", "nope"]) == 2
    assert "--baseline 'nope' is not one of the label sets: cam, mid, refined" in capsys.readouterr().err


def test_docs_vocabulary_table_lists_the_commands_that_have_each_flag():
    """docs/cli.md's "One vocabulary" table: each row's flags exist in exactly the commands it names."""
    page = (Path(__file__).resolve().parents[2] / "docs" / "cli.md").read_text(encoding="utf-8")
    section = page.split("## One vocabulary", 1)[1].split("\n## ", 1)[0]
    table = [line for line in section.splitlines() if line.startswith("|")]  # the section's one table
    rows = [line.split(" | ") for line in table[2:]]
    assert len(rows) >= 10
    for _, flags, commands in rows:
        named = set(re.findall(r"`(--[a-z-]+)", re.sub(r"\([^)]*\)", "", flags)))  # not the notes in (...)
        listed = {re.sub(r" \(.*", "", c).strip(" |") for c in commands.split(", ")}
        having = {name for name, parser in COMMANDS.items()
                  if named & {f for a in options(parser) for f in a.option_strings}}
        assert listed == having, f"docs/cli.md row {sorted(named)}: lists {sorted(listed)}, the parsers have {sorted(having)}"

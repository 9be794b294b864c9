"""The ``samcam`` command line: a thin argparse skin over the Python API.

One module per subcommand, each with ``add_parser(subparsers)`` (which sets
``run``, a function ``(args) -> exit code``); :mod:`.common` holds the shared flags.
Exit codes, the same for every command (see README, "Failure behaviour"):

* 0 all done;
* 1 some images failed on bad input (each listed with its reason; the others finished);
* 2 usage or configuration error (bad flag, missing folder or list, an output folder
  that cannot be written: disk full, read-only, no permission), one line naming it;
* 3 internal error: a bug in samcam or a library it uses, printed with its traceback
  (also when only some images hit it: the others finished);
* 130 interrupted (Ctrl-C).
"""
from __future__ import annotations

import argparse
import sys
import traceback
from typing import Optional, Sequence

from .. import __version__
from ..limits import check_environment
from ..sam.checkpoints import CheckpointError
from ..sam.pipeline import MissingPackages
from . import adapt, coco_gt, compare, demo, evaluate, masks, mmseg_config, refine, vis
from .common import Parser, show_log

__all__ = ["main", "adapt_main", "build_parser", "describe_os_error"]

COMMANDS = (refine, adapt, masks, compare, evaluate, vis, demo, mmseg_config, coco_gt)


def build_parser(adapt_prog: Optional[str] = None) -> argparse.ArgumentParser:
    """The full ``samcam`` parser with every subcommand (a :class:`~.common.Parser` each).

    ``adapt_prog``: the name ``adapt`` goes by in its usage and errors (``samcam-adapt``).
    ``parser.commands`` maps each subcommand's name to its parser.
    """
    parser = Parser(
        prog="samcam",
        description=(
            "Refine weakly supervised segmentation pseudo labels with Segment Anything masks "
            "(Chen et al., arXiv 2305.05803)."
        ),
    )
    parser.add_argument("--version", action="version", version=f"samcam {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    for command in COMMANDS:
        command.add_parser(subparsers)
    parser.commands = dict(subparsers.choices)
    if adapt_prog:
        parser.commands["adapt"].prog = adapt_prog
    return parser


def main(argv: Optional[Sequence[str]] = None, *, prog: str = "samcam") -> int:
    """Entry point of ``samcam``; returns the exit code (0, 1, 2, 3 or 130; see the module docstring).

    Every message, usage errors included, starts with the subcommand's name
    (``samcam vis: error: ...``; ``samcam-adapt: error: ...`` for ``samcam-adapt``).
    """
    argv = [str(a) for a in (sys.argv[1:] if argv is None else argv)]
    parser = build_parser(adapt_prog="samcam-adapt" if prog == "samcam-adapt" else None)
    args, extras = parser.parse_known_args(argv)
    if args.command is None:
        parser.error(f"missing COMMAND, one of: {', '.join(parser.commands)} ({prog} --help describes them)")
    command_parser = parser.commands[args.command]
    if extras:  # argparse would blame "samcam"; the subcommand's parser says it with its own usage
        command_parser.error(f"unrecognized arguments: {' '.join(extras)}")
    name = command_parser.prog
    # The command line as typed, for the samcam.json of commands that write labels.
    args.command_line = [prog] + (argv[1:] if prog == "samcam-adapt" else argv)
    args.prog = name
    show_log(name)
    try:
        check_environment()  # a bad SAMCAM_MAX_* is one usage error, not every image failing
        return int(args.run(args) or 0)
    except KeyboardInterrupt:
        print("interrupted; finished outputs are kept and a rerun resumes", file=sys.stderr)
        return 130
    except (ValueError, FileNotFoundError, CheckpointError, MissingPackages) as error:
        print(f"{name}: error: {error}", file=sys.stderr)
        return 2
    except OSError as error:  # an output folder that cannot be written, a list that cannot be read
        print(f"{name}: error: {describe_os_error(error)}", file=sys.stderr)
        return 2
    except Exception:
        print(f"{name}: internal error (a bug in samcam or a library it uses; please report it "
              "with this traceback):", file=sys.stderr)
        traceback.print_exc()
        return 3


def describe_os_error(error: OSError) -> str:
    """``path: what went wrong`` for an OSError, without Python's ``[Errno N]`` noise."""
    if error.filename is not None and error.strerror:
        return f"{error.filename}: {error.strerror}"
    return str(error)


def adapt_main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of ``samcam-adapt`` (same as ``samcam adapt``, named ``samcam-adapt`` in its messages)."""
    return main(["adapt"] + list(sys.argv[1:] if argv is None else argv), prog="samcam-adapt")

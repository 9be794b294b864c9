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
from ..sam.checkpoints import CheckpointError
from ..sam.pipeline import MissingPackages
from . import adapt, demo, evaluate, masks, mmseg_config, refine, vis
from .common import show_log

__all__ = ["main", "adapt_main", "build_parser", "describe_os_error"]

COMMANDS = (refine, adapt, masks, evaluate, vis, demo, mmseg_config)


def build_parser() -> argparse.ArgumentParser:
    """The full ``samcam`` parser with every subcommand."""
    parser = argparse.ArgumentParser(
        prog="samcam",
        description=(
            "Refine weakly supervised segmentation pseudo labels with Segment Anything masks "
            "(Chen et al., arXiv 2305.05803)."
        ),
    )
    parser.add_argument("--version", action="version", version=f"samcam {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    for command in COMMANDS:
        command.add_parser(subparsers)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of ``samcam``; returns the exit code (0, 1, 2, 3 or 130; see the module docstring)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    # The command line as typed, for the samcam.json of commands that write labels.
    args.command_line = ["samcam"] + [str(a) for a in (sys.argv[1:] if argv is None else argv)]
    show_log(args.command)
    try:
        return int(args.run(args) or 0)
    except KeyboardInterrupt:
        print("interrupted; finished outputs are kept and a rerun resumes", file=sys.stderr)
        return 130
    except (ValueError, FileNotFoundError, CheckpointError, MissingPackages) as error:
        print(f"samcam {args.command}: error: {error}", file=sys.stderr)
        return 2
    except OSError as error:  # an output folder that cannot be written, a list that cannot be read
        print(f"samcam {args.command}: error: {describe_os_error(error)}", file=sys.stderr)
        return 2
    except Exception:
        print(f"samcam {args.command}: internal error (a bug in samcam or a library it uses; please report it "
              "with this traceback):", file=sys.stderr)
        traceback.print_exc()
        return 3


def describe_os_error(error: OSError) -> str:
    """``path: what went wrong`` for an OSError, without Python's ``[Errno N]`` noise."""
    if error.filename is not None and error.strerror:
        return f"{error.filename}: {error.strerror}"
    return str(error)


def adapt_main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of ``samcam-adapt`` (same as ``samcam adapt``)."""
    return main(["adapt"] + list(sys.argv[1:] if argv is None else argv))

"""The ``samcam`` command line: a thin argparse skin over the Python API.

One module per subcommand, each with ``add_parser(subparsers)`` (which sets
``run``, a function ``(args) -> exit code``); :mod:`.common` holds the shared flags.
Exit codes: 0 all done, 1 some images failed (listed), 2 usage or configuration
error, 130 interrupted.
"""
from __future__ import annotations

import argparse
import sys
from typing import Optional, Sequence

from .. import __version__
from ..sam.checkpoints import CheckpointError
from ..sam.pipeline import MissingPackages
from . import adapt, demo, evaluate, masks, mmseg_config, refine, vis
from .common import show_log

__all__ = ["main", "adapt_main", "build_parser"]

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
    """Entry point of ``samcam``; returns the exit code."""
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


def adapt_main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of ``samcam-adapt`` (same as ``samcam adapt``)."""
    return main(["adapt"] + list(sys.argv[1:] if argv is None else argv))

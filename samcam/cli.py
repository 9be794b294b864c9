"""The ``samcam`` command line: argparse front end over the Python API.

Each subcommand lives beside the code it drives and registers itself through an
``add_subcommand(subparsers)`` function listed in :data:`SUBCOMMAND_MODULES`; no
logic lives only here.
"""
from __future__ import annotations

import argparse
import importlib
import sys
from typing import List, Optional, Sequence

# Modules that define add_subcommand(subparsers); each sets `func` on its parser,
# a function (args) -> exit code.
SUBCOMMAND_MODULES: List[str] = [
    "samcam.adapters.cli",
    "samcam.commands",
    "samcam.vis",
    "samcam.mmseg_config",
    "samcam.masks_cli",
]


def build_parser() -> argparse.ArgumentParser:
    """The full ``samcam`` parser with every registered subcommand."""
    from . import __version__

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
    for module_name in SUBCOMMAND_MODULES:
        importlib.import_module(module_name).add_subcommand(subparsers)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of ``samcam``; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted; finished outputs are kept and a rerun resumes", file=sys.stderr)
        return 130
    except (ValueError, FileNotFoundError) as error:
        print(f"samcam {args.command}: error: {error}", file=sys.stderr)
        return 2


def adapt_main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of ``samcam-adapt`` (same as ``samcam adapt``)."""
    return main(["adapt"] + list(sys.argv[1:] if argv is None else argv))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

"""The ``samcam`` command line: a thin argparse skin over the Python API.

One module per subcommand, each with ``add_parser(subparsers)`` (which sets
``run``, a function ``(args) -> exit code``); :mod:`.common` holds the shared flags.
Exit codes, the same for every command (docs/failures.md, "Exit codes"):

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
import signal
import sys
import threading
import traceback
from typing import Optional, Sequence

from .. import __version__
from .._startup import EXIT_INTERRUPTED, STARTING, restore_interrupt, started_as_command
from ..limits import check_environment
from ..names import clip_lines
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
    Ctrl-C at any point (building the parser, reading folders, in the batch) is one
    line and 130; usage and configuration errors are one line and 2.
    """
    name, args = prog, None
    try:
        restore_interrupt()  # Ctrl-C is KeyboardInterrupt again from here on: caught below
        args = _parse(argv, prog)
        name = args.prog
        show_log(name)
        check_environment()  # a bad SAMCAM_MAX_* is one usage error, not every image failing
        return int(args.run(args) or 0)
    except KeyboardInterrupt:
        return _interrupted(name, running=args is not None)
    except Exception as error:  # every other exception ends as one exit code too
        return _failed(name, error)
    finally:
        if started_as_command():  # the process ends after this: a late Ctrl-C changes nothing
            _ignore_interrupts()


def _parse(argv: Optional[Sequence[str]], prog: str) -> argparse.Namespace:
    """The parsed command line, with ``command_line`` (as typed) and ``prog`` (the subcommand's name)."""
    argv = [str(a) for a in (sys.argv[1:] if argv is None else argv)]
    parser = build_parser(adapt_prog="samcam-adapt" if prog == "samcam-adapt" else None)
    args, extras = parser.parse_known_args(argv)
    if args.command is None:
        parser.error(f"missing COMMAND, one of: {', '.join(parser.commands)} ({prog} --help describes them)")
    command_parser = parser.commands[args.command]
    if extras:  # argparse would blame "samcam"; the subcommand's parser says it with its own usage
        command_parser.error(f"unrecognized arguments: {' '.join(extras)}")
    # The command line as typed, for the samcam.json of commands that write labels.
    args.command_line = [prog] + (argv[1:] if prog == "samcam-adapt" else argv)
    args.prog = command_parser.prog
    return args


def _interrupted(name: str, running: bool) -> int:
    """Ctrl-C: one line (a second Ctrl-C while it is printed changes nothing); 130."""
    previous = _ignore_interrupts()
    what = "interrupted; finished outputs are kept and a rerun resumes" if running else STARTING
    try:
        print(f"{name}: {what}", file=sys.stderr)
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
    return EXIT_INTERRUPTED


def _ignore_interrupts():
    """Ignore SIGINT (main thread only); returns the handler to put back, or None."""
    if threading.current_thread() is not threading.main_thread():
        return None
    return signal.signal(signal.SIGINT, signal.SIG_IGN)


def _failed(name: str, error: Exception) -> int:
    """Print what went wrong; 2 for the user's or the machine's side (one line), 3 for a bug (with its traceback)."""
    message = _user_error(error)
    if message is not None:
        print(f"{name}: error: {clip_lines(message)}", file=sys.stderr)  # a 5 MB name is not echoed whole
        return 2
    print(f"{name}: internal error (a bug in samcam or a library it uses; please report it "
          "with this traceback):", file=sys.stderr)
    traceback.print_exception(type(error), error, error.__traceback__)
    return 3


def _user_error(error: BaseException) -> Optional[str]:
    """The one-line message of an error that is not a bug (exit code 2), or None for a bug.

    Configuration errors (``ValueError`` and its subclasses: settings, input folders,
    names), missing files, outputs that cannot be written, missing packages or
    checkpoints; an input nested too deeply to read (``RecursionError``) and memory
    running out are said in one line too.
    """
    if isinstance(error, RecursionError):
        where = f" ({error.filename})" if getattr(error, "filename", None) else ""
        return (f"an input{where} is nested too deeply to read ({error}); is it a file samcam wrote? "
                "Check the files given to this command")
    if isinstance(error, MemoryError):
        return (f"out of memory ({type(error).__name__}{': ' + str(error) if str(error) else ''}); "
                "free memory, use fewer --workers, or lower the SAMCAM_MAX_* size limits")
    if isinstance(error, (ValueError, FileNotFoundError, CheckpointError, MissingPackages)):
        return str(error)
    if isinstance(error, OSError):  # an output folder that cannot be written, a list that cannot be read
        return describe_os_error(error)
    return None


def describe_os_error(error: OSError) -> str:
    """``path: what went wrong`` for an OSError, without Python's ``[Errno N]`` noise."""
    if error.filename is not None and error.strerror:
        return f"{error.filename}: {error.strerror}"
    return str(error)


def adapt_main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of ``samcam-adapt`` (same as ``samcam adapt``, named ``samcam-adapt`` in its messages)."""
    return main(["adapt"] + list(sys.argv[1:] if argv is None else argv), prog="samcam-adapt")

"""Ctrl-C while the ``samcam`` command starts: one line and exit code 130, no traceback.

Importing samcam (numpy, scipy, the rules, every subcommand) takes a second or more
before :func:`samcam.cli.main` can catch ``KeyboardInterrupt``. When this process *is*
the command (the ``samcam`` and ``samcam-adapt`` console scripts, ``python -m
samcam``), :func:`exit_quietly_on_interrupt` installs a SIGINT handler for that time;
``main()`` puts Python's own handler back with :func:`restore_interrupt` as it starts.
Imported as a library, nothing changes.

This module is imported first by ``samcam/__init__.py``, so it imports nothing heavy.
"""
from __future__ import annotations

import os
import signal
import sys
import threading
from typing import List, Optional

__all__ = ["EXIT_INTERRUPTED", "STARTING", "started_as_command", "exit_quietly_on_interrupt", "restore_interrupt"]

EXIT_INTERRUPTED = 130  # 128 + SIGINT, what shells report for a command stopped by Ctrl-C
STARTING = "interrupted while starting; nothing was written"  # what the command says then

_SCRIPTS = ("samcam", "samcam-adapt")  # setup.py's console_scripts
# options of the interpreter that take a separate value (python -X importtime -m samcam)
_OPTIONS_WITH_VALUE = ("-X", "-W", "--check-hash-based-pycs")


def _module_run_by(argv: List[str]) -> Optional[str]:
    """The module name of ``python [options] -m MODULE ...`` in ``sys.orig_argv``, else None."""
    index = 1
    while index < len(argv):
        arg = argv[index]
        if arg == "-m":
            return argv[index + 1] if index + 1 < len(argv) else None
        if arg.startswith("-m"):
            return arg[2:]
        if arg in _OPTIONS_WITH_VALUE:
            index += 2
            continue
        if arg == "-c" or arg == "-" or not arg.startswith("-"):
            return None  # a script, -c code or stdin: not samcam's command
        index += 1
    return None


def started_as_command() -> bool:
    """Whether this process was started as the samcam command (not a script importing samcam)."""
    main = sys.modules.get("__main__")
    main_file = getattr(main, "__file__", None) or ""
    if os.path.basename(main_file) in _SCRIPTS and os.path.basename(sys.argv[0]) in _SCRIPTS:
        return True
    # python -m samcam: while the package is imported, __main__ is not samcam's yet (3.10+)
    return _module_run_by(list(getattr(sys, "orig_argv", []))) == "samcam"


def _interrupted_while_starting(signum, frame) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C while leaving changes nothing
    name = os.path.basename(sys.argv[0]) if os.path.basename(sys.argv[0]) in _SCRIPTS else "samcam"
    try:  # the command's own message (this handler exists only in the command's process)
        sys.stderr.write(f"{name}: {STARTING}\n")
        sys.stderr.flush()
    except (OSError, ValueError, AttributeError):  # stderr closed or None
        pass
    raise SystemExit(EXIT_INTERRUPTED)


def exit_quietly_on_interrupt() -> None:
    """When this process is the samcam command: Ctrl-C exits 130 with one line until main() starts."""
    if threading.current_thread() is not threading.main_thread() or not started_as_command():
        return
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:  # not ignored by whoever started us
        signal.signal(signal.SIGINT, _interrupted_while_starting)


def restore_interrupt() -> None:
    """Ctrl-C raises ``KeyboardInterrupt`` again (main() catches it: outputs are cleaned up, exit 130)."""
    if (threading.current_thread() is threading.main_thread()
            and signal.getsignal(signal.SIGINT) is _interrupted_while_starting):
        signal.signal(signal.SIGINT, signal.default_int_handler)

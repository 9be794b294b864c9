"""Test hook for tests/system/test_chaos.py: stop the ``samcam`` command at one point of its start-up.

On ``PYTHONPATH``, Python imports this module at start-up (``sitecustomize``). With

    SAMCAM_TEST_PAUSE=samcam.evaluate                 pause while that module is being imported
    SAMCAM_TEST_PAUSE=samcam.cli:build_parser         pause at each call of that function
    SAMCAM_TEST_PAUSED=FILE                           created when the pause begins

the process sleeps there (up to a minute), so a test can send SIGINT at that exact point.
Without SAMCAM_TEST_PAUSE it does nothing.
"""
from __future__ import annotations

import functools
import importlib.abc
import importlib.machinery
import os
import sys
import time

_TARGET = os.environ.get("SAMCAM_TEST_PAUSE", "")
_MODULE, _, _FUNCTION = _TARGET.partition(":")


def _pause() -> None:
    with open(os.environ["SAMCAM_TEST_PAUSED"], "w") as marker:
        marker.write(_TARGET)
    time.sleep(60)


class _PausingLoader(importlib.abc.Loader):
    def __init__(self, loader):
        self.loader = loader

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module):
        if not _FUNCTION:
            _pause()
        self.loader.exec_module(module)
        if _FUNCTION:
            original = getattr(module, _FUNCTION)

            @functools.wraps(original)
            def paused(*args, **kwargs):
                _pause()
                return original(*args, **kwargs)

            setattr(module, _FUNCTION, paused)


class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path=None, target=None):
        if fullname != _MODULE:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                spec.loader = _PausingLoader(spec.loader)
                return spec
        return None


if _MODULE:
    sys.meta_path.insert(0, _Finder())

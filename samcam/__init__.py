"""samcam: Segment Anything (SAM) enhanced pseudo labels for WSSS (arXiv 2305.05803).

The core is numpy only: ``samcam.refine(label, masks)`` turns a method's pseudo label
and SAM's class-agnostic masks into a refined pseudo label; :mod:`samcam.masks` reads
and writes mask sets (and takes the mask generators' own ``generate()`` output);
:mod:`samcam.cams` turns CAMs into pseudo labels the way WSSS methods do;
:mod:`samcam.evaluate` computes mIoU the standard way.
"""
from __future__ import annotations

import importlib.abc
import importlib.util
import sys
from pathlib import Path

from . import _startup

# Started as the samcam command, a Ctrl-C during the imports below exits 130 with one line.
_startup.exit_quietly_on_interrupt()

from . import cams, evaluate, masks  # noqa: E402
from ._version import __version__  # noqa: E402
from .refine import overlap_counts, refine  # noqa: E402

__all__ = ["refine", "overlap_counts", "masks", "evaluate", "cams", "__version__"]


class _CheckoutAdapters(importlib.abc.MetaPathFinder):
    """Finds ``samcam.adapters`` in a source checkout's top-level ``adapters/`` folder.

    setup.py installs ``adapters/`` as ``samcam.adapters``, so regular and editable
    installs find it by themselves. Started from a checkout's root (``python -m
    samcam``, ``torchrun -m samcam``), Python imports the checkout's ``samcam/``
    instead of the installed package, and there ``adapters/`` sits beside it.
    """

    def __init__(self, folder: Path):
        self.folder = folder

    def find_spec(self, fullname, path=None, target=None):
        if fullname != f"{__name__}.adapters":
            return None
        return importlib.util.spec_from_file_location(
            fullname, self.folder / "__init__.py", submodule_search_locations=[str(self.folder)]
        )


_HERE = Path(__file__).resolve().parent
if not (_HERE / "adapters").exists() and (_HERE.parent / "setup.py").is_file() \
        and (_HERE.parent / "adapters" / "__init__.py").is_file():
    # First in line: the adapters beside *this* samcam/, even if an editable install of
    # another checkout would map samcam.adapters elsewhere.
    sys.meta_path.insert(0, _CheckoutAdapters(_HERE.parent / "adapters"))

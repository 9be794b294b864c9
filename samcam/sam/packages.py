"""What each mask model family needs installed, and the error that says how to install it.

:func:`require_packages` is what :func:`samcam.sam.families.load_generator` and
:func:`samcam.sam.networks.load_sam` check before they import torch or a family's
package, so both say what to install in the same words (:class:`MissingPackages`).
"""
from __future__ import annotations

import importlib.util
import sys
from typing import List

from .registry import FAMILIES

__all__ = ["MissingPackages", "missing_packages", "require_packages", "install_hint"]


class MissingPackages(RuntimeError):
    """Optional packages a feature needs are not installed (message says what to install)."""


def _importable(module: str) -> bool:
    if module in sys.modules:  # None there means "known missing" (or blocked on purpose)
        return sys.modules[module] is not None
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def missing_packages(family: str, torch_only: bool = False) -> List[str]:
    """The pip names of what ``family`` needs and cannot be imported here ([] when none).

    ``torch_only``: only torch and torchvision (enough to read a checkpoint).
    """
    requires = FAMILIES[family].requires
    if torch_only:
        requires = tuple(r for r in requires if r[1] in ("torch", "torchvision"))
    return [name for name, module in requires if not _importable(module)]


def install_hint(family: str) -> str:
    """How to install what ``family`` needs."""
    hint = f"pip install 'samcam[{FAMILIES[family].extra}]'"
    if family == "sam2.1":
        hint += (" (sam2 is published as source only: with torch already installed, "
                 "pip install --no-build-isolation sam2==1.1.0, and SAM2_BUILD_CUDA=0 where no CUDA toolkit is "
                 "installed; the Makefile shows the order)")
    return hint


def require_packages(family: str, torch_only: bool = False) -> None:
    """Raise :class:`MissingPackages` saying what to install when ``family`` cannot run here."""
    info = FAMILIES[family]
    if not torch_only and sys.version_info[:2] < info.min_python:
        raise MissingPackages(
            f"{info.title} needs Python >= {'.'.join(map(str, info.min_python))} (its package's own requirement); "
            f"this is Python {sys.version_info[0]}.{sys.version_info[1]}"
        )
    missing = missing_packages(family, torch_only)
    if missing:
        what = "reading a checkpoint" if torch_only else f"{info.title} masks"
        raise MissingPackages(
            f"{what} needs {', '.join(missing)}, not installed here; install them with {install_hint(family)} "
            "(or use --source proposals, a weaker weight-free substitute)"
        )

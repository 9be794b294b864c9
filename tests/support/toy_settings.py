"""A settings class with one field of each kind, for the tests of samcam.settings and
samcam.cli.flags."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from samcam.settings import Settings, setting


@dataclass(frozen=True)
class Toy(Settings):
    share: float = setting(0.5, "a fraction", low=0.0, high=1.0)
    count: int = setting(3, "a count", low=1)
    mode: str = setting("a", "a choice", choices=("a", "b"))
    fast: bool = setting(False, "go fast")
    careful: bool = setting(True, "be careful", negate="--careless", negate_help="do not be careful")
    limit: Optional[int] = setting(None, "optional", low=0)
    hidden: float = setting(0.1, "no flag", cli=False, low=0.0)

"""Exceptions whose messages are meant for the user."""
from __future__ import annotations

__all__ = ["ImageError"]


class ImageError(ValueError):
    """A per-image problem (bad file, size mismatch): that image fails, the batch goes on."""

"""samcam: Segment Anything (SAM) enhanced pseudo labels for WSSS (arXiv 2305.05803).

The core is numpy only: ``samcam.refine(label, masks)`` turns a method's pseudo label
and SAM's class-agnostic masks into a refined pseudo label.
"""
__version__ = "0.1.0"

from .refine import refine, overlap_counts  # noqa: E402

__all__ = ["refine", "overlap_counts", "__version__"]

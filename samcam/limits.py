"""Size limits on what samcam reads, so a broken or hostile file fails with a clear error
instead of exhausting memory.

Every limit is checked against what a file *declares* (an image header, a mask store's
shape and spans, an RLE's size, a pickle's array shapes) before anything that size is
allocated. The defaults are far above what WSSS datasets need (VOC images are 0.19 MP,
COCO 0.3 MP, SAM gives ~100 masks per image); raise one with its environment variable
(read at each check, so worker processes see the same values):

=========================  ============================================  ==============
variable                   what                                          default
=========================  ============================================  ==============
``SAMCAM_MAX_PIXELS``      pixels (H×W) of one image, label, mask or     67,108,864
                           CAM plane                                     (8192×8192)
``SAMCAM_MAX_MASKS``       masks of one image                            10,000
``SAMCAM_MAX_MASK_BYTES``  memory of one image's masks, bit-packed       2 GiB
                           (K × ⌈H·W/64⌉ × 8 bytes)
``SAMCAM_MAX_FILE_BYTES``  size of one input file read into memory       2 GiB
                           (CAM .npy, mask store, RLE JSON, PNG, JPEG)
=========================  ============================================  ==============
"""
from __future__ import annotations

import os
from dataclasses import dataclass

__all__ = ["Limits", "limits", "ENV"]

ENV = {
    "max_pixels": "SAMCAM_MAX_PIXELS",
    "max_masks": "SAMCAM_MAX_MASKS",
    "max_mask_bytes": "SAMCAM_MAX_MASK_BYTES",
    "max_file_bytes": "SAMCAM_MAX_FILE_BYTES",
}


@dataclass(frozen=True)
class Limits:
    """The limits in force (see the module docstring); all positive ints."""

    max_pixels: int = 8192 * 8192
    max_masks: int = 10_000
    max_mask_bytes: int = 2 * 2**30
    max_file_bytes: int = 2 * 2**30

    def env_name(self, field: str) -> str:
        """The environment variable that raises limit ``field`` (for error messages)."""
        return ENV[field]


def limits() -> Limits:
    """The limits in force: the defaults, overridden by the ``SAMCAM_MAX_*`` variables.

    Raises ``ValueError`` naming the variable when one is not a positive integer.
    """
    values = {}
    for field, variable in ENV.items():
        text = os.environ.get(variable)
        if text is None or not text.strip():
            continue
        try:
            value = int(text.replace("_", ""))
        except ValueError:
            value = 0
        if value < 1:
            raise ValueError(f"{variable}={text!r}: expected a positive integer")
        values[field] = value
    return Limits(**values)

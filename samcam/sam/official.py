"""The families' own automatic mask generators behind samcam's interface, and what every
generator shares: the dtypes, the image check. Their annotations become MaskSets through
:func:`samcam.masks.annotations_to_maskset` (re-exported here), as :func:`samcam.refine`
converts them.

SAM 2.1 and HQ-SAM run their own generators unchanged, through :class:`AutomaticGenerator`;
:func:`official_masks` runs segment-anything's own generator, the reference exact mode
(:class:`~samcam.sam.generate.MaskGenerator`) is tested and benchmarked against.
``torch`` and the families' packages are imported only inside functions.
"""
from __future__ import annotations

import contextlib
from typing import Optional

import numpy as np

from ..masks import MaskSet, annotations_to_maskset
from .settings import DTYPES, SamSettings

__all__ = ["DTYPES", "AutomaticGenerator", "annotations_to_maskset", "official_masks", "precision", "check_image"]


def check_image(image: np.ndarray) -> np.ndarray:
    """Check an RGB image is H×W×3 uint8 and return it (ValueError otherwise)."""
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"an image must be H×W×3 uint8 RGB, got {image.dtype} {image.shape}")
    return image


def official_masks(sam, image: np.ndarray, settings: Optional[SamSettings] = None) -> MaskSet:
    """Masks of ``image`` (H×W×3 uint8 RGB) from segment-anything's own generator -> MaskSet.

    The reference :class:`MaskGenerator` is tested and benchmarked against.
    """
    from segment_anything import SamAutomaticMaskGenerator

    settings = settings or SamSettings()
    generator = SamAutomaticMaskGenerator(sam, output_mode="binary_mask", **settings.official_kwargs())
    return annotations_to_maskset(generator.generate(image), image.shape[:2])


@contextlib.contextmanager
def precision(dtype: str, device, autocast: bool = True):
    """Run a block in ``dtype``: ``float32`` as is, ``tf32`` with TensorFloat-32 matrix
    products (restoring the process-wide flags afterwards), ``bfloat16`` under
    ``torch.autocast`` on ``device``'s type (when ``autocast``)."""
    import torch

    if dtype not in DTYPES:
        raise ValueError(f"--dtype must be one of {', '.join(DTYPES)}, got {dtype!r}")
    with contextlib.ExitStack() as stack:
        if dtype == "tf32":
            saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
            torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True

            def restore():
                torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved

            stack.callback(restore)
        if dtype == "bfloat16" and autocast:
            stack.enter_context(torch.autocast(device_type=torch.device(device).type, dtype=torch.bfloat16))
        yield


class AutomaticGenerator:
    """A family's own automatic mask generator, unchanged, behind samcam's interface.

    ``generate(image)`` calls ``generator.generate(image)`` (``output_mode
    "binary_mask"``) and converts its annotations to a MaskSet: the same masks, in the
    same order, with the same scores. ``prepare`` only checks the image: these
    generators resize inside ``generate``.

    Args:
        generator: e.g. ``SAM2AutomaticMaskGenerator(model, ...)`` or HQ-SAM's
            ``SamAutomaticMaskGenerator(model, ...)``.
        device: the model's device.
        dtype: ``float32``, ``tf32`` or ``bfloat16`` (autocast around the whole call,
            as SAM 2's notebooks run it on GPUs).
        description: what runs, for log messages.
    """

    def __init__(self, generator, device, dtype: str = "float32", description: str = ""):
        if dtype not in DTYPES:
            raise ValueError(f"--dtype must be one of {', '.join(DTYPES)}, got {dtype!r}")
        self.generator = generator
        self.device = device
        self.dtype = dtype
        self.description = description

    def prepare(self, image: np.ndarray) -> np.ndarray:
        """Check the image (H×W×3 uint8 RGB); the generator resizes it itself."""
        return check_image(image)

    def generate(self, image: np.ndarray) -> MaskSet:
        """Masks of one H×W×3 uint8 RGB image -> MaskSet with the generator's per-mask
        scores (``predicted_iou``, ``stability_score``, ``area``, ``bbox``,
        ``point_coords``, ``crop_box``; see :func:`samcam.masks.annotations_to_maskset`)."""
        import torch

        image = check_image(image)
        # no_grad, as the generators themselves use (not inference_mode: SAM 2 caches
        # position encodings across calls).
        with torch.no_grad(), precision(self.dtype, self.device):
            annotations = self.generator.generate(image)
        return annotations_to_maskset(annotations, image.shape[:2])

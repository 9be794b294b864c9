"""SAM "segment everything" masks in exact mode: :class:`MaskGenerator`, segment-anything's
automatic mask generator computed faster, with the same masks.

:class:`MaskGenerator` computes the same masks as segment-anything's
``SamAutomaticMaskGenerator`` (same point grid, thresholds, NMS and order; the tests
check equality on a small random-weight SAM) but skips work the official loop does:

* masks are up-sampled to image size only after the ``pred_iou_thresh`` filter (the
  official loop up-samples all ``3 × points_per_batch`` low-res masks first);
* kept masks stay as boolean tensors on the device until the end instead of a
  per-mask, GPU-synchronising run-length encoding and decoding, and are bit-packed
  there before the copy to the CPU;
* the decoder projects the image tokens once for all prompts (:mod:`.decoder`);
* the resize to SAM's input size happens in :meth:`MaskGenerator.prepare`, which the
  ``samcam masks`` command runs in background threads while the GPU works;
* optional TF32 matrix products or bfloat16 autocast of the encoder and decoder.

What follows the decoder (filters, NMS, small regions, the copy to the host) is the chain
both modes share, in segment-anything's order: :mod:`.filters`.

MobileSAM runs through :class:`MaskGenerator` too: its generator, prompt encoder and
mask decoder are SAM's (only the image encoder differs). SAM 2.1 and HQ-SAM run
their own generators unchanged, through :class:`AutomaticGenerator` (:mod:`.official`).
Loading SAM lives in :mod:`.networks`. The names of those modules listed in ``__all__``
stay importable from here, where they were first published.

``torch`` and ``segment_anything`` are imported only inside functions, so importing
this module (and the numpy core) works without them.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..masks import MaskSet
from .decoder import decode_shared_image
from .filters import CropFrame, cat_masks, filter_masks, finish_crop, image_maskset, remove_small_regions
from .networks import (
    build_sam,
    infer_sam_config,
    load_sam,
    load_state_dict,
    model_mismatch,
    resolve_device,
    sam_from_state_dict,
    strict_load,
)
from .official import DTYPES, AutomaticGenerator, annotations_to_maskset, check_image, official_masks, precision
from .settings import SamSettings

__all__ = [
    "SamSettings",
    "MaskGenerator",
    "AutomaticGenerator",
    "PreparedImage",
    "load_state_dict",
    "infer_sam_config",
    "build_sam",
    "sam_from_state_dict",
    "strict_load",
    "model_mismatch",
    "load_sam",
    "resolve_device",
    "precision",
    "official_masks",
    "annotations_to_maskset",
    "check_image",
    "decode_shared_image",
    "remove_small_regions",
]


@dataclass
class PreparedImage:
    """An image with its crops already resized to SAM's input size (CPU work only).

    Attributes:
        shape: (H, W) of the original image.
        crops: per crop ``(crop_box XYXY, layer index, resized H'×W'×3 uint8, crop (h, w))``.
    """

    shape: Tuple[int, int]
    crops: List[Tuple[List[int], int, np.ndarray, Tuple[int, int]]]


class MaskGenerator:
    """SAM automatic mask generation, same masks as ``SamAutomaticMaskGenerator``, faster.

    Args:
        sam: a ``segment_anything.modeling.Sam`` (see :func:`load_sam`), or MobileSAM's
            ``mobile_sam.modeling.Sam`` (same class with a TinyViT encoder), on its device.
        settings: generator settings (SAM's defaults).
        dtype: ``"float32"`` (the official generator's masks, up to float rounding), ``"tf32"`` (float32
            tensors, TensorFloat-32 matrix products on NVIDIA GPUs since Ampere; masks
            nearly identical) or ``"bfloat16"`` (autocast on the encoder and decoder;
            fastest, masks may differ slightly from float32 ones).
        description: what runs, for log messages.
    """

    def __init__(self, sam, settings: Optional[SamSettings] = None, dtype: str = "float32", description: str = ""):
        from segment_anything.utils.amg import build_all_layer_point_grids
        from segment_anything.utils.transforms import ResizeLongestSide

        self.sam = sam
        self.settings = settings or SamSettings()  # checked when it was built
        if dtype not in DTYPES:
            raise ValueError(f"--dtype must be one of {', '.join(DTYPES)}, got {dtype!r}")
        self.dtype = dtype
        self.description = description
        self.transform = ResizeLongestSide(sam.image_encoder.img_size)
        self.point_grids = build_all_layer_point_grids(
            self.settings.points_per_side, self.settings.crop_n_layers, self.settings.crop_n_points_downscale_factor
        )
        if self.settings.min_mask_region_area > 0:
            import cv2  # noqa: F401  (fail at start, not on the first image)

    @property
    def device(self):
        return self.sam.device

    def prepare(self, image: np.ndarray) -> PreparedImage:
        """CPU part: crop boxes and resizing (thread-safe; run it ahead of :meth:`generate`)."""
        from segment_anything.utils.amg import generate_crop_boxes

        image = check_image(image)
        if self.sam.image_format != "RGB":  # pragma: no cover - every released SAM is RGB
            image = image[..., ::-1]
        crop_boxes, layer_indices = generate_crop_boxes(
            image.shape[:2], self.settings.crop_n_layers, self.settings.crop_overlap_ratio
        )
        crops = []
        for crop_box, layer in zip(crop_boxes, layer_indices):
            x0, y0, x1, y1 = crop_box
            cropped = image[y0:y1, x0:x1, :]
            crops.append((crop_box, layer, self.transform.apply_image(cropped), cropped.shape[:2]))
        return PreparedImage(image.shape[:2], crops)

    def generate(self, image) -> MaskSet:
        """Masks of one image -> MaskSet (K×H×W, SAM's order) with SAM's per-mask scores.

        Args:
            image: H×W×3 uint8 RGB array, or a :class:`PreparedImage` from :meth:`prepare`.

        Returns:
            MaskSet whose scores are ``predicted_iou``, ``stability_score`` (float32),
            ``area`` (int64), ``bbox``, ``crop_box`` (int64 XYWH) and ``point_coords``
            (float64 (K, 2)), as in the official generator's annotations.
        """
        import torch

        prepared = image if isinstance(image, PreparedImage) else self.prepare(image)
        with torch.inference_mode(), self._matmul_precision():
            parts = [self._process_crop(self._frame(prepared.shape, index, crop), crop[1], crop[2])
                     for index, crop in enumerate(prepared.crops)]
            return self._finish_image(prepared, parts)

    def _matmul_precision(self):
        """TF32 for ``dtype="tf32"``, restoring the process-wide flags afterwards."""
        return precision("tf32" if self.dtype == "tf32" else "float32", self.device, autocast=False)

    # What the two modes share: the crops' frames and point grids, and the chain after the decoder.

    @staticmethod
    def _frame(image_size: Tuple[int, int], index: int, crop: Sequence[Any]) -> CropFrame:
        box, _, resized, size = crop
        return CropFrame(tuple(box), tuple(image_size), tuple(size), tuple(resized.shape[:2]), index)

    def _grid(self, layer: int, size: Tuple[int, int]) -> np.ndarray:
        """The crop's (N, 2) float64 point prompts in its own pixels, as the official generator scales them."""
        return self.point_grids[layer] * np.array(size)[None, ::-1]

    def _finish_image(self, prepared: PreparedImage, parts: Sequence[Dict[str, Any]]) -> MaskSet:
        """The crops' :func:`~.filters.finish_crop` results -> the image's MaskSet (the chain's end)."""
        crops = [(box, self._grid(layer, size)) for box, layer, _, size in prepared.crops]
        return image_maskset(parts, prepared.shape, crops, self.settings)

    # Exact mode's network steps, as SamAutomaticMaskGenerator._process_crop/_process_batch run them.

    def _autocast(self):
        import torch

        return torch.autocast(
            device_type=self.device.type, dtype=torch.bfloat16, enabled=self.dtype == "bfloat16"
        )

    def _process_crop(self, frame: CropFrame, layer: int, resized: np.ndarray) -> Dict[str, Any]:
        """One crop: encoder, decoder batch by batch, each batch through the filters; box NMS."""
        import torch

        sam = self.sam
        pixels = torch.as_tensor(resized, device=self.device).permute(2, 0, 1).contiguous()[None]
        with self._autocast():
            features = sam.image_encoder(sam.preprocess(pixels))
        image_pe = sam.prompt_encoder.get_dense_pe()
        points = self._grid(layer, frame.size)
        batch = self.settings.points_per_batch
        parts = []
        for start in range(0, len(points), batch):
            low_res, iou_preds = self._decode(features, image_pe, points[start:start + batch], frame.size)
            count = min(batch, len(points) - start)
            # SAM keeps its 3 masks per point, point after point.
            point_index = torch.arange(start, start + count, device=self.device).repeat_interleave(len(iou_preds) // count)
            parts.append(filter_masks(sam, low_res, iou_preds, point_index, frame, self.settings))
        return finish_crop(cat_masks(parts, frame, self.device), frame, self.settings)

    def _decode(self, features, image_pe, points: np.ndarray, size: Tuple[int, int]):
        """(P, 2) point prompts in crop pixels -> (low-res logits (3P, 4h, 4w), IoU guesses (3P,))."""
        import torch

        prompts = self.sam.prompt_encoder
        coords = torch.as_tensor(self.transform.apply_coords(points, size), device=self.device)
        labels = torch.ones(coords.shape[0], dtype=torch.int, device=self.device)
        with self._autocast():
            sparse, dense = prompts(points=(coords[:, None, :], labels[:, None]), boxes=None, masks=None)
            low_res, iou_preds = decode_shared_image(self.sam.mask_decoder, features, image_pe, sparse, dense,
                                                     multimask_output=True)
        return low_res.flatten(0, 1), iou_preds.flatten(0, 1)

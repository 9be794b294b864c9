"""SAM's automatic mask generator after the decoder: one filter chain for exact and fast mode.

segment-anything's ``SamAutomaticMaskGenerator`` (``segment_anything/automatic_mask_generator.py``)
keeps a decoded mask when it passes, in this order:

1. the predicted IoU: ``iou_preds > pred_iou_thresh`` (when > 0; ``_process_batch``, lines 294-297);
2. the stability score of its up-sampled logits: ``>= stability_score_thresh`` (when > 0; lines 299-305);
3. its box, after thresholding the logits at ``mask_threshold``, touches no crop edge that is
   not an image edge (lines 307-314);

then, per crop, box NMS with the predicted IoUs as scores (``_process_crop``, lines 250-257) and
boxes and points back in the image frame (lines 259-262); per image, NMS across crops that
prefers masks from smaller crops (``_generate_masks``, lines 209-220); last,
``postprocess_small_regions`` when ``min_mask_region_area > 0`` (``generate``, lines 165-171).

:class:`~samcam.sam.generate.MaskGenerator` (exact mode) and
:class:`~samcam.sam.fast.FastMaskGenerator` (fast mode) both run this chain; they differ only in
how the network computes the low-resolution masks. Every filter before the box NMS judges a mask
by itself alone, so the chain may filter any slice of a crop's masks at a time (a decoder batch
or a whole crop) and up-samples them in chunks of :data:`UPSAMPLE_CHUNK`: the same survivors, in
the same order, as the official loop. Kept masks stay on the device, in the crop's frame until
its NMS (cheaper than padding every mask to the image first; NMS sees the same crop-frame boxes
the official loop gives it), and leave it once, bit-packed, with their scores
(:mod:`.device_masks`).

torch is imported only inside functions.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, Mapping, Sequence, Tuple

import numpy as np

from ..masks import MaskSet
from .device_masks import maskset_from_host, to_host
from .settings import SamSettings

__all__ = ["CropFrame", "UPSAMPLE_CHUNK", "filter_masks", "empty_masks", "cat_masks", "finish_crop", "merge_crops",
           "remove_small_regions", "image_maskset"]

# Up-sampled float32 logits per step: 64 masks at SAM's 1024² intermediate size are 256 MiB.
UPSAMPLE_CHUNK = 64

# Per-mask rows the chain carries for one crop, besides the masks themselves.
_ROW_KEYS = ("boxes", "iou_preds", "stability_score", "point_index")


@dataclass(frozen=True)
class CropFrame:
    """Where one crop of an image lies and how big the network saw it.

    Attributes:
        box: the crop's XYXY box in the image.
        image_size: (H, W) of the image.
        size: (h, w) of the crop.
        input_size: (h', w') of the crop resized for the encoder (before padding).
        index: the crop's position among the image's crops.
    """

    box: Tuple[int, int, int, int]
    image_size: Tuple[int, int]
    size: Tuple[int, int]
    input_size: Tuple[int, int]
    index: int = 0


def empty_masks(frame: CropFrame, device) -> Dict[str, Any]:
    """No masks, in the chain's layout for a crop (see :func:`filter_masks`)."""
    import torch

    return {
        "masks": torch.zeros((0,) + tuple(frame.size), dtype=torch.bool, device=device),
        "boxes": torch.zeros((0, 4), dtype=torch.int64, device=device),
        "iou_preds": torch.zeros(0, dtype=torch.float32, device=device),
        "stability_score": torch.zeros(0, dtype=torch.float32, device=device),
        "point_index": torch.zeros(0, dtype=torch.int64, device=device),
    }


def cat_masks(parts: Sequence[Mapping[str, Any]], frame: CropFrame, device) -> Dict[str, Any]:
    """Several :func:`filter_masks` results of one crop as one, in order."""
    import torch

    parts = [part for part in parts if len(part["masks"])] or [empty_masks(frame, device)]
    return {key: torch.cat([part[key] for part in parts]) for key in parts[0]}


def _upsample_and_filter(sam, low_res, rows: Mapping[str, Any], frame: CropFrame, settings: SamSettings):
    """Steps 2 and 3 on up to :data:`UPSAMPLE_CHUNK` masks -> the chain's layout."""
    from segment_anything.utils.amg import batched_mask_to_box, calculate_stability_score, is_box_near_crop_edge

    logits = sam.postprocess_masks(low_res.float()[:, None], frame.input_size, frame.size)[:, 0]
    stability = calculate_stability_score(logits, sam.mask_threshold, settings.stability_score_offset)
    kept = dict(rows, stability_score=stability)
    if settings.stability_score_thresh > 0.0:
        keep = stability >= settings.stability_score_thresh
        logits = logits[keep]
        kept = {key: value[keep] for key, value in kept.items()}
    masks = logits > sam.mask_threshold
    del logits
    boxes = batched_mask_to_box(masks)
    height, width = frame.image_size
    keep = ~is_box_near_crop_edge(boxes, list(frame.box), [0, 0, width, height])
    kept.update(masks=masks, boxes=boxes)
    return {key: value[keep] for key, value in kept.items()}


def filter_masks(sam, low_res, iou_preds, point_index, frame: CropFrame, settings: SamSettings) -> Dict[str, Any]:
    """Steps 1-3 of the chain (predicted IoU, stability, crop edge) on decoded masks of one crop.

    Args:
        sam: the ``Sam`` whose ``postprocess_masks`` and ``mask_threshold`` apply.
        low_res: (N, 4h, 4w) low-resolution mask logits (any float dtype), on the device.
        iou_preds: (N,) predicted IoUs.
        point_index: (N,) int64 index of each mask's point prompt in the crop's grid.
        frame: the crop.
        settings: the thresholds.

    Returns:
        The survivors in their order: ``masks`` (K, h, w) bool in the crop's frame, ``boxes``
        (K, 4) int64 XYXY in the crop's frame, ``iou_preds`` and ``stability_score`` (K,)
        float32, ``point_index`` (K,) int64.
    """
    import torch

    iou_preds = iou_preds.float()
    if settings.pred_iou_thresh > 0.0:
        keep = torch.nonzero(iou_preds > settings.pred_iou_thresh)[:, 0]
        low_res, iou_preds, point_index = low_res[keep], iou_preds[keep], point_index[keep]
    parts = []
    for start in range(0, len(iou_preds), UPSAMPLE_CHUNK):
        part = slice(start, start + UPSAMPLE_CHUNK)
        rows = {"iou_preds": iou_preds[part], "point_index": point_index[part]}
        parts.append(_upsample_and_filter(sam, low_res[part], rows, frame, settings))
    return cat_masks(parts, frame, iou_preds.device)


def finish_crop(data: Mapping[str, Any], frame: CropFrame, settings: SamSettings) -> Dict[str, Any]:
    """Box NMS within the crop (predicted IoUs as scores), then masks and boxes in the image's
    frame and each mask's ``crop_index``: the chain's layout with (K, H, W) masks."""
    import torch
    from segment_anything.utils.amg import uncrop_boxes_xyxy, uncrop_masks
    from torchvision.ops.boxes import batched_nms

    keep = batched_nms(data["boxes"].float(), data["iou_preds"], torch.zeros_like(data["point_index"]),
                       iou_threshold=settings.box_nms_thresh)
    result = {key: value[keep] for key, value in data.items()}
    height, width = frame.image_size
    result["masks"] = uncrop_masks(result["masks"], list(frame.box), height, width)
    result["boxes"] = uncrop_boxes_xyxy(result["boxes"], list(frame.box))
    result["crop_index"] = torch.full_like(result["point_index"], frame.index)
    return result


def merge_crops(parts: Sequence[Mapping[str, Any]], crop_boxes: Sequence[Sequence[int]],
                settings: SamSettings) -> Dict[str, Any]:
    """The crops' :func:`finish_crop` results as one image's masks; with several crops, NMS
    across them scored ``1 / crop area`` (the official generator prefers smaller crops)."""
    import torch
    from torchvision.ops.boxes import batched_nms, box_area

    data = {key: torch.cat([part[key] for part in parts]) for key in parts[0]}
    if len(crop_boxes) == 1:
        return data
    device = data["boxes"].device
    boxes_of_crops = torch.tensor(crop_boxes, dtype=torch.int64, device=device)[data["crop_index"]]
    keep = batched_nms(data["boxes"].float(), 1 / box_area(boxes_of_crops), torch.zeros_like(data["crop_index"]),
                       iou_threshold=settings.crop_nms_thresh)
    return {key: value[keep] for key, value in data.items()}


def remove_small_regions(data: Mapping[str, Any], settings: SamSettings) -> Dict[str, Any]:
    """``--min-mask-region-area``: SAM's own post-processing (``postprocess_small_regions``:
    holes and islands below the area filled or removed, then box NMS again) on kept masks.

    Args:
        data: ``masks`` (K, H, W) bool tensor and per-mask tensors with K rows (any keys;
            ``boxes`` XYXY is updated for changed masks, as SAM does).
        settings: ``min_mask_region_area``, ``box_nms_thresh``, ``crop_nms_thresh``.

    Returns:
        The surviving masks and rows, as CPU tensors under the same keys.
    """
    import torch
    from segment_anything import SamAutomaticMaskGenerator
    from segment_anything.utils.amg import MaskData, mask_to_rle_pytorch, rle_to_mask

    mask_data = MaskData(rles=mask_to_rle_pytorch(data["masks"].cpu()),
                         **{key: value.cpu() for key, value in data.items() if key != "masks"})
    mask_data.to_numpy()
    mask_data = SamAutomaticMaskGenerator.postprocess_small_regions(
        mask_data, settings.min_mask_region_area, max(settings.box_nms_thresh, settings.crop_nms_thresh),
    )
    result = {key: torch.as_tensor(np.asarray(mask_data[key])) for key in data if key != "masks"}
    result["masks"] = torch.as_tensor(np.stack([rle_to_mask(r) for r in mask_data["rles"]]) if len(mask_data["rles"])
                                      else np.zeros((0,) + tuple(data["masks"].shape[1:]), bool))
    return result


def _small_regions(data: Mapping[str, Any], settings: SamSettings) -> Dict[str, Any]:
    """:func:`remove_small_regions` on the chain's layout, the result back on the masks' device."""
    import torch

    device = data["masks"].device
    rows = {key: data[key] for key in ("masks", "boxes", "iou_preds", "stability_score")}
    kept = remove_small_regions(dict(rows, row=torch.arange(len(data["masks"]))), settings)
    survivors = kept["row"].to(device)
    result = {key: kept[key].to(device) for key in rows}
    result.update(point_index=data["point_index"][survivors], crop_index=data["crop_index"][survivors])
    return result


def image_maskset(parts: Sequence[Mapping[str, Any]], image_size: Tuple[int, int],
                  crops: Sequence[Tuple[Sequence[int], np.ndarray]], settings: SamSettings) -> MaskSet:
    """The end of the chain for one image: NMS across crops, small regions, one copy to the host.

    Args:
        parts: per crop, its :func:`finish_crop` result.
        image_size: (H, W).
        crops: per crop, ``(XYXY box, (N, 2) float64 point grid in the crop's pixels)``.
        settings: the thresholds.

    Returns:
        MaskSet with ``predicted_iou``, ``stability_score`` (float32), ``area``, ``bbox``,
        ``crop_box`` (int64 XYWH) and ``point_coords`` (float64 (K, 2)), as the official
        generator's annotations.
    """
    crop_boxes = [list(box) for box, _ in crops]
    data = merge_crops(parts, crop_boxes, settings)
    if settings.min_mask_region_area > 0 and len(data["masks"]):
        data = _small_regions(data, settings)
    boxes = data["boxes"]
    fields = {
        "predicted_iou": data["iou_preds"], "stability_score": data["stability_score"],
        "area": data["masks"].sum(dim=(1, 2)),
        "x0": boxes[:, 0], "y0": boxes[:, 1], "x1": boxes[:, 2], "y1": boxes[:, 3],
        "point_index": data["point_index"], "crop_index": data["crop_index"],
    }
    packed, values = to_host(data["masks"], fields)
    # the official uncrop_points: grid + the crop's top-left corner
    points = [np.asarray(grid, np.float64) + np.array(box[:2], np.float64) for box, grid in crops]
    return maskset_from_host(packed, values, image_size, points, crop_boxes)

"""Masks from the GPU to a :class:`~samcam.masks.MaskSet` in one transfer.

The store keeps masks bit-packed (``np.packbits`` order, see :mod:`samcam.masks`), so
packing on the device moves 8× fewer bytes than copying K×H×W booleans and leaves
nothing per-pixel for the CPU to do. The per-mask fields travel in the same buffer:
each row is the mask's packed bits followed by its fields as float64 (exact for the
float32 scores and for integers below 2^53).

torch is imported only inside functions.
"""
from __future__ import annotations

from typing import Mapping, Sequence, Tuple

import numpy as np

from ..masks import MaskSet

__all__ = ["pack_bits", "to_host", "maskset_from_host", "MASK_FIELDS"]

# What :func:`to_host` fetches per mask besides its bits, in this order.
MASK_FIELDS = ("predicted_iou", "stability_score", "area", "x0", "y0", "x1", "y1", "point_index", "crop_index")


def pack_bits(masks):
    """(K, H, W) bool tensor -> (K, ⌈H·W/8⌉) uint8 tensor on the same device, bit for bit
    ``np.packbits(masks.reshape(K, H·W), axis=1)`` (first pixel in the high bit)."""
    import torch

    count, height, width = masks.shape
    flat = masks.reshape(count, height * width).to(torch.uint8)
    pad = (-flat.shape[1]) % 8
    if pad:
        flat = torch.nn.functional.pad(flat, (0, pad))
    weights = torch.tensor([128, 64, 32, 16, 8, 4, 2, 1], dtype=torch.uint8, device=masks.device)
    return (flat.view(count, flat.shape[1] // 8, 8) * weights).sum(-1, dtype=torch.int32).to(torch.uint8)


def to_host(masks, fields: Mapping[str, object]) -> Tuple[np.ndarray, dict]:
    """Pack ``masks`` on their device and fetch them with their fields in one copy.

    Args:
        masks: (K, H, W) bool tensor.
        fields: every name of :data:`MASK_FIELDS` -> (K,) tensor on the same device
            (any real dtype).

    Returns:
        ``(packed (K, ⌈H·W/8⌉) uint8, {field: (K,) float64 array})``.
    """
    import torch

    packed = pack_bits(masks)
    table = torch.stack([fields[name].to(torch.float64) for name in MASK_FIELDS], dim=1)
    row = torch.cat([packed, table.contiguous().view(torch.uint8).reshape(len(packed), 8 * len(MASK_FIELDS))], dim=1)
    if row.device.type == "cuda":
        host = torch.empty(row.shape, dtype=torch.uint8, pin_memory=True)
        host.copy_(row, non_blocking=True)
        torch.cuda.current_stream(row.device).synchronize()
    else:
        host = row.cpu()
    host = host.numpy()
    width = packed.shape[1]
    values = np.ascontiguousarray(host[:, width:]).view(np.float64).reshape(len(host), len(MASK_FIELDS))
    return np.ascontiguousarray(host[:, :width]), {name: values[:, i] for i, name in enumerate(MASK_FIELDS)}


def maskset_from_host(packed: np.ndarray, values: Mapping[str, np.ndarray], image_shape: Tuple[int, int],
                      points: Sequence[np.ndarray], crop_boxes: Sequence[Sequence[int]]) -> MaskSet:
    """The MaskSet :func:`to_host`'s result describes, with SAM's per-mask scores.

    Args:
        packed, values: :func:`to_host`'s result.
        image_shape: (H, W).
        points: per crop, its (N, 2) float64 point grid in image coordinates; a mask's
            ``point_index`` and ``crop_index`` pick its prompt.
        crop_boxes: per crop, its XYXY box.

    Returns:
        MaskSet with ``predicted_iou``, ``stability_score`` (float32), ``area``,
        ``bbox`` (XYWH), ``crop_box`` (XYWH) (int64) and ``point_coords`` (float64 (K, 2)).
    """
    count = len(packed)
    crop_index = values["crop_index"].astype(np.int64)
    point_index = values["point_index"].astype(np.int64)
    boxes = np.stack([values[k] for k in ("x0", "y0", "x1", "y1")], axis=1).astype(np.int64).reshape(-1, 4)
    boxes[:, 2:] -= boxes[:, :2]
    crops = np.asarray(crop_boxes, dtype=np.int64).reshape(-1, 4)[crop_index]
    crops[:, 2:] -= crops[:, :2]
    coords = np.zeros((count, 2), np.float64)
    for index, grid in enumerate(points):
        chosen = crop_index == index
        coords[chosen] = np.asarray(grid, np.float64)[point_index[chosen]]
    scores = {
        "predicted_iou": values["predicted_iou"].astype(np.float32),
        "stability_score": values["stability_score"].astype(np.float32),
        "area": values["area"].astype(np.int64),
        "bbox": boxes,
        "point_coords": coords,
        "crop_box": crops,
    }
    return MaskSet(packed, image_shape, scores)

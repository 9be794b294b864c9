"""Fast mode (``samcam masks --fast``): SAM's automatic mask generator at GPU speed.

The same algorithm as :class:`~samcam.sam.generate.MaskGenerator` (SAM's point grid,
thresholds, NMS and order), computed differently:

* the image encoder and mask decoder run in half precision (bfloat16 by default;
  float16, or float32/tf32 to check the code path against exact mode) on copies of
  the network's weights, with the small IoU and hypernetwork heads kept in float32;
* SAM's ViT encoder uses fused scaled-dot-product attention with its relative
  position terms as the attention bias (:mod:`.fast_encoder`);
* several images (crops) share one encoder pass (``images_per_batch``);
* on CUDA the encoder and the decoder are compiled with ``torch.compile`` for fixed
  shapes: encoder batches are padded to ``images_per_batch`` images, decoder batches
  to ``points_per_batch`` points;
* the IoU filter runs once over all point prompts of a crop, the stability filter, mask
  boxes, the crop-edge filter and box NMS on the device, and the kept masks are
  bit-packed there and fetched with their scores in one copy (:mod:`.device_masks`).

Masks agree with exact mode's closely but not bit for bit (half precision rounds the
network's outputs); ``benchmarks/bench_masks.py`` measures the agreement with
segment-anything's own generator. torch is imported only inside functions.
"""
from __future__ import annotations

import copy
import logging
from typing import Any, Dict, List, Optional, Sequence

import numpy as np

from ..masks import MaskSet
from .device_masks import maskset_from_host, to_host
from .fast_encoder import SdpaEncoder, is_sam_vit
from .generate import MaskGenerator, PreparedImage, decode_shared_image, remove_small_regions
from .settings import FAST_DTYPES, SamSettings

__all__ = ["FastMaskGenerator", "FAST_DTYPES"]

log = logging.getLogger(__name__)

# Up-sampled float32 logits per step of the mask post-processing: 64 masks at SAM's
# 1024² intermediate size are 256 MiB.
_UPSAMPLE_CHUNK = 64


def _torch_dtype(name: str):
    import torch

    return {"float32": torch.float32, "tf32": torch.float32, "bfloat16": torch.bfloat16,
            "float16": torch.float16}[name]


class FastMaskGenerator(MaskGenerator):
    """SAM's automatic mask generation at GPU speed (fast mode; see the module docstring).

    Args:
        sam: a ``segment_anything`` ``Sam`` (vit_b/l/h) or MobileSAM's ``Sam`` on its
            device. It is not modified: half precision runs on copies of the encoder and
            decoder weights (for ViT-H about 1.3 GB more device memory).
        settings: generator settings (SAM's defaults).
        dtype: ``bfloat16`` (default), ``float16``, ``float32`` or ``tf32``.
        images_per_batch: images (crops) per encoder pass; default 4 on CUDA, else 1.
        compile: ``torch.compile`` the encoder and decoder; default on for CUDA, off
            elsewhere.
        compile_backend: the ``torch.compile`` backend (``inductor``; tests use
            ``aot_eager``, which checks the capture without generating code). If
            compiling fails, a warning says why and the generator runs uncompiled.
        description: what runs, for log messages.
    """

    def __init__(self, sam, settings: Optional[SamSettings] = None, dtype: str = "bfloat16",
                 images_per_batch: Optional[int] = None, compile: Optional[bool] = None,
                 compile_backend: Any = "inductor", description: str = ""):
        import torch

        if dtype not in FAST_DTYPES:
            raise ValueError(f"--dtype must be one of {', '.join(FAST_DTYPES)} with --fast, got {dtype!r}")
        super().__init__(sam, settings, dtype="tf32" if dtype == "tf32" else "float32", description=description)
        self.dtype = dtype
        device = sam.device
        if images_per_batch is not None and images_per_batch < 1:
            raise ValueError(f"--images-per-batch must be >= 1, got {images_per_batch}")
        self.images_per_batch = images_per_batch or (4 if device.type == "cuda" else 1)
        self.compiled = (device.type == "cuda") if compile is None else bool(compile)
        self.compute_dtype = _torch_dtype(dtype)
        encoder, decoder = sam.image_encoder, sam.mask_decoder
        if self.compute_dtype != torch.float32:
            encoder = copy.deepcopy(encoder).to(self.compute_dtype)
            decoder = copy.deepcopy(decoder).to(self.compute_dtype)
            decoder.iou_prediction_head.float()
            decoder.output_hypernetworks_mlps.float()
        self.encoder, self.decoder = encoder, decoder
        self._encode = SdpaEncoder(encoder) if is_sam_vit(encoder) else encoder
        with torch.inference_mode():
            self._image_pe = sam.prompt_encoder.get_dense_pe().to(self.compute_dtype)
            # The prompt encoder's dense embedding without a mask prompt: the same for every point.
            self._dense = sam.prompt_encoder.no_mask_embed.weight.reshape(1, -1, 1, 1).expand(
                1, -1, *sam.prompt_encoder.image_embedding_size).to(self.compute_dtype)
        self._eager = (self._encode, self._decode_points)
        self._decode = self._decode_points
        self._compile_works = False
        if self.compiled:
            encode = self._encode
            self._encode = torch.compile(lambda pixels: encode(pixels), dynamic=False, backend=compile_backend)
            self._decode = torch.compile(self._decode_points, dynamic=False, backend=compile_backend)

    def _network(self, part: int, *args):
        """Run the encoder (``part`` 0) or the decoder (1), compiled when asked. If compiling
        fails (no C compiler, no Triton, an unsupported op), say so once and go on uncompiled:
        the same computation, only slower."""
        function = (self._encode, self._decode)[part]
        if not self.compiled or self._compile_works:
            return function(*args)
        try:
            result = function(*args)
        except Exception as error:  # the first call compiles: its errors are compiling errors
            cause = error
            while getattr(cause, "inner_exception", None) or cause.__cause__:  # the compiler's own error
                cause = getattr(cause, "inner_exception", None) or cause.__cause__
            reason = " ".join(str(cause).split())[:300] or type(cause).__name__
            log.warning("torch.compile failed (%s: %s); fast mode goes on without it (--no-compile to skip the "
                        "attempt)", type(cause).__name__, reason)
            self.compiled = False
            self._encode, self._decode = self._eager
            return self._eager[part](*args)
        if part == 1:  # both compiled and run
            self._compile_works = True
        return result

    # ---------------------------------------------------------------- the networks

    def _decode_points(self, features, coords):
        """(1, C, h, w) embeddings, (P, 2) prompt coordinates in input pixels ->
        (low-res logits (3P, 4h, 4w) in the compute dtype, IoU guesses (3P,) float32)."""
        low_res, iou = decode_shared_image(self.decoder, features, self._image_pe, self._point_embeddings(coords),
                                           self._dense, multimask_output=True)
        return low_res.flatten(0, 1), iou.float().flatten(0, 1)

    def _point_embeddings(self, coords):
        """``PromptEncoder(points=(coords, labels 1), boxes=None, masks=None)``'s sparse
        embeddings (P, 2, C) in the compute dtype, without its boolean-mask assignments
        (they would split the compiled graph): each point's position encoding plus the
        foreground-point embedding, then SAM's padding point (the "not a point"
        embedding; its position encoding is zeroed by SAM, so it is not computed)."""
        import torch

        prompts = self.sam.prompt_encoder
        position = prompts.pe_layer.forward_with_coords(coords[:, None, :] + 0.5, prompts.input_image_size)
        points = position + prompts.point_embeddings[1].weight
        padding = prompts.not_a_point_embed.weight.expand(len(coords), 1, -1)
        return torch.cat([points, padding], dim=1).to(self.compute_dtype)

    def _pixels(self, resized: np.ndarray):
        """H'×W'×3 uint8 -> (3, S, S) normalised and zero-padded, as ``Sam.preprocess``."""
        import torch

        tensor = torch.from_numpy(np.ascontiguousarray(resized))
        if self.device.type == "cuda":
            tensor = tensor.pin_memory().to(self.device, non_blocking=True)
        else:
            tensor = tensor.to(self.device)
        return self.sam.preprocess(tensor.permute(2, 0, 1)[None].float())[0]

    def encode(self, crops: Sequence[np.ndarray]):
        """Resized crops (H'×W'×3 uint8) -> (N, 256, 64, 64) embeddings in the compute dtype,
        ``images_per_batch`` at a time (the last batch zero-padded when compiled)."""
        import torch

        outputs = []
        size = self.images_per_batch
        for start in range(0, len(crops), size):
            batch = [self._pixels(crop) for crop in crops[start:start + size]]
            real = len(batch)
            if self.compiled and real < size:  # the compiled graph has a fixed batch size
                batch += [torch.zeros_like(batch[0])] * (size - real)
            pixels = torch.stack(batch).to(self.compute_dtype)
            outputs.append(self._network(0, pixels)[:real])
        return torch.cat(outputs)

    # ---------------------------------------------------------------- the masks

    def generate(self, image) -> MaskSet:
        """Masks of one image (H×W×3 uint8 RGB or a :class:`PreparedImage`) -> MaskSet
        with SAM's per-mask scores, as :meth:`MaskGenerator.generate`."""
        prepared = image if isinstance(image, PreparedImage) else self.prepare(image)
        return self.generate_batch([prepared])[0]

    def generate_batch(self, prepared: Sequence[PreparedImage]) -> List[MaskSet]:
        """Masks of several prepared images, their crops encoded together -> one MaskSet each."""
        import torch

        with torch.inference_mode(), self._matmul_precision():
            crops = [crop for item in prepared for crop in item.crops]
            features = self.encode([crop[2] for crop in crops])
            results, index = [], 0
            for item in prepared:
                count = len(item.crops)
                results.append(self._image_masks(item, features[index:index + count]))
                index += count
            return results

    def _image_masks(self, prepared: PreparedImage, features) -> MaskSet:
        import torch
        from torchvision.ops.boxes import batched_nms, box_area

        parts = [self._crop_masks(prepared.shape, features[i:i + 1], i, *crop) for i, crop in enumerate(prepared.crops)]
        data = {key: torch.cat([part[key] for part in parts]) for key in parts[0]}
        crop_boxes = [crop[0] for crop in prepared.crops]
        points = [self.point_grids[layer] * np.array(size)[None, ::-1] + np.array(box[:2], np.float64)
                  for box, layer, _, size in prepared.crops]
        if len(prepared.crops) > 1:  # as the official generator: prefer masks from smaller crops
            boxes_of_crops = torch.tensor(crop_boxes, dtype=torch.int64, device=self.device)[data["crop_index"]]
            keep = batched_nms(data["boxes"].float(), 1 / box_area(boxes_of_crops),
                               torch.zeros_like(data["crop_index"]), iou_threshold=self.settings.crop_nms_thresh)
            data = {key: value[keep] for key, value in data.items()}
        if self.settings.min_mask_region_area > 0 and len(data["masks"]):
            data = self._small_regions(data)
        fields = {
            "predicted_iou": data["iou_preds"], "stability_score": data["stability_score"],
            "area": data["masks"].sum(dim=(1, 2)),
            "x0": data["boxes"][:, 0], "y0": data["boxes"][:, 1], "x1": data["boxes"][:, 2], "y1": data["boxes"][:, 3],
            "point_index": data["point_index"], "crop_index": data["crop_index"],
        }
        packed, values = to_host(data["masks"], fields)
        return maskset_from_host(packed, values, prepared.shape, points, crop_boxes)

    def _small_regions(self, data: Dict[str, Any]) -> Dict[str, Any]:
        """``--min-mask-region-area``: SAM's own CPU post-processing, as exact mode runs it."""
        import torch

        rows = {"masks": data["masks"], "boxes": data["boxes"], "iou_preds": data["iou_preds"],
                "stability_score": data["stability_score"], "row": torch.arange(len(data["masks"]))}
        kept = remove_small_regions(rows, self.settings)
        survivors = kept["row"].to(self.device)
        result = {key: kept[key].to(self.device) for key in ("masks", "boxes", "iou_preds", "stability_score")}
        result.update(point_index=data["point_index"][survivors], crop_index=data["crop_index"][survivors])
        return result

    def _crop_masks(self, orig_size, features, crop_index, crop_box, layer, resized, cropped_size) -> Dict[str, Any]:
        """One crop's masks after SAM's filters and box NMS (all on the device)."""
        import torch
        from segment_anything.utils.amg import (
            batched_mask_to_box,
            calculate_stability_score,
            is_box_near_crop_edge,
            uncrop_boxes_xyxy,
            uncrop_masks,
        )
        from torchvision.ops.boxes import batched_nms

        sam, settings, device = self.sam, self.settings, self.device
        orig_h, orig_w = orig_size
        input_size = tuple(resized.shape[:2])
        points = self.point_grids[layer] * np.array(cropped_size)[None, ::-1]
        coords = torch.as_tensor(self.transform.apply_coords(points, cropped_size), device=device)
        count, batch = len(coords), settings.points_per_batch
        low_res, iou_preds = [], []
        for start in range(0, count, batch):
            chunk = coords[start:start + batch]
            real = len(chunk)
            if self.compiled and real < batch:  # fixed shapes for the compiled decoder
                chunk = torch.cat([chunk, chunk[-1:].expand(batch - real, -1)])
            logits, iou = self._network(1, features, chunk)
            low_res.append(logits[:3 * real])
            iou_preds.append(iou[:3 * real])
        low_res, iou_preds = torch.cat(low_res), torch.cat(iou_preds)
        # The official generator keeps 3 masks per point, point after point.
        point_index = torch.arange(count, device=device).repeat_interleave(low_res.shape[0] // count)
        if settings.pred_iou_thresh > 0.0:
            keep = torch.nonzero(iou_preds > settings.pred_iou_thresh)[:, 0]
            low_res, iou_preds, point_index = low_res[keep], iou_preds[keep], point_index[keep]
        kept: Dict[str, List[Any]] = {k: [] for k in ("masks", "iou_preds", "point_index", "stability_score", "boxes")}
        for start in range(0, len(iou_preds), _UPSAMPLE_CHUNK):
            part = slice(start, start + _UPSAMPLE_CHUNK)
            logits = sam.postprocess_masks(low_res[part].float()[:, None], input_size, cropped_size)[:, 0]
            stability = calculate_stability_score(logits, sam.mask_threshold, settings.stability_score_offset)
            masks = logits > sam.mask_threshold
            del logits
            boxes = batched_mask_to_box(masks)
            # Same survivors as the official order of filters (stability, then crop edge):
            # a mask's box depends on that mask alone.
            keep = ~is_box_near_crop_edge(boxes, crop_box, [0, 0, orig_w, orig_h])
            if settings.stability_score_thresh > 0.0:
                keep &= stability >= settings.stability_score_thresh
            keep = torch.nonzero(keep)[:, 0]
            kept["masks"].append(masks[keep])
            kept["boxes"].append(boxes[keep])
            kept["iou_preds"].append(iou_preds[part][keep])
            kept["point_index"].append(point_index[part][keep])
            kept["stability_score"].append(stability[keep])
        if not kept["masks"]:
            kept["masks"].append(torch.zeros((0,) + tuple(cropped_size), dtype=torch.bool, device=device))
            kept["boxes"].append(torch.zeros((0, 4), dtype=torch.int64, device=device))
            for key in ("iou_preds", "stability_score"):
                kept[key].append(torch.zeros(0, dtype=torch.float32, device=device))
            kept["point_index"].append(torch.zeros(0, dtype=torch.int64, device=device))
        data = {key: torch.cat(values) for key, values in kept.items()}
        keep = batched_nms(data["boxes"].float(), data["iou_preds"], torch.zeros_like(data["point_index"]),
                           iou_threshold=settings.box_nms_thresh)
        data = {key: value[keep] for key, value in data.items()}
        data["masks"] = uncrop_masks(data["masks"], crop_box, orig_h, orig_w)
        data["boxes"] = uncrop_boxes_xyxy(data["boxes"], crop_box)
        data["crop_index"] = torch.full_like(data["point_index"], crop_index)
        return data

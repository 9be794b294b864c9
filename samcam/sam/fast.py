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
* every point prompt of a crop is decoded before the filters run, so the IoU filter runs
  once per crop and the up-sampling works in full chunks.

After the decoder both modes run the same chain (:mod:`.filters`, segment-anything's order of
filters and NMS, on the device; the kept masks are bit-packed there and fetched with their
scores in one copy).

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
from .decoder import decode_shared_image
from .fast_encoder import SdpaEncoder, is_sam_vit
from .filters import CropFrame, filter_masks, finish_crop
from .generate import MaskGenerator, PreparedImage
from .settings import FAST_DTYPES, SamSettings

__all__ = ["FastMaskGenerator", "FAST_DTYPES"]

log = logging.getLogger(__name__)

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
        if dtype not in FAST_DTYPES:
            raise ValueError(f"--dtype must be one of {', '.join(FAST_DTYPES)} with --fast, got {dtype!r}")
        super().__init__(sam, settings, dtype="tf32" if dtype == "tf32" else "float32", description=description)
        self.dtype = dtype
        if images_per_batch is not None and images_per_batch < 1:
            raise ValueError(f"--images-per-batch must be >= 1, got {images_per_batch}")
        on_cuda = sam.device.type == "cuda"
        self.images_per_batch = images_per_batch or (4 if on_cuda else 1)
        self.compiled = on_cuda if compile is None else bool(compile)
        self.compute_dtype = _torch_dtype(dtype)
        self.encoder, self.decoder = self._half_precision_copies()
        self._encode = SdpaEncoder(self.encoder) if is_sam_vit(self.encoder) else self.encoder
        self._prompt_constants()
        self._eager = (self._encode, self._decode_points)
        self._decode = self._decode_points
        self._compile_works = False
        if self.compiled:
            self._compile(compile_backend)

    def _half_precision_copies(self):
        """The encoder and decoder to run: the network's own in float32, else copies in the
        compute dtype with the small IoU and hypernetwork heads kept in float32."""
        import torch

        encoder, decoder = self.sam.image_encoder, self.sam.mask_decoder
        if self.compute_dtype != torch.float32:
            encoder = copy.deepcopy(encoder).to(self.compute_dtype)
            decoder = copy.deepcopy(decoder).to(self.compute_dtype)
            decoder.iou_prediction_head.float()
            decoder.output_hypernetworks_mlps.float()
        return encoder, decoder

    def _prompt_constants(self) -> None:
        """What the prompt encoder gives every point prompt alike, in the compute dtype."""
        import torch

        prompts = self.sam.prompt_encoder
        with torch.inference_mode():
            self._image_pe = prompts.get_dense_pe().to(self.compute_dtype)
            # The prompt encoder's dense embedding without a mask prompt: the same for every point.
            self._dense = prompts.no_mask_embed.weight.reshape(1, -1, 1, 1).expand(
                1, -1, *prompts.image_embedding_size).to(self.compute_dtype)

    def _compile(self, backend: Any) -> None:
        import torch

        encode = self._encode
        self._encode = torch.compile(lambda pixels: encode(pixels), dynamic=False, backend=backend)
        self._decode = torch.compile(self._decode_points, dynamic=False, backend=backend)

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
        parts = [self._crop_masks(self._frame(prepared.shape, index, crop), crop[1], features[index:index + 1])
                 for index, crop in enumerate(prepared.crops)]
        return self._finish_image(prepared, parts)

    def _crop_masks(self, frame: CropFrame, layer: int, features) -> Dict[str, Any]:
        """One crop's masks after SAM's filters and box NMS (all on the device): every point
        prompt decoded first, then the chain over them all (full up-sampling chunks)."""
        import torch

        points = self._grid(layer, frame.size)
        coords = torch.as_tensor(self.transform.apply_coords(points, frame.size), device=self.device)
        low_res, iou_preds = self._decode_crop(features, coords)
        # SAM keeps its 3 masks per point, point after point.
        point_index = torch.arange(len(coords), device=self.device).repeat_interleave(len(iou_preds) // len(coords))
        data = filter_masks(self.sam, low_res, iou_preds, point_index, frame, self.settings)
        return finish_crop(data, frame, self.settings)

    def _decode_crop(self, features, coords):
        """(1, C, h, w) embeddings, (P, 2) prompts in input pixels -> (low-res logits (3P, 4h, 4w),
        IoU guesses (3P,)), ``points_per_batch`` prompts per decoder pass (padded when compiled)."""
        import torch

        batch = self.settings.points_per_batch
        low_res, iou_preds = [], []
        for start in range(0, len(coords), batch):
            chunk = coords[start:start + batch]
            real = len(chunk)
            if self.compiled and real < batch:  # fixed shapes for the compiled decoder
                chunk = torch.cat([chunk, chunk[-1:].expand(batch - real, -1)])
            logits, iou = self._network(1, features, chunk)
            low_res.append(logits[:3 * real])
            iou_preds.append(iou[:3 * real])
        return torch.cat(low_res), torch.cat(iou_preds)

"""SAM "segment everything" masks: model loading, a faster automatic mask generator,
and the wrapper that runs another family's own generator.

``torch`` and ``segment_anything`` are imported only inside functions, so importing
this module (and the numpy core) works without them.

:class:`MaskGenerator` computes the same masks as segment-anything's
``SamAutomaticMaskGenerator`` (same point grid, thresholds, NMS and order; the tests
check equality on a small random-weight SAM) but skips work the official loop does:

* masks are up-sampled to image size only after the ``pred_iou_thresh`` filter (the
  official loop up-samples all ``3 × points_per_batch`` low-res masks first);
* kept masks stay as boolean tensors on the device until the end instead of a
  per-mask, GPU-synchronising run-length encoding and decoding, and are bit-packed
  there before the copy to the CPU;
* the resize to SAM's input size happens in :meth:`MaskGenerator.prepare`, which the
  ``samcam masks`` command runs in background threads while the GPU works;
* optional TF32 matrix products or bfloat16 autocast of the encoder and decoder.

MobileSAM runs through :class:`MaskGenerator` too: its generator, prompt encoder and
mask decoder are SAM's (only the image encoder differs). SAM 2.1 and HQ-SAM run
their own generators unchanged, through :class:`AutomaticGenerator`.
"""
from __future__ import annotations

import contextlib
import math
import os
import pickle
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from ..masks import MaskSet, as_maskset
from .checkpoints import resolve_checkpoint
from .device_masks import pack_bits
from .registry import DEFAULT_MODEL, FAMILIES, SAM_MODELS, MaskModel
from .settings import SamSettings
from .shapes import count_indexed, decoder_config, detect_family

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

DTYPES = ("float32", "tf32", "bfloat16")


# ------------------------------------------------------------------------ the model

def load_state_dict(path: os.PathLike) -> Dict[str, Any]:
    """Read a checkpoint of any SAM family with ``torch.load(..., weights_only=True)`` -> state dict.

    Only tensors and plain containers are unpickled, never arbitrary objects, and
    every tensor lands on the CPU (HQ-SAM's files hold CUDA tensors). A checkpoint that
    wraps its weights as ``{"model": state_dict}`` (SAM 2's files) or
    ``{"state_dict": ...}`` is unwrapped.

    Raises:
        ValueError naming the file when it is not a loadable weights file.
    """
    import torch

    path = Path(path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError, AttributeError, ValueError) as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ValueError(
            f"{path}: not a loadable SAM weights file ({first_line}); samcam loads checkpoints with "
            "weights_only=True and never unpickles arbitrary objects"
        ) from error
    if isinstance(state, dict):
        for key in ("model", "state_dict"):
            if key in state and isinstance(state[key], dict):
                state = state[key]
                break
    if not isinstance(state, dict) or not any(str(k).startswith("image_encoder.") for k in state):
        raise ValueError(f"{path}: not a SAM checkpoint (no image_encoder.* weights in it)")
    return state


def infer_sam_config(state_dict: Mapping[str, Any], models: Optional[Mapping[str, MaskModel]] = None) -> Dict[str, Any]:
    """Read SAM's architecture (ViT encoder, prompt encoder, mask decoder) back from a
    state dict's tensor shapes.

    Returns a dict with ``image_size, patch_size, embed_dim, depth, num_heads,
    mlp_ratio, window_size, global_attn_indexes, prompt_embed_dim, mask_in_chans,
    decoder_depth, decoder_mlp_dim, iou_head_depth, iou_head_hidden_dim,
    num_multimask_outputs`` (the decoder's head count, 8, is not visible in shapes and
    is SAM's fixed value) and ``model``: the name of the official model among
    ``models`` (default: SAM's ``vit_h``...) whose encoder it has, else ``None``.
    """
    try:
        patch = state_dict["image_encoder.patch_embed.proj.weight"]
        embed_dim, _, patch_size, _ = patch.shape
        grid = state_dict["image_encoder.pos_embed"].shape[1]
        depth = count_indexed(state_dict, "image_encoder.blocks.")
        window_size = 0
        global_attn = []
        head_dim = None
        for index in range(depth):
            rel_pos = state_dict[f"image_encoder.blocks.{index}.attn.rel_pos_h"]
            head_dim = rel_pos.shape[1]
            size = (rel_pos.shape[0] + 1) // 2
            if size == grid:
                global_attn.append(index)
            else:
                window_size = size
        mlp_dim = state_dict["image_encoder.blocks.0.mlp.lin1.weight"].shape[0]
        prompt_embed_dim = state_dict["image_encoder.neck.0.weight"].shape[0]
        decoder = decoder_config(state_dict)
    except (KeyError, AttributeError, IndexError, ValueError) as error:
        raise ValueError(f"not a SAM state dict: missing or odd tensor {error}") from error
    if head_dim is None or embed_dim % head_dim:
        raise ValueError("not a SAM state dict: cannot read the encoder's attention heads")
    config = dict(
        image_size=int(grid * patch_size),
        patch_size=int(patch_size),
        embed_dim=int(embed_dim),
        depth=int(depth),
        num_heads=int(embed_dim // head_dim),
        mlp_ratio=mlp_dim / embed_dim,
        window_size=int(window_size),
        global_attn_indexes=tuple(global_attn),
        prompt_embed_dim=int(prompt_embed_dim),
        **{key: value for key, value in decoder.items() if key != "prompt_embed_dim"},
    )
    config["model"] = None
    for name, info in (SAM_MODELS if models is None else models).items():
        if "embed_dim" in info.architecture and config["image_size"] == 1024 and all(
                config[key] == value for key, value in info.architecture.items()):
            config["model"] = name
    return config


def build_sam(config: Mapping[str, Any], *, modeling: str = "segment_anything.modeling", image_encoder=None,
              mask_decoder: str = "MaskDecoder", decoder_kwargs: Optional[Mapping[str, Any]] = None):
    """An untrained SAM (``Sam``: image encoder, prompt encoder, mask decoder) with the
    architecture ``config``, in eval mode on the CPU.

    Args:
        config: :func:`infer_sam_config`'s keys; missing keys take SAM's values.
        modeling: the package whose ``modeling`` classes build it:
            ``segment_anything.modeling`` (SAM), ``segment_anything_hq.modeling``
            (HQ-SAM) or ``mobile_sam.modeling`` (MobileSAM).
        image_encoder: an already built encoder (TinyViT) instead of SAM's ViT.
        mask_decoder: the decoder class in ``modeling`` (``MaskDecoderHQ`` for HQ-SAM).
        decoder_kwargs: extra decoder arguments (HQ-SAM's ``vit_dim``).
    """
    import importlib

    import torch

    classes = importlib.import_module(modeling)
    image_size = config.get("image_size", 1024)
    patch_size = config.get("patch_size", 16)
    prompt_dim = config.get("prompt_embed_dim", 256)
    embedding_size = image_size // patch_size
    if image_encoder is None:
        image_encoder = classes.ImageEncoderViT(
            img_size=image_size,
            patch_size=patch_size,
            embed_dim=config["embed_dim"],
            depth=config["depth"],
            num_heads=config["num_heads"],
            mlp_ratio=config.get("mlp_ratio", 4.0),
            out_chans=prompt_dim,
            qkv_bias=True,
            norm_layer=partial(torch.nn.LayerNorm, eps=1e-6),
            use_rel_pos=True,
            window_size=config.get("window_size", 14),
            global_attn_indexes=tuple(config.get("global_attn_indexes", ())),
        )
    sam = classes.Sam(
        image_encoder=image_encoder,
        prompt_encoder=classes.PromptEncoder(
            embed_dim=prompt_dim,
            image_embedding_size=(embedding_size, embedding_size),
            input_image_size=(image_size, image_size),
            mask_in_chans=config.get("mask_in_chans", 16),
        ),
        mask_decoder=getattr(classes, mask_decoder)(
            num_multimask_outputs=config.get("num_multimask_outputs", 3),
            transformer=classes.TwoWayTransformer(
                depth=config.get("decoder_depth", 2),
                embedding_dim=prompt_dim,
                mlp_dim=config.get("decoder_mlp_dim", 2048),
                num_heads=8,
            ),
            transformer_dim=prompt_dim,
            iou_head_depth=config.get("iou_head_depth", 3),
            iou_head_hidden_dim=config.get("iou_head_hidden_dim", 256),
            **dict(decoder_kwargs or {}),
        ),
        pixel_mean=[123.675, 116.28, 103.53],
        pixel_std=[58.395, 57.12, 57.375],
    )
    return sam.eval()


def resolve_device(device: str = "auto") -> str:
    """``"auto"`` -> ``"cuda:<LOCAL_RANK or SLURM_LOCALID>"`` when CUDA is there, else ``"cpu"``.

    ``"cuda"`` likewise picks the local rank's GPU; ``"cpu"`` and explicit
    ``"cuda:N"`` are returned as they are.
    """
    import torch

    if device not in ("auto", "cuda"):
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise ValueError(f"--device {device}: CUDA is not available on this machine")
        return device
    if not torch.cuda.is_available():
        if device == "cuda":
            raise ValueError("--device cuda: CUDA is not available on this machine")
        return "cpu"
    local = os.environ.get("LOCAL_RANK", os.environ.get("SLURM_LOCALID", "0"))
    try:
        index = int(local) % torch.cuda.device_count()
    except ValueError:
        index = 0
    return f"cuda:{index}"


def strict_load(network, state_dict: Mapping[str, Any], path: os.PathLike, what: str) -> None:
    """``network.load_state_dict(state_dict)`` that names the file and a few keys when
    the weights do not fit (missing or unexpected tensors, or different shapes)."""
    try:
        missing, unexpected = network.load_state_dict(state_dict, strict=False)
    except RuntimeError as error:  # a shape mismatch
        lines = [line.strip() for line in str(error).splitlines() if "size mismatch" in line]
        raise ValueError(f"{path}: weights do not fit the {what} read from it ({'; '.join(lines[:2])})") from None
    if missing or unexpected:
        raise ValueError(
            f"{path}: weights do not fit the {what} read from it "
            f"(missing {list(missing)[:3]}, unexpected {list(unexpected)[:3]})"
        )


def model_mismatch(path: os.PathLike, wanted: str, found: Optional[str], description: str) -> ValueError:
    """The error for ``--model X --checkpoint F`` when F holds something else."""
    return ValueError(
        f"{path} holds {found or description}, not {wanted}; pass the matching --model"
        + (" or leave --model out to accept the architecture the file holds" if found is None else "")
    )


def sam_from_state_dict(state_dict: Mapping[str, Any], path: os.PathLike, model: Optional[str] = None):
    """SAM (``segment_anything.modeling.Sam``, CPU, eval mode) with ``state_dict``'s weights.

    The architecture is read from the shapes (:func:`infer_sam_config`); ``model``,
    when given, must be the official model those shapes belong to.
    """
    try:
        config = infer_sam_config(state_dict)
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from error
    if model is not None and config["model"] != model:
        raise model_mismatch(path, model, config["model"], (
            f"a non-standard SAM (embed dim {config['embed_dim']}, depth {config['depth']}, "
            f"input {config['image_size']})"))
    sam = build_sam(config)
    strict_load(sam, state_dict, path, "SAM architecture")
    return sam.eval()


def load_sam(
    model: Optional[str] = None,
    checkpoint: Optional[os.PathLike] = None,
    device: str = "cpu",
    *,
    allow_download: bool = True,
    progress: bool = False,
):
    """Load SAM for mask generation -> ``segment_anything.modeling.Sam`` in eval mode.

    Args:
        model: ``vit_h``/``vit_l``/``vit_b``. Without ``checkpoint`` it picks the
            official file (default ``vit_h``); with ``checkpoint`` it is checked
            against the file, and ``None`` (default) accepts whatever SAM
            architecture the file holds.
        checkpoint: a local checkpoint; its architecture is read from its shapes.
        device: a torch device string, or ``"auto"`` (see :func:`resolve_device`).
        allow_download: fetch the official checkpoint into the cache when missing.
        progress: show a progress bar while downloading.

    Other families (SAM 2.1, HQ-SAM, MobileSAM): :func:`samcam.sam.families.load_generator`.
    """
    if device == "auto":
        device = resolve_device(device)
    path = resolve_checkpoint(model or DEFAULT_MODEL, checkpoint, allow_download=allow_download, progress=progress)
    state_dict = load_state_dict(path)
    try:
        family = detect_family(state_dict)
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from error
    if family != "sam":
        raise ValueError(f"{path} holds a {FAMILIES[family].title} checkpoint, not SAM; "
                         "samcam.sam.families.load_generator loads every family")
    return sam_from_state_dict(state_dict, path, model).to(device)


# ------------------------------------------------------------ official generator

def annotations_to_maskset(annotations: Sequence[Mapping[str, Any]], image_shape: Tuple[int, int]) -> MaskSet:
    """``SamAutomaticMaskGenerator.generate`` output (binary_mask mode) -> MaskSet with scores.

    Scores: ``predicted_iou``, ``stability_score`` (float32), ``area`` (int64), ``bbox``
    and ``crop_box`` (int64, XYWH), ``point_coords`` (float64, (K, 2) x, y).
    """
    if not annotations:
        return as_maskset([], image_shape=image_shape)
    dense = np.stack([np.asarray(a["segmentation"], dtype=bool) for a in annotations])
    scores = {
        "predicted_iou": np.array([a["predicted_iou"] for a in annotations], np.float32),
        "stability_score": np.array([a["stability_score"] for a in annotations], np.float32),
        "area": np.array([a["area"] for a in annotations], np.int64),
        "bbox": np.array([a["bbox"] for a in annotations], np.int64).reshape(-1, 4),
        "point_coords": np.array([a["point_coords"][0] for a in annotations], np.float64).reshape(-1, 2),
        "crop_box": np.array([a["crop_box"] for a in annotations], np.int64).reshape(-1, 4),
    }
    return MaskSet.from_dense(dense, scores)


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
        ``point_coords``, ``crop_box``; see :func:`annotations_to_maskset`)."""
        import torch

        image = check_image(image)
        # no_grad, as the generators themselves use (not inference_mode: SAM 2 caches
        # position encodings across calls).
        with torch.no_grad(), precision(self.dtype, self.device):
            annotations = self.generator.generate(image)
        return annotations_to_maskset(annotations, image.shape[:2])


# ------------------------------------------------------------------ fast generator

@dataclass
class PreparedImage:
    """An image with its crops already resized to SAM's input size (CPU work only).

    Attributes:
        shape: (H, W) of the original image.
        crops: per crop ``(crop_box XYXY, layer index, resized H'×W'×3 uint8, crop (h, w))``.
    """

    shape: Tuple[int, int]
    crops: List[Tuple[List[int], int, np.ndarray, Tuple[int, int]]]


def check_image(image: np.ndarray) -> np.ndarray:
    """Check an RGB image is H×W×3 uint8 and return it (ValueError otherwise)."""
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"an image must be H×W×3 uint8 RGB, got {image.dtype} {image.shape}")
    return image


def _xyxy_to_xywh(boxes: np.ndarray) -> np.ndarray:
    """(K, 4) XYXY -> (K, 4) XYWH int64 (amg.box_xyxy_to_xywh does one box at a time)."""
    boxes = np.asarray(boxes, dtype=np.int64).reshape(-1, 4).copy()
    boxes[:, 2:] -= boxes[:, :2]
    return boxes


def _attention_heads(attention, tensor):
    """(..., N, D) -> (..., heads, N, D/heads), as segment_anything's Attention does."""
    *lead, tokens, dim = tensor.shape
    return tensor.reshape(*lead, tokens, attention.num_heads, dim // attention.num_heads).transpose(-3, -2)


def _merge_heads(tensor):
    """(..., heads, N, c) -> (..., N, heads*c)."""
    *lead, heads, tokens, channels = tensor.shape
    return tensor.transpose(-3, -2).reshape(*lead, tokens, heads * channels)


def decode_shared_image(decoder, image_embeddings, image_pe, sparse, dense, multimask_output=True):
    """``MaskDecoder.forward`` for B point prompts on ONE image, image-side work done once.

    segment_anything repeats the image embedding once per prompt, so the decoder's first
    layer projects the same 64×64 image tokens B times (token→image keys and values,
    image→token queries). Here they are projected once and broadcast; every other step
    is the decoder's own, in the same order. Same outputs up to float rounding.

    Args:
        decoder: a ``segment_anything.modeling.MaskDecoder``.
        image_embeddings: (1, C, h, w) from the image encoder.
        image_pe: (1, C, h, w) dense positional encoding.
        sparse: (B, N, C) point embeddings; dense: (B, C, h, w), the same for every
            prompt (no mask input), as the prompt encoder gives without masks.

    Returns:
        (masks (B, M, 4h, 4w) logits, iou_pred (B, M)), M = 3 with multimask_output.
    """
    import torch

    transformer = decoder.transformer
    batch = sparse.shape[0]
    output_tokens = torch.cat([decoder.iou_token.weight, decoder.mask_tokens.weight], dim=0)
    tokens = torch.cat((output_tokens.unsqueeze(0).expand(batch, -1, -1), sparse), dim=1)
    _, channels, height, width = image_embeddings.shape
    image = (image_embeddings + dense[:1]).flatten(2).permute(0, 2, 1)  # (1, hw, C)
    position = image_pe.flatten(2).permute(0, 2, 1)                       # (1, hw, C)

    first = transformer.layers[0]
    # Layer 0 skips the query positional encoding in its self-attention.
    queries = first.norm1(first.self_attn(q=tokens, k=tokens, v=tokens))

    # Tokens attend to the image: image keys and values are the same for every prompt.
    attention = first.cross_attn_token_to_image
    q = _attention_heads(attention, attention.q_proj(queries + tokens))    # (B, H, N, c)
    k = _attention_heads(attention, attention.k_proj(image + position))[0]  # (H, hw, c)
    v = _attention_heads(attention, attention.v_proj(image))[0]             # (H, hw, c)
    heads, token_count, head_dim = q.shape[1], q.shape[2], q.shape[3]
    q = q.transpose(0, 1).reshape(heads, batch * token_count, head_dim)     # one bmm over heads
    weights = torch.softmax((q @ k.transpose(1, 2)) / math.sqrt(head_dim), dim=-1)
    out = (weights @ v).reshape(heads, batch, token_count, head_dim).transpose(0, 1)
    queries = first.norm2(queries + attention.out_proj(_merge_heads(out)))
    queries = first.norm3(queries + first.mlp(queries))

    # The image attends to the tokens: its queries are the same for every prompt.
    attention = first.cross_attn_image_to_token
    q = _attention_heads(attention, attention.q_proj(image + position))[0]  # (H, hw, c)
    k = _attention_heads(attention, attention.k_proj(queries + tokens))     # (B, H, N, c)
    v = _attention_heads(attention, attention.v_proj(queries))              # (B, H, N, c)
    weights = torch.softmax((q.unsqueeze(0) @ k.transpose(-1, -2)) / math.sqrt(head_dim), dim=-1)
    keys = first.norm4(image + attention.out_proj(_merge_heads(weights @ v)))  # (B, hw, C)

    for layer in transformer.layers[1:]:
        queries, keys = layer(queries=queries, keys=keys, query_pe=tokens, key_pe=position)
    attn_out = transformer.final_attn_token_to_image(q=queries + tokens, k=keys + position, v=keys)
    hidden = transformer.norm_final_attn(queries + attn_out)

    upscaled = decoder.output_upscaling(keys.transpose(1, 2).reshape(batch, channels, height, width))
    # The small heads may be kept in float32 in a half-precision decoder (fast mode:
    # predicted IoUs near the threshold then keep their float32 resolution); in a
    # float32 decoder these casts do nothing.
    head_dtype = decoder.iou_prediction_head.layers[0].weight.dtype
    hyper_in = torch.stack(
        [mlp(hidden[:, 1 + index, :].to(head_dtype)) for index, mlp in enumerate(decoder.output_hypernetworks_mlps)],
        dim=1,
    ).to(upscaled.dtype)
    _, up_channels, up_height, up_width = upscaled.shape
    masks = (hyper_in @ upscaled.reshape(batch, up_channels, up_height * up_width)).reshape(batch, -1, up_height, up_width)
    iou_pred = decoder.iou_prediction_head(hidden[:, 0, :].to(head_dtype))
    selected = slice(1, None) if multimask_output else slice(0, 1)
    return masks[:, selected], iou_pred[:, selected]


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
        self.settings = settings or SamSettings()
        self.settings.validate()
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
            return self._generate(prepared)

    @contextlib.contextmanager
    def _matmul_precision(self):
        """TF32 for ``dtype="tf32"``, restoring the process-wide flags afterwards."""
        import torch

        if self.dtype != "tf32":
            yield
            return
        saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
        try:
            yield
        finally:
            torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved

    # The steps below mirror SamAutomaticMaskGenerator._generate_masks/_process_crop/
    # _process_batch, with the same tensors in the same order, so NMS sees identical
    # inputs and keeps the same masks in the same order.
    def _generate(self, prepared: PreparedImage) -> MaskSet:
        import torch
        from torchvision.ops.boxes import batched_nms, box_area

        parts = [self._process_crop(prepared.shape, *crop) for crop in prepared.crops]
        data = {key: torch.cat([part[key] for part in parts]) for key in parts[0]}
        if len(prepared.crops) > 1:
            scores = 1 / box_area(data["crop_boxes"])
            keep = batched_nms(
                data["boxes"].float(), scores.to(data["boxes"].device),
                torch.zeros(len(data["boxes"])), iou_threshold=self.settings.crop_nms_thresh,
            )
            data = {key: value[keep.to(value.device)] for key, value in data.items()}
        if self.settings.min_mask_region_area > 0 and len(data["masks"]):
            data = self._remove_small_regions(data)
        # Bit-packed on the device: 8× fewer bytes to copy, nothing per pixel left for the CPU.
        packed = pack_bits(data["masks"]).cpu().numpy()
        boxes = _xyxy_to_xywh(data["boxes"].cpu().numpy())
        crop_boxes = _xyxy_to_xywh(data["crop_boxes"].cpu().numpy())
        scores = {
            "predicted_iou": data["iou_preds"].float().cpu().numpy().astype(np.float32),
            "stability_score": data["stability_score"].float().cpu().numpy().astype(np.float32),
            "area": data["masks"].sum(dim=(1, 2), dtype=torch.int64).cpu().numpy(),
            "bbox": boxes.astype(np.int64).reshape(-1, 4),
            "point_coords": data["points"].cpu().numpy().astype(np.float64).reshape(-1, 2),
            "crop_box": crop_boxes.astype(np.int64).reshape(-1, 4),
        }
        return MaskSet(packed, prepared.shape, scores)

    def _autocast(self):
        import torch

        return torch.autocast(
            device_type=self.device.type, dtype=torch.bfloat16, enabled=self.dtype == "bfloat16"
        )

    def _process_crop(self, orig_size, crop_box, layer, resized, cropped_size) -> Dict[str, Any]:
        import torch
        from segment_anything.utils.amg import (
            batch_iterator,
            batched_mask_to_box,
            calculate_stability_score,
            is_box_near_crop_edge,
            uncrop_boxes_xyxy,
            uncrop_masks,
            uncrop_points,
        )
        from torchvision.ops.boxes import batched_nms

        sam = self.sam
        settings = self.settings
        device = self.device
        orig_h, orig_w = orig_size
        pixels = torch.as_tensor(resized, device=device).permute(2, 0, 1).contiguous()[None]
        input_size = tuple(pixels.shape[-2:])
        with self._autocast():
            features = sam.image_encoder(sam.preprocess(pixels))
        image_pe = sam.prompt_encoder.get_dense_pe()

        points_scale = np.array(cropped_size)[None, ::-1]
        points_for_image = self.point_grids[layer] * points_scale
        kept: Dict[str, List[Any]] = {k: [] for k in ("masks", "iou_preds", "points", "stability_score", "boxes")}
        for (points,) in batch_iterator(settings.points_per_batch, points_for_image):
            coords = torch.as_tensor(self.transform.apply_coords(points, cropped_size), device=device)
            labels = torch.ones(coords.shape[0], dtype=torch.int, device=device)
            with self._autocast():
                sparse, dense = sam.prompt_encoder(points=(coords[:, None, :], labels[:, None]), boxes=None, masks=None)
                low_res, iou_preds = decode_shared_image(
                    sam.mask_decoder, features, image_pe, sparse, dense, multimask_output=True
                )
            low_res = low_res.float().flatten(0, 1)
            iou_preds = iou_preds.float().flatten(0, 1)
            batch_points = torch.as_tensor(points.repeat(low_res.shape[0] // len(points), axis=0))
            # The IoU filter needs no pixels, so it runs before the costly up-sampling.
            if settings.pred_iou_thresh > 0.0:
                keep = iou_preds > settings.pred_iou_thresh
                low_res, iou_preds, batch_points = low_res[keep], iou_preds[keep], batch_points[keep.cpu()]
            if not len(iou_preds):
                continue
            logits = sam.postprocess_masks(low_res[:, None], input_size, cropped_size)[:, 0]
            stability = calculate_stability_score(logits, sam.mask_threshold, settings.stability_score_offset)
            if settings.stability_score_thresh > 0.0:
                keep = stability >= settings.stability_score_thresh
                logits, iou_preds, stability = logits[keep], iou_preds[keep], stability[keep]
                batch_points = batch_points[keep.cpu()]
            masks = logits > sam.mask_threshold
            del logits
            boxes = batched_mask_to_box(masks)
            keep = ~is_box_near_crop_edge(boxes, crop_box, [0, 0, orig_w, orig_h])
            if not torch.all(keep):
                masks, boxes, iou_preds, stability = masks[keep], boxes[keep], iou_preds[keep], stability[keep]
                batch_points = batch_points[keep.cpu()]
            kept["masks"].append(uncrop_masks(masks, crop_box, orig_h, orig_w))
            kept["iou_preds"].append(iou_preds)
            kept["points"].append(batch_points)
            kept["stability_score"].append(stability)
            kept["boxes"].append(boxes)
        if not kept["masks"]:
            empty = torch.zeros(0, dtype=torch.float32, device=device)
            return {
                "masks": torch.zeros((0, orig_h, orig_w), dtype=torch.bool, device=device),
                "iou_preds": empty, "stability_score": empty,
                "boxes": torch.zeros((0, 4), dtype=torch.int64, device=device),
                "points": torch.zeros((0, 2), dtype=torch.float64),
                "crop_boxes": torch.zeros((0, 4), dtype=torch.int64),
            }
        data = {key: torch.cat(values) for key, values in kept.items()}
        keep = batched_nms(
            data["boxes"].float(), data["iou_preds"], torch.zeros(len(data["boxes"])),
            iou_threshold=settings.box_nms_thresh,
        )
        data = {key: value[keep.to(value.device)] for key, value in data.items()}
        data["boxes"] = uncrop_boxes_xyxy(data["boxes"], crop_box)
        data["points"] = uncrop_points(data["points"], crop_box)
        data["crop_boxes"] = torch.tensor([crop_box for _ in range(len(data["masks"]))], dtype=torch.int64).reshape(-1, 4)
        return data

    def _remove_small_regions(self, data: Dict[str, Any]) -> Dict[str, Any]:
        return remove_small_regions(data, self.settings)


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

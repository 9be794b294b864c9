"""SAM networks: reading checkpoints, reading the architecture back from the weights, building
and loading SAM (``segment_anything``'s ``Sam``), picking the device.

Also the building blocks the other families' loaders share (:func:`build_sam` builds HQ-SAM
and MobileSAM too; :func:`strict_load`, :func:`model_mismatch`). ``torch`` and
``segment_anything`` are imported only inside functions.
"""
from __future__ import annotations

import os
import pickle
from functools import partial
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Tuple

from .checkpoints import resolve_checkpoint
from .packages import require_packages
from .registry import DEFAULT_MODEL, FAMILIES, SAM_MODELS, MaskModel
from .shapes import count_indexed, decoder_config, detect_family

__all__ = [
    "load_state_dict",
    "infer_sam_config",
    "build_sam",
    "sam_from_state_dict",
    "strict_load",
    "model_mismatch",
    "load_sam",
    "resolve_device",
]


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
        head_dim, window_size, global_attn = _attention_layout(state_dict, depth, grid)
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
    config["model"] = _official_model(config, SAM_MODELS if models is None else models)
    return config


def _attention_layout(state_dict: Mapping[str, Any], depth: int, grid: int) -> Tuple[Optional[int], int, List[int]]:
    """The encoder blocks' (head dim, window size, indices of global-attention blocks), read
    from their relative position tables: a global block's spans the whole ``grid``."""
    window_size, global_attn, head_dim = 0, [], None
    for index in range(depth):
        rel_pos = state_dict[f"image_encoder.blocks.{index}.attn.rel_pos_h"]
        head_dim = rel_pos.shape[1]
        size = (rel_pos.shape[0] + 1) // 2
        if size == grid:
            global_attn.append(index)
        else:
            window_size = size
    return head_dim, window_size, global_attn


def _official_model(config: Mapping[str, Any], models: Mapping[str, MaskModel]) -> Optional[str]:
    """The last of ``models`` whose encoder ``config`` has (at SAM's 1024 input), else ``None``."""
    found = None
    for name, info in models.items():
        if "embed_dim" in info.architecture and config["image_size"] == 1024 and all(
                config[key] == value for key, value in info.architecture.items()):
            found = name
    return found


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

    Raises:
        MissingPackages: torch or segment-anything is not installed; the message is
            :func:`~samcam.sam.families.load_generator`'s, saying what to install.
    """
    # as load_generator checks: the whole family for an official model (before a
    # download), torch alone to read a checkpoint, then the family it holds
    require_packages("sam", torch_only=checkpoint is not None)
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
    require_packages("sam")
    return sam_from_state_dict(state_dict, path, model).to(device)

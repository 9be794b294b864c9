"""What a checkpoint holds, read from its keys and tensor shapes (no torch needed).

``--checkpoint PATH`` without ``--model`` works because the families' state dicts
differ in ways their builders make certain:

* SAM 2 / 2.1: ``image_encoder.trunk.*`` (Hiera) and ``sam_mask_decoder.*``; SAM 2.1
  adds ``no_obj_embed_spatial`` (``sam2/modeling/sam2_base.py``, the 2.1 configs'
  ``no_obj_embed_spatial: true``);
* HQ-SAM: SAM's keys plus ``mask_decoder.hf_token.weight`` (the HQ output token,
  ``segment_anything_hq/modeling/mask_decoder_hq.py``), with a ViT or a TinyViT encoder;
* MobileSAM: SAM's prompt encoder and decoder with a TinyViT encoder
  (``image_encoder.layers.*``, no ``image_encoder.pos_embed``);
* SAM: a ViT encoder (``image_encoder.patch_embed.proj.weight``, ``image_encoder.blocks.*``).

Values only need a ``.shape``: torch tensors, or tensors on the ``meta`` device.
"""
from __future__ import annotations

import math
from typing import Any, Dict, Mapping, Optional

from .registry import MaskModel, models_of

__all__ = [
    "detect_family",
    "count_indexed",
    "decoder_config",
    "infer_tinyvit_config",
    "match_tinyvit_model",
    "match_sam2_model",
    "is_sam2_0",
]


def count_indexed(state_dict: Mapping[str, Any], prefix: str) -> int:
    """How many ``prefix<N>.`` entries there are (max N + 1; 0 when none)."""
    indices = {int(key[len(prefix):].split(".", 1)[0]) for key in state_dict
               if key.startswith(prefix) and key[len(prefix):].split(".", 1)[0].isdigit()}
    return max(indices) + 1 if indices else 0


def _has_prefix(state_dict: Mapping[str, Any], prefix: str) -> bool:
    return any(key.startswith(prefix) for key in state_dict)


def detect_family(state_dict: Mapping[str, Any]) -> str:
    """``"sam"``, ``"sam2.1"``, ``"hq"`` or ``"mobilesam"``, from the keys alone.

    SAM 2.0 weights are reported as ``"sam2.1"`` (the same package runs them; see
    :func:`is_sam2_0`).

    Raises:
        ValueError: the keys match none of the families.
    """
    if _has_prefix(state_dict, "image_encoder.trunk.") and _has_prefix(state_dict, "sam_mask_decoder."):
        return "sam2.1"
    if not _has_prefix(state_dict, "mask_decoder.") or not _has_prefix(state_dict, "prompt_encoder."):
        raise ValueError("not a SAM-family checkpoint: it has no SAM prompt encoder and mask decoder weights")
    tiny_vit = _has_prefix(state_dict, "image_encoder.layers.")
    vit = "image_encoder.patch_embed.proj.weight" in state_dict and _has_prefix(state_dict, "image_encoder.blocks.")
    if not tiny_vit and not vit:
        raise ValueError("not a SAM-family checkpoint: its image encoder is neither SAM's ViT nor TinyViT")
    if "mask_decoder.hf_token.weight" in state_dict:
        return "hq"
    return "mobilesam" if tiny_vit else "sam"


def is_sam2_0(state_dict: Mapping[str, Any]) -> bool:
    """SAM 2.0 weights: a SAM 2 checkpoint without SAM 2.1's ``no_obj_embed_spatial``."""
    return detect_family(state_dict) == "sam2.1" and "no_obj_embed_spatial" not in state_dict


def decoder_config(state_dict: Mapping[str, Any], prefix: str = "mask_decoder.") -> Dict[str, int]:
    """SAM's mask decoder sizes: ``prompt_embed_dim, decoder_depth, decoder_mlp_dim,
    iou_head_depth, iou_head_hidden_dim, num_multimask_outputs`` and the prompt
    encoder's ``mask_in_chans`` (the attention head count, 8, is not visible in shapes)."""
    return dict(
        prompt_embed_dim=int(state_dict[prefix + "iou_token.weight"].shape[1]),
        mask_in_chans=int(state_dict["prompt_encoder.mask_downscaling.3.weight"].shape[0]),
        decoder_depth=count_indexed(state_dict, prefix + "transformer.layers."),
        decoder_mlp_dim=int(state_dict[prefix + "transformer.layers.0.mlp.lin1.weight"].shape[0]),
        iou_head_depth=count_indexed(state_dict, prefix + "iou_prediction_head.layers."),
        iou_head_hidden_dim=int(state_dict[prefix + "iou_prediction_head.layers.0.weight"].shape[0]),
        num_multimask_outputs=count_indexed(state_dict, prefix + "output_hypernetworks_mlps.") - 1,
    )


def infer_tinyvit_config(state_dict: Mapping[str, Any], prefix: str = "image_encoder.") -> Dict[str, Any]:
    """A TinyViT encoder's constructor arguments, read back from its shapes.

    Returns ``embed_dims, depths, num_heads, window_sizes`` (tuples, one per layer; the
    first layer is convolutional, so its heads and window are ``None``), ``mlp_ratio``,
    ``mbconv_expand_ratio``, ``local_conv_size`` and ``num_classes``.

    Raises:
        ValueError: a tensor the TinyViT builder always makes is missing or odd.
    """
    try:
        layers = count_indexed(state_dict, prefix + "layers.")
        if layers < 2:
            raise KeyError(prefix + "layers.1")
        embed_dims, depths, heads, windows = [], [], [], []
        for index in range(layers):
            layer = f"{prefix}layers.{index}."
            depths.append(count_indexed(state_dict, layer + "blocks."))
            if index == 0:
                conv = state_dict[layer + "blocks.0.conv1.c.weight"]  # (dim * expand, dim, 1, 1)
                embed_dims.append(int(conv.shape[1]))
                expand = conv.shape[0] / conv.shape[1]
                heads.append(None)
                windows.append(None)
                continue
            biases = state_dict[layer + "blocks.0.attn.attention_biases"]  # (heads, window²)
            window = math.isqrt(int(biases.shape[1]))
            if window * window != biases.shape[1]:
                raise ValueError(f"{layer}blocks.0.attn.attention_biases has {biases.shape[1]} offsets, not a square")
            embed_dims.append(int(state_dict[layer + "blocks.0.attn.qkv.weight"].shape[1]))
            heads.append(int(biases.shape[0]))
            windows.append(window)
        last = f"{prefix}layers.{layers - 1}.blocks.0."
        mlp_ratio = state_dict[last + "mlp.fc1.weight"].shape[0] / embed_dims[-1]
        local_conv = int(state_dict[last + "local_conv.c.weight"].shape[-1])
        num_classes = int(state_dict[prefix + "head.weight"].shape[0]) if prefix + "head.weight" in state_dict else 0
    except (KeyError, AttributeError, IndexError) as error:
        raise ValueError(f"not a TinyViT encoder: missing or odd tensor {error}") from error
    return dict(embed_dims=tuple(embed_dims), depths=tuple(depths), num_heads=tuple(heads),
                window_sizes=tuple(windows), mlp_ratio=float(mlp_ratio), mbconv_expand_ratio=float(expand),
                local_conv_size=local_conv, num_classes=num_classes)


def _tinyvit_matches(config: Mapping[str, Any], official: Mapping[str, Any]) -> bool:
    for key, value in official.items():
        found = config[key]
        if key in ("num_heads", "window_sizes"):  # the convolutional first layer has neither
            found, value = tuple(found)[1:], tuple(value)[1:]
        if isinstance(value, tuple):
            found, value = tuple(found), tuple(value)
        if found != value:
            return False
    return True


def match_tinyvit_model(config: Mapping[str, Any], family: str) -> Optional[MaskModel]:
    """The family's official TinyViT model whose encoder ``config`` equals, if any."""
    for model in models_of(family).values():
        if "embed_dims" in model.architecture and _tinyvit_matches(config, model.architecture):
            return model
    return None


def match_sam2_model(state_dict: Mapping[str, Any]) -> Optional[MaskModel]:
    """The official SAM 2.1 model with this trunk (width, block count, position
    embedding size), or None. Only a first guess: the strict load checks every tensor."""
    try:
        width = int(state_dict["image_encoder.trunk.patch_embed.proj.weight"].shape[0])
        pos_embed = int(state_dict["image_encoder.trunk.pos_embed"].shape[-1])
    except (KeyError, AttributeError, IndexError):
        return None
    blocks = count_indexed(state_dict, "image_encoder.trunk.blocks.")
    if "no_obj_embed_spatial" not in state_dict:
        return None
    for model in models_of("sam2.1").values():
        arch = model.architecture
        if (arch["embed_dim"], arch["blocks"], arch["pos_embed"]) == (width, blocks, pos_embed):
            return model
    return None

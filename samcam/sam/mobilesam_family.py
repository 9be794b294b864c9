"""MobileSAM (vit_t) through the ``mobile_sam`` package (PyPI ``mobilesam-mirror``).

MobileSAM is SAM with a distilled TinyViT image encoder (5M parameters instead of
ViT-H's 632M); its prompt encoder, mask decoder and automatic mask generator are
SAM's code (``mobile_sam/modeling/{prompt_encoder,mask_decoder}.py`` and
``automatic_mask_generator.py`` differ from segment-anything's only in comments and
the device of an all-zero NMS category tensor). So samcam runs it through its faster
copy of SAM's generator (:class:`samcam.sam.generate.MaskGenerator`), and the tests
compare with ``mobile_sam.SamAutomaticMaskGenerator``.

The TinyViT encoder is rebuilt from the checkpoint's shapes
(:func:`samcam.sam.shapes.infer_tinyvit_config`); its input is 1024 px, fixed by
MobileSAM's code (``TinyViT.forward_features`` reshapes to 64×64 tokens) as is its
256-channel neck.
"""
from __future__ import annotations

import os
import warnings
from typing import Any, Mapping, Optional, Tuple

from .networks import build_sam, model_mismatch, strict_load
from .shapes import decoder_config, infer_tinyvit_config, match_tinyvit_model

__all__ = ["build", "tinyvit_kwargs", "import_quietly"]

# TinyViT's first layer is convolutional: its head count and window are never used;
# MobileSAM's values fill the slots (mobile_sam/build_sam.py:53-64).
_UNUSED_FIRST = dict(num_heads=2, window_sizes=7)


def import_quietly(module: str):
    """Import MobileSAM's or HQ-SAM's package without timm's deprecation warnings.

    Both import ``timm.models.layers`` (a deprecated alias) and register their
    TinyViT variants in timm's model registry, overwriting each other's and timm's
    own entries of the same names; samcam never looks models up there.
    """
    import importlib

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=FutureWarning)
        warnings.filterwarnings("ignore", message=".*[Oo]verwriting .* in registry.*")
        return importlib.import_module(module)


def tinyvit_kwargs(config: Mapping[str, Any]) -> dict:
    """``TinyViT(...)`` keyword arguments for an :func:`infer_tinyvit_config` result."""
    heads = (_UNUSED_FIRST["num_heads"],) + tuple(config["num_heads"][1:])
    windows = (_UNUSED_FIRST["window_sizes"],) + tuple(config["window_sizes"][1:])
    return dict(img_size=1024, in_chans=3, num_classes=config["num_classes"], embed_dims=list(config["embed_dims"]),
                depths=list(config["depths"]), num_heads=list(heads), window_sizes=list(windows),
                mlp_ratio=config["mlp_ratio"], drop_rate=0.0, drop_path_rate=0.0, use_checkpoint=False,
                mbconv_expand_ratio=config["mbconv_expand_ratio"], local_conv_size=config["local_conv_size"],
                layer_lr_decay=0.8)


def build(state_dict: Mapping[str, Any], path: os.PathLike, model: Optional[str] = None) -> Tuple[Any, str]:
    """MobileSAM with ``state_dict``'s weights -> ``(mobile_sam Sam on CPU in eval mode, name)``."""
    modeling = import_quietly("mobile_sam.modeling")
    try:
        encoder = infer_tinyvit_config(state_dict)
        decoder = decoder_config(state_dict)
    except (ValueError, KeyError) as error:
        raise ValueError(f"{path}: not a MobileSAM checkpoint ({error})") from error
    official = match_tinyvit_model(encoder, "mobilesam")
    if model is not None and (official is None or official.name != model):
        raise model_mismatch(path, model, official.name if official else None,
                             f"a non-standard MobileSAM (TinyViT widths {list(encoder['embed_dims'])})")
    network = build_sam(decoder, modeling="mobile_sam.modeling",
                        image_encoder=modeling.TinyViT(**tinyvit_kwargs(encoder)))
    strict_load(network, state_dict, path, "MobileSAM architecture")
    return network.eval(), official.name if official else "(custom TinyViT)"

"""HQ-SAM through the ``segment_anything_hq`` package (PyPI ``segment-anything-hq``).

HQ-SAM keeps SAM's encoder and decoder and adds an HQ output token whose mask is
fused with early encoder features (``MaskDecoderHQ``). The network is rebuilt from
the checkpoint's shapes with the package's own classes: SAM's ViT
(:func:`samcam.sam.networks.infer_sam_config`) for ``sam_hq_vit_b/l/h``, MobileSAM's
TinyViT for Light HQ-SAM (``sam_hq_vit_tiny``); the HQ decoder's ``vit_dim`` is the
width of ``mask_decoder.compress_vit_feat.0.weight``. Masks come from HQ-SAM's own
``SamAutomaticMaskGenerator``, unchanged, with its defaults (SAM's; ``generate``'s
``multimask_output=True``: its decoder then returns, per point, the best of SAM's three
masks by predicted IoU plus the HQ mask's logits, one mask per point).

Two things the package's own loader gets wrong and samcam does not: it calls
``torch.load`` without ``map_location`` (the published files hold CUDA tensors, so a
CPU-only torch cannot read them; samcam loads to the CPU), and it loads with
``strict=False`` (a plain SAM file would load silently with random HQ layers;
samcam's load is strict and names a plain SAM file as such).
"""
from __future__ import annotations

import os
from typing import Any, Mapping, Optional, Tuple

from .mobilesam_family import import_quietly, tinyvit_kwargs
from .networks import build_sam, infer_sam_config, model_mismatch, strict_load
from .official import AutomaticGenerator
from .registry import models_of
from .settings import SamSettings
from .shapes import decoder_config, infer_tinyvit_config, match_tinyvit_model

__all__ = ["build", "generator"]


def build(state_dict: Mapping[str, Any], path: os.PathLike, model: Optional[str] = None) -> Tuple[Any, str]:
    """HQ-SAM with ``state_dict``'s weights -> ``(segment_anything_hq Sam on CPU in eval mode, name)``."""
    modeling = import_quietly("segment_anything_hq.modeling")
    try:
        vit_dim = int(state_dict["mask_decoder.compress_vit_feat.0.weight"].shape[0])
    except KeyError:
        raise ValueError(f"{path}: not an HQ-SAM checkpoint (no mask_decoder.compress_vit_feat)") from None
    decoder = dict(mask_decoder="MaskDecoderHQ", decoder_kwargs={"vit_dim": vit_dim})
    try:
        if any(key.startswith("image_encoder.layers.") for key in state_dict):  # Light HQ-SAM: TinyViT
            encoder = infer_tinyvit_config(state_dict)
            official = match_tinyvit_model(encoder, "hq")
            found = official.name if official else None
            description = f"a non-standard Light HQ-SAM (TinyViT widths {list(encoder['embed_dims'])})"
            network = build_sam(decoder_config(state_dict), modeling="segment_anything_hq.modeling",
                                image_encoder=modeling.TinyViT(**tinyvit_kwargs(encoder)), **decoder)
        else:
            config = infer_sam_config(state_dict, models=models_of("hq"))
            found = config["model"]
            description = (f"a non-standard HQ-SAM (embed dim {config['embed_dim']}, depth {config['depth']}, "
                           f"input {config['image_size']})")
            network = build_sam(config, modeling="segment_anything_hq.modeling", **decoder)
    except (ValueError, KeyError) as error:
        raise ValueError(f"{path}: not an HQ-SAM checkpoint ({error})") from error
    if model is not None and found != model:
        raise model_mismatch(path, model, found, description)
    strict_load(network, state_dict, path, "HQ-SAM architecture")
    return network.eval(), found or "(custom architecture)"


def generator(network, settings: SamSettings, dtype: str = "float32", description: str = "") -> AutomaticGenerator:
    """HQ-SAM's ``SamAutomaticMaskGenerator(network, **settings)`` behind samcam's interface."""
    package = import_quietly("segment_anything_hq")
    amg = package.SamAutomaticMaskGenerator(network, output_mode="binary_mask", **settings.official_kwargs())
    return AutomaticGenerator(amg, network.device, dtype=dtype, description=description)

"""SAM 2.1 through Meta's ``sam2`` package: the network from its Hydra configs, masks
from its own ``SAM2AutomaticMaskGenerator``, unchanged.

Building: the official checkpoints are told apart by the Hiera trunk's shapes
(:func:`samcam.sam.shapes.match_sam2_model`) and built with ``sam2.build_sam.build_sam2``
and the config sam2 pairs with each file (``sam2/build_sam.py:35-68``), with
``build_sam2``'s defaults (``apply_postprocessing=True``: only changes single-mask
outputs, i.e. ``use_m2m``'s second pass). What the shapes cannot show (attention heads,
window sizes, global-attention blocks) is why any other SAM 2 architecture needs its
config: ``--config`` takes a YAML file holding the full config (as sam2's own configs
and ``OmegaConf.save`` write it) or the name of one shipped in the package, such as
``configs/sam2/sam2_hiera_l.yaml`` for SAM 2.0 weights. The weights are loaded by
samcam (``weights_only=True``, strict), never by ``build_sam2``.

sam2 needs Python >= 3.10 and imports Hydra; ``import sam2`` initialises Hydra's
global config search path unless the host program already did.
"""
from __future__ import annotations

import importlib.util
import logging
import os
from pathlib import Path
from typing import Any, Mapping, Optional, Tuple

from .networks import model_mismatch, strict_load
from .official import AutomaticGenerator
from .registry import MASK_MODELS
from .settings import Sam2Settings
from .shapes import is_sam2_0, match_sam2_model

__all__ = ["build", "build_from_config", "generator", "POSTPROCESSING"]

log = logging.getLogger(__name__)

# What build_sam2(..., apply_postprocessing=True) adds to every config
# (sam2/build_sam.py:81-88): a single-mask output that is not stable falls back to
# the best of the multi-mask outputs.
POSTPROCESSING = {
    "model.sam_mask_decoder_extra_args.dynamic_multimask_via_stability": True,
    "model.sam_mask_decoder_extra_args.dynamic_multimask_stability_delta": 0.05,
    "model.sam_mask_decoder_extra_args.dynamic_multimask_stability_thresh": 0.98,
}


def build_from_config(config: str):
    """An untrained SAM 2 network (CPU, eval) from a config file or a sam2 config name,
    with ``build_sam2``'s post-processing overrides."""
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    path = Path(config).expanduser()
    if path.is_file():
        try:
            cfg = OmegaConf.load(path)
        except Exception as error:  # yaml errors come in several types
            raise ValueError(f"--config {config}: not a readable YAML file ({error})") from error
        if "model" not in cfg or "_target_" not in cfg.model:
            raise ValueError(f"--config {config}: no model._target_ in it; expected a full SAM 2 config "
                             "such as the ones in the sam2 package's configs/ folder")
        for key, value in POSTPROCESSING.items():
            OmegaConf.update(cfg, key, value, force_add=True)
        OmegaConf.resolve(cfg)
        try:
            network = instantiate(cfg.model, _recursive_=True)
        except Exception as error:  # Hydra wraps any constructor error
            raise ValueError(f"--config {config}: cannot build SAM 2 from it ({error})") from error
        return network.eval()
    from hydra.errors import MissingConfigException
    from sam2.build_sam import build_sam2

    try:
        return build_sam2(config, ckpt_path=None, device="cpu")
    except MissingConfigException:
        raise ValueError(f"--config {config}: no such file, and not a config name inside the sam2 package "
                         "(e.g. configs/sam2.1/sam2.1_hiera_l.yaml)") from None


def build(state_dict: Mapping[str, Any], path: os.PathLike, model: Optional[str] = None,
          config: Optional[str] = None) -> Tuple[Any, str]:
    """SAM 2 with ``state_dict``'s weights -> ``(network on CPU in eval mode, name)``."""
    if config is not None:
        network = build_from_config(config)
        name = f"(--config {config})"
        if model is not None and match_sam2_model(state_dict) is not MASK_MODELS[model]:
            raise model_mismatch(path, model, None, "weights of another SAM 2 architecture")
    else:
        official = match_sam2_model(state_dict)
        if model is not None and official is not MASK_MODELS[model]:
            raise model_mismatch(path, model, official.name if official else None,
                                 "SAM 2 weights of another architecture")
        if official is None:
            if is_sam2_0(state_dict):
                raise ValueError(f"{path} holds SAM 2.0 weights (no no_obj_embed_spatial); samcam's models are "
                                 "SAM 2.1: pass --config configs/sam2/sam2_hiera_<t|s|b+|l>.yaml (shipped with "
                                 "sam2) to run them")
            raise ValueError(f"{path} holds SAM 2 weights of none of the official SAM 2.1 sizes; pass the "
                             "config it was trained with as --config FILE.yaml")
        from sam2.build_sam import build_sam2

        network = build_sam2(official.architecture["config"], ckpt_path=None, device="cpu")
        name = official.name
    strict_load(network, state_dict, path, f"SAM 2 architecture {name}")
    return network.eval(), name


def has_cuda_extension() -> bool:
    """Whether sam2's compiled extension (``sam2._C``, hole/sprinkle filling) is installed."""
    try:
        return importlib.util.find_spec("sam2._C") is not None
    except (ImportError, ValueError):
        return False


def generator(network, settings: Sam2Settings, dtype: str = "float32", description: str = "") -> AutomaticGenerator:
    """``SAM2AutomaticMaskGenerator(network, **settings)`` behind samcam's interface."""
    from sam2.automatic_mask_generator import SAM2AutomaticMaskGenerator

    if settings.min_mask_region_area > 0 and not has_cuda_extension():
        # SAM 2 passes it to its predictor's hole/sprinkle filling, which needs _C and
        # otherwise only warns (sam2/utils/misc.py); say so once, up front.
        log.warning("--min-mask-region-area %d has no effect here: SAM 2 fills holes and removes "
                    "sprinkles with its compiled CUDA extension (sam2._C), which is not installed",
                    settings.min_mask_region_area)
    device = next(network.parameters()).device
    amg = SAM2AutomaticMaskGenerator(network, output_mode="binary_mask", **settings.official_kwargs())
    return AutomaticGenerator(amg, device, dtype=dtype, description=description)

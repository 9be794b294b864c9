"""Tiny random-weight models of every mask family, built with each family's own code.

* SAM 2.1: sam2's own ``sam2.1_hiera_t.yaml`` composed by Hydra with overrides that
  shrink every width and depth (input stays 1024 px: SAM 2's image predictor assumes
  it); the composed config is saved next to the checkpoint for ``--config``.
* HQ-SAM: segment_anything_hq's modeling classes, SAM's tiny test sizes (64 px input).
* Light HQ-SAM and MobileSAM: their packages' TinyViT and SAM classes with tiny widths
  (input 1024 px and a 256-channel neck, both fixed by their TinyViT code; the last
  width must be 320, which switches off the last down-sampling in their code).

Random weights give near-zero mask logits and uninformative IoU guesses, so each
family's default thresholds would drop every mask; as in ``tiny_sam.py``, the last
layers of the mask heads and the IoU head are scaled so that some masks pass and
some do not. Checkpoints are saved the way each family publishes them (SAM 2 wraps
its state dict as ``{"model": ...}``).
"""
from __future__ import annotations

import warnings

import torch

TINY_TINYVIT = dict(embed_dims=[8, 16, 16, 320], depths=[1, 1, 1, 1], num_heads=[1, 1, 2, 2],
                    window_sizes=[7, 7, 14, 7], mlp_ratio=1.0, mbconv_expand_ratio=2.0, local_conv_size=3,
                    num_classes=10)
# The SAM decoder sizes these tiny models use (256-d where the encoder fixes it).
TINY_DECODER = dict(decoder_depth=1, decoder_mlp_dim=32, iou_head_depth=3, iou_head_hidden_dim=32,
                    num_multimask_outputs=3, mask_in_chans=4)
TINY_VIT = dict(image_size=64, patch_size=16, embed_dim=32, depth=2, num_heads=2, mlp_ratio=4.0, window_size=2,
                global_attn_indexes=(1,), prompt_embed_dim=32, mask_in_chans=16, decoder_depth=2,
                decoder_mlp_dim=64, iou_head_depth=3, iou_head_hidden_dim=32, num_multimask_outputs=3)

SAM2_OVERRIDES = [
    "++model.image_encoder.trunk.embed_dim=8",
    "++model.image_encoder.trunk.num_heads=1",
    "++model.image_encoder.trunk.stages=[1,1,2,1]",
    "++model.image_encoder.trunk.global_att_blocks=[3]",
    "++model.image_encoder.trunk.window_pos_embed_bkg_spatial_size=[4,4]",
    "++model.image_encoder.neck.d_model=32",
    "++model.image_encoder.neck.backbone_channel_list=[64,32,16,8]",
    "++model.image_encoder.neck.position_encoding.num_pos_feats=32",
    "++model.memory_attention.d_model=32",
    "++model.memory_attention.num_layers=1",
    "++model.memory_attention.layer.d_model=32",
    "++model.memory_attention.layer.dim_feedforward=32",
    "++model.memory_attention.layer.self_attention.embedding_dim=32",
    "++model.memory_attention.layer.cross_attention.embedding_dim=32",
    "++model.memory_attention.layer.cross_attention.kv_in_dim=16",
    "++model.memory_encoder.out_dim=16",
    "++model.memory_encoder.in_dim=32",
    "++model.memory_encoder.position_encoding.num_pos_feats=16",
    "++model.memory_encoder.fuser.layer.dim=32",
    "++model.memory_encoder.mask_downsampler.embed_dim=32",
]


def _quiet_import(module):
    import importlib

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return importlib.import_module(module)


def _scale_heads(decoder, iou_bias: float, mask_scale: float = 3000.0, iou_scale: float = 10.0,
                 extra_mlps=()):
    with torch.no_grad():
        for mlp in list(decoder.output_hypernetworks_mlps) + list(extra_mlps):
            mlp.layers[-1].weight.mul_(mask_scale)
        decoder.iou_prediction_head.layers[-1].weight.mul_(iou_scale)
        decoder.iou_prediction_head.layers[-1].bias.fill_(iou_bias)


def tiny_sam2(seed: int = 0):
    """(tiny SAM 2.1 network, its composed config as YAML text)."""
    _quiet_import("sam2")
    from hydra import compose
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    cfg = compose(config_name="configs/sam2.1/sam2.1_hiera_t.yaml", overrides=SAM2_OVERRIDES)
    OmegaConf.resolve(cfg)
    yaml_text = OmegaConf.to_yaml(cfg)
    from samcam.sam.sam2_family import POSTPROCESSING

    for key, value in POSTPROCESSING.items():  # what build_sam2 adds by default
        OmegaConf.update(cfg, key, value, force_add=True)
    torch.manual_seed(seed)
    network = instantiate(cfg.model, _recursive_=True)
    # SAM 2.1 predicts IoU through a sigmoid: guesses then spread over about 0.77-0.98,
    # many of them between SAM 2's default threshold 0.8 and SAM's 0.88.
    _scale_heads(network.sam_mask_decoder, iou_bias=2.5, iou_scale=10.0)
    return network.eval(), yaml_text


def tiny_hq(seed: int = 0):
    """A tiny HQ-SAM with SAM's ViT encoder (64 px input)."""
    from samcam.sam.generate import build_sam

    _quiet_import("segment_anything_hq")
    torch.manual_seed(seed)
    network = build_sam(TINY_VIT, modeling="segment_anything_hq.modeling", mask_decoder="MaskDecoderHQ",
                        decoder_kwargs={"vit_dim": TINY_VIT["embed_dim"]})
    _scale_heads(network.mask_decoder, iou_bias=0.4, extra_mlps=[network.mask_decoder.hf_mlp])
    return network.eval()


def _tinyvit_sam(package: str, decoder: str, seed: int, decoder_kwargs=None):
    from samcam.sam.generate import build_sam

    modeling = _quiet_import(f"{package}.modeling")
    torch.manual_seed(seed)
    encoder = modeling.TinyViT(img_size=1024, in_chans=3, drop_rate=0.0, drop_path_rate=0.0, use_checkpoint=False,
                               layer_lr_decay=0.8, **TINY_TINYVIT)
    return build_sam(dict(TINY_DECODER, prompt_embed_dim=256), modeling=f"{package}.modeling", image_encoder=encoder,
                     mask_decoder=decoder, decoder_kwargs=decoder_kwargs)


def tiny_mobile_sam(seed: int = 0):
    """A tiny MobileSAM (TinyViT encoder, SAM's decoder)."""
    network = _tinyvit_sam("mobile_sam", "MaskDecoder", seed)
    _scale_heads(network.mask_decoder, iou_bias=1.2)
    return network.eval()


def tiny_light_hq(seed: int = 0):
    """A tiny Light HQ-SAM (TinyViT encoder, HQ decoder on the third layer's features)."""
    network = _tinyvit_sam("segment_anything_hq", "MaskDecoderHQ", seed,
                           {"vit_dim": TINY_TINYVIT["embed_dims"][2]})
    _scale_heads(network.mask_decoder, iou_bias=0.35, extra_mlps=[network.mask_decoder.hf_mlp])
    return network.eval()


def save(network, path, wrap: bool = False):
    """Write the network's state dict where a checkpoint would be; returns the path."""
    state = network.state_dict()
    torch.save({"model": state} if wrap else state, path)
    return path

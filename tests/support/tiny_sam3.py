"""A tiny random-weight SAM 3 in the Hugging Face folder layout, built offline.

Every sub-config of transformers' ``Sam3Config`` is shrunk (a 2-layer 32-wide ViT on
224-pixel inputs, one-layer DETR encoder and decoder with 8 queries, a one-layer CLIP
text encoder); the tokenizer is a CLIP BPE tokenizer whose vocabulary is the 256
byte-level characters (each alone and as a word end) with no merges, so every
character is one token. Random weights give every query nearly the same score
(about sigmoid(0) x sigmoid(0) = 0.25, under SAM 3's 0.3 threshold): the presence
head's bias and the query projection are scaled so the scores spread over (0, 1) and
SAM 3's default thresholds keep some masks and drop others.

:func:`save_tiny_sam3_video` writes the layout of the official ``facebook/sam3`` folder
(``model_type`` ``sam3_video``: the detector, the tracker and the tracker's neck in one
file, under the module names ``detector_model.``, ``tracker_model.`` and ``tracker_neck.``),
which both ``Sam3Model`` and ``Sam3TrackerModel`` load from.
"""
from __future__ import annotations

from pathlib import Path

SIZE = 224  # 16 x 16 patches of 14 pixels
QUERIES = 8


def _tiny_vision(scale_factors):
    from transformers.models.sam3.configuration_sam3 import Sam3VisionConfig, Sam3ViTConfig

    backbone = Sam3ViTConfig(hidden_size=32, num_hidden_layers=2, image_size=SIZE, patch_size=14, window_size=8,
                             global_attn_indexes=[1], pretrain_image_size=SIZE, num_attention_heads=4,
                             intermediate_size=64)
    # the tracker reads three levels of SIZE / 14 = 16 patches, up-sampled 4x and 2x
    sizes = [[64, 64], [32, 32], [16, 16]]
    return Sam3VisionConfig(backbone_config=backbone, fpn_hidden_size=32, scale_factors=scale_factors,
                            backbone_feature_sizes=sizes)


def tiny_config(scale_factors=(2.0, 1.0)):
    from transformers.models.sam3.configuration_sam3 import (
        Sam3Config,
        Sam3DETRDecoderConfig,
        Sam3DETREncoderConfig,
        Sam3GeometryEncoderConfig,
        Sam3MaskDecoderConfig,
    )

    small = dict(num_attention_heads=4, intermediate_size=64)
    vision = _tiny_vision(list(scale_factors))
    text = dict(vocab_size=600, hidden_size=32, intermediate_size=64, projection_dim=32, num_hidden_layers=1,
                num_attention_heads=4, max_position_embeddings=32, hidden_act="gelu",
                bos_token_id=0, eos_token_id=1, pad_token_id=1)
    return Sam3Config(
        vision_config=vision, text_config=text,
        geometry_encoder_config=Sam3GeometryEncoderConfig(hidden_size=32, num_layers=1, **small),
        detr_encoder_config=Sam3DETREncoderConfig(hidden_size=32, num_layers=1, **small),
        detr_decoder_config=Sam3DETRDecoderConfig(hidden_size=32, num_layers=1, num_queries=QUERIES, **small),
        mask_decoder_config=Sam3MaskDecoderConfig(hidden_size=32, num_upsampling_stages=2, num_attention_heads=4),
    )


def tiny_model(seed: int = 0):
    """A random-weight ``Sam3Model`` (CPU, eval) whose scores spread over (0, 1)."""
    import torch
    from transformers import Sam3Model

    torch.manual_seed(seed)
    return _spread_scores(Sam3Model(tiny_config()).eval())


def _spread_scores(detector):
    import torch

    with torch.no_grad():
        detector.detr_decoder.presence_head.layer3.bias.fill_(3.0)  # presence about 0.95
        detector.dot_product_scoring.query_proj.weight.mul_(150.0)  # query logits of a few units
    return detector


def tiny_video_config():
    """A ``Sam3VideoConfig`` (the official folder's ``sam3_video`` type): the tiny detector and
    a tiny tracker on the same backbone (four neck levels, as the official config has)."""
    from transformers import Sam3TrackerVideoConfig, Sam3VideoConfig

    tracker = Sam3TrackerVideoConfig(
        vision_config=_tiny_vision([4.0, 2.0, 1.0, 0.5]), image_size=SIZE,
        prompt_encoder_config=dict(hidden_size=32, image_size=SIZE, patch_size=14),
        mask_decoder_config=dict(hidden_size=32, num_attention_heads=4),
        memory_attention_hidden_size=32, memory_encoder_hidden_size=32, memory_encoder_output_channels=16,
        mem_dim=16)
    return Sam3VideoConfig(detector_config=tiny_config((4.0, 2.0, 1.0, 0.5)), tracker_config=tracker)


def tiny_processor():
    """``Sam3Processor`` with a byte-level CLIP tokenizer (no merges) and 224-pixel inputs."""
    from transformers import CLIPTokenizer, Sam3ImageProcessor, Sam3Processor
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    characters = [bytes_to_unicode()[byte] for byte in range(256)]
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for token in characters + [c + "</w>" for c in characters]:
        vocab.setdefault(token, len(vocab))
    tokenizer = CLIPTokenizer(vocab=vocab, merges=[])
    return Sam3Processor(image_processor=Sam3ImageProcessor(size={"height": SIZE, "width": SIZE}),
                         tokenizer=tokenizer)


def save_tiny_sam3(folder: Path, seed: int = 0) -> Path:
    """Write a tiny SAM 3 folder (config.json, model.safetensors, processor and tokenizer files)."""
    folder = Path(folder)
    tiny_model(seed).save_pretrained(folder)
    tiny_processor().save_pretrained(folder)
    return folder


def save_tiny_sam3_video(folder: Path, seed: int = 0) -> Path:
    """Write a tiny SAM 3 folder in the official ``facebook/sam3`` layout: config.json of type
    ``sam3_video`` and one model.safetensors whose tensors are named as the module's
    (``detector_model.…``, ``tracker_model.…``, ``tracker_neck.…``), with the processor files.

    The weights are written with safetensors directly: ``Sam3VideoModel.save_pretrained``
    renames the tracker's tensors on the way out (transformers' reverse weight mapping), which
    is not the layout of the published folder.
    """
    import torch
    from safetensors.torch import save_file
    from transformers import Sam3VideoModel

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    config = tiny_video_config()
    model = Sam3VideoModel(config).eval()
    _spread_scores(model.detector_model)
    config.save_pretrained(folder)
    save_file({key: value.contiguous() for key, value in model.state_dict().items()},
              str(folder / "model.safetensors"), metadata={"format": "pt"})
    tiny_processor().save_pretrained(folder)
    return folder

"""A tiny random-weight SAM 3 in the Hugging Face folder layout, built offline.

Every sub-config of transformers' ``Sam3Config`` is shrunk (a 2-layer 32-wide ViT on
224-pixel inputs, one-layer DETR encoder and decoder with 8 queries, a one-layer CLIP
text encoder); the tokenizer is a CLIP BPE tokenizer whose vocabulary is the 256
byte-level characters (each alone and as a word end) with no merges, so every
character is one token. Random weights give every query nearly the same score
(about sigmoid(0) x sigmoid(0) = 0.25, under SAM 3's 0.3 threshold): the presence
head's bias and the query projection are scaled so the scores spread over (0, 1) and
SAM 3's default thresholds keep some masks and drop others.
"""
from __future__ import annotations

from pathlib import Path

SIZE = 224  # 16 x 16 patches of 14 pixels
QUERIES = 8


def tiny_config():
    from transformers.models.sam3.configuration_sam3 import (
        Sam3Config,
        Sam3DETRDecoderConfig,
        Sam3DETREncoderConfig,
        Sam3GeometryEncoderConfig,
        Sam3MaskDecoderConfig,
        Sam3VisionConfig,
        Sam3ViTConfig,
    )

    small = dict(num_attention_heads=4, intermediate_size=64)
    backbone = Sam3ViTConfig(hidden_size=32, num_hidden_layers=2, image_size=SIZE, patch_size=14, window_size=8,
                             global_attn_indexes=[1], pretrain_image_size=SIZE, **small)
    vision = Sam3VisionConfig(backbone_config=backbone, fpn_hidden_size=32, scale_factors=[2.0, 1.0])
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
    model = Sam3Model(tiny_config()).eval()
    with torch.no_grad():
        model.detr_decoder.presence_head.layer3.bias.fill_(3.0)  # presence about 0.95
        model.dot_product_scoring.query_proj.weight.mul_(150.0)  # query logits of a few units
    return model


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

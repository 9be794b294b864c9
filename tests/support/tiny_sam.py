"""A SAM small enough for CPU tests (random weights), shared by the SAM and README tests."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from samcam.sam.generate import build_sam

# 64 px input, 2 encoder blocks (one windowed, one global), 32-d prompt/decoder width.
TINY = dict(image_size=64, patch_size=16, embed_dim=32, depth=2, num_heads=2, mlp_ratio=4.0, window_size=2,
            global_attn_indexes=(1,), prompt_embed_dim=32, mask_in_chans=16, decoder_depth=2,
            decoder_mlp_dim=64, iou_head_depth=3, iou_head_hidden_dim=32, num_multimask_outputs=3)


def tiny_sam(seed: int = 0):
    """A random-weight tiny SAM whose masks pass SAM's default thresholds often enough."""
    torch.manual_seed(seed)
    sam = build_sam(TINY)
    with torch.no_grad():
        # Random weights give near-zero mask logits (stability 0) and IoU guesses around
        # 0; scale them so SAM's default thresholds keep some masks and drop others.
        for mlp in sam.mask_decoder.output_hypernetworks_mlps:
            mlp.layers[-1].weight.mul_(3000)
        sam.mask_decoder.iou_prediction_head.layers[-1].weight.mul_(10)
        sam.mask_decoder.iou_prediction_head.layers[-1].bias.fill_(0.5)
    return sam.eval()


def random_rel_pos(sam, seed: int = 1):
    """SAM initialises its relative position tables to zero: make them count (in place; returns ``sam``)."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for block in sam.image_encoder.blocks:
            for table in (block.attn.rel_pos_h, block.attn.rel_pos_w):
                table.copy_(torch.randn(table.shape, generator=generator) * 0.5)
    return sam


def save_tiny_checkpoint(path, seed: int = 0):
    """Write the tiny SAM's state dict where a real checkpoint would be; returns the path."""
    torch.save(tiny_sam(seed).state_dict(), path)
    return path


def noise_image(shape, seed):
    """An (H, W, 3) uint8 noise image with one flat red block (something for SAM to segment)."""
    rng = np.random.default_rng(seed)
    height, width = shape
    image = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    image[height // 4: height // 2, width // 3: width // 2] = (200, 30, 30)  # a flat block
    return image


def write_test_images(folder: Path, shapes) -> Path:
    """``{folder}/{name}.png`` for every ``name: (H, W)`` of ``shapes`` (seeds in order)."""
    folder.mkdir(parents=True)
    for seed, (name, shape) in enumerate(shapes.items()):
        Image.fromarray(noise_image(shape, seed)).save(folder / f"{name}.png")
    return folder

"""The fused-attention encoder of fast mode (samcam.sam.fast_encoder) equals SAM's."""
from __future__ import annotations

import pytest

torch = pytest.importorskip("torch", reason="fast mode needs torch ([sam] extra)")
pytest.importorskip("segment_anything", reason="fast mode needs segment-anything ([sam] extra)")

from sam_checks import SETTINGS, SHAPES  # noqa: E402
from tiny_sam import noise_image  # noqa: E402
from tiny_sam import random_rel_pos as _random_rel_pos  # noqa: E402

from samcam.sam.fast import FastMaskGenerator  # noqa: E402
from samcam.sam.fast_encoder import SdpaEncoder, sdpa_attention  # noqa: E402
from samcam.sam.generate import build_sam  # noqa: E402


@pytest.mark.parametrize("grid,window", [(4, 0), (6, 4), (5, 2)])  # global, windowed with padding
def test_sdpa_attention_equals_sams_attention(grid, window):
    from segment_anything.modeling.image_encoder import Block

    torch.manual_seed(grid)
    block = Block(dim=32, num_heads=4, use_rel_pos=True, window_size=window, input_size=(grid, grid)).eval()
    with torch.no_grad():
        block.attn.rel_pos_h.normal_()
        block.attn.rel_pos_w.normal_()
    size = window or grid
    tokens = torch.randn(3, size, size, 32)
    from samcam.sam.fast_encoder import rel_pos_tables

    with torch.inference_mode():
        expected = block.attn(tokens)
        actual = sdpa_attention(block.attn, tokens, rel_pos_tables(block.attn, (size, size)))
    torch.testing.assert_close(actual, expected, rtol=1e-5, atol=1e-5)


def test_sdpa_encoder_equals_sams_encoder(rel_pos_sam):
    config = dict(image_size=128, patch_size=16, embed_dim=48, depth=3, num_heads=3, window_size=3,
                  global_attn_indexes=(1,))  # 8×8 tokens in 3×3 windows: padded windows too
    torch.manual_seed(0)
    network = _random_rel_pos(build_sam(config))
    pixels = torch.randn(2, 3, 128, 128)
    with torch.inference_mode():
        expected = network.image_encoder(pixels)
        actual = SdpaEncoder(network.image_encoder)(pixels)
        tiny_expected = rel_pos_sam.image_encoder(pixels[:, :, :64, :64])
        tiny_actual = SdpaEncoder(rel_pos_sam.image_encoder)(pixels[:, :, :64, :64])
    torch.testing.assert_close(actual, expected, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(tiny_actual, tiny_expected, rtol=1e-5, atol=1e-5)
    assert (expected - network.image_encoder(pixels)).abs().max() == 0  # the encoder itself is untouched


def test_batched_encoder_equals_per_image_encoder(rel_pos_sam):
    generator = FastMaskGenerator(rel_pos_sam, SETTINGS, dtype="float32", images_per_batch=2)
    crops = [generator.prepare(noise_image(shape, seed)).crops[0][2] for seed, shape in enumerate(SHAPES.values())]
    with torch.inference_mode():
        batched = generator.encode(crops)  # batches of 2 and 2
        single = torch.cat([rel_pos_sam.image_encoder(rel_pos_sam.preprocess(torch.as_tensor(crop).permute(2, 0, 1)[None]))
                            for crop in crops])
    assert batched.shape == single.shape == (4, 32, 4, 4)
    torch.testing.assert_close(batched, single, rtol=1e-5, atol=1e-5)

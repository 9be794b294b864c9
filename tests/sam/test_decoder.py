"""The shared-image decoder (samcam.sam.decoder) equals SAM's MaskDecoder."""
from __future__ import annotations

import pytest

torch = pytest.importorskip("torch", reason="samcam masks needs torch ([sam] extra)")
pytest.importorskip("segment_anything", reason="samcam masks needs segment-anything ([sam] extra)")


@pytest.mark.slow
def test_shared_image_decoder_matches_sams_decoder():
    """decode_shared_image == MaskDecoder.forward for SAM's real decoder size (256-d, 8 heads)."""
    import torch
    from segment_anything.modeling import MaskDecoder, PromptEncoder, TwoWayTransformer

    from samcam.sam.generate import decode_shared_image

    torch.manual_seed(0)
    decoder = MaskDecoder(
        transformer_dim=256, transformer=TwoWayTransformer(depth=2, embedding_dim=256, mlp_dim=2048, num_heads=8),
        num_multimask_outputs=3, iou_head_depth=3, iou_head_hidden_dim=256,
    ).eval()
    prompts = PromptEncoder(embed_dim=256, image_embedding_size=(64, 64), input_image_size=(1024, 1024),
                            mask_in_chans=16).eval()
    features = torch.randn(1, 256, 64, 64)
    coords = torch.rand(6, 1, 2) * 1024
    with torch.inference_mode():
        sparse, dense = prompts(points=(coords, torch.ones(6, 1, dtype=torch.int)), boxes=None, masks=None)
        for multimask in (True, False):
            expected = decoder(image_embeddings=features, image_pe=prompts.get_dense_pe(),
                               sparse_prompt_embeddings=sparse, dense_prompt_embeddings=dense,
                               multimask_output=multimask)
            actual = decode_shared_image(decoder, features, prompts.get_dense_pe(), sparse, dense, multimask)
            for got, want in zip(actual, expected):
                assert got.shape == want.shape
                torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
            assert torch.equal(actual[0] > 0, expected[0] > 0)


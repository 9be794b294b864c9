"""MobileSAM (samcam.sam.mobilesam_family): the TinyViT encoder rebuilt from a checkpoint's
shapes as MobileSAM's own build_sam builds it, every weight loaded strictly, and the model
name checked against the file."""
from __future__ import annotations

import pytest

from samcam.sam.mobilesam_family import tinyvit_kwargs

# mobile_sam/build_sam.py:49-64 (build_sam_vit_t): TinyViT(img_size=1024, in_chans=3, num_classes=1000,
# embed_dims=[64, 128, 160, 320], depths=[2, 2, 6, 2], num_heads=[2, 4, 5, 10], window_sizes=[7, 7, 14, 7],
# mlp_ratio=4., drop_rate=0., drop_path_rate=0.0, use_checkpoint=False, mbconv_expand_ratio=4.0,
# local_conv_size=3, layer_lr_decay=0.8)
VIT_T = dict(img_size=1024, in_chans=3, num_classes=1000, embed_dims=[64, 128, 160, 320], depths=[2, 2, 6, 2],
             num_heads=[2, 4, 5, 10], window_sizes=[7, 7, 14, 7], mlp_ratio=4.0, drop_rate=0.0, drop_path_rate=0.0,
             use_checkpoint=False, mbconv_expand_ratio=4.0, local_conv_size=3, layer_lr_decay=0.8)


def test_the_tinyvit_arguments_are_build_sams():
    """What infer_tinyvit_config reads from vit_t's shapes (the first layer is convolutional:
    no heads, no window) gives build_sam_vit_t's arguments, MobileSAM's values in those slots."""
    config = dict(embed_dims=(64, 128, 160, 320), depths=(2, 2, 6, 2), num_heads=(None, 4, 5, 10),
                  window_sizes=(None, 7, 14, 7), mlp_ratio=4.0, mbconv_expand_ratio=4.0, local_conv_size=3,
                  num_classes=1000)
    assert tinyvit_kwargs(config) == VIT_T


def test_a_checkpoint_rebuilds_strictly_and_its_model_name_is_checked(tmp_path):
    torch = pytest.importorskip("torch", reason="MobileSAM needs torch ([sam] extra)")
    pytest.importorskip("mobile_sam", reason="MobileSAM needs the [mobilesam] extra")
    import tiny_models
    from tiny_sam import tiny_sam

    from samcam.sam.mobilesam_family import build

    state = tiny_models.tiny_mobile_sam().state_dict()
    network, name = build(state, tmp_path / "tiny.pt")
    assert name == "(custom TinyViT)" and not network.training
    rebuilt = network.state_dict()
    assert rebuilt.keys() == state.keys() and all(torch.equal(rebuilt[k], v) for k, v in state.items())
    with pytest.raises(ValueError, match="tiny.pt"):
        build(state, tmp_path / "tiny.pt", model="mobile_sam")  # not the official vit_t
    with pytest.raises(ValueError, match=r"sam\.pth: not a MobileSAM checkpoint"):
        build(tiny_sam().state_dict(), tmp_path / "sam.pth")  # a ViT SAM

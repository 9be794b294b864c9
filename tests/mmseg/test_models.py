"""DeepLab v2's head (samcam.mmseg.models.DeepLabV2Head): it sums the dilated branches."""
from __future__ import annotations

from mmseg_runs import needs_mmseg_models


@needs_mmseg_models
def test_deeplabv2_head_sums_dilated_branches():
    import torch

    from samcam.mmseg.models import DeepLabV2Head

    head = DeepLabV2Head(in_channels=8, channels=8, num_classes=21, dilations=(6, 12, 18, 24))
    head.init_weights()
    assert not hasattr(head, "conv_seg")  # no unused parameters under DistributedDataParallel
    assert [branch.dilation for branch in head.aspp] == [(6, 6), (12, 12), (18, 18), (24, 24)]
    for branch in head.aspp:
        assert abs(float(branch.weight.detach().std()) - 0.01) < 0.003 and float(branch.bias.detach().abs().max()) == 0.0
    features = torch.randn(2, 8, 9, 11)
    logits = head([features])
    assert logits.shape == (2, 21, 9, 11)
    expected = sum(branch(features) for branch in head.aspp)
    assert torch.allclose(logits, expected)


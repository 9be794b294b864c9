"""A DeepLabV2 decode head for mmsegmentation 1.x (imported by configs, not by samcam).

Most WSSS papers train their final network with DeepLabV2 ResNet-101: a dilated
ResNet (output stride 8) followed by ASPP v2, four parallel 3x3 convolutions with
dilations 6, 12, 18 and 24 that each predict class logits, summed. mmsegmentation
ships DeepLabV3/V3+ heads (ASPP with BN, image pooling and a fusion conv) but no V2
head. The configs written by ``samcam mmseg-config --base deeplabv2_r101`` load this
module through ``custom_imports = dict(imports=['samcam.mmseg.models'])``.

Importing this module needs mmsegmentation (and therefore compiled ``mmcv.ops``).
"""
from __future__ import annotations

from typing import Sequence

import torch
from mmseg.models.decode_heads.decode_head import BaseDecodeHead
from mmseg.registry import MODELS
from torch import nn


@MODELS.register_module()
class DeepLabV2Head(BaseDecodeHead):
    """ASPP v2: the sum of dilated 3x3 convolutions, each mapping features to logits.

    Args:
        dilations: dilation (and padding) of each branch; (6, 12, 18, 24) is
            DeepLabV2's ASPP-L used by the WSSS literature.
        in_channels: channels of the selected backbone stage (2048 for ResNet-101).
        channels: required by ``BaseDecodeHead``; unused, because each branch maps
            straight to ``num_classes`` logits (there is no intermediate feature).
        Other arguments are those of mmseg's ``BaseDecodeHead``.

    ``forward(inputs)`` takes the backbone's list of feature maps and returns
    float logits of shape (N, num_classes, H/8, W/8) for a d8 backbone.
    """

    def __init__(self, dilations: Sequence[int] = (6, 12, 18, 24), **kwargs):
        # DeepLabV2 has no dropout before its classifiers and initialises them
        # with N(0, 0.01), as the original Caffe model does.
        kwargs.setdefault("dropout_ratio", 0.0)
        kwargs.setdefault("init_cfg", dict(type="Normal", std=0.01, bias=0, override=dict(name="aspp")))
        super().__init__(**kwargs)
        if not dilations:
            raise ValueError("DeepLabV2Head needs at least one dilation")
        self.dilations = tuple(int(d) for d in dilations)
        # BaseDecodeHead always builds a 1x1 classifier; V2 has none, and an
        # unused parameter would make DistributedDataParallel fail on several GPUs.
        del self.conv_seg
        self.aspp = nn.ModuleList(
            nn.Conv2d(self.in_channels, self.out_channels, kernel_size=3, padding=d, dilation=d, bias=True)
            for d in self.dilations
        )

    def forward(self, inputs) -> torch.Tensor:
        features = self._transform_inputs(inputs)
        logits = self.aspp[0](features)
        for branch in self.aspp[1:]:
            logits = logits + branch(features)
        return logits

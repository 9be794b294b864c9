"""Masks packed on the device (samcam.sam.device_masks) as numpy packs them."""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="fast mode needs torch ([sam] extra)")
pytest.importorskip("segment_anything", reason="fast mode needs segment-anything ([sam] extra)")


from samcam.sam.device_masks import MASK_FIELDS, pack_bits, to_host  # noqa: E402


def test_bits_are_packed_on_the_device_as_numpy_packs_them():
    rng = np.random.default_rng(0)
    for shape in [(5, 7, 9), (3, 8, 8), (0, 4, 5), (2, 1, 1)]:
        masks = rng.random(shape) > 0.5
        expected = np.packbits(masks.reshape(shape[0], shape[1] * shape[2]), axis=1)
        assert np.array_equal(pack_bits(torch.as_tensor(masks)).numpy(), expected), shape
    masks = torch.as_tensor(rng.random((4, 6, 7)) > 0.3)
    fields = {name: torch.arange(4) * (i + 1) for i, name in enumerate(MASK_FIELDS)}
    fields["predicted_iou"] = torch.tensor([0.9, 0.95, 0.123456789, 1.0], dtype=torch.float32)
    packed, values = to_host(masks, fields)
    assert np.array_equal(packed, np.packbits(masks.numpy().reshape(4, -1), axis=1))
    assert np.array_equal(values["predicted_iou"].astype(np.float32), fields["predicted_iou"].numpy())
    assert values["crop_index"].tolist() == [0, 9, 18, 27]

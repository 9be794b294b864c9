"""HQ-SAM (samcam.sam.hq_family): bfloat16 is refused."""
from __future__ import annotations

import pytest

torch = pytest.importorskip("torch", reason="mask models need torch ([sam] extra)")


from samcam.sam import families  # noqa: E402


def test_hq_refuses_bfloat16(tiny):
    with pytest.raises(ValueError, match="bfloat16 is not available for HQ-SAM"):
        families.load_generator(checkpoint=tiny("hq").checkpoint, device="cpu", dtype="bfloat16")


"""The registry of mask model families and sizes (samcam.sam.registry)."""
from __future__ import annotations

import pytest

torch = pytest.importorskip("torch", reason="mask models need torch ([sam] extra)")


from samcam.sam import registry  # noqa: E402


def test_registry_holds_every_family_and_size():
    sizes = {family: sorted(m.size for m in registry.models_of(family).values()) for family in registry.FAMILIES}
    assert sizes == {
        "sam": ["vit_b", "vit_h", "vit_l"],
        "sam2.1": ["base_plus", "large", "small", "tiny"],
        "hq": ["vit_b", "vit_h", "vit_l", "vit_tiny"],
        "mobilesam": ["vit_t"],
        "sam3": [],  # a Hugging Face folder, not an official file (samcam.sam.sam3_family)
    }
    assert registry.DEFAULT_MODEL == "vit_h" and registry.MODEL_NAMES[:3] == ("vit_h", "vit_l", "vit_b")
    for model in registry.MASK_MODELS.values():
        assert model.sha256 and len(model.sha256) == 64, model.name  # every file has a public record today
        assert model.url.endswith("/" + model.filename)


"""Recognising a checkpoint's family and size from its shapes (samcam.sam.shapes)."""
from __future__ import annotations

import pytest

torch = pytest.importorskip("torch", reason="mask models need torch ([sam] extra)")

from family_models import need  # noqa: E402

from samcam.sam import registry, shapes  # noqa: E402


def test_family_detection_reads_keys(tiny):
    import tiny_sam

    assert shapes.detect_family(tiny_sam.tiny_sam().state_dict()) == "sam"
    for kind, family in (("sam2.1", "sam2.1"), ("hq", "hq"), ("light_hq", "hq"), ("mobilesam", "mobilesam")):
        assert shapes.detect_family(tiny(kind).network.state_dict()) == family, kind
    with pytest.raises(ValueError, match="not a SAM-family checkpoint"):
        shapes.detect_family({"image_encoder.x": torch.zeros(1)})


@pytest.mark.slow
def test_official_architectures_are_recognised():
    """Each official model's state dict (random weights; SAM's ViTs on the meta device)
    is recognised as that model from its shapes alone."""
    need("hq")
    need("mobilesam")
    need("sam2.1")
    from mobile_sam import sam_model_registry as mobile_registry
    from sam2.build_sam import build_sam2
    from segment_anything_hq import sam_model_registry as hq_registry

    from samcam.sam.generate import infer_sam_config

    found = {}
    for name, model in registry.models_of("hq").items():
        if model.size == "vit_tiny":
            state = hq_registry["vit_tiny"]().state_dict()  # TinyViT cannot be built on meta
            found[name] = shapes.match_tinyvit_model(shapes.infer_tinyvit_config(state), "hq").name
        else:
            with torch.device("meta"):
                state = hq_registry[model.size]().state_dict()
            found[name] = infer_sam_config(state, models=registry.models_of("hq"))["model"]
        assert shapes.detect_family(state) == "hq"
    state = mobile_registry["vit_t"]().state_dict()
    assert shapes.detect_family(state) == "mobilesam"
    found["mobile_sam"] = shapes.match_tinyvit_model(shapes.infer_tinyvit_config(state), "mobilesam").name
    for name, model in registry.models_of("sam2.1").items():
        state = build_sam2(model.architecture["config"], None, device="cpu").state_dict()
        assert shapes.detect_family(state) == "sam2.1" and not shapes.is_sam2_0(state)
        found[name] = shapes.match_sam2_model(state).name
    assert found == {name: name for name in found}
    assert len(found) == 9


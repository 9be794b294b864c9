"""Building and loading SAM networks (samcam.sam.networks): the config read back from a
checkpoint's shapes, weights-only loading, mismatches, wrapped state dicts, the device."""
from __future__ import annotations

import pytest

torch = pytest.importorskip("torch", reason="samcam masks needs torch ([sam] extra)")
pytest.importorskip("segment_anything", reason="samcam masks needs segment-anything ([sam] extra)")

from tiny_sam import TINY  # noqa: E402
from tiny_sam import tiny_sam as _tiny_sam  # noqa: E402

from samcam.cli import main  # noqa: E402
from samcam.sam.generate import (  # noqa: E402
    infer_sam_config,
    load_sam,
    load_state_dict,
)


def test_load_sam_reads_the_architecture_from_the_checkpoint(tmp_path):
    """load_sam(checkpoint=...) without a model name accepts any SAM architecture the file holds."""
    pytest.importorskip("segment_anything", reason="load_sam needs the [sam] extra (segment-anything, torch)")
    from tiny_sam import TINY, save_tiny_checkpoint

    from samcam.sam.generate import load_sam

    path = save_tiny_checkpoint(tmp_path / "my_sam.pth")
    sam = load_sam(checkpoint=path)  # neither vit_h, vit_l nor vit_b
    assert sam.image_encoder.img_size == TINY["image_size"]
    assert sam.image_encoder.patch_embed.proj.out_channels == TINY["embed_dim"]
    with pytest.raises(ValueError, match="not vit_h"):
        load_sam("vit_h", checkpoint=path)


def test_config_is_read_back_from_shapes():
    config = infer_sam_config(_tiny_sam().state_dict())
    for key, value in TINY.items():
        assert config[key] == value, key
    assert config["model"] is None


@pytest.mark.parametrize("model", ["vit_b", "vit_l", "vit_h"])
def test_official_architectures_are_recognised(model):
    from segment_anything import sam_model_registry

    with torch.device("meta"):  # shapes only: no memory, no time
        state_dict = sam_model_registry[model]().state_dict()
    assert infer_sam_config(state_dict)["model"] == model


def test_weights_only_loading_refuses_pickled_objects(tmp_path):
    evil = tmp_path / "evil.pth"
    torch.save({"image_encoder.x": _Opaque()}, evil)
    with pytest.raises(ValueError, match="evil.pth.*weights_only"):
        load_state_dict(evil)
    not_sam = tmp_path / "other.pth"
    torch.save({"conv.weight": torch.zeros(2)}, not_sam)
    with pytest.raises(ValueError, match="not a SAM checkpoint"):
        load_state_dict(not_sam)
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"not a checkpoint at all")
    with pytest.raises(ValueError, match="garbage.pth"):
        load_state_dict(garbage)


class _Opaque:
    pass


def test_model_mismatch_is_reported(checkpoint):
    with pytest.raises(ValueError, match="not vit_b"):
        load_sam("vit_b", checkpoint, "cpu")


def test_wrapped_state_dict_is_unwrapped(tmp_path, sam):
    wrapped = tmp_path / "wrapped.pth"
    torch.save({"model": sam.state_dict()}, wrapped)
    reloaded = load_sam(None, wrapped, "cpu")
    for key, value in sam.state_dict().items():
        assert torch.equal(reloaded.state_dict()[key], value), key


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU error; this machine has a GPU")
def test_cuda_requested_without_gpu(images, tmp_path, checkpoint, capsys):
    code = main(["masks", "--images", str(images), "--out", str(tmp_path / "m"), "--checkpoint", str(checkpoint),
                 "--points-per-side", "8", "--device", "cuda", "--no-progress"])
    assert code == 2 and "CUDA is not available" in capsys.readouterr().err


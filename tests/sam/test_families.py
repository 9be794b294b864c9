"""Mask model families (samcam.sam.families): each family's tiny model writes its own
generator's masks, with its defaults, dtypes and refusals."""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="mask models need torch ([sam] extra)")

from family_models import CLI, KINDS, need  # noqa: E402
from family_models import FAMILY_SHAPES as SHAPES  # noqa: E402
from family_models import family_image as _image  # noqa: E402
from sam_checks import assert_same_family  # noqa: E402

from samcam import masks as mask_store  # noqa: E402
from samcam.cli import main  # noqa: E402
from samcam.sam import families, registry, shapes  # noqa: E402


@pytest.mark.slow
def test_official_sizes_build_from_their_weights():
    """The light official models (random weights, real sizes) rebuild from their state
    dicts as themselves, every tensor loaded (strictly) into the right place."""
    need("sam2.1")
    need("hq")
    need("mobilesam")
    from mobile_sam import sam_model_registry as mobile_registry
    from sam2.build_sam import build_sam2
    from segment_anything_hq import sam_model_registry as hq_registry

    torch.manual_seed(0)
    originals = {
        "sam2.1_hiera_tiny": build_sam2("configs/sam2.1/sam2.1_hiera_t.yaml", None, device="cpu"),
        "mobile_sam": mobile_registry["vit_t"](),
        "sam_hq_vit_tiny": hq_registry["vit_tiny"](),
    }
    for name, original in originals.items():
        state = original.state_dict()
        family = shapes.detect_family(state)
        network, found = families.build_network(family, state, f"{name}.pt", model=name)
        assert found == name and family == registry.MASK_MODELS[name].family
        rebuilt = network.state_dict()
        assert rebuilt.keys() == state.keys()
        assert all(torch.equal(rebuilt[key], value) for key, value in state.items()), name


@pytest.mark.slow
@pytest.mark.parametrize("kind", KINDS)
def test_command_writes_the_familys_own_masks(kind, tiny, family_images, tmp_path, capsys):
    model = tiny(kind)
    out = tmp_path / "masks"
    code = main(["masks", "--images", str(family_images), "--out", str(out), "--checkpoint", str(model.checkpoint)]
                + model.flags + model.cli)
    err = capsys.readouterr().err
    assert code == 0, err
    assert "2 written" in err and registry.FAMILIES[model.family].title in err
    total = 0
    for seed, (name, shape) in enumerate(SHAPES.items()):
        stored = mask_store.load(out / f"{name}.masks.npz")
        expected = model.official(_image(shape, seed), **model.kwargs)
        assert_same_family(stored, expected, exact=model.family != "mobilesam", where=f"{kind} {name}")
        total += len(expected)
    assert total > 0, "the tiny model should keep some masks"
    # Resumable like every family: a rerun writes nothing.
    assert main(["masks", "--images", str(family_images), "--out", str(out), "--checkpoint", str(model.checkpoint)]
                + model.flags + model.cli) == 0
    assert "0 written, 2 already done" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.parametrize("kind", KINDS)
def test_defaults_are_the_familys_and_thresholds_filter(kind, tiny):
    """Without settings, the family's own defaults (SAM 2.1: pred_iou_thresh 0.8)."""
    model = tiny(kind)
    generator = families.load_generator(checkpoint=model.checkpoint, config=model.flags[1] if model.flags else None,
                                        device="cpu", settings=model.kwargs)
    image = _image((48, 60), 0)
    ours = generator.generate(generator.prepare(image))
    expected = model.official(image, **model.kwargs)  # the generator's own defaults otherwise
    assert_same_family(ours, expected, exact=model.family != "mobilesam", where=kind)
    loose = model.official(image, pred_iou_thresh=0.0, stability_score_thresh=0.0, **model.kwargs)
    assert 0 < len(ours) < len(loose), "the tiny model's masks should straddle the default thresholds"
    if model.family == "sam2.1":
        sam_threshold = model.official(image, pred_iou_thresh=0.88, **model.kwargs)
        assert len(sam_threshold) < len(ours), "SAM 2's 0.8 keeps masks SAM's 0.88 would drop"


@pytest.mark.slow
@pytest.mark.parametrize("kind,dtype", [("sam2.1", "bfloat16"), ("mobilesam", "bfloat16"), ("hq", "tf32")])
def test_other_dtypes_run_and_keep_the_format(kind, dtype, tiny):
    model = tiny(kind)
    generator = families.load_generator(checkpoint=model.checkpoint, config=model.flags[1] if model.flags else None,
                                        device="cpu", settings=model.kwargs, dtype=dtype)
    result = generator.generate(generator.prepare(_image((48, 60), 0)))
    assert result.image_shape == (48, 60) and result.scores["predicted_iou"].dtype == np.float32
    if dtype == "tf32":  # no TF32 on a CPU: float32's masks
        assert_same_family(result, model.official(_image((48, 60), 0), **model.kwargs), exact=True, where=kind)


@pytest.mark.slow
def test_wrong_model_for_the_file_is_refused(tiny, family_images, tmp_path, capsys):
    import tiny_sam

    plain = tiny_sam.save_tiny_checkpoint(tmp_path / "plain_sam.pth")
    cases = [
        (tiny("sam2.1").checkpoint, "sam_hq_vit_b", "holds a SAM 2.1 checkpoint, not sam_hq_vit_b"),
        (tiny("hq").checkpoint, "vit_b", "holds a HQ-SAM checkpoint, not vit_b"),
        (plain, "sam_hq_vit_b", "holds a SAM checkpoint, not sam_hq_vit_b"),  # no silently random HQ layers
        (tiny("hq").checkpoint, "sam_hq_vit_b", "not sam_hq_vit_b"),
        (tiny("mobilesam").checkpoint, "mobile_sam", "not mobile_sam"),
    ]
    for checkpoint, model, message in cases:
        code = main(["masks", "--images", str(family_images), "--out", str(tmp_path / "out"), "--checkpoint",
                     str(checkpoint), "--model", model] + CLI)
        err = capsys.readouterr().err
        assert code == 2 and message in err, (model, err)


def test_settings_the_family_lacks_are_refused_before_loading(family_images, tmp_path, capsys):
    code = main(["masks", "--images", str(family_images), "--out", str(tmp_path / "out"), "--model", "vit_b",
                 "--use-m2m"] + CLI)
    assert code == 2 and "--use-m2m: not a setting of the sam family" in capsys.readouterr().err
    code = main(["masks", "--images", str(family_images), "--out", str(tmp_path / "out"), "--model", "vit_b",
                 "--points-per-side", "0", "--device", "cpu"])
    assert code == 2 and "--points-per-side must be >= 1" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


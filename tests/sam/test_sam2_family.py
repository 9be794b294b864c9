"""SAM 2.1 (samcam.sam.sam2_family): one-step refinement as sam2's, checkpoints outside the
official sizes need their config, and sam2's training package."""
from __future__ import annotations

import importlib
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="mask models need torch ([sam] extra)")

from family_models import FAMILY_SHAPES as SHAPES  # noqa: E402
from family_models import family_image as _image  # noqa: E402
from family_models import need  # noqa: E402
from sam_checks import assert_same_family  # noqa: E402

from samcam import masks as mask_store  # noqa: E402
from samcam.cli import main  # noqa: E402
from samcam.sam import families  # noqa: E402

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_sam2_one_step_refinement_is_sam2s(tiny, family_images, tmp_path):
    model = tiny("sam2.1")
    out = tmp_path / "m2m"
    assert main(["masks", "--images", str(family_images), "--out", str(out), "--checkpoint", str(model.checkpoint),
                 "--use-m2m"] + model.flags + model.cli) == 0
    changed = False
    for seed, (name, shape) in enumerate(SHAPES.items()):
        expected = model.official(_image(shape, seed), use_m2m=True, **model.kwargs)
        plain = model.official(_image(shape, seed), **model.kwargs)
        stored = mask_store.load(out / f"{name}.masks.npz")
        assert_same_family(stored, expected, exact=True, where=name)
        changed |= len(stored) != len(plain) or not np.array_equal(stored.scores["predicted_iou"],
                                                                    plain.scores["predicted_iou"])
    assert changed, "--use-m2m should change SAM 2's masks"


def test_sam2_checkpoints_outside_the_official_sizes_need_their_config(tiny, tmp_path):
    model = tiny("sam2.1")
    with pytest.raises(ValueError, match="none of the official SAM 2.1 sizes; pass the config"):
        families.load_generator(checkpoint=model.checkpoint, device="cpu")
    state = {k: v for k, v in model.network.state_dict().items() if k != "no_obj_embed_spatial"}
    old = tmp_path / "sam2_0.pt"
    torch.save({"model": state}, old)
    with pytest.raises(ValueError, match="SAM 2.0 weights.*configs/sam2/sam2_hiera"):
        families.load_generator(checkpoint=old, device="cpu")
    with pytest.raises(ValueError, match="not a config name inside the sam2 package"):
        families.load_generator(checkpoint=model.checkpoint, config=str(tmp_path / "nope.yaml"), device="cpu")
    with pytest.raises(ValueError, match="--config is for SAM 2 checkpoints"):
        families.load_generator(checkpoint=tiny("hq").checkpoint, config=model.flags[1], device="cpu")


def test_sam2s_training_package_does_not_collide_with_ours():
    """sam2's wheel installs a top-level `training` package: nothing of ours is named so."""
    need("sam2.1")
    import sam2

    spec = importlib.util.find_spec("training")
    assert spec is not None and Path(spec.origin).parent.parent == Path(sam2.__file__).parent.parent
    for root in (REPO, REPO / "tests", REPO / "samcam", REPO / "adapters", REPO / "benchmarks", REPO / "tools"):
        assert not (root / "training").exists() and not (root / "training.py").exists(), root
    setup = (REPO / "setup.py").read_text()
    assert 'include=["samcam", "samcam.*"]' in setup  # only our own packages are installed


"""`samcam masks`' settings objects (samcam.sam.settings: generator settings, fast mode, the
run's options): frozen, checked when built, each family's defaults (the packages' own), and
compute_masks taking the options object or its fields. No torch needed."""
from __future__ import annotations

import importlib
import inspect
import math
from dataclasses import FrozenInstanceError, fields

import numpy as np
import pytest
from family_models import need
from PIL import Image  # noqa: E402

from samcam import provenance
from samcam.sam import pipeline, registry  # noqa: E402
from samcam.sam.settings import (
    FastOptions,
    MaskRunOptions,
    Sam2Settings,
    SamSettings,
    default_settings,  # noqa: E402
    settings_for,
)


@pytest.mark.parametrize("cls, changes, message", [
    (SamSettings, {"points_per_side": 0}, "--points-per-side must be >= 1, got 0"),
    (SamSettings, {"pred_iou_thresh": math.nan}, "--pred-iou-thresh must be a finite number, got nan"),
    (SamSettings, {"box_nms_thresh": math.inf}, "--box-nms-thresh must be a finite number, got inf"),
    (SamSettings, {"stability_score_thresh": 1.5}, "--stability-score-thresh must lie in [0, 1], got 1.5"),
    (SamSettings, {"points_per_batch": 2.5}, "--points-per-batch must be an integer, got 2.5"),
    (SamSettings, {"min_mask_region_area": "10"}, "--min-mask-region-area must be an integer, got '10'"),
    (SamSettings, {"crop_overlap_ratio": -0.1}, "crop_overlap_ratio must lie in [0, 1], got -0.1"),  # no flag
    (Sam2Settings, {"use_m2m": "yes"}, "--use-m2m must be True or False, got 'yes'"),
    (Sam2Settings, {"mask_threshold": math.nan}, "mask_threshold must be a finite number, got nan"),
    (FastOptions, {"images_per_batch": 0}, "--images-per-batch must be >= 1, got 0"),
    (MaskRunOptions, {"workers": 0}, "workers must be >= 1, got 0"),
    (MaskRunOptions, {"decode_threads": 1.5}, "decode_threads must be an integer, got 1.5"),
    (MaskRunOptions, {"source": "sam3"}, "source must be one of sam, proposals; got 'sam3'"),
    (MaskRunOptions, {"dtype": "float64"}, "dtype must be one of float32, tf32, bfloat16, float16; got 'float64'"),
    (MaskRunOptions, {"overwrite": 1}, "overwrite must be True or False, got 1"),
    (MaskRunOptions, {"settings": {"points_per_side": -1}}, "--points-per-side must be >= 1, got -1"),
    (MaskRunOptions, {"settings": {"pred_iou_thresh": math.nan}}, "--pred-iou-thresh must be a finite number"),
    (MaskRunOptions, {"settings": [("points_per_side", 8)]}, "settings must be a settings object or a mapping"),
    (MaskRunOptions, {"fast": "yes"}, "fast must be True, False, None or FastOptions, got 'yes'"),
    (MaskRunOptions, {"checkpoint": 3}, "checkpoint must be a path, got 3"),
])
def test_bad_values_are_refused_when_built_naming_the_parameter(cls, changes, message):
    with pytest.raises(ValueError) as caught:
        cls(**changes)
    assert str(caught.value) == message or str(caught.value).startswith(message)


def test_objects_are_frozen_and_keep_working_as_before():
    settings = SamSettings(points_per_side=8, pred_iou_thresh=1)
    with pytest.raises(FrozenInstanceError):
        settings.points_per_side = 4
    assert settings.pred_iou_thresh == 1.0 and type(settings.pred_iou_thresh) is float
    assert settings.official_kwargs()["points_per_side"] == 8 and "use_m2m" not in settings.official_kwargs()
    settings.validate()  # still there for old callers; nothing left to check
    with pytest.raises(ValueError, match="--points-per-side must be >= 1"):
        settings.replace(points_per_side=0)
    sam2 = settings_for("sam2.1", {"points_per_side": 8, "use_m2m": True})
    assert (sam2.pred_iou_thresh, sam2.use_m2m, sam2.points_per_side) == (0.8, True, 8)
    # a mapping is kept as given (it is recorded in samcam.json); a name no family has is left for settings_for
    options = MaskRunOptions(settings={"points_per_side": 8, "use_m2m": None, "bogus": 1}, fast=True)
    assert options.settings == {"points_per_side": 8, "use_m2m": None, "bogus": 1} and options.fast is True
    with pytest.raises(ValueError, match="--bogus: not a setting of the sam family's generator"):
        settings_for("sam", options.settings)


def test_compute_masks_takes_the_options_object_or_its_fields(tmp_path):

    images = tmp_path / "images"
    images.mkdir()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (24, 32, 3), dtype=np.uint8)).save(images / "a.png")
    options = MaskRunOptions(source="proposals", progress=False)
    by_object = pipeline.compute_masks(images, tmp_path / "one", ["a"], options)
    by_keywords = pipeline.compute_masks(images, tmp_path / "two", ["a"], source="proposals")
    assert by_object.done == by_keywords.done == ["a"]
    assert (tmp_path / "one" / "a.masks.npz").read_bytes() == (tmp_path / "two" / "a.masks.npz").read_bytes()
    # keywords on top of an object; resumed: done, then skipped
    assert pipeline.compute_masks(images, tmp_path / "one", ["a"], options, overwrite=False).skipped == ["a"]
    with pytest.raises(TypeError, match="bogus"):
        pipeline.compute_masks(images, tmp_path / "three", ["a"], bogus=1)
    with pytest.raises(ValueError, match="workers must be >= 1"):
        pipeline.compute_masks(images, tmp_path / "three", ["a"], options, workers=0)
    assert not (tmp_path / "three").exists()  # refused before any folder is written
    record = pipeline.mask_settings(source="sam", model="vit_b", settings={"points_per_side": 8}, fast=True)
    assert record == pipeline.mask_settings(options=MaskRunOptions(model="vit_b", settings={"points_per_side": 8},
                                                                   fast=FastOptions(images_per_batch=2)))
    assert record["mode"] == "fast" and record["dtype"] == "bfloat16" and record["settings"] == {"points_per_side": 8}
    assert provenance.read(tmp_path / "one")["settings"] == {"tool": "masks", "source": "proposals"}


@pytest.mark.parametrize("family", [family for family in registry.FAMILIES if family != "sam3"])
def test_settings_defaults_are_the_packages_own(family):
    # (SAM 3's thresholds are checked against transformers in tests/sam/test_sam3_family.py)
    """Our settings classes list exactly the generator's settings, with its defaults."""
    package = need(family)
    if family == "sam2.1":
        generator = importlib.import_module("sam2.automatic_mask_generator").SAM2AutomaticMaskGenerator
    else:
        generator = package.SamAutomaticMaskGenerator
    parameters = inspect.signature(generator.__init__).parameters
    theirs = {name: p.default for name, p in parameters.items()
              if name not in ("self", "model", "point_grids", "output_mode", "kwargs")}
    ours = {f.name: f.default for f in fields(type(default_settings(family)))}
    assert ours == theirs
    assert isinstance(default_settings(family), Sam2Settings if family == "sam2.1" else SamSettings)


def test_settings_for_applies_family_defaults_and_refuses_foreign_settings():
    assert settings_for("sam2.1", {"points_per_side": 8, "use_m2m": None}).pred_iou_thresh == 0.8
    assert settings_for("hq", {"points_per_side": 8}).pred_iou_thresh == 0.88
    assert settings_for("sam2.1", {"use_m2m": True}).use_m2m is True
    with pytest.raises(ValueError, match="--use-m2m: not a setting of the sam family"):
        settings_for("sam", {"use_m2m": True})
    with pytest.raises(ValueError, match="does not fit"):
        settings_for("sam2.1", SamSettings())
    with pytest.raises(ValueError, match="points-per-side"):
        settings_for("mobilesam", {"points_per_side": 0})

"""Automatic mask generator settings, with each family's own defaults.

SAM, HQ-SAM and MobileSAM share SAM's generator and its defaults
(``segment_anything/automatic_mask_generator.py:39-51``; HQ-SAM's and MobileSAM's
copies keep them). SAM 2's generator differs (``sam2/automatic_mask_generator.py:37-56``):
``pred_iou_thresh`` 0.8 instead of 0.88, and three settings SAM lacks:
``mask_threshold`` (0.0), ``use_m2m`` (False: no second, mask-prompted pass) and
``multimask_output`` (True). ``tests/test_mask_models.py`` checks these dataclasses
against the installed packages' signatures.

No torch here.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any, Dict, Mapping, Optional, Type, Union

__all__ = ["SamSettings", "Sam2Settings", "SETTINGS_CLASSES", "default_settings", "settings_for", "FastOptions",
           "FAST_DTYPES", "FAST_FAMILIES", "FAST_POINTS_PER_BATCH"]


@dataclass
class SamSettings:
    """Settings of SAM's automatic mask generator (defaults are SAM's own)."""

    points_per_side: int = 32
    points_per_batch: int = 64
    pred_iou_thresh: float = 0.88
    stability_score_thresh: float = 0.95
    stability_score_offset: float = 1.0
    box_nms_thresh: float = 0.7
    crop_n_layers: int = 0
    crop_nms_thresh: float = 0.7
    crop_overlap_ratio: float = 512 / 1500
    crop_n_points_downscale_factor: int = 1
    min_mask_region_area: int = 0

    def official_kwargs(self) -> Dict[str, Any]:
        """Keyword arguments for the family's own generator with these settings."""
        return asdict(self)

    def validate(self) -> None:
        """Raise ValueError naming the first setting out of range."""
        if self.points_per_side < 1:
            raise ValueError(f"--points-per-side must be >= 1, got {self.points_per_side}")
        if self.points_per_batch < 1:
            raise ValueError(f"--points-per-batch must be >= 1, got {self.points_per_batch}")
        if self.crop_n_layers < 0:
            raise ValueError(f"--crop-n-layers must be >= 0, got {self.crop_n_layers}")
        if self.min_mask_region_area < 0:
            raise ValueError(f"--min-mask-region-area must be >= 0, got {self.min_mask_region_area}")
        for name in ("pred_iou_thresh", "stability_score_thresh", "box_nms_thresh", "crop_nms_thresh"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"--{name.replace('_', '-')} must lie in [0, 1], got {value}")


@dataclass
class Sam2Settings(SamSettings):
    """Settings of SAM 2's ``SAM2AutomaticMaskGenerator`` (defaults are SAM 2's own).

    ``use_m2m`` adds SAM 2's one-step refinement: every mask is predicted a second time
    from its point and its own low-resolution mask. ``min_mask_region_area`` is passed
    on as SAM 2 does (to its predictor's hole/sprinkle filling), which needs SAM 2's
    compiled CUDA extension and does nothing without it.
    """

    pred_iou_thresh: float = 0.8
    mask_threshold: float = 0.0
    use_m2m: bool = False
    multimask_output: bool = True


SETTINGS_CLASSES: Dict[str, Type[SamSettings]] = {
    "sam": SamSettings,
    "hq": SamSettings,
    "mobilesam": SamSettings,
    "sam2.1": Sam2Settings,
}


def default_settings(family: str) -> SamSettings:
    """The family's own generator defaults."""
    try:
        return SETTINGS_CLASSES[family]()
    except KeyError:
        raise ValueError(f"unknown mask model family {family!r}; known: {', '.join(SETTINGS_CLASSES)}") from None


def settings_for(family: str, settings: Optional[Union[SamSettings, Mapping[str, Any]]] = None) -> SamSettings:
    """Settings for a family: its defaults with ``settings`` (a mapping) applied on top.

    A :class:`SamSettings` instance is taken as it is, after checking it fits the
    family (a SAM 2 setting such as ``use_m2m`` has no meaning for SAM). ``None``
    values in a mapping mean "the family's default".

    Raises:
        ValueError: a setting the family's generator does not have, or a value out of range.
    """
    base = default_settings(family)
    if settings is None:
        result = base
    elif isinstance(settings, SamSettings):
        if type(settings) is not type(base):
            raise ValueError(
                f"{type(settings).__name__} does not fit the {family} family's generator; "
                f"use {type(base).__name__}"
            )
        result = settings
    else:
        result = _with_changes(base, settings, family)
    result.validate()
    return result


def _with_changes(base: SamSettings, changes: Mapping[str, Any], family: str) -> SamSettings:
    """``base`` with the mapping's values that are not ``None``; a name ``base`` lacks is refused
    (ValueError naming its flag) unless its value is ``None``."""
    known = {f.name for f in fields(base)}
    unknown = [key for key in sorted(set(changes) - known) if changes[key] is not None]
    if unknown:
        flags = ", ".join("--" + key.replace("_", "-") for key in unknown)
        raise ValueError(f"{flags}: not a setting of the {family} family's generator")
    return replace(base, **{key: value for key, value in changes.items() if value is not None})


# Fast mode (samcam.sam.fast): the families it runs (SAM's generator with SAM's mask
# decoder), its dtypes (the first is the default) and its decoder batch.
FAST_FAMILIES = ("sam", "mobilesam")
FAST_DTYPES = ("bfloat16", "float16", "float32", "tf32")
# Point prompts per decoder pass when --points-per-batch is not given: the masks do not
# depend on it (up to float rounding), and on a GPU larger batches are faster.
FAST_POINTS_PER_BATCH = 256


@dataclass
class FastOptions:
    """How fast mode runs (``samcam masks --fast``; :class:`samcam.sam.fast.FastMaskGenerator`).

    Attributes:
        images_per_batch: images (crops) per image-encoder pass; ``None``: 4 on CUDA, 1 elsewhere.
        compile: ``torch.compile`` the encoder and decoder; ``None``: on for CUDA, off elsewhere.
    """

    images_per_batch: Optional[int] = None
    compile: Optional[bool] = None

    def validate(self) -> None:
        """Raise ValueError naming the option out of range."""
        if self.images_per_batch is not None and self.images_per_batch < 1:
            raise ValueError(f"--images-per-batch must be >= 1, got {self.images_per_batch}")

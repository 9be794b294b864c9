"""Settings of ``samcam masks``: each family's generator settings, fast mode's options and the
options of a run, as frozen settings objects (:mod:`samcam.settings`) checked when built.

SAM, HQ-SAM and MobileSAM share SAM's generator and its defaults
(``segment_anything/automatic_mask_generator.py:39-51``; HQ-SAM's and MobileSAM's
copies keep them). SAM 2's generator differs (``sam2/automatic_mask_generator.py:37-56``):
``pred_iou_thresh`` 0.8 instead of 0.88, and three settings SAM lacks:
``mask_threshold`` (0.0), ``use_m2m`` (False: no second, mask-prompted pass) and
``multimask_output`` (True). ``tests/sam/test_settings.py`` checks these dataclasses
against the installed packages' signatures. The help texts follow the generators'
docstrings (``segment_anything/automatic_mask_generator.py:54-97``) and code (crop layers and
their overlap: ``segment_anything/utils/amg.py:200-234``).

A generator setting out of range is refused under its ``samcam masks`` flag
(``--points-per-side must be >= 1, got 0``), as samcam has always worded it, wherever
the object is built. The command line builds its flags from these fields
(:mod:`samcam.cli.masks`).

No torch here.
"""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, fields
from typing import Any, Dict, Mapping, Optional, Tuple, Type, Union

from ..settings import Settings, SettingsError, setting
from .registry import MODEL_NAMES

__all__ = ["SamSettings", "Sam2Settings", "SETTINGS_CLASSES", "default_settings", "settings_for", "FastOptions",
           "MaskRunOptions", "DTYPES", "FAST_DTYPES", "FAST_FAMILIES", "FAST_POINTS_PER_BATCH"]

_FRACTION = dict(low=0.0, high=1.0)

# Exact mode's dtypes (the first is the default). Fast mode (samcam.sam.fast): the families it
# runs (SAM's generator with SAM's mask decoder), its dtypes (the first is the default).
DTYPES = ("float32", "tf32", "bfloat16")
FAST_FAMILIES = ("sam", "mobilesam")
FAST_DTYPES = ("bfloat16", "float16", "float32", "tf32")
# Point prompts per decoder pass when --points-per-batch is not given: the masks do not
# depend on it (up to float rounding), and on a GPU larger batches are faster.
FAST_POINTS_PER_BATCH = 256


class _FlagNamed(Settings):
    """Settings whose errors name the ``samcam masks`` flag (``--points-per-side must be ...``)."""

    def __post_init__(self) -> None:
        try:
            super().__post_init__()
        except SettingsError as error:
            spec = self.specs().get(error.parameter)
            if spec is None or not spec.cli:
                raise
            raise SettingsError(spec.flag or "--" + error.parameter.replace("_", "-"), error.problem) from None

    def validate(self) -> None:
        """Nothing left to check: the object checked itself when it was built (kept for callers
        of the mutable settings objects of earlier versions)."""


@dataclass(frozen=True)
class SamSettings(_FlagNamed):
    """Settings of SAM's automatic mask generator (defaults are SAM's own)."""

    points_per_side: int = setting(32, "point prompts along each side of the image (a grid of N×N)", low=1)
    points_per_batch: int = setting(64, "point prompts per decoder pass (more is faster on a GPU, same masks)",
                                    low=1)
    pred_iou_thresh: float = setting(0.88, "keep masks whose predicted IoU (the model's own quality guess) is "
                                           "above this", **_FRACTION)
    stability_score_thresh: float = setting(0.95, "keep masks at least this stable when the cutoff binarizing the "
                                                  "logits moves", **_FRACTION)
    stability_score_offset: float = setting(1.0, "how far the cutoff moves for the stability score", cli=False,
                                            low=0.0)
    box_nms_thresh: float = setting(0.7, "box IoU above which box NMS drops the duplicate of a mask",
                                    **_FRACTION)
    crop_n_layers: int = setting(0, "layers of image crops generated again (layer i = 1, 2, ... has 2^i × 2^i crops)",
                                 low=0)
    crop_nms_thresh: float = setting(0.7, "box IoU above which NMS between crops drops a duplicate", cli=False,
                                     **_FRACTION)
    crop_overlap_ratio: float = setting(512 / 1500, "how much the first layer's crops overlap, as a fraction of "
                                                    "the image's shorter side", cli=False, **_FRACTION)
    crop_n_points_downscale_factor: int = setting(1, "crop layer i has points_per_side / factor^i points per side",
                                                  cli=False, low=1)
    min_mask_region_area: int = setting(0, "fill holes and remove islands smaller than this many pixels (then "
                                           "NMS again)", low=0)

    def official_kwargs(self) -> Dict[str, Any]:
        """Keyword arguments for the family's own generator with these settings."""
        return self.as_dict()


@dataclass(frozen=True)
class Sam2Settings(SamSettings):
    """Settings of SAM 2's ``SAM2AutomaticMaskGenerator`` (defaults are SAM 2's own).

    ``use_m2m`` adds SAM 2's one-step refinement: every mask is predicted a second time
    from its point and its own low-resolution mask. ``min_mask_region_area`` is passed
    on as SAM 2 does (to its predictor's hole/sprinkle filling), which needs SAM 2's
    compiled CUDA extension and does nothing without it.
    """

    pred_iou_thresh: float = setting(0.8, SamSettings.specs()["pred_iou_thresh"].help, **_FRACTION)
    mask_threshold: float = setting(0.0, "the logit cutoff binarizing masks", cli=False)
    use_m2m: bool = setting(False, "SAM 2's one-step refinement, each mask predicted again from its point and its "
                                   "own low-resolution mask")
    multimask_output: bool = setting(True, "three masks per point prompt", cli=False)


SETTINGS_CLASSES: Dict[str, Type[SamSettings]] = {
    "sam": SamSettings,
    "hq": SamSettings,
    "mobilesam": SamSettings,
    "sam2.1": Sam2Settings,
}

GeneratorSettings = Union[SamSettings, Mapping[str, Any]]


def default_settings(family: str) -> SamSettings:
    """The family's own generator defaults."""
    try:
        return SETTINGS_CLASSES[family]()
    except KeyError:
        raise ValueError(f"unknown mask model family {family!r}; known: {', '.join(SETTINGS_CLASSES)}") from None


def settings_for(family: str, settings: Optional[GeneratorSettings] = None) -> SamSettings:
    """Settings for a family: its defaults with ``settings`` (a mapping) applied on top.

    A :class:`SamSettings` instance is taken as it is, after checking it fits the
    family (a SAM 2 setting such as ``use_m2m`` has no meaning for SAM). ``None``
    values in a mapping mean "the family's default".

    Raises:
        ValueError: a setting the family's generator does not have, or a value out of range.
    """
    base = default_settings(family)
    if settings is None:
        return base
    if isinstance(settings, SamSettings):
        if type(settings) is not type(base):
            raise ValueError(
                f"{type(settings).__name__} does not fit the {family} family's generator; "
                f"use {type(base).__name__}"
            )
        return settings
    return _with_changes(base, settings, family)


def _with_changes(base: SamSettings, changes: Mapping[str, Any], family: str) -> SamSettings:
    """``base`` with the mapping's values that are not ``None``; a name ``base`` lacks is refused
    (ValueError naming its flag) unless its value is ``None``."""
    known = {f.name for f in fields(base)}
    unknown = [key for key in sorted(set(changes) - known) if changes[key] is not None]
    if unknown:
        flags = ", ".join("--" + key.replace("_", "-") for key in unknown)
        raise ValueError(f"{flags}: not a setting of the {family} family's generator")
    return base.replace(**{key: value for key, value in changes.items() if value is not None})


def check_setting_values(settings: Optional[GeneratorSettings]) -> None:
    """Check the values of a mapping of generator settings whatever the family (the ranges are
    the same for every family), before any weights load; a name no family has is left for
    :func:`settings_for`, which names the family that lacks it."""
    if settings is None or (dataclasses.is_dataclass(settings) and not isinstance(settings, type)):
        return  # a settings object checked itself; whether it fits the family is settings_for's question
    if not isinstance(settings, Mapping):
        raise SettingsError("settings", f"must be a settings object or a mapping, got {type(settings).__name__}")
    known = set(Sam2Settings.names())
    Sam2Settings(**{key: value for key, value in settings.items() if key in known and value is not None})


@dataclass(frozen=True)
class FastOptions(_FlagNamed):
    """How fast mode runs (``samcam masks --fast``; :class:`samcam.sam.fast.FastMaskGenerator`).

    Attributes:
        images_per_batch: images (crops) per image-encoder pass; ``None``: 4 on CUDA, 1 elsewhere.
        compile: ``torch.compile`` the encoder and decoder; ``None``: on for CUDA, off elsewhere.
    """

    images_per_batch: Optional[int] = setting(None, "with --fast: images (crops) per image-encoder pass "
                                                    "(default 4 on a GPU, 1 on a CPU)", low=1)
    compile: Optional[bool] = setting(None, "torch.compile the encoder and decoder (None: on a GPU only)",
                                      cli=False)


def _path_or_none(name: str, value: Any) -> None:
    if value is not None and not isinstance(value, (str, os.PathLike)):
        raise SettingsError(name, f"must be a path, got {value!r}")


@dataclass(frozen=True)
class MaskRunOptions(Settings):
    """The options of a ``samcam masks`` run (:func:`samcam.sam.pipeline.compute_masks`).

    Which model, how it runs and how the run goes; the images, the output folder and the
    names are the run's inputs, passed beside. ``fast`` is kept as given (``None``,
    ``True`` or a :class:`FastOptions`); ``settings`` too (``None``, a settings object of
    the family's class or a mapping of the settings to change), its values checked now.
    """

    source: str = setting("sam", "sam (default): a mask model (--model/--checkpoint, any family); proposals: "
                                 "weight-free regions, a weaker substitute", choices=("sam", "proposals"))
    model: Optional[str] = setting("vit_h", "official model, its checkpoint taken from the cache or downloaded "
                                            f"({', '.join(MODEL_NAMES)}); with a checkpoint, None accepts whatever "
                                            "the file holds; sam3: SAM 3 concept masks (a Hugging Face folder, "
                                            "prompted with each image's classes)", metavar="NAME")
    checkpoint: Optional[Any] = setting(None, "local checkpoint of any family; its family and size are read from its "
                                              "weights (default: the official file of --model in $SAMCAM_CACHE or "
                                              "~/.cache/samcam, downloaded and SHA-256 checked when missing); "
                                              "SAM 3: its Hugging Face model folder",
                                        metavar="FILE")
    config: Optional[str] = setting(None, "SAM 2 only: the Hydra config of a checkpoint that is none of the "
                                          "official SAM 2.1 sizes (a YAML file, or a config inside the sam2 package "
                                          "such as configs/sam2/sam2_hiera_l.yaml for SAM 2.0 weights)",
                                    metavar="FILE")
    settings: Optional[Any] = setting(None, "generator settings: a settings object of the family's class, or a "
                                            "mapping of the settings to change from the family's own defaults",
                                      cli=False)
    device: str = setting("auto", "auto (GPU of LOCAL_RANK if any, else CPU; default), cpu, cuda, cuda:N",
                          metavar="DEVICE")
    dtype: Optional[str] = setting(None, "exact mode: float32 (default): the generator's own masks; tf32: TF32 "
                                         "matrix products on NVIDIA GPUs (faster, masks nearly identical); "
                                         "bfloat16: autocast (masks may differ slightly; not for HQ-SAM). With "
                                         "--fast: bfloat16 (default), float16, float32 or tf32",
                                   choices=tuple(dict.fromkeys(DTYPES + FAST_DTYPES)))
    fast: Optional[Any] = setting(None, "fast mode (default: exact mode, the official masks)", cli=False)
    overwrite: bool = setting(False, "redo images whose output already exists (default: skip them, i.e. resume)")
    workers: int = setting(1, "processes for --source proposals (a model runs in one process per GPU; "
                              "default 1)", low=1, metavar="N")
    decode_threads: int = setting(2, "background threads decoding images for the model (default 2)", low=1,
                                  metavar="N")
    allow_download: bool = setting(True, "download the official checkpoint when it is not cached",
                                   negate="--no-download", negate_help="never download a checkpoint")
    download: bool = setting(False, "SAM 3 only (it is never downloaded unless asked): without --checkpoint, "
                                    "download facebook/sam3 (gated: accept its licence on Hugging Face, then hf "
                                    "auth login) into the cache, SHA-256 checked, when the cache has no copy")
    progress: bool = setting(False, "show a progress bar", negate="--no-progress", negate_help="no progress bar")
    command: Optional[Tuple[str, ...]] = setting(None, "the command line, recorded in samcam.json", cli=False)
    list_file: Optional[Any] = setting(None, "image names, one per line (default: every image)", flag="--list",
                                       metavar="FILE")
    record: bool = setting(True, "write samcam.json (off: only check it; shards after the first)", cli=False)

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("checkpoint", "list_file"):
            _path_or_none(name, getattr(self, name))
        if self.fast not in (None, True, False) and not isinstance(self.fast, FastOptions):
            raise SettingsError("fast", f"must be True, False, None or FastOptions, got {self.fast!r}")
        check_setting_values(self.settings)

"""Every mask model family behind one small interface.

``load_generator(model or checkpoint)`` returns a *mask source*: an object with

* ``prepare(image) -> prepared``: the CPU-only part (checks; SAM and MobileSAM also
  resize here), thread-safe, run ahead in background threads by ``samcam masks``;
* ``generate(prepared) -> MaskSet``: the masks of one image, in the family's own
  generator's order, with its per-mask scores (``predicted_iou``,
  ``stability_score``, ``area``, ``bbox``, ``point_coords``, ``crop_box``);
* ``device``, ``dtype``, ``description``.

SAM and MobileSAM also run in fast mode (``fast=True``: :mod:`.fast`), which adds
``generate_batch(prepared list) -> [MaskSet]`` and ``images_per_batch``.

Which family a checkpoint belongs to is read from its keys (:mod:`.shapes`), so
``--checkpoint PATH`` needs no ``--model``. Each family's builder lives in its own
module (:mod:`.networks` and :mod:`.generate` for SAM, :mod:`.sam2_family`, :mod:`.hq_family`,
:mod:`.mobilesam_family`); they import torch and their package only when called.

SAM 3 (:mod:`.sam3_family`, :func:`load_concept_generator`) makes concept masks: its
``prepare(image, concepts)`` also takes the image's ``(class_index, phrase)`` prompts.
"""
from __future__ import annotations

import logging
import os
from typing import Any, Mapping, Optional, Tuple, Union

from . import fast as fast_mode
from . import generate, hq_family, mobilesam_family, networks, sam2_family, sam3_family
from .checkpoints import resolve_checkpoint
from .packages import MissingPackages, install_hint, missing_packages, require_packages
from .registry import DEFAULT_MODEL, FAMILIES, MASK_MODELS
from .settings import (
    FAST_DTYPES,
    FAST_FAMILIES,
    FAST_POINTS_PER_BATCH,
    FastOptions,
    MaskRunOptions,
    SamSettings,
    settings_for,
)
from .shapes import detect_family

__all__ = [
    "MissingPackages",
    "missing_packages",
    "require_packages",
    "family_of",
    "install_hint",
    "build_network",
    "make_generator",
    "load_generator",
    "fast_options",
    "check_mode",
    "load_concept_generator",
]

log = logging.getLogger(__name__)


def family_of(model: str) -> str:
    """The family of an official model name (``vit_h`` -> ``sam``)."""
    try:
        return MASK_MODELS[model].family
    except KeyError:
        raise ValueError(f"unknown mask model {model!r}; choose one of {', '.join(MASK_MODELS)}") from None


def build_network(family: str, state_dict: Mapping[str, Any], path: os.PathLike, model: Optional[str] = None,
                  config: Optional[str] = None) -> Tuple[Any, str]:
    """The family's network with ``state_dict``'s weights (CPU, eval mode) and its name.

    Args:
        family: a :data:`~samcam.sam.registry.FAMILIES` key.
        state_dict: the checkpoint's tensors (see :func:`samcam.sam.networks.load_state_dict`).
        path: the checkpoint file, for messages.
        model: an official model name the weights must belong to (``None``: any).
        config: SAM 2 only: a Hydra config (file or name inside the sam2 package) for
            weights that are none of the official SAM 2.1 models.

    Returns:
        ``(network, name)``: ``name`` is the official model name or a description.
    """
    if config is not None and family != "sam2.1":
        raise ValueError(f"--config is for SAM 2 checkpoints; {path} holds a {FAMILIES[family].title} checkpoint")
    if family == "sam":
        network = networks.sam_from_state_dict(state_dict, path, model)
        found = networks.infer_sam_config(state_dict)["model"]
        return network, found or "(custom architecture)"
    if family == "sam2.1":
        return sam2_family.build(state_dict, path, model, config)
    if family == "hq":
        return hq_family.build(state_dict, path, model)
    if family == "mobilesam":
        return mobilesam_family.build(state_dict, path, model)
    raise ValueError(f"unknown mask model family {family!r}")


def fast_options(fast: Union[None, bool, FastOptions]) -> Optional[FastOptions]:
    """``fast`` as :class:`FastOptions` (``True``: the defaults), or ``None`` for exact mode."""
    if fast is None or fast is False:
        return None
    options = FastOptions() if fast is True else fast
    if not isinstance(options, FastOptions):
        raise ValueError(f"fast must be True, False, None or FastOptions, got {fast!r}")
    return options


def check_mode(family: str, dtype: Optional[str], fast: Union[None, bool, FastOptions]) -> str:
    """The dtype to run ``family`` with in the chosen mode (``None``: the mode's default);
    ValueError when the family or the dtype does not fit the mode."""
    info = FAMILIES[family]
    if fast_options(fast) is not None:
        if family not in FAST_FAMILIES:
            raise ValueError(f"--fast is for SAM (vit_b, vit_l, vit_h) and MobileSAM; {info.title} runs its own "
                             "generator: leave --fast out")
        dtype = dtype or FAST_DTYPES[0]
        if dtype not in FAST_DTYPES:
            raise ValueError(f"--dtype {dtype} is not available with --fast; use {' or '.join(FAST_DTYPES)}")
        return dtype
    dtype = dtype or "float32"
    if dtype not in info.dtypes:
        extra = " (float16 only with --fast)" if dtype == "float16" and family in FAST_FAMILIES else ""
        raise ValueError(f"--dtype {dtype} is not available for {info.title}; use {' or '.join(info.dtypes)}{extra}")
    return dtype


def make_generator(family: str, network, settings: Optional[Union[SamSettings, Mapping[str, Any]]] = None,
                   dtype: Optional[str] = None, description: str = "", fast: Union[None, bool, FastOptions] = None):
    """The mask source for a built network on its device: samcam's faster copy of the
    generator for SAM and MobileSAM, the family's own generator for SAM 2.1 and HQ-SAM.

    ``settings``: a settings object of the family's class, or a mapping of settings to
    change from the family's own defaults (see :func:`samcam.sam.settings.settings_for`).
    ``dtype``: ``None`` is the mode's default (float32 exact, bfloat16 fast).
    ``fast``: fast mode (:class:`samcam.sam.fast.FastMaskGenerator`, SAM and MobileSAM
    only): ``True`` or :class:`~samcam.sam.settings.FastOptions`; its decoder takes
    256 point prompts per pass unless ``settings`` sets ``points_per_batch``.
    """
    dtype = check_mode(family, dtype, fast)
    options = fast_options(fast)
    if options is not None:
        if settings is None or (isinstance(settings, Mapping) and settings.get("points_per_batch") is None):
            settings = {**(settings or {}), "points_per_batch": FAST_POINTS_PER_BATCH}
        return fast_mode.FastMaskGenerator(network, settings_for(family, settings), dtype=dtype,
                                           images_per_batch=options.images_per_batch, compile=options.compile,
                                           description=description)
    settings = settings_for(family, settings)
    if family in ("sam", "mobilesam"):
        return generate.MaskGenerator(network, settings, dtype=dtype, description=description)
    if family == "sam2.1":
        return sam2_family.generator(network, settings, dtype=dtype, description=description)
    if family == "hq":
        return hq_family.generator(network, settings, dtype=dtype, description=description)
    raise ValueError(f"unknown mask model family {family!r}")


def load_generator(model: Optional[str] = None, checkpoint: Optional[os.PathLike] = None, *,
                   options: Optional[MaskRunOptions] = None, **changes: Any):
    """Build a mask source from an official model name or a checkpoint file.

    Args:
        model: an official model (``vit_h``, ``sam2.1_hiera_large``, ``sam_hq_vit_h``,
            ``mobile_sam``, ...). Without ``checkpoint``: its file from the cache or its
            official URL (SHA-256 checked). With ``checkpoint``: the file must hold it.
        checkpoint: a local weights file; its family and size are read from its keys
            and shapes.
        options: a :class:`~samcam.sam.settings.MaskRunOptions` whose ``config``,
            ``device``, ``settings``, ``dtype``, ``fast``, ``allow_download`` and
            ``progress`` apply (its ``model`` and ``checkpoint`` give way to the arguments);
            or those as keywords (``changes``, on top of ``options`` when both are given):

            * ``config``: SAM 2 only, see :func:`build_network`;
            * ``device``: ``auto`` (default: the local rank's GPU if any, else CPU), ``cpu``,
              ``cuda``, ``cuda:N``;
            * ``settings``: generator settings (the family's own defaults when None);
            * ``dtype``: exact mode: ``float32`` (default), ``tf32`` or ``bfloat16`` (what each
              family allows: :data:`~samcam.sam.registry.FAMILIES`); fast mode:
              ``bfloat16`` (default), ``float16``, ``float32``, ``tf32``;
            * ``fast``: fast mode for SAM and MobileSAM (see :func:`make_generator`);
            * ``allow_download`` (default True), ``progress``: for the official file.

    Raises:
        MissingPackages: the family's package is not installed (says what to install).
        ValueError: the file is not a checkpoint of a known family, does not hold
            ``model``, or its weights do not fit.
        CheckpointError: the official file is not cached and cannot be downloaded.
    """
    options = _model_options(options, model, checkpoint, changes)
    family = _requested_family(options)
    path = resolve_checkpoint(model or DEFAULT_MODEL, checkpoint, allow_download=options.allow_download,
                              progress=options.progress)
    state_dict = networks.load_state_dict(path)
    family = _found_family(state_dict, path, family, model)
    require_packages(family)
    network, name = build_network(family, state_dict, path, model, options.config)
    del state_dict
    device = networks.resolve_device(options.device)
    description = f"{FAMILIES[family].title} {name}" + (f" from {path}" if checkpoint is not None else "")
    return make_generator(family, network.to(device).eval(), options.settings, dtype=options.dtype,
                          description=description, fast=options.fast)


def _model_options(options: Optional[MaskRunOptions], model: Optional[str], checkpoint: Optional[os.PathLike],
                   changes: Mapping[str, Any]) -> MaskRunOptions:
    """``options`` (or the defaults) with ``changes``, ``model`` and ``checkpoint``, checked."""
    changes = dict(changes, model=model, checkpoint=checkpoint)
    if options is None:
        return MaskRunOptions(**changes)
    return options.replace(**changes)


def _requested_family(options: MaskRunOptions) -> Optional[str]:
    """The family ``options.model`` names (None: a checkpoint of any family), after the checks
    that need no weights: packages, mode and dtype, before a multi-gigabyte download, not after."""
    model = options.model
    if options.checkpoint is None:
        family = family_of(model or DEFAULT_MODEL)
        if options.config is not None:
            raise ValueError("--config describes a checkpoint file: pass it with --checkpoint")
        require_packages(family)
        check_mode(family, options.dtype, options.fast)
        return family
    family = family_of(model) if model is not None else None
    require_packages(family or "sam", torch_only=True)
    return family


def _found_family(state_dict: Mapping[str, Any], path: os.PathLike, family: Optional[str],
                  model: Optional[str]) -> str:
    """The family the checkpoint's keys say it is; ValueError when it is not ``family``."""
    try:
        found = detect_family(state_dict)
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from error
    if family is not None and found != family:
        raise ValueError(f"{path} holds a {FAMILIES[found].title} checkpoint, not {model} ({FAMILIES[family].title}); "
                         "pass the matching --model or leave --model out")
    return found


def load_concept_generator(
    checkpoint: Optional[os.PathLike] = None,
    *,
    device: str = "auto",
    settings: Optional[Union[sam3_family.Sam3Settings, Mapping[str, Any]]] = None,
    dtype: Optional[str] = None,
    allow_download: bool = False,
    progress: bool = False,
    detector: bool = True,
):
    """SAM 3 concept masks: a mask source whose ``prepare(image, concepts)`` takes the
    image's ``(class_index, phrase)`` prompts (see :mod:`samcam.sam.sam3_family`); with
    ``settings`` ``everything=True`` its class-agnostic masks too
    (:mod:`samcam.sam.sam3_everything`), and with ``detector=False`` those alone.

    ``checkpoint`` is a Hugging Face model folder (``None``: the cache's ``sam3``
    folder); nothing is downloaded unless ``allow_download``. Raises
    :class:`MissingPackages`, :class:`~samcam.sam.checkpoints.CheckpointError` or
    ValueError as :func:`samcam.sam.sam3_family.load` says.
    """
    dtype = check_mode("sam3", dtype, None)
    require_packages("sam3")  # before a download, not after
    version = sam3_family.transformers_without_sam3()
    if version is not None:
        raise MissingPackages(f"SAM 3 masks need transformers 5 (Sam3Model); transformers {version} is installed "
                              f"here; install the tested version with {install_hint('sam3')}")
    return sam3_family.load(checkpoint, device=device, settings=settings, dtype=dtype,
                            allow_download=allow_download, progress=progress, detector=detector)

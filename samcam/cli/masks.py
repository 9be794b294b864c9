"""``samcam masks``: "segment everything" masks (or weight-free proposals) for every image.

The work is :func:`samcam.sam.pipeline.compute_masks`; this module parses flags, picks
the shard and reports. ``samcam masks --compare NAME=DIR ...``, the old spelling of
``samcam compare``, still works: its flags are kept here, out of ``--help``, and run
:func:`samcam.cli.compare.run_old_spelling`.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Optional, Type

from .. import inputs
from ..sam.families import check_mode, family_of, require_packages
from ..sam.pipeline import compute_masks, image_names, parse_shard, select_shard, shard_from_env
from ..sam.registry import DEFAULT_MODEL, FAMILIES, MODEL_NAMES, models_of
from ..sam.settings import (
    FAST_POINTS_PER_BATCH,
    SETTINGS_CLASSES,
    FastOptions,
    MaskRunOptions,
    Sam2Settings,
    SamSettings,
    settings_for,
)
from ..settings import Settings, SettingsError
from . import compare, concept_masks
from .common import add_rule_arguments, named_dir, positive_int, report_batch
from .flags import flag_error

# Generator settings with a command-line flag (the rest keep the family's default), and SAM 2's.
SETTING_FLAGS = tuple(name for name, spec in SamSettings.specs().items() if spec.cli)
SAM2_FLAGS = tuple(name for name, spec in Sam2Settings.specs().items() if spec.cli and name not in SETTING_FLAGS)


def _family_defaults(name: str) -> str:
    """'0.88 (SAM, HQ-SAM, MobileSAM), 0.8 (SAM 2.1)' for a setting, from the settings classes."""
    by_value = {}
    for family, cls in SETTINGS_CLASSES.items():
        if name in cls.names():
            by_value.setdefault(cls.defaults()[name], []).append(FAMILIES[family].title)
    if len(by_value) == 1:
        return f"{next(iter(by_value))} for every family"
    return ", ".join(f"{value} ({', '.join(titles)})" for value, titles in by_value.items())


def _model_help() -> str:
    parts = [f"{FAMILIES[family].title}: {', '.join(models_of(family))}" for family in FAMILIES
             if models_of(family)] + [concept_masks.MODEL_HELP]
    return ("official model, its checkpoint taken from the cache or downloaded: " + "; ".join(parts)
            + f" (default {DEFAULT_MODEL}; with --checkpoint, default: whatever the file holds)")


def _field_flag(group, cls: Type[Settings], name: str, **argparse_kwargs: Any) -> None:
    """The flag of field ``name`` of ``cls``: its name, help, metavar and default come from the
    field; ``argparse_kwargs`` add what argparse needs beyond them or change them (a type
    whose message names the flag, a command-line default). A boolean with a ``negate``
    flag whose default is True here becomes that flag."""
    spec = cls.specs()[name]
    kind, _ = cls.field_type(name)
    default = argparse_kwargs.pop("default", cls.defaults()[name])
    negated = kind is bool and default is True and spec.negate is not None
    flag = spec.negate if negated else spec.flag or "--" + name.replace("_", "-")
    kwargs = dict(dest=name, default=default, help=spec.negate_help if negated else spec.help)
    if "action" not in argparse_kwargs:
        kwargs.update(_value_kwargs(kind, spec, negated))
    kwargs.update(argparse_kwargs)
    group.add_argument(flag, **kwargs)


def _value_kwargs(kind: type, spec, negated: bool) -> dict:
    """argparse's action, or choices, or type and metavar, for a field of type ``kind``."""
    if kind is bool:
        return {"action": "store_false" if negated else "store_true"}
    if spec.choices is not None:
        return {"choices": spec.choices}
    # Plain types: the settings object checks the values and words the error under the flag.
    metavar = spec.metavar or {int: "N", float: "X"}.get(kind)
    return {"type": kind if kind in (int, float) else str, "metavar": metavar}


EXAMPLE = """examples (VOC's train_aug images; an official checkpoint is downloaded on first use):
  samcam masks --images VOC2012/JPEGImages --out sam_masks --list train_aug.txt
  samcam masks --images VOC2012/JPEGImages --out sam2_masks --list train_aug.txt --model sam2.1_hiera_large
  samcam masks --images VOC2012/JPEGImages --out sam_masks_fast --list train_aug.txt --fast
  samcam masks --images VOC2012/JPEGImages --out sam3_masks --list train_aug.txt --model sam3 \
      --checkpoint sam3 --concepts-from voc12/cls_labels.npy

To compare mask folders: samcam compare --help."""


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "masks", help="'segment everything' masks for every image (SAM, SAM 2.1, HQ-SAM, MobileSAM; resumable, "
                      "sharded)",
        description="Run a mask model's automatic mask generator over an image folder and write "
                    "{out}/{name}.masks.npz per image: SAM (segment-anything's SamAutomaticMaskGenerator, same "
                    "masks, faster), SAM 2.1 (sam2's SAM2AutomaticMaskGenerator), HQ-SAM (segment-anything-hq's "
                    "generator) or MobileSAM (its generator is SAM's: same masks, faster). Finished images are "
                    "skipped unless --overwrite; {out}/samcam.json records the model, settings, mode and dtype, "
                    "and a resume with others is refused. Under torchrun or srun each process takes its own shard "
                    "and GPU.",
        epilog=EXAMPLE)
    parser.add_argument("--images", metavar="DIR", help="image folder ({name}.jpg or .png); required")
    parser.add_argument("--out", metavar="DIR", help="output folder (never the image folder); required")
    _field_flag(parser, MaskRunOptions, "source")
    _field_flag(parser, MaskRunOptions, "model", default=None, choices=MODEL_NAMES + (concept_masks.CONCEPT_MODEL,),
                metavar="NAME", help=_model_help())
    _field_flag(parser, MaskRunOptions, "checkpoint")
    _field_flag(parser, MaskRunOptions, "config")
    _field_flag(parser, MaskRunOptions, "allow_download")
    _add_generator_settings(parser)
    _field_flag(parser, MaskRunOptions, "device")
    _field_flag(parser, MaskRunOptions, "dtype")
    _add_fast_mode(parser)
    parser.add_argument("--shard", metavar="I/N",
                        help="do every N-th image starting at I (0 <= I < N); default from RANK/WORLD_SIZE "
                             "(torchrun) or SLURM_PROCID/SLURM_NTASKS (srun)")
    _field_flag(parser, MaskRunOptions, "decode_threads")
    batch = parser.add_argument_group("batch")
    _field_flag(batch, MaskRunOptions, "list_file")
    _field_flag(batch, MaskRunOptions, "workers", type=positive_int)
    _field_flag(batch, MaskRunOptions, "overwrite")
    _field_flag(batch, MaskRunOptions, "progress", default=True)  # the command shows a bar: --no-progress
    _add_old_compare(parser)
    concept_masks.add_concept_arguments(parser, _field_flag)
    parser.set_defaults(run=run)


def _add_generator_settings(parser) -> None:
    """The generator settings with a flag: None (the family's default) unless given."""
    group = parser.add_argument_group(
        "automatic mask generator settings",
        "Every default is the chosen model family's own generator's default; where the families differ, "
        "each family's value is listed.")
    extra = {
        "points_per_batch": f"--fast: {FAST_POINTS_PER_BATCH} unless given",
        "min_mask_region_area": "needs opencv when > 0; SAM 2.1: only with sam2's compiled CUDA extension",
    }
    for name in SETTING_FLAGS:
        text = "; ".join(filter(None, [f"default: {_family_defaults(name)}", SamSettings.specs()[name].help,
                                       extra.get(name)]))
        _field_flag(group, SamSettings, name, default=None, help=text)
    for name in SAM2_FLAGS:  # booleans SAM lacks: None (not given) or True
        _field_flag(group, Sam2Settings, name, action="store_const", const=True, default=None,
                    help=f"SAM 2.1 only: {Sam2Settings.specs()[name].help} (default: off, as in SAM 2)")


def _add_fast_mode(parser) -> None:
    fast = parser.add_argument_group(
        "fast mode (SAM vit_b/l/h and MobileSAM)",
        "--fast: the same generator (point grid, thresholds, NMS, order) computed for speed: half-precision "
        "encoder and decoder with fused attention, several images per encoder pass, torch.compile on CUDA, "
        "filters, NMS and bit-packing on the GPU, files written in a background thread. Masks agree closely "
        "with the official generator's but not exactly (docs/mask_models.md, fast mode).")
    _field_flag(fast, MaskRunOptions, "fast", action="store_true", default=False)
    _field_flag(fast, FastOptions, "images_per_batch", type=positive_int)
    fast.add_argument("--no-compile", action="store_true",
                      help="with --fast: do not torch.compile the encoder and decoder (compiled by default on a "
                           "GPU: the first images take a minute or two longer; never on a CPU)")


def _add_old_compare(parser) -> None:
    """``--compare NAME=DIR ...`` (now ``samcam compare``) and the flags that went with it:
    they still work, hidden from ``--help``."""
    first = len(parser._actions)
    parser.add_argument("--compare", nargs="+", type=named_dir, metavar="NAME=DIR")
    compare.add_compare_flags(parser)
    add_rule_arguments(parser)
    for action in parser._actions[first:]:
        action.help = argparse.SUPPRESS


def _settings(args: argparse.Namespace) -> dict:
    """The settings given on the command line (None: the family's default)."""
    given = {name: getattr(args, name) for name in SETTING_FLAGS + SAM2_FLAGS}
    given = {key: value for key, value in given.items() if value is not None}
    return concept_masks.concept_settings(args, given) if concept_masks.is_concept_run(args) else given


def run(args: argparse.Namespace) -> int:
    if args.compare:
        return compare.run_old_spelling(args)
    fast = _check_flags(args)
    names, shard = _shard_names(args, _image_names(args))
    options = _run_options(args, fast, shard)
    if options.source == "sam" and args.checkpoint is None and not concept_masks.is_concept_run(args):
        # the family is known: refuse a setting it lacks now, not after a download
        settings_for(family_of(args.model or DEFAULT_MODEL), options.settings)
    concepts = concept_masks.run_concepts(args, names)  # SAM 3: each image's classes; None otherwise
    return report_batch(compute_masks(args.images, args.out, names, options, concepts=concepts), args.prog)


def _run_options(args: argparse.Namespace, fast: Optional[FastOptions], shard) -> MaskRunOptions:
    """The run's options from the flags, checked (a bad value is reported under its flag)."""
    model = args.model if args.model is not None else (None if args.checkpoint else DEFAULT_MODEL)
    try:
        return MaskRunOptions(
            source=args.source, model=model, checkpoint=args.checkpoint, config=args.config,
            settings=_settings(args) if args.source == "sam" else None, device=args.device, dtype=args.dtype,
            fast=fast, overwrite=args.overwrite, workers=args.workers, decode_threads=args.decode_threads,
            allow_download=args.allow_download, download=args.download, progress=args.progress,
            command=args.command_line,
            list_file=args.list_file,
            # one writer per torchrun/srun job: the first shard, or any shard starting a folder of its own
            record=shard is None or shard[1] == 1 or shard[0] == 0 or not (Path(args.out) / "samcam.json").exists(),
        )
    except SettingsError as error:
        raise ValueError(flag_error(error, MaskRunOptions)) from None


def _check_flags(args: argparse.Namespace):
    """The flags that go together, checked before any work -> the fast-mode options (None: exact mode)."""
    missing = [flag for flag, value in (("--images", args.images), ("--out", args.out)) if not value]
    if missing:
        raise ValueError(f"missing required flag{'s' if len(missing) > 1 else ''} {', '.join(missing)}")
    fast = _fast_options(args)
    if args.source != "sam" and (args.fast or args.dtype is not None):
        raise ValueError("--fast and --dtype are for --source sam (a mask model)")
    concept_masks.check_concept_flags(args, fast)
    if args.source == "sam" and not concept_masks.is_concept_run(args):
        _check_model(args, fast)
    return fast


def _fast_options(args: argparse.Namespace):
    """``--fast``'s options, or None in exact mode (where its flags are refused)."""
    if not args.fast:
        if args.images_per_batch is not None or args.no_compile:
            raise ValueError("--images-per-batch and --no-compile go with --fast")
        return None
    return FastOptions(images_per_batch=args.images_per_batch, compile=False if args.no_compile else None)


def _check_model(args: argparse.Namespace, fast) -> None:
    """Fail before listing a large folder: the family is known from --model; a checkpoint's
    family is known once it is read, which needs torch."""
    if args.checkpoint is None:
        require_packages(family_of(args.model or DEFAULT_MODEL))
        check_mode(family_of(args.model or DEFAULT_MODEL), args.dtype, fast)
    else:
        require_packages(family_of(args.model) if args.model else "sam", torch_only=True)


def _image_names(args: argparse.Namespace):
    """The names to do, every one of them present in ``--images``."""
    # a folder of label PNGs or masks given as --images is one error, before any model loads
    images = inputs.check_image_folder(args.images, "--images")
    names = image_names(args.images, args.list_file)
    found = inputs.available_names(images, inputs.IMAGE_KINDS)
    inputs.check_names_present(names, "--images", args.images, found.__contains__, "{name}.jpg or {name}.png",
                               images, f"--list {args.list_file}" if args.list_file else "")
    return names


def _shard_names(args: argparse.Namespace, names):
    """(this process's names, (I, N) or None) from ``--shard`` or torchrun/SLURM."""
    if args.shard is not None:
        shard = parse_shard(args.shard)
        origin = "--shard"
    else:
        shard = shard_from_env()
        origin = "environment (torchrun/SLURM)"
    if shard is not None and shard[1] > 1:
        names = select_shard(names, *shard)
        print(f"samcam masks: shard {shard[0]}/{shard[1]} from {origin}: {len(names)} images", file=sys.stderr)
    return names, shard

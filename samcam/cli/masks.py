"""``samcam masks``: "segment everything" masks (or weight-free proposals) for every image,
and ``samcam masks --compare``: several mask sources side by side.

The work is :func:`samcam.sam.pipeline.compute_masks` and
:func:`samcam.sam.compare.compare_mask_sources`; this module parses flags, picks the
shard and reports.
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import fields, replace
from pathlib import Path

from .. import inputs
from ..evaluate import results_json
from ..io import atomic_write_bytes
from ..outputs import check_outputs
from ..sam.compare import compare_mask_sources, format_comparison
from ..sam.families import check_mode, family_of, require_packages
from ..sam.generate import DTYPES
from ..sam.pipeline import compute_masks, image_names, parse_shard, select_shard, shard_from_env
from ..sam.registry import DEFAULT_MODEL, FAMILIES, MODEL_NAMES, models_of
from ..sam.settings import FAST_DTYPES, FAST_POINTS_PER_BATCH, SETTINGS_CLASSES, FastOptions, SamSettings, settings_for
from ..viz.report import write_mask_comparison
from .common import (
    add_batch_arguments,
    add_option,
    add_rule_arguments,
    named_dir,
    names_or_list,
    positive_int,
    report_batch,
    rule_params,
)

# Generator settings with a command-line flag (the rest keep the family's default).
SETTING_FLAGS = ("points_per_side", "points_per_batch", "pred_iou_thresh", "stability_score_thresh",
                 "box_nms_thresh", "crop_n_layers", "min_mask_region_area")


def _family_defaults(name: str) -> str:
    """'0.88 (SAM, HQ-SAM, MobileSAM), 0.8 (SAM 2.1)' for a setting, from the settings classes."""
    by_value = {}
    for family, cls in SETTINGS_CLASSES.items():
        field = next((f for f in fields(cls) if f.name == name), None)
        if field is not None:
            by_value.setdefault(field.default, []).append(FAMILIES[family].title)
    if len(by_value) == 1:
        return f"{next(iter(by_value))} for every family"
    return ", ".join(f"{value} ({', '.join(titles)})" for value, titles in by_value.items())


def _model_help() -> str:
    parts = [f"{FAMILIES[family].title}: {', '.join(models_of(family))}" for family in FAMILIES]
    return ("official model, its checkpoint taken from the cache or downloaded: " + "; ".join(parts)
            + f" (default {DEFAULT_MODEL}; with --checkpoint, default: whatever the file holds)")


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "masks", help="'segment everything' masks for every image (SAM, SAM 2.1, HQ-SAM, MobileSAM; resumable, "
                      "sharded), or --compare mask sources",
        description="Run a mask model's automatic mask generator over an image folder and write "
                    "{out}/{name}.masks.npz per image: SAM (segment-anything's SamAutomaticMaskGenerator, same "
                    "masks, faster), SAM 2.1 (sam2's SAM2AutomaticMaskGenerator), HQ-SAM (segment-anything-hq's "
                    "generator) or MobileSAM (its generator is SAM's: same masks, faster). Finished images are "
                    "skipped unless --overwrite; {out}/samcam.json records the model, settings, mode and dtype, "
                    "and a resume with others is refused. Under torchrun or srun each process takes its own shard and GPU. "
                    "With --compare NAME=DIR ...: compare mask folders instead (masks per image, mask areas and, "
                    "with --labels and --gt, the mIoU of the refined pseudo labels per source).")
    parser.add_argument("--images", metavar="DIR", help="image folder ({name}.jpg or .png); required unless --compare")
    parser.add_argument("--out", metavar="DIR", help="output folder (never the image folder); required unless --compare")
    parser.add_argument("--source", choices=("sam", "proposals"), default="sam",
                        help="sam (default): a mask model (--model/--checkpoint, any family); "
                             "proposals: weight-free regions, a weaker substitute")
    parser.add_argument("--model", choices=MODEL_NAMES, default=None, metavar="NAME", help=_model_help())
    parser.add_argument("--checkpoint", metavar="FILE",
                        help="local checkpoint of any family; its family and size are read from its weights "
                             "(default: the official file of --model in $SAMCAM_CACHE or ~/.cache/samcam, "
                             "downloaded and SHA-256 checked when missing)")
    parser.add_argument("--config", metavar="FILE",
                        help="SAM 2 only: the Hydra config of a checkpoint that is none of the official SAM 2.1 "
                             "sizes (a YAML file, or a config inside the sam2 package such as "
                             "configs/sam2/sam2_hiera_l.yaml for SAM 2.0 weights)")
    parser.add_argument("--no-download", action="store_true", help="never download a checkpoint")
    group = parser.add_argument_group(
        "automatic mask generator settings",
        "Every default is the chosen model family's own generator's default; where the families differ, "
        "each family's value is listed.")
    help_extra = {
        "points_per_batch": f"point prompts per decoder pass (more is faster on a GPU, same masks; --fast: "
                            f"{FAST_POINTS_PER_BATCH} unless given); ",
        "min_mask_region_area": "needs opencv when > 0; SAM 2.1: only with sam2's compiled CUDA extension; ",
    }
    for name in SETTING_FLAGS:
        kind = type(getattr(SamSettings(), name))
        group.add_argument("--" + name.replace("_", "-"), type=kind, default=None, metavar="N" if kind is int else "X",
                           help=f"{help_extra.get(name, '')}default: {_family_defaults(name)}")
    group.add_argument("--use-m2m", action="store_const", const=True, default=None,
                       help="SAM 2.1 only: SAM 2's one-step refinement, each mask predicted again from its point "
                            "and its own low-resolution mask (default: off, as in SAM 2)")
    parser.add_argument("--device", default="auto", metavar="DEVICE",
                        help="auto (GPU of LOCAL_RANK if any, else CPU; default), cpu, cuda, cuda:N")
    parser.add_argument("--dtype", choices=tuple(dict.fromkeys(DTYPES + FAST_DTYPES)), default=None,
                        help="exact mode: float32 (default): the generator's own masks; tf32: TF32 matrix products "
                             "on NVIDIA GPUs (faster, masks nearly identical); bfloat16: autocast (masks may differ "
                             "slightly; not for HQ-SAM). With --fast: bfloat16 (default), float16, float32 or tf32")
    fast = parser.add_argument_group(
        "fast mode (SAM vit_b/l/h and MobileSAM)",
        "--fast: the same generator (point grid, thresholds, NMS, order) computed for speed: half-precision "
        "encoder and decoder with fused attention, several images per encoder pass, torch.compile on CUDA, "
        "filters, NMS and bit-packing on the GPU, files written in a background thread. Masks agree closely "
        "with the official generator's but not exactly (README: Computing SAM masks, fast mode).")
    fast.add_argument("--fast", action="store_true", help="fast mode (default: exact mode, the official masks)")
    fast.add_argument("--images-per-batch", type=positive_int, default=None, metavar="N",
                      help="with --fast: images (crops) per image-encoder pass (default 4 on a GPU, 1 on a CPU)")
    fast.add_argument("--no-compile", action="store_true",
                      help="with --fast: do not torch.compile the encoder and decoder (compiled by default on a "
                           "GPU: the first images take a minute or two longer; never on a CPU)")
    parser.add_argument("--shard", metavar="I/N",
                        help="do every N-th image starting at I (0 <= I < N); default from RANK/WORLD_SIZE "
                             "(torchrun) or SLURM_PROCID/SLURM_NTASKS (srun)")
    parser.add_argument("--decode-threads", type=int, default=2, metavar="N",
                        help="background threads decoding images for the model (default 2)")
    add_batch_arguments(parser, list_help="image names, one per line (default: every image)",
                        workers_help="processes for --source proposals and --compare (a model runs in one "
                                     "process per GPU; default 1)")
    compare = parser.add_argument_group(
        "comparing mask sources (--compare)",
        "The same images for every source: an image missing in any source (or without pseudo label or ground "
        "truth) is left out of all and listed. The refinement rule flags below apply.")
    compare.add_argument("--compare", nargs="+", type=named_dir, metavar="NAME=DIR",
                         help="mask folders to compare (samcam stores, amg.py PNG folders or RLE JSON)")
    add_option(compare, "--labels", aliases=["--pseudo"], metavar="DIR",
               help="pseudo-label PNGs: score each source's refined labels")
    compare.add_argument("--gt", metavar="DIR", help="ground truth PNGs for --labels")
    compare.add_argument("--baseline", metavar="NAME",
                         help="the --compare source the refined-mIoU deltas are taken against (default: the first)")
    compare.add_argument("--report", metavar="DIR", help="write an HTML page (table and chart) into DIR")
    compare.add_argument("--json", metavar="FILE", help="write every number as JSON")
    add_rule_arguments(parser)
    parser.set_defaults(run=run)


def _settings(args: argparse.Namespace) -> dict:
    """The settings given on the command line (None: the family's default)."""
    given = {name: getattr(args, name) for name in SETTING_FLAGS}
    given["use_m2m"] = args.use_m2m
    return {key: value for key, value in given.items() if value is not None}


def _run_compare(args: argparse.Namespace) -> int:
    sources = dict(args.compare)
    if len(sources) != len(args.compare):
        raise ValueError("--compare: two folders have the same NAME; name them NAME=DIR")
    names = names_or_list(args.list, []) if args.list else None
    folders = list(sources.values()) + [args.labels, args.gt]
    check_outputs(files={"--json": args.json}, folders={"--report": args.report},  # before the work, not after
                  reads={"--compare": list(sources.values()), "--labels": args.labels, "--gt": args.gt,
                         "--list": args.list})
    if args.baseline is not None and args.baseline not in sources:  # before the work, not after
        raise ValueError(f"--baseline {args.baseline!r} is not one of the --compare sources: {', '.join(sources)}")
    params = rule_params(args)
    num_classes = params.pop("num_classes")
    comparison = compare_mask_sources(sources, names, pseudo_dir=args.labels, gt_dir=args.gt,
                                      num_classes=num_classes, mask_order=args.mask_order, workers=args.workers,
                                      progress=not args.no_progress, **params)
    print(format_comparison(comparison, args.baseline))
    for name, reason in comparison["failed"][:20]:
        print(f"  left out {name}: {reason}", file=sys.stderr)
    if args.json:
        atomic_write_bytes(Path(args.json), results_json(comparison).encode())  # NaN -> null
    if args.report:
        page = write_mask_comparison(comparison, args.report, inputs=folders, baseline=args.baseline)
        print(f"report: {page}", file=sys.stderr)
    if not comparison["names"]:
        print("masks --compare: no image could be compared", file=sys.stderr)
        return 1
    return 1 if comparison["failed"] else 0


def run(args: argparse.Namespace) -> int:
    if args.compare:
        return _run_compare(args)
    missing = [flag for flag, value in (("--images", args.images), ("--out", args.out)) if not value]
    if missing:
        raise ValueError(f"{' and '.join(missing)} required (or --compare NAME=DIR ... to compare mask folders)")
    if not args.fast and (args.images_per_batch is not None or args.no_compile):
        raise ValueError("--images-per-batch and --no-compile go with --fast")
    fast = FastOptions(images_per_batch=args.images_per_batch, compile=False if args.no_compile else None) \
        if args.fast else None
    if args.source != "sam" and (args.fast or args.dtype is not None):
        raise ValueError("--fast and --dtype are for --source sam (a mask model)")
    if args.source == "sam":
        # Fail before listing a large folder: the family is known from --model; a
        # checkpoint's family is known once it is read, which needs torch.
        if args.checkpoint is None:
            require_packages(family_of(args.model or DEFAULT_MODEL))
            check_mode(family_of(args.model or DEFAULT_MODEL), args.dtype, fast)
        else:
            require_packages(family_of(args.model) if args.model else "sam", torch_only=True)
    # a folder of label PNGs or masks given as --images is one error, before any model loads
    images = inputs.check_image_folder(args.images, "--images")
    names = image_names(args.images, args.list)
    found = inputs.available_names(images, inputs.IMAGE_KINDS)
    inputs.check_names_present(names, "--images", args.images, found.__contains__, "{name}.jpg or {name}.png",
                               images, f"--list {args.list}" if args.list else "")
    if args.shard is not None:
        shard = parse_shard(args.shard)
        origin = "--shard"
    else:
        shard = shard_from_env()
        origin = "environment (torchrun/SLURM)"
    if shard is not None and shard[1] > 1:
        names = select_shard(names, *shard)
        print(f"samcam masks: shard {shard[0]}/{shard[1]} from {origin}: {len(names)} images", file=sys.stderr)
    settings = None
    if args.source == "sam":
        settings = _settings(args)
        # Ranges are the same for every family: check them before loading any weights.
        replace(SamSettings(), **{k: v for k, v in settings.items() if k in SETTING_FLAGS}).validate()
        if args.checkpoint is None:  # the family is known: refuse a setting it lacks now, not after a download
            settings_for(family_of(args.model or DEFAULT_MODEL), settings)
    model = args.model if args.model is not None else (None if args.checkpoint else DEFAULT_MODEL)
    result = compute_masks(
        args.images, args.out, names, source=args.source, model=model, checkpoint=args.checkpoint,
        config=args.config, settings=settings, device=args.device, dtype=args.dtype, fast=fast, overwrite=args.overwrite,
        workers=args.workers, decode_threads=args.decode_threads, allow_download=not args.no_download,
        progress=not args.no_progress, command=args.command_line, list_file=args.list,
        # one writer per torchrun/srun job: the first shard, or any shard starting a folder of its own
        record=shard is None or shard[1] == 1 or shard[0] == 0 or not (Path(args.out) / "samcam.json").exists(),
    )
    return report_batch(result, args.prog)

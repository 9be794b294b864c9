"""``samcam masks``: SAM "segment everything" (or weight-free proposals) for every image.

The work is :func:`samcam.sam.pipeline.compute_masks`; this module parses flags, picks
the shard and reports.
"""
from __future__ import annotations

import argparse
import sys

from .. import inputs
from ..sam.generate import DTYPES, SamSettings
from ..sam.pipeline import (
    MissingPackages,
    compute_masks,
    image_names,
    missing_sam_packages,
    parse_shard,
    select_shard,
    shard_from_env,
)
from ..sam.registry import DEFAULT_MODEL, MODEL_NAMES
from .common import add_batch_arguments, report_batch


def add_parser(subparsers) -> None:
    defaults = SamSettings()
    parser = subparsers.add_parser(
        "masks", help="SAM 'segment everything' masks for every image (resumable, sharded)",
        description="Run SAM's automatic mask generator (same masks as segment-anything's "
                    "SamAutomaticMaskGenerator, faster) over an image folder and write {out}/{name}.masks.npz "
                    "per image. Finished images are skipped unless --overwrite. Under torchrun or srun each "
                    "process takes its own shard and GPU.")
    parser.add_argument("--images", required=True, metavar="DIR", help="image folder ({name}.jpg or .png)")
    parser.add_argument("--out", required=True, metavar="DIR", help="output folder (never the image folder)")
    parser.add_argument("--source", choices=("sam", "proposals"), default="sam",
                        help="sam (default) or proposals: weight-free regions, a weaker substitute")
    parser.add_argument("--model", choices=MODEL_NAMES, default=None,
                        help=f"SAM backbone (default {DEFAULT_MODEL}; with --checkpoint, default: whatever the file holds)")
    parser.add_argument("--checkpoint", metavar="FILE",
                        help="local checkpoint (default: the official file in $SAMCAM_CACHE or ~/.cache/samcam, "
                             "downloaded and SHA-256 checked when missing)")
    parser.add_argument("--no-download", action="store_true", help="never download a checkpoint")
    group = parser.add_argument_group("SAM automatic mask generator settings (defaults are SAM's)")
    group.add_argument("--points-per-side", type=int, metavar="N", default=defaults.points_per_side,
                       help=f"default {defaults.points_per_side}")
    group.add_argument("--points-per-batch", type=int, metavar="N", default=defaults.points_per_batch,
                       help=f"point prompts per decoder pass (more is faster on a GPU, same masks; "
                            f"default {defaults.points_per_batch})")
    group.add_argument("--pred-iou-thresh", type=float, metavar="X", default=defaults.pred_iou_thresh,
                       help=f"default {defaults.pred_iou_thresh}")
    group.add_argument("--stability-score-thresh", type=float, metavar="X", default=defaults.stability_score_thresh,
                       help=f"default {defaults.stability_score_thresh}")
    group.add_argument("--box-nms-thresh", type=float, metavar="X", default=defaults.box_nms_thresh,
                       help=f"default {defaults.box_nms_thresh}")
    group.add_argument("--crop-n-layers", type=int, metavar="N", default=defaults.crop_n_layers,
                       help=f"default {defaults.crop_n_layers}")
    group.add_argument("--min-mask-region-area", type=int, metavar="N", default=defaults.min_mask_region_area,
                       help=f"needs opencv when > 0 (default {defaults.min_mask_region_area})")
    parser.add_argument("--device", default="auto", metavar="DEVICE",
                        help="auto (GPU of LOCAL_RANK if any, else CPU; default), cpu, cuda, cuda:N")
    parser.add_argument("--dtype", choices=DTYPES, default="float32",
                        help="float32 (default): the official generator's masks; tf32: TF32 matrix products on "
                             "NVIDIA GPUs (faster, masks nearly identical); bfloat16: autocast (fastest, "
                             "masks may differ slightly)")
    parser.add_argument("--shard", metavar="I/N",
                        help="do every N-th image starting at I (0 <= I < N); default from RANK/WORLD_SIZE "
                             "(torchrun) or SLURM_PROCID/SLURM_NTASKS (srun)")
    parser.add_argument("--decode-threads", type=int, default=2, metavar="N",
                        help="background threads decoding images for SAM (default 2)")
    add_batch_arguments(parser, list_help="image names, one per line (default: every image)",
                        workers_help="processes for --source proposals (SAM runs in one process per GPU; default 1)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if args.source == "sam":
        missing = missing_sam_packages()
        if missing:
            raise MissingPackages(
                f"--source sam needs {', '.join(missing)}, not installed here; install them with "
                "pip install 'samcam[sam]' (or use --source proposals, a weaker weight-free substitute)"
            )
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
        settings = SamSettings(
            points_per_side=args.points_per_side, points_per_batch=args.points_per_batch,
            pred_iou_thresh=args.pred_iou_thresh, stability_score_thresh=args.stability_score_thresh,
            box_nms_thresh=args.box_nms_thresh, crop_n_layers=args.crop_n_layers,
            min_mask_region_area=args.min_mask_region_area,
        )
        settings.validate()
    model = args.model if args.model is not None else (None if args.checkpoint else DEFAULT_MODEL)
    result = compute_masks(
        args.images, args.out, names, source=args.source, model=model, checkpoint=args.checkpoint,
        settings=settings, device=args.device, dtype=args.dtype, overwrite=args.overwrite,
        workers=args.workers, decode_threads=args.decode_threads, allow_download=not args.no_download,
        progress=not args.no_progress,
    )
    return report_batch(result, args.prog)

"""``samcam refine``: pseudo-label PNGs + masks -> refined PNGs (:func:`samcam.folders.refine_dir`)."""
from __future__ import annotations

import argparse

from ..folders import RefineOptions, refine_dir
from ..names import read_name_list
from ..outputs import check_outputs
from .common import add_batch_arguments, add_option, add_rule_arguments, report_batch, rule_params


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "refine", help="refine ready pseudo-label PNGs with masks",
        description="Refine pseudo-label PNGs ({labels}/{name}.png, 0 bg, 1..C-1, 255 ignore) with each "
                    "image's masks (samcam store, amg.py PNG folder or amg.py RLE JSON, auto-detected) and "
                    "write {out}/{name}.png. Resumable: finished outputs are skipped unless --overwrite.",
        epilog="example (CAM pseudo labels and samcam masks' folder of VOC's train_aug images):\n"
               "  samcam refine --labels result/cam_label --masks sam_masks --out result/refined --list train_aug.txt")
    add_option(parser, "--labels", aliases=["--pseudo"], required=True, metavar="DIR",
               help="folder of pseudo-label PNGs ({name}.png)")
    parser.add_argument("--masks", required=True, metavar="DIR", help="folder of per-image masks")
    parser.add_argument("--out", required=True, metavar="DIR", help="output folder (never an input folder)")
    parser.add_argument("--palette", action="store_true",
                        help="write VOC-palette PNGs (default: plain 8-bit L, which imageio-based code needs)")
    add_batch_arguments(parser, list_help="image names, one per line (default: every label PNG of --labels)")
    add_rule_arguments(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    check_outputs(folders={"--out": args.out},
                  reads={"--labels": args.labels, "--masks": args.masks, "--list": args.list})
    names = read_name_list(args.list) if args.list else None  # None: every label PNG (refine_dir checks the folder)
    options = RefineOptions(workers=args.workers, overwrite=args.overwrite, palette=args.palette,
                            mask_order=args.mask_order, progress=not args.no_progress,
                            command=tuple(args.command_line), list_file=args.list)
    result = refine_dir(args.labels, args.masks, args.out, names, options, **rule_params(args))
    return report_batch(result, args.prog)

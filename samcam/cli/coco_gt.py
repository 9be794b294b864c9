"""``samcam coco-gt``: COCO instance annotations -> semantic label PNGs (:func:`samcam.datasets.coco.coco_gt`)."""
from __future__ import annotations

import argparse
import sys

from ..datasets.coco import NAMINGS, coco_gt
from .common import add_batch_arguments, report_batch


def add_parser(subparsers) -> None:
    namings = "\n".join(f"  {name:<7} {text}" for name, text in NAMINGS.items())
    parser = subparsers.add_parser(
        "coco-gt", help="make COCO's semantic ground-truth PNGs from its instance annotations",
        description="Write {out}/{name}.png, 0 background and 1..80 COCO's categories in ascending id, for every "
                    "image of an instances file, as the WSSS repositories' conversion makes them (CLIMS "
                    "mscoco/annToMask.py): non-crowd annotations in file order, later over earlier; an image "
                    "without annotations is all background. Plain 8-bit PNGs. The file is read whole, as "
                    "pycocotools does (several GB of memory for train2014). Resumable: finished labels are "
                    "skipped unless --overwrite.",
        epilog=f"--names (which name each method's evaluator reads):\n{namings}\n\n"
               "example (val2014's ground truth, named as AMN's evaluator reads it):\n"
               "  samcam coco-gt --instances annotations/instances_val2014.json --out coco_seg_anno --names padded")
    parser.add_argument("--instances", required=True, metavar="FILE",
                        help="annotations/instances_train2014.json or instances_val2014.json")
    parser.add_argument("--out", required=True, metavar="DIR", help="output folder, one per split")
    parser.add_argument("--names", choices=tuple(NAMINGS), default="coco",
                        help="label file names: coco (default), id or padded; see below")
    add_batch_arguments(parser, list_help="only these images, one per line, in any of the three namings "
                                          "(e.g. ToCo's datasets/coco/train.txt, AMN's coco14/train14.txt)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    result = coco_gt(args.instances, args.out, naming=args.names, list_file=args.list, workers=args.workers,
                     overwrite=args.overwrite, progress=not args.no_progress, command=args.command_line)
    code = report_batch(result, args.prog)
    if result.done or result.skipped:
        print(f"{args.prog}: labels in {args.out} named {NAMINGS[args.names]}", file=sys.stderr)
    return code

"""``samcam compare``: several mask sources side by side on the same images.

The work is :func:`samcam.sam.compare.compare_mask_sources`; this module parses flags
and reports. ``samcam masks --compare NAME=DIR ...``, the old spelling, still works:
``samcam masks`` keeps the flags hidden and hands them to :func:`run_old_spelling`.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..evaluate import results_json
from ..files import atomic_write_bytes
from ..outputs import check_outputs
from ..sam.compare import compare_mask_sources, format_comparison
from ..vis.mask_report import write_mask_comparison
from .common import add_batch_arguments, add_option, add_rule_arguments, named_dir, names_or_list, rule_params

__all__ = ["add_parser", "add_compare_flags", "run", "run_old_spelling", "EXAMPLE"]

EXAMPLE = """example: SAM's and SAM 2.1's masks of VOC's train images, scored on your CAM pseudo labels
  samcam compare --masks vit_h=masks_vit_h sam2.1_l=masks_sam21_l --labels cam_labels \\
      --gt VOC2012/SegmentationClass --list train.txt --report compare/"""


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "compare", help="compare mask folders (e.g. two mask models): masks per image, mask areas, and the "
                        "mIoU of the pseudo labels refined with each",
        description="Compare mask folders (samcam stores of any model, amg.py PNG folders or RLE JSON) on the "
                    "same images: masks per image, the mask area distribution, how much of each image the masks "
                    "cover, and, with --labels and --gt, the mIoU of the pseudo labels refined with each source "
                    "next to the unrefined ones, with each source's gain over --baseline. An image missing from "
                    "any source (or without pseudo label or ground truth) is left out of all and listed.",
        epilog=EXAMPLE)
    add_option(parser, "--masks", required=True, nargs="+", action="extend", type=named_dir, metavar="NAME=DIR",
               help="mask folders to compare, each optionally named (a bare DIR is named after its folder); "
                    "several after one --masks, or --masks repeated")
    add_compare_flags(parser)
    add_batch_arguments(parser, overwrite=False,
                        list_help="image names (default: every image any --masks folder has)")
    add_rule_arguments(parser)
    parser.set_defaults(run=run)


def add_compare_flags(parser: argparse.ArgumentParser) -> None:
    """``--labels``, ``--gt``, ``--baseline``, ``--report``, ``--json`` (``samcam masks`` takes
    them too, hidden, for its old ``--compare`` spelling)."""
    add_option(parser, "--labels", aliases=["--pseudo"], metavar="DIR",
               help="pseudo-label PNGs: score each source's refined labels (with --gt)")
    parser.add_argument("--gt", metavar="DIR", help="ground truth PNGs for --labels")
    parser.add_argument("--baseline", metavar="NAME",
                        help="the source the refined-mIoU deltas are taken against (default: the first)")
    parser.add_argument("--report", metavar="DIR", help="write an HTML page (table and chart) into DIR")
    parser.add_argument("--json", metavar="FILE", help="write every number as JSON")


def run(args: argparse.Namespace) -> int:
    return _compare(args, args.masks, "--masks")


def run_old_spelling(args: argparse.Namespace) -> int:
    """``samcam masks --compare NAME=DIR ...``: the same comparison, read from masks' flags."""
    print(f"{args.prog}: note: --compare is now its own command, samcam compare --masks NAME=DIR ... "
          "(samcam compare --help)", file=sys.stderr)
    args.list, args.no_progress = args.list_file, not args.progress  # what masks calls them
    return _compare(args, args.compare, "--compare")


def _compare(args: argparse.Namespace, given, flag: str) -> int:
    sources, names, folders = _compare_inputs(args, given, flag)
    comparison = compare_mask_sources(sources, names, pseudo_dir=args.labels, gt_dir=args.gt,
                                      mask_order=args.mask_order, workers=args.workers,
                                      progress=not args.no_progress, **rule_params(args))
    print(format_comparison(comparison, args.baseline))
    for name, reason in comparison["failed"][:20]:
        print(f"  left out {name}: {reason}", file=sys.stderr)
    _write_comparison(comparison, args, folders)
    if not comparison["names"]:
        print(f"{args.prog}: no image could be compared", file=sys.stderr)
        return 1
    return 1 if comparison["failed"] else 0


def _compare_inputs(args: argparse.Namespace, given, flag: str):
    """(sources, names or None, every input folder), refusing before the work what would
    fail after it (two sources of one name, the report folder, the baseline)."""
    sources = dict(given)
    if len(sources) != len(given):
        raise ValueError(f"{flag}: two folders have the same NAME; name them NAME=DIR")
    names = names_or_list(args.list, []) if args.list else None
    folders = list(sources.values()) + [args.labels, args.gt]
    check_outputs(files={"--json": args.json}, folders={"--report": args.report},  # before the work, not after
                  reads={flag: list(sources.values()), "--labels": args.labels, "--gt": args.gt, "--list": args.list})
    if args.baseline is not None and args.baseline not in sources:
        raise ValueError(f"--baseline {args.baseline!r} is not one of the {flag} sources: {', '.join(sources)}")
    return sources, names, folders


def _write_comparison(comparison: dict, args: argparse.Namespace, folders) -> None:
    """``--json`` and ``--report``."""
    if args.json:
        atomic_write_bytes(Path(args.json), results_json(comparison).encode())  # NaN -> null
    if args.report:
        page = write_mask_comparison(comparison, args.report, inputs=folders, baseline=args.baseline)
        print(f"report: {page}", file=sys.stderr)

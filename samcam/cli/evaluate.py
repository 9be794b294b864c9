"""``samcam eval``: mIoU and friends of label folders against the ground truth."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..evaluate import evaluate_dirs, format_table, results_json, write_per_image_csv
from ..io import atomic_write_bytes, clean_stale_temp_files, list_names
from ..viz.report import write_report
from .common import add_batch_arguments, named_dir, names_or_list, print_internal_errors


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "eval", help="mIoU / per-class IoU / precision / recall of label folders",
        description="Dataset-level scores from one confusion matrix per prediction folder (not a mean of "
                    "per-image scores). GT 255 is ignored; a prediction's 255 counts as a miss.")
    parser.add_argument("--gt", required=True, metavar="DIR", help="ground-truth PNG folder (e.g. SegmentationClass)")
    parser.add_argument("--pred", required=True, action="append", type=named_dir, metavar="NAME=DIR",
                        help="a prediction folder, optionally named (repeat: before/after side by side)")
    parser.add_argument("--num-classes", type=int, default=21, help="classes including background (default 21)")
    parser.add_argument("--json", metavar="FILE", help="also write every number as JSON")
    parser.add_argument("--per-image", metavar="FILE.csv",
                        help="also write one CSV row per image and --pred: name, set, miou (mean IoU over the classes "
                             "in the image's GT or that prediction, on valid GT pixels), pixel_acc, labelled, classes")
    parser.add_argument("--report", metavar="DIR", help="also write an HTML report (DIR/index.html): tables, "
                        "per-class IoU chart, panels of the images the second --pred helped / hurt most")
    parser.add_argument("--images", metavar="DIR", help="image folder, for the report's panels")
    parser.add_argument("--masks", metavar="DIR", help="mask folder, adds a mask column to the report's panels")
    add_batch_arguments(parser, overwrite=False, list_help="image names (default: every PNG of the first --pred)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    preds = dict(args.pred)
    names = names_or_list(args.list, list_names(args.pred[0][1], (".png",)))
    if not names:
        raise ValueError("no images to evaluate (empty list or prediction folder)")
    results = evaluate_dirs(args.gt, preds, names, num_classes=args.num_classes, workers=args.workers,
                            progress=not args.no_progress, per_image=bool(args.per_image))
    print(format_table(results))
    if args.per_image:
        write_per_image_csv(results.pop("per_image"), args.per_image)
        print(f"per-image numbers written to {args.per_image}", file=sys.stderr)
    if args.json:
        clean_stale_temp_files(Path(args.json).parent)
        atomic_write_bytes(args.json, results_json(results).encode())
        print(f"metrics written to {args.json}", file=sys.stderr)
    if args.report:
        page = write_report(results, args.report, images_dir=args.images, pred_dirs=preds, gt_dir=args.gt,
                            masks_dir=args.masks, names=names, num_classes=args.num_classes, workers=args.workers,
                            progress=not args.no_progress)
        print(f"report written to {page}", file=sys.stderr)
    if results["failed"]:
        print(f"{len(results['failed'])} images left out of every set:", file=sys.stderr)
        for name, reason in results["failed"]:
            print(f"  {name}: {reason}", file=sys.stderr)
        print_internal_errors(results["internal_errors"], "eval")
        return 3 if results["internal_errors"] else 1
    return 0

"""``samcam eval``: mIoU and friends of label folders against the ground truth."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence, Tuple

from ..classes import class_names, read_class_names
from ..evaluate import (
    evaluate_dirs,
    format_table,
    resolve_baseline,
    results_json,
    with_class_names,
    write_per_image_csv,
)
from ..files import atomic_write_bytes, clean_stale_temp_files
from ..names import read_name_list
from ..outputs import check_outputs
from ..vis.report import ReportData, ReportOptions, write_report
from .common import (
    add_batch_arguments,
    add_option,
    class_count,
    named_dir,
    positive_int,
    print_failures,
    print_internal_errors,
)


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "eval", help="mIoU / per-class IoU / precision / recall of label folders",
        description="Dataset-level scores from one confusion matrix per label folder (not a mean of "
                    "per-image scores), in %. GT 255 is ignored; a label's 255 counts as a miss. With several "
                    "--labels, a delta column per set against --baseline.",
        epilog="example (VOC train: the CAM labels and the refined ones, with an HTML report):\n"
               "  samcam eval --gt VOC2012/SegmentationClass --labels cam=result/cam_label "
               "--labels samcam=result/refined --list train.txt --report report")
    parser.add_argument("--gt", required=True, metavar="DIR", help="ground-truth PNG folder (e.g. SegmentationClass)")
    add_option(parser, "--labels", aliases=["--pred"], required=True, action="append", type=named_dir,
               metavar="NAME=DIR", help="a label folder to score, optionally named (repeat: before/after side by side)")
    parser.add_argument("--baseline", metavar="NAME",
                        help="the --labels set the deltas are taken against (default: the first)")
    parser.add_argument("--num-classes", type=class_count, metavar="N",
                        help="classes including background: 21 for VOC (the default), 81 for COCO (COCO's names in "
                             "the table and report); with --class-names, the file's count")
    parser.add_argument("--class-names", metavar="FILE",
                        help="class names for the table and report: one per line in class-index order, background "
                             "first; 'name' or 'name: phrase'; blank lines and # comments skipped")
    parser.add_argument("--json", metavar="FILE", help="also write every number as JSON (fractions, not %%)")
    parser.add_argument("--per-image", metavar="FILE",
                        help="also write one CSV row per image and --labels set: name, set, miou (mean IoU over the "
                             "classes in the image's GT or that set, on valid GT pixels), pixel_acc, labelled, "
                             "classes (fractions, not %%)")
    report = parser.add_argument_group("HTML report")
    report.add_argument("--report", metavar="DIR", help="also write an HTML report (DIR/index.html): where the numbers "
                        "come from, tables, per-class IoU chart, panels of the images the first set after the "
                        "baseline improved and worsened most")
    report.add_argument("--images", metavar="DIR", help="image folder, for the report's panels")
    report.add_argument("--masks", metavar="DIR", help="mask folder, adds a mask column to the report's panels")
    report.add_argument("--top", type=positive_int, default=4, metavar="N",
                        help="images shown as most improved, and as least improved (default 4)")
    add_batch_arguments(parser, overwrite=False, list_help="image names (default: every PNG of the first --labels)")
    parser.set_defaults(run=run)


def _classes(args: argparse.Namespace) -> Tuple[int, Sequence[str]]:
    """(number of classes, their names): --class-names's, else VOC's, COCO's or generic ones for
    --num-classes; a file and a --num-classes that disagree are a usage error."""
    if not args.class_names:
        num_classes = args.num_classes or 21
        return num_classes, class_names(num_classes)
    names = read_class_names(args.class_names).names
    if args.num_classes is not None and args.num_classes != len(names):
        raise ValueError(f"--class-names {args.class_names} lists {len(names)} classes (background first) but "
                         f"--num-classes is {args.num_classes}; drop --num-classes or fix the file")
    return len(names), names


def run(args: argparse.Namespace) -> int:
    args.num_classes, labels = _classes(args)
    preds = dict(args.labels)
    if len(preds) != len(args.labels):
        raise ValueError("two --labels sets have the same NAME; name them NAME=DIR")
    baseline = resolve_baseline(list(preds), args.baseline)
    check_outputs(files={"--per-image": args.per_image, "--json": args.json}, folders={"--report": args.report},
                  reads={"--gt": args.gt, "--labels": list(preds.values()), "--images": args.images,
                         "--masks": args.masks, "--list": args.list, "--class-names": args.class_names})
    names = read_name_list(args.list) if args.list else None  # None: every PNG of the first --labels
    results = evaluate_dirs(args.gt, preds, names, num_classes=args.num_classes, workers=args.workers,
                            progress=not args.no_progress, per_image=bool(args.per_image))
    with_class_names(results, labels, f"--class-names {args.class_names}")
    evaluated = next(iter(results["sets"].values()))["num_images"]
    if evaluated:  # a table of "-" would say nothing
        print(format_table(results, baseline))
    if args.per_image:
        write_per_image_csv(results.pop("per_image"), args.per_image)
        print(f"per-image numbers written to {args.per_image}", file=sys.stderr)
    if args.json:
        clean_stale_temp_files(Path(args.json).parent)
        atomic_write_bytes(args.json, results_json(results).encode())
        print(f"metrics written to {args.json}", file=sys.stderr)
    if args.report and evaluated:
        page = write_report(ReportData(results, pred_dirs=preds, gt_dir=args.gt, images_dir=args.images,
                                       masks_dir=args.masks, names=names, list_file=args.list,
                                       command=args.command_line),
                            args.report, ReportOptions(top=args.top, baseline=baseline, num_classes=args.num_classes,
                                                       workers=args.workers, progress=not args.no_progress))
        print(f"report written to {page}", file=sys.stderr)
    if results["failed"]:
        print(f"{args.prog}: {len(results['failed'])} image(s) left out of every set", file=sys.stderr)
        print_failures(results["failed"], args.prog, everything=not evaluated)
        print_internal_errors(results["internal_errors"], args.prog)
        return 3 if results["internal_errors"] else 1
    return 0

"""``samcam vis``: picture panels (:func:`samcam.viz.panels.render_panels`), optionally of the
images whose per-image mIoU rose or fell most (:func:`samcam.evaluate.score_images`)."""
from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

from ..evaluate import score_images, select_changed
from ..io import list_names
from ..viz.panels import render_panels
from .common import add_batch_arguments, named_dir, names_or_list, positive_int, report_batch


def _alpha(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"--alpha must be within 0..1, got {text}")
    return value


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "vis",
        help="draw picture panels: image | label sets | SAM masks | ground truth",
        description=(
            "Write one PNG per image to --out: the image, each label set over it in the VOC "
            "palette, the masks in random colours with outlines, and the ground truth, with the class "
            "names present. NAMEs choose the images (the reference code's --vis_sample); else --list "
            "(default: every label of the first --labels), of which --best/--worst/--random pick K."
        ),
    )
    parser.add_argument("names", nargs="*", metavar="NAME",
                        help="images to draw, by name (e.g. 2007_000032); instead of --list/--best/--worst/--random")
    parser.add_argument("--images", required=True, metavar="DIR", help="image folder ({name}.jpg or {name}.png)")
    parser.add_argument(
        "--labels", required=True, action="append", type=named_dir, metavar="NAME=DIR",
        help="a label folder ({name}.png) and its column title; repeat for several (e.g. cam=... refined=...)",
    )
    parser.add_argument("--masks", metavar="DIR", help="mask folder (samcam mask store or amg.py output)")
    parser.add_argument("--gt", metavar="DIR", help="ground-truth label folder ({name}.png)")
    parser.add_argument("--out", required=True, metavar="DIR", help="output folder for the panels")
    pick = parser.add_mutually_exclusive_group()
    pick.add_argument("--best", type=positive_int, metavar="K",
                      help="the K images whose mIoU rose most from the first to the second --labels")
    pick.add_argument("--worst", type=positive_int, metavar="K", help="the K images whose mIoU fell most (or rose least)")
    pick.add_argument("--random", type=positive_int, metavar="K", help="K images at random (see --seed)")
    parser.add_argument("--seed", type=int, default=0, metavar="S",
                        help="seed of --random and of the mask colours (default 0)")
    parser.add_argument("--alpha", type=_alpha, default=0.6, metavar="A",
                        help="weight of label colours over the image (default 0.6)")
    parser.add_argument("--num-classes", type=positive_int, default=21, metavar="N",
                        help="number of classes incl. background (default 21, VOC)")
    add_batch_arguments(parser, list_help="image names, one per line (the pool for --best/--worst/--random)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    for flag, folder in [("--images", args.images), ("--masks", args.masks), ("--gt", args.gt)] + [
        ("--labels", folder) for _, folder in args.labels
    ]:
        if folder is not None and not Path(folder).is_dir():
            raise FileNotFoundError(f"{flag} {folder}: not a folder")
    mode = "best" if args.best is not None else "worst" if args.worst is not None else None
    if args.names:
        picked = [flag for flag, value in (("--list", args.list), ("--best", args.best), ("--worst", args.worst),
                                           ("--random", args.random)) if value is not None]
        if picked:
            raise ValueError(f"NAMEs choose the images: drop {', '.join(picked)}")
        pool = list(dict.fromkeys(args.names))
    else:
        pool = names_or_list(args.list, list_names(args.labels[0][1], (".png",)))
    if not pool:
        raise ValueError(f"no .png labels in {args.labels[0][1]}; give --list FILE or NAMEs")
    chosen = pool
    if mode is not None:
        if args.gt is None or len(args.labels) < 2:
            raise ValueError(f"--{mode} compares the first two --labels against --gt: give both")
        scores, problems = score_images(
            pool, args.labels[0][1], args.labels[1][1], args.gt, args.num_classes, workers=args.workers
        )
        if problems:
            print(f"{len(problems)} image(s) not ranked (no ground truth or unreadable), e.g. "
                  f"{problems[0][0]}: {problems[0][1]}", file=sys.stderr)
        if not scores:
            raise ValueError("no image could be scored against --gt")
        chosen = select_changed(scores, getattr(args, mode), mode)
        first, second = args.labels[0][0], args.labels[1][0]
        print(f"{'name':<20} {first:>10} {second:>10} {'change':>8}")
        for name in chosen:
            before, after = scores[name]
            print(f"{name:<20} {before:>10.4f} {after:>10.4f} {after - before:>+8.4f}")
    elif args.random is not None:
        chosen = sorted(random.Random(args.seed).sample(pool, min(args.random, len(pool))))
    result = render_panels(
        chosen,
        images_dir=args.images,
        label_dirs=args.labels,
        out_dir=args.out,
        masks_dir=args.masks,
        gt_dir=args.gt,
        alpha=args.alpha,
        num_classes=args.num_classes,
        seed=args.seed,
        workers=args.workers,
        overwrite=args.overwrite,
        progress=not args.no_progress,
    )
    print(f"panels in {args.out}")
    return report_batch(result, "vis")

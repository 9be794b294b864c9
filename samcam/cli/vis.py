"""``samcam vis``: picture panels (:func:`samcam.vis.panels.render_panels`), optionally of the
images whose per-image mIoU rose or fell most (:func:`samcam.evaluate.score_images`)."""
from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path
from typing import Callable, List, Optional

from .. import inputs, provenance
from ..batch import BatchResult
from ..evaluate import resolve_baseline, score_images, select_changed
from ..names import list_names
from ..outputs import check_outputs
from ..settings import SettingsError
from ..vis.page import printable
from ..vis.panels import PanelSettings, PanelSources, render_panels
from .common import add_batch_arguments, named_dir, names_or_list, positive_int, print_failures, report_batch
from .flags import add_settings_flags, flag_error, settings_from_args


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "vis",
        help="draw picture panels: image | label sets | SAM masks | ground truth | what changed",
        description=(
            "Write one PNG per image to --out: the image, each label set over it in the VOC "
            "palette, the masks in random colours with outlines, and the ground truth, with the class "
            "names present. With --gt, each label set's title carries its per-image mIoU and, with two or "
            "more sets, a last column shows what changed from --baseline to the next set: pixels fixed in "
            "green, broken in red. NAMEs choose the images (the reference code's --vis_sample); else --list "
            "(default: every label of the first --labels), of which --best/--worst/--random pick N."
        ),
        epilog="example (the 5 images the refinement helped most):\n"
               "  samcam vis --images VOC2012/JPEGImages --gt VOC2012/SegmentationClass --labels cam=result/cam_label "
               "--labels samcam=result/refined --masks sam_masks --best 5 --out vis_best",
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
    pick.add_argument("--best", type=positive_int, metavar="N",
                      help="the N images whose mIoU rose most from --baseline to the next --labels set")
    pick.add_argument("--worst", type=positive_int, metavar="N",
                      help="the N images whose mIoU fell most (or rose least) from --baseline to the next set")
    pick.add_argument("--random", type=positive_int, metavar="N", help="N images at random (see --seed)")
    parser.add_argument("--baseline", metavar="NAME",
                        help="--best/--worst and the change column: the --labels set the change is measured from, "
                             "to the first other set (default: the first --labels)")
    add_settings_flags(parser, PanelSettings, only=("seed", "alpha", "num_classes"))
    add_batch_arguments(parser, list_help="image names, one per line (default: every label of the first --labels; "
                                          "the pool for --best/--worst/--random)")
    parser.set_defaults(run=run)


def _check_folders(args: argparse.Namespace) -> None:
    """Every folder given exists, and no two --labels sets share a name."""
    for flag, folder in [("--images", args.images), ("--masks", args.masks), ("--gt", args.gt)] + [
        ("--labels", folder) for _, folder in args.labels
    ]:
        if folder is not None and not Path(folder).is_dir():
            raise FileNotFoundError(f"{flag} {folder}: not a folder")
    set_names = [name for name, _ in args.labels]
    if len(set(set_names)) != len(set_names):
        raise ValueError("two --labels sets have the same NAME; name them NAME=DIR")


def _check_inputs(args: argparse.Namespace) -> Callable[[List[str]], None]:
    """Folders of the wrong kind are one error before any drawing; returns the check that
    the folders hold some of the images to draw (run on the pool once it is known)."""
    checks = [("--images", args.images, inputs.check_image_folder(args.images, "--images"), inputs.IMAGE_KINDS,
               "{name}.jpg or {name}.png")]
    checks += [("--labels", folder, inputs.check_label_folder(folder, "--labels"), inputs.LABEL_KINDS, "{name}.png")
               for _, folder in args.labels]
    if args.gt is not None:
        checks.append(("--gt", args.gt, inputs.check_label_folder(args.gt, "--gt"), inputs.LABEL_KINDS, "{name}.png"))
    if args.masks is not None:
        checks.append(("--masks", args.masks, inputs.check_mask_folder(args.masks, "--masks"), inputs.MASK_KINDS,
                       "{name}.masks.npz, {name}.json or {name}/"))

    def present(pool: List[str]) -> None:
        for flag, folder, contents, kinds, pattern in checks:
            have = inputs.available_names(contents, kinds)
            inputs.check_names_present(pool, flag, folder, have.__contains__, pattern, contents)

    return present


def _pool(args: argparse.Namespace) -> List[str]:
    """The images to choose from: the NAMEs given, else --list, else every label of the first set."""
    if args.names:
        picked = [flag for flag, value in (("--list", args.list), ("--best", args.best), ("--worst", args.worst),
                                           ("--random", args.random)) if value is not None]
        if picked:
            raise ValueError(f"NAMEs choose the images: drop {', '.join(picked)}")
        return list(dict.fromkeys(args.names))
    pool = names_or_list(args.list, list_names(args.labels[0][1], (".png",)))
    if not pool:
        raise ValueError(f"no .png labels in {args.labels[0][1]}; give --list FILE or NAMEs")
    return pool


def _ranked(args: argparse.Namespace, pool: List[str], mode: str) -> List[str]:
    """--best/--worst: the images whose per-image mIoU changed most, their scores printed."""
    if args.gt is None or len(args.labels) < 2:
        raise ValueError(f"--{mode} compares two --labels sets against --gt: give both")
    set_names = [name for name, _ in args.labels]
    base = resolve_baseline(set_names, args.baseline)
    other = next(name for name in set_names if name != base)
    folders = dict(args.labels)
    scores, problems = score_images(pool, folders[base], folders[other], args.gt, args.num_classes,
                                    workers=args.workers)
    if not scores:
        print_failures(problems, args.prog, everything=True)
        raise ValueError(f"no image could be scored against --gt {args.gt} (see above)")
    if problems:
        print(f"{args.prog}: {len(problems)} image(s) not ranked (no ground truth or unreadable)", file=sys.stderr)
        print_failures(problems, args.prog)
    chosen = select_changed(scores, getattr(args, mode), mode)
    print(f"per-image mIoU (%), {other} against {base}:")
    print(f"{'name':<20} {base:>12} {other:>12} {'Δ':>8}")
    for name in chosen:
        before, after = scores[name]
        print(f"{printable(name):<20} {100 * before:>12.2f} {100 * after:>12.2f} {100 * (after - before):>+8.2f}")
    return chosen


def _choose(args: argparse.Namespace, pool: List[str]) -> List[str]:
    mode: Optional[str] = "best" if args.best is not None else "worst" if args.worst is not None else None
    if mode is not None:
        return _ranked(args, pool, mode)
    if args.random is not None:
        return sorted(random.Random(args.seed).sample(pool, min(args.random, len(pool))))
    return pool


def _draw(args: argparse.Namespace, chosen: List[str]) -> BatchResult:
    """The panels of ``chosen`` written into --out (resumable)."""
    try:
        settings = settings_from_args(PanelSettings, args)
    except SettingsError as error:
        raise ValueError(flag_error(error, PanelSettings)) from None
    sources = PanelSources(images_dir=args.images, label_dirs=tuple(args.labels), masks_dir=args.masks,
                           gt_dir=args.gt, baseline=args.baseline)
    return render_panels(chosen, sources, args.out, settings, workers=args.workers, overwrite=args.overwrite,
                         progress=not args.no_progress)


def _claim(args: argparse.Namespace, chosen: List[str]) -> provenance.Claim:
    """The --out folder's samcam.json checked and written, its lock held: a rerun with other
    labels, masks or drawing settings is refused instead of keeping the old panels."""
    folders = {"images": args.images, "masks": args.masks, "gt": args.gt}
    folders.update({f"labels {name}": folder for name, folder in args.labels})
    settings = {"tool": "vis", "alpha": args.alpha, "num_classes": args.num_classes, "seed": args.seed,
                "baseline": args.baseline,
                "inputs": {key: str(Path(value).resolve()) if value else None for key, value in folders.items()}}
    run = provenance.RunInfo(chosen, overwrite=args.overwrite, command=args.command_line, list_file=args.list)
    return provenance.claim(args.out, provenance.PANELS, settings, run, inputs=folders)


def run(args: argparse.Namespace) -> int:
    check_outputs(folders={"--out": args.out},
                  reads={"--images": args.images, "--labels": [folder for _, folder in args.labels],
                         "--masks": args.masks, "--gt": args.gt, "--list": args.list})
    _check_folders(args)
    check_present = _check_inputs(args)
    pool = _pool(args)
    if not args.names:  # NAMEs: each draws or fails alone
        check_present(pool)
    chosen = _choose(args, pool)
    with _claim(args, chosen) as claimed:
        result = _draw(args, chosen)
        if not result.done and not result.skipped:  # every image failed: no folder of nothing but a record
            claimed.undo_if_empty()
    if result.done or result.skipped:  # not when every image failed: the folder may not even exist
        print(f"panels in {args.out}")
    return report_batch(result, args.prog)

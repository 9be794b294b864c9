"""``samcam adapt`` / ``samcam-adapt``: refine a WSSS method's pseudo labels in its own layout.

    samcam-adapt --method irn --cams result/cam --masks sam_masks --out result/sem_seg_sam

reads each ``{name}.npy`` CAM (or ``--source png --labels DIR``: each ``{name}.png``
pseudo label the method already wrote), makes the method's own pseudo label, refines
it with ``{masks}/{name}.*`` and writes ``{out}/{name}.png`` in the PNG mode the
method's next stage reads; at the end it prints what to pass to that stage.
"""
from __future__ import annotations

import argparse
import functools
from pathlib import Path
from typing import List

from samcam import io as samcam_io
from samcam.batch import run_batch
from samcam.commands import add_batch_arguments, add_rule_arguments, report_batch, rule_params

from . import available, get
from .base import adapt_one


def add_subcommand(subparsers) -> None:
    """Register ``adapt`` on the ``samcam`` parser."""
    parser = subparsers.add_parser(
        "adapt",
        help="refine a WSSS method's CAMs or pseudo labels (IRN, AMN, CLIMS, MCTformer, ToCo)",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
    )
    parser.add_argument("--method", required=True, choices=available(), help="the WSSS method that wrote the inputs")
    parser.add_argument("--cams", type=Path, help="folder of the method's CAM {name}.npy files (--source cam)")
    parser.add_argument("--masks", type=Path, required=True, help="folder of masks per image (samcam store, amg.py PNG folders or RLE JSON)")
    parser.add_argument("--out", type=Path, required=True, help="folder for the refined {name}.png labels (must not be an input folder)")
    parser.add_argument(
        "--source", choices=("cam", "png"), default="cam",
        help="cam: threshold the method's CAMs its own way (default); png: refine label PNGs it already wrote (--labels)",
    )
    parser.add_argument("--labels", type=Path, help="folder of the method's pseudo-label {name}.png files (--source png)")
    parser.add_argument("--threshold", type=float, help="background threshold for CAMs (default: the method's own)")
    parser.add_argument("--use-scores", action="store_true", help="give refine the CAM scores, not only the hard label (samcam rule, --source cam)")
    parser.add_argument("--palette", action="store_true", help="write VOC-palette PNGs (only for methods whose next stage reads with PIL: mctformer)")
    add_batch_arguments(parser)  # --list (default: every CAM/label file found), --workers, --overwrite
    add_rule_arguments(parser)   # --rule, --num-classes and the rule's parameters, as `samcam refine`
    parser.set_defaults(func=run_adapt)


def _default_names(folder: Path, suffix: str) -> List[str]:
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: folder does not exist")
    names = sorted(path.name[: -len(suffix)] for path in folder.iterdir() if path.name.endswith(suffix) and path.is_file())
    if not names:
        raise ValueError(f"{folder}: no *{suffix} files found")
    return names


def run_adapt(args: argparse.Namespace) -> int:
    """Run ``samcam adapt`` from parsed arguments; returns the exit code (1 if any image failed)."""
    adapter = get(args.method)
    if args.source == "cam":
        if args.cams is None:
            raise ValueError("--source cam needs --cams DIR (the method's CAM .npy folder, e.g. "
                             f"{adapter.cam_dir}); or refine label PNGs with --source png --labels DIR")
        if args.labels is not None:
            raise ValueError("--labels is read only with --source png; drop it or add --source png")
        input_dir = args.cams
    else:
        if args.labels is None:
            sets = ", ".join(label_set.path for label_set in adapter.label_sets) or "its pseudo-label folder"
            raise ValueError(f"--source png needs --labels DIR ({adapter.title} writes {sets})")
        if args.threshold is not None:
            raise ValueError("--threshold applies to CAMs (--source cam); label PNGs are already thresholded")
        if args.use_scores:
            raise ValueError("--use-scores needs CAMs (--source cam)")
        input_dir = args.labels
    if args.use_scores and args.rule == "official":
        raise ValueError("--rule official uses the hard label only; drop --use-scores")
    if args.palette and not adapter.palette_allowed:
        raise ValueError(
            f"--palette: {adapter.title} reads labels with imageio, which turns a palette PNG into RGB; "
            "its labels are written as plain 8-bit PNGs"
        )
    if not 2 <= args.num_classes <= 255:
        raise ValueError(f"--num-classes must be in 2..255, got {args.num_classes}")
    if not args.masks.is_dir():
        raise FileNotFoundError(f"--masks {args.masks}: folder does not exist")
    samcam_io.ensure_not_inside(args.out, [args.cams, args.labels, args.masks])

    suffix = ".npy" if args.source == "cam" else ".png"
    names = samcam_io.read_name_list(args.list) if args.list else _default_names(input_dir, suffix)
    job = functools.partial(
        adapt_one,
        method=adapter.name,
        out_dir=str(args.out),
        masks_dir=str(args.masks),
        cams_dir=str(args.cams) if args.source == "cam" else None,
        labels_dir=str(args.labels) if args.source == "png" else None,
        threshold=args.threshold,
        num_classes=args.num_classes,
        palette=args.palette,
        use_scores=args.use_scores,
        refine_params=rule_params(args),
        mask_order=args.mask_order,
    )
    args.out.mkdir(parents=True, exist_ok=True)
    result = run_batch(
        names,
        job,
        output_path=lambda name: args.out / f"{name}.png",
        workers=args.workers,
        overwrite=args.overwrite,
        desc=f"adapt {adapter.name}",
        progress=not args.no_progress,
    )
    if result.done or result.skipped:
        print(adapter.hint(args.out, palette=args.palette))
    return report_batch(result, f"adapt {adapter.name}")

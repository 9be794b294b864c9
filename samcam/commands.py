"""Core subcommands: ``samcam refine``, ``samcam eval`` and ``samcam demo``."""
from __future__ import annotations

import argparse
import functools
import json
import sys
from pathlib import Path
from typing import Dict, List, Optional

from . import masks as mask_store
from .batch import BatchResult, run_batch
from .io import atomic_write_bytes, ensure_not_inside, read_label_png, read_name_list, write_label_png
from .refine import RULES, refine

__all__ = ["add_subcommand", "add_rule_arguments", "rule_params", "refine_dir", "report_batch"]


# ------------------------------------------------------------------ shared arguments

def add_rule_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of the refinement rule, shared by ``refine`` and ``adapt``."""
    group = parser.add_argument_group("refinement rule (see README: 'The rule')")
    group.add_argument("--rule", choices=RULES, default="samcam",
                       help="samcam: order-independent default; official: the reference code's rule, bit-exact")
    group.add_argument("--num-classes", type=int, default=21,
                       help="classes including background: 21 for VOC (default), 81 for COCO")
    group.add_argument("--ratio-thresh", type=float, default=0.5,
                       help="keep a mask for a class holding more than this fraction of it (default 0.5)")
    group.add_argument("--cover-thresh", type=float, default=0.85,
                       help="also keep a mask covering at least this fraction of a class region (default 0.85)")
    group.add_argument("--cover-min-ratio", type=float, default=0.2,
                       help="samcam: ... if at least this fraction of the mask is that class (default 0.2)")
    group.add_argument("--background-thresh", type=float, default=0.5,
                       help="samcam, with --keep-unclaimed: a mask more than this fraction background paints "
                            "background (default 0.5)")
    group.add_argument("--keep-unclaimed", action="store_true",
                       help="samcam: masks no class claims do NOT paint background (only masks more than "
                            "--background-thresh background do); CAM foreground under them is kept")
    group.add_argument("--no-background-masks", action="store_true",
                       help="samcam: never paint background from masks (keeps CAM false activation)")
    group.add_argument("--conflict", choices=("smaller", "ratio"), default="smaller",
                       help="samcam: overlapping kept masks: the smaller one wins (default) or the higher ratio")
    group.add_argument("--ignore", choices=("keep", "background"), default="keep",
                       help="samcam: ignore (255) pixels no kept mask covers stay 255 (keep) or become 0")
    group.add_argument("--mask-order", choices=("numeric", "listdir"), default="numeric",
                       help="order of amg.py PNG masks: 0.png, 1.png, ... (default) or the file system's "
                            "(only to reproduce the reference code's order-dependent output)")


def rule_params(args: argparse.Namespace) -> Dict[str, object]:
    """Keyword arguments for :func:`samcam.refine` from the parsed rule flags."""
    params: Dict[str, object] = {"rule": args.rule, "num_classes": args.num_classes,
                                 "ratio_thresh": args.ratio_thresh, "cover_thresh": args.cover_thresh}
    if args.rule == "samcam":
        params.update(cover_min_ratio=args.cover_min_ratio, background_thresh=args.background_thresh,
                      background_masks=not args.no_background_masks, conflict=args.conflict, ignore=args.ignore,
                      unclaimed_background=not args.keep_unclaimed)
    return params


def add_batch_arguments(parser: argparse.ArgumentParser) -> None:
    """``--list``, ``--workers``, ``--overwrite``, ``--no-progress``: every batch command has them."""
    parser.add_argument("--list", metavar="FILE", help="image names, one per line (default: every file found)")
    parser.add_argument("--workers", type=int, default=1, metavar="N",
                        help="worker processes (results do not depend on N; default 1)")
    parser.add_argument("--overwrite", action="store_true", help="redo images whose output already exists")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def report_batch(result: BatchResult, what: str) -> int:
    """Print a batch summary to stderr; exit code 1 if any image failed, else 0."""
    print(f"{what}: {result.summary()}", file=sys.stderr)
    return 0 if result.ok else 1


def _names_from(list_file: Optional[str], folder: Path, suffix: str) -> List[str]:
    if list_file:
        return read_name_list(list_file)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: folder does not exist")
    return sorted(p.name[: -len(suffix)] for p in folder.iterdir() if p.name.endswith(suffix))


# ----------------------------------------------------------------------------- refine

def _refine_one(name: str, pseudo_dir: str, mask_dir: str, out_dir: str, params: Dict[str, object],
                palette: bool, mask_order: str) -> None:
    label_path = Path(pseudo_dir) / f"{name}.png"
    if not label_path.exists():
        raise FileNotFoundError(f"{label_path}: pseudo label missing")
    label = read_label_png(label_path)
    mask_path = mask_store.find(mask_dir, name)
    masks = mask_store.load(mask_path, png_order=mask_order)
    try:
        refined = refine(label, masks, **params)
    except ValueError as error:
        raise ValueError(f"{label_path} with {mask_path}: {error}") from None
    write_label_png(Path(out_dir) / f"{name}.png", refined, palette=palette)


def refine_dir(pseudo_dir, mask_dir, out_dir, names=None, *, workers=1, overwrite=False, palette=False,
               mask_order="numeric", progress=True, **params) -> BatchResult:
    """Refine every pseudo-label PNG ``{pseudo_dir}/{name}.png`` with its masks.

    Writes ``{out_dir}/{name}.png`` (mode L, or VOC palette with ``palette``) atomically,
    skipping finished outputs unless ``overwrite``; ``params`` go to :func:`samcam.refine`.
    Returns the :class:`~samcam.batch.BatchResult` (failures are collected, not raised).
    """
    ensure_not_inside(out_dir, [pseudo_dir, mask_dir])
    names = list(names) if names is not None else _names_from(None, Path(pseudo_dir), ".png")
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    job = functools.partial(_refine_one, pseudo_dir=str(pseudo_dir), mask_dir=str(mask_dir), out_dir=str(out_dir),
                            params=params, palette=palette, mask_order=mask_order)
    return run_batch(names, job, lambda n: Path(out_dir) / f"{n}.png", workers=workers, overwrite=overwrite,
                     desc="refine", progress=progress)


def _cmd_refine(args: argparse.Namespace) -> int:
    names = _names_from(args.list, Path(args.pseudo), ".png")
    result = refine_dir(args.pseudo, args.masks, args.out, names, workers=args.workers, overwrite=args.overwrite,
                        palette=args.palette, mask_order=args.mask_order, progress=not args.no_progress,
                        **rule_params(args))
    return report_batch(result, "refine")


# ------------------------------------------------------------------------------- eval

def _parse_pred(spec: str) -> tuple:
    if "=" in spec:
        name, folder = spec.split("=", 1)
        return name, folder
    return Path(spec.rstrip("/")).name, spec


def _cmd_eval(args: argparse.Namespace) -> int:
    from .evaluate import evaluate_dirs, format_table

    preds = dict(_parse_pred(p) for p in args.pred)
    names = _names_from(args.list, Path(next(iter(preds.values()))), ".png")
    if not names:
        raise ValueError("no images to evaluate (empty list or prediction folder)")
    results = evaluate_dirs(args.gt, preds, names, num_classes=args.num_classes, workers=args.workers,
                            progress=not args.no_progress)
    print(format_table(results))
    if args.json:
        atomic_write_bytes(args.json, json.dumps(results, indent=1).encode())
        print(f"metrics written to {args.json}", file=sys.stderr)
    if args.report:
        from .report import write_report

        page = write_report(results, args.report, images_dir=args.images, pred_dirs=preds, gt_dir=args.gt,
                            masks_dir=args.masks, names=names, num_classes=args.num_classes, workers=args.workers)
        print(f"report written to {page}", file=sys.stderr)
    if results["failed"]:
        print(f"{len(results['failed'])} images left out of every set:", file=sys.stderr)
        for name, reason in results["failed"]:
            print(f"  {name}: {reason}", file=sys.stderr)
        return 1
    return 0


# ------------------------------------------------------------------------------- demo

def _cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    run_demo(args.out, num_images=args.num_images, seed=args.seed, workers=args.workers)
    return 0


def add_subcommand(subparsers) -> None:
    """Register ``refine``, ``eval`` and ``demo``."""
    parser = subparsers.add_parser(
        "refine", help="refine ready pseudo-label PNGs with masks",
        description="Refine pseudo-label PNGs ({pseudo}/{name}.png, 0 bg, 1..C-1, 255 ignore) with each "
                    "image's masks (samcam store, amg.py PNG folder or amg.py RLE JSON, auto-detected) and "
                    "write {out}/{name}.png. Resumable: finished outputs are skipped unless --overwrite.")
    parser.add_argument("--pseudo", required=True, metavar="DIR", help="folder of pseudo-label PNGs")
    parser.add_argument("--masks", required=True, metavar="DIR", help="folder of per-image masks")
    parser.add_argument("--out", required=True, metavar="DIR", help="output folder (never an input folder)")
    parser.add_argument("--palette", action="store_true",
                        help="write VOC-palette PNGs (default: plain 8-bit L, which imageio-based code needs)")
    add_batch_arguments(parser)
    add_rule_arguments(parser)
    parser.set_defaults(func=_cmd_refine)

    parser = subparsers.add_parser(
        "eval", help="mIoU / per-class IoU / precision / recall of label folders",
        description="Dataset-level scores from one confusion matrix per prediction folder (not a mean of "
                    "per-image scores). GT 255 is ignored; a prediction's 255 counts as a miss.")
    parser.add_argument("--gt", required=True, metavar="DIR", help="ground-truth PNG folder (e.g. SegmentationClass)")
    parser.add_argument("--pred", required=True, action="append", metavar="NAME=DIR",
                        help="a prediction folder, optionally named (repeat: before/after side by side)")
    parser.add_argument("--list", metavar="FILE", help="image names (default: every PNG of the first --pred)")
    parser.add_argument("--num-classes", type=int, default=21, help="classes including background (default 21)")
    parser.add_argument("--json", metavar="FILE", help="also write every number as JSON")
    parser.add_argument("--report", metavar="DIR", help="also write an HTML report (DIR/index.html): tables, "
                        "per-class IoU chart, panels of the images the second --pred helped / hurt most")
    parser.add_argument("--images", metavar="DIR", help="image folder, for the report's panels")
    parser.add_argument("--masks", metavar="DIR", help="mask folder, adds a mask column to the report's panels")
    parser.add_argument("--workers", type=int, default=1, metavar="N", help="worker processes (default 1)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(func=_cmd_eval)

    parser = subparsers.add_parser(
        "demo", help="run the whole pipeline on a small SYNTHETIC dataset (no download)",
        description="Builds a small synthetic VOC-style dataset (rendered shapes, IRN-style CAMs with partial "
                    "and false activation), makes weight-free mask proposals, refines and prints mIoU "
                    "before/after. The data is synthetic; the numbers say nothing about VOC.")
    parser.add_argument("--out", default="out/demo", metavar="DIR", help="where to build it (default out/demo)")
    parser.add_argument("--num-images", type=int, default=40, help="number of synthetic images (default 40)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--workers", type=int, default=1, metavar="N", help="worker processes (default 1)")
    parser.set_defaults(func=_cmd_demo)

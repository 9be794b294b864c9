"""``samcam adapt`` / ``samcam-adapt``: refine a WSSS method's pseudo labels in its own layout.

    samcam-adapt --method irn --cams result/cam --masks sam_masks --out result/sem_seg_sam

reads each ``{name}.npy`` CAM (or ``--source png --labels DIR``: each ``{name}.png``
pseudo label the method already wrote), makes the method's own pseudo label, refines
it with ``{masks}/{name}.*`` and writes ``{out}/{name}.png`` in the PNG mode the
method's next stage reads; at the end it prints the commands that continue the
method's pipeline on the refined labels. It refuses an ``--out`` that is one of the
method's own output folders (``--overwrite-method-folder`` to insist).
"""
from __future__ import annotations

import argparse
from pathlib import Path

from ..adapters import METHODS, available, get, origin, plugin_problems
from ..adapters.run import adapt_dir
from ..io import read_name_list
from .common import add_batch_arguments, add_rule_arguments, installed, list_or_choose, report_batch, rule_params

DESCRIPTION = (
    "Refine a WSSS method's pseudo labels in its own layout: read each CAM {name}.npy the method saved "
    "(or, with --source png --labels DIR, each pseudo-label {name}.png it wrote), make the method's own "
    "pseudo label, refine it with the masks {masks}/{name}.* and write {out}/{name}.png in the PNG mode the "
    "method's next stage reads. At the end it prints the commands that continue the method's pipeline on "
    "the refined labels. It refuses an --out that is one of the method's own output folders "
    "(--overwrite-method-folder to insist)."
)


def _methods_help() -> str:
    lines = [f"  {name:<10} {get(name).title}" + ("" if origin(name) == "built in" else f", plug-in from {origin(name)}")
             for name in available()]
    lines += [f"  {name:<10} NOT USABLE: {reason}" for name, reason in sorted(plugin_problems().items())]
    return "installed methods (--method; plug-ins register under the entry point group samcam.adapters):\n" + \
        "\n".join(lines)


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "adapt",
        help=f"refine a WSSS method's CAMs or pseudo labels ({', '.join(sorted(METHODS.builtins()))}, plug-ins)",
        description=DESCRIPTION,
        epilog_factory=_methods_help,
    )
    parser.add_argument("--method", required=True, type=installed(get), metavar="NAME",
                        action=list_or_choose(_methods_help),
                        help="the WSSS method that wrote the inputs (listed below; --method alone lists them)")
    parser.add_argument("--cams", type=Path, metavar="DIR", help="folder of the method's CAM {name}.npy files (--source cam)")
    parser.add_argument("--masks", type=Path, required=True, metavar="DIR",
                        help="folder of masks per image (samcam store, amg.py PNG folders or RLE JSON)")
    parser.add_argument("--out", type=Path, required=True, metavar="DIR",
                        help="folder for the refined {name}.png labels (must not be an input folder)")
    parser.add_argument(
        "--source", choices=("cam", "png"), default="cam",
        help="cam: threshold the method's CAMs its own way (default); png: refine label PNGs it already wrote (--labels)",
    )
    parser.add_argument("--labels", type=Path, metavar="DIR",
                        help="folder of the method's pseudo-label {name}.png files (--source png)")
    parser.add_argument("--threshold", type=float, metavar="X",
                        help="background threshold for CAMs, read as the method reads it (clip-es: T >= 1 is the "
                             "exponent of (1 - max)^T, T < 1 a constant); default: the method's own for the layout "
                             "and --num-classes; some layouts have none and need it")
    parser.add_argument(
        "--layout", metavar="LAYOUT",
        help="insist on a CAM layout (default: detected). cam: the CAM stage's files; hr_cam / rw: CLIMS "
             "previous_version inference_cam.py / inference_rw.py; crf: MCTformer --out-crf dicts (key 0 "
             "background, class k under k+1), never detected, always asked for",
    )
    parser.add_argument("--overwrite-method-folder", action="store_true",
                        help="allow an --out that is one of the method's own output folders (e.g. IRN's "
                             "result/sem_seg), which its next run would overwrite")
    parser.add_argument("--use-scores", action="store_true",
                        help="samcam rule, --source cam: the CAM's peak, not the label's thick middle, locates "
                             "each class region's core for the rescue (README: 'The rule')")
    parser.add_argument("--palette", action="store_true",
                        help="write VOC-palette PNGs (only for methods whose next stage reads with PIL: mctformer)")
    add_batch_arguments(parser, list_help="image names, one per line (default: every CAM/label file found)")
    add_rule_arguments(parser)   # --rule, --num-classes and the rule's parameters, as samcam refine
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    adapter = get(args.method)
    if args.source == "cam":
        if args.cams is None:
            raise ValueError("--source cam needs --cams DIR (the method's CAM .npy folder, e.g. "
                             f"{adapter.cam_dir}); or refine label PNGs with --source png --labels DIR")
        if args.labels is not None:
            raise ValueError("--labels is read only with --source png; drop it or add --source png")
    elif args.labels is None:
        sets = "; ".join(f"{s.path}: {s.description}" for s in adapter.label_sets) or "its pseudo-label folder"
        raise ValueError(f"--source png needs --labels DIR ({adapter.title} writes {sets})")
    result = adapt_dir(
        adapter.name,
        args.masks,
        args.out,
        cams_dir=args.cams if args.source == "cam" else None,
        labels_dir=args.labels if args.source == "png" else None,
        names=read_name_list(args.list) if args.list else None,
        threshold=args.threshold,
        num_classes=args.num_classes,
        layout=args.layout,
        palette=args.palette,
        use_scores=args.use_scores,
        refine_params=rule_params(args),
        mask_order=args.mask_order,
        workers=args.workers,
        overwrite=args.overwrite,
        overwrite_method_folder=args.overwrite_method_folder,
        progress=not args.no_progress,
        command=args.command_line,
        list_file=args.list,
    )
    if result.done or result.skipped:
        print(adapter.hint(args.out, palette=args.palette, num_classes=args.num_classes))
    return report_batch(result, f"{args.prog} {adapter.name}")

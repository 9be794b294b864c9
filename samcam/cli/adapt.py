"""``samcam adapt`` / ``samcam-adapt``: refine a WSSS method's pseudo labels in its own layout.

    samcam-adapt --method irn --cams result/cam --masks sam_masks --out result/sem_seg_sam

reads each ``{name}.npy`` CAM (or ``--source png --labels DIR``: each ``{name}.png``
pseudo label the method already wrote), makes the method's own pseudo label, refines
it with ``{masks}/{name}.*`` and writes ``{out}/{name}.png`` in the PNG mode the
method's next stage reads; at the end it prints its summary (stderr), then the commands
that continue the method's pipeline on the refined labels, with absolute paths
(stdout). It refuses an ``--out`` that is one of the method's own output folders
(``--overwrite-method-folder`` to insist).
"""
from __future__ import annotations

import argparse

from ..adapters import METHODS, available, get, origin, plugin_problems
from ..adapters.run import AdaptJob
from ..settings import SettingsError
from .common import add_batch_arguments, add_rule_arguments, installed, list_or_choose, report_batch, rule_params
from .flags import add_settings_flags, flag_of

DESCRIPTION = (
    "Refine a WSSS method's pseudo labels in its own layout: read each CAM {name}.npy the method saved "
    "(or, with --source png --labels DIR, each pseudo-label {name}.png it wrote), make the method's own "
    "pseudo label, refine it with the masks {masks}/{name}.* and write {out}/{name}.png in the PNG mode the "
    "method's next stage reads. At the end it prints its summary, then the commands that continue the "
    "method's pipeline on the refined labels, with absolute paths. It refuses an --out that is one of the "
    "method's own output folders (--overwrite-method-folder to insist).\n\n"
    "example (from IRN's repository root, masks from samcam masks):\n"
    "  %(prog)s --method irn --cams result/cam --masks sam_masks --out result/sem_seg_samcam"
)

# The job's parameters as this command's flags, for its messages (threshold -> --threshold).
FLAGS = {**{name: flag_of(AdaptJob, name) for name in AdaptJob.names()},
         "method": "--method", "image_names": "--list", "rule": "--rule"}


def _methods_help() -> str:
    lines = [f"  {name:<10} {get(name).title}" + ("" if origin(name) == "built in" else f", plug-in from {origin(name)}")
             + ("; --palette allowed" if get(name).palette_allowed else "") for name in available()]
    lines += [f"  {name:<10} NOT USABLE: {reason}" for name, reason in sorted(plugin_problems().items())]
    return "installed methods (--method; plug-ins register under the entry point group samcam.adapters):\n" + \
        "\n".join(lines)


def _palette_help() -> str:
    """--palette's help, naming the built-in methods that allow it (no plug-in is imported here)."""
    allowed = sorted(name for name, adapter in METHODS.builtins().items() if adapter.palette_allowed)
    return (f"{AdaptJob.specs()['palette'].help}: {', '.join(allowed)}; plug-ins that allow it are marked in "
            "the listing below")


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
    add_settings_flags(parser, AdaptJob, only=["cams_dir"])
    for name in ("masks_dir", "out_dir"):
        spec = AdaptJob.specs()[name]
        parser.add_argument(spec.flag, dest=name, required=True, metavar=spec.metavar, help=spec.help)
    add_settings_flags(parser, AdaptJob, defaults={"source": "cam"},
                       only=["source", "labels_dir", "threshold", "layout", "overwrite_method_folder", "use_scores"])
    parser.add_argument(flag_of(AdaptJob, "palette"), dest="palette", action="store_true", help=_palette_help())
    add_batch_arguments(parser, list_help="image names, one per line (default: every CAM/label file found)")
    add_rule_arguments(parser)   # --rule, --num-classes and the rule's parameters, as samcam refine
    parser.set_defaults(run=run)


def _job(args: argparse.Namespace) -> AdaptJob:
    """The adapt job of the parsed flags (a setting out of range: its flag's error)."""
    params = rule_params(args)
    params.pop("num_classes")
    return AdaptJob(
        method=args.method, masks_dir=args.masks_dir, out_dir=args.out_dir, cams_dir=args.cams_dir,
        labels_dir=args.labels_dir, source=args.source, threshold=args.threshold, layout=args.layout,
        overwrite_method_folder=args.overwrite_method_folder, use_scores=args.use_scores, palette=args.palette,
        num_classes=args.num_classes, refine_params=params, mask_order=args.mask_order, list_file=args.list,
        workers=args.workers, overwrite=args.overwrite, progress=not args.no_progress, command=args.command_line,
    )


def worded(error: SettingsError) -> str:
    """A job's error with its parameters named by this command's flags."""
    if hasattr(error, "worded"):
        return error.worded(FLAGS)
    return f"{FLAGS.get(error.parameter, error.parameter)} {error.problem}"


def run(args: argparse.Namespace) -> int:
    try:
        job = _job(args)
        result = job.run()
    except SettingsError as error:
        raise ValueError(worded(error)) from None
    code = report_batch(result, f"{args.prog} {job.method}")  # the summary first (stderr), then what next
    if result.done or result.skipped:
        cams_dir = job.cams_dir if job.source == "cam" else None
        print(job.adapter.hint(job.out_dir, palette=job.palette, num_classes=job.num_classes, cams_dir=cams_dir))
    return code

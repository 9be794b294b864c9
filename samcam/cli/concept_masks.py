"""``samcam masks --model sam3``: SAM 3's flags, their checks, and each image's prompts.

SAM 3 is prompted with each image's classes (``--concepts-from``: a label folder, a
CAM folder of any method, or IRN's ``cls_labels.npy``) under their names (built in for
VOC and COCO, ``--class-names FILE`` otherwise); ``--sam3-everything`` adds its
class-agnostic masks (or, without ``--concepts-from``, makes them alone:
:mod:`samcam.sam.sam3_everything`). It loads from a Hugging Face folder
(``--checkpoint DIR``, or the cache's ``sam3`` folder), downloaded only with
``--download``. The work is :func:`samcam.sam.pipeline.compute_masks`; this module
adds the flags to ``samcam masks`` and turns them into its arguments.
"""
from __future__ import annotations

import argparse
from typing import Any, Dict, List, Optional, Sequence

from .. import inputs
from ..concepts import Concepts
from ..sam import sam3_family
from ..sam.concepts import open_concepts
from ..sam.families import check_mode, require_packages
from ..sam.pipeline import CONCEPT_MODEL
from ..sam.sam3_everything import check_tracker_folder
from ..sam.sam3_family import Sam3Settings
from ..sam.settings import MaskRunOptions
from .common import positive_int

__all__ = ["CONCEPT_MODEL", "EVERYTHING_FLAGS", "add_concept_arguments", "is_concept_run", "check_concept_flags", "concept_settings",
           "run_concepts", "MODEL_HELP"]

# flag -> Sam3Settings field
_THRESHOLD_FLAGS = {"sam3_threshold": "threshold", "sam3_mask_threshold": "mask_threshold"}
# The automatic mask generator flags that SAM 3's everything masks take (Sam3Settings fields).
EVERYTHING_FLAGS = ("points_per_side", "points_per_batch", "pred_iou_thresh", "stability_score_thresh",
                    "box_nms_thresh")
# Sam3Settings field -> its flag, for messages.
_SETTING_FLAGS = {"threshold": "--sam3-threshold", "mask_threshold": "--sam3-mask-threshold",
                  **{name: "--" + name.replace("_", "-") for name in EVERYTHING_FLAGS}}
# The flags that only --model sam3 takes, and those only its concept masks take.
_CONCEPT_ONLY_FLAGS = ("--class-names", "--sam3-threshold", "--sam3-mask-threshold")
_SAM3_FLAGS = ("--concepts-from", *_CONCEPT_ONLY_FLAGS, "--download", "--sam3-everything")


# --model's help on SAM 3 (a family of one model, with no checkpoint file).
MODEL_HELP = ("SAM 3: sam3 (concept masks of each image's classes, and with --sam3-everything its class-agnostic "
              "masks, from a Hugging Face folder: --checkpoint DIR)")


def add_concept_arguments(parser: argparse.ArgumentParser, field_flag) -> None:
    """The ``--model sam3`` flags (``field_flag``: masks' builder of a MaskRunOptions field's flag)."""
    defaults = Sam3Settings()
    group = parser.add_argument_group(
        "SAM 3 concept masks (--model sam3)",
        "SAM 3 is prompted with the names of each image's classes; every mask it returns carries the class "
        "(class_index) and SAM 3's score (predicted_iou). Refine them with --rule concept. All of an image's "
        "prompts run in one batch. docs/sam3.md: how to get the gated weights, CPU times.")
    group.add_argument("--concepts-from", metavar="PATH",
                       help="each image's classes: a label folder ({name}.png, e.g. the ground truth or CAM pseudo "
                            "labels: the classes present), a CAM folder of any method ({name}.npy: its keys), or "
                            "IRN's cls_labels.npy (required with --model sam3)")
    group.add_argument("--class-names", metavar="FILE",
                       help="the classes' names and phrases, one class per line in index order, background first, "
                            "'name' or 'name: phrase' (default: built in for VOC, 21 classes, and COCO, 81)")
    shared = next((a for a in parser._actions if "--num-classes" in a.option_strings), None)
    if shared is None:
        group.add_argument("--num-classes", type=positive_int, default=21, metavar="N",
                           help="classes including background: 21 for VOC (default), 81 for COCO")
    else:  # the (hidden) --compare rule flags have it: show it here, where generation needs it
        shared.help = "classes including background: 21 for VOC (default), 81 for COCO"
        for container in parser._action_groups:
            if shared in container._group_actions:
                container._group_actions.remove(shared)
        group._group_actions.append(shared)
    field_flag(group, MaskRunOptions, "download")
    group.add_argument("--sam3-threshold", type=float, metavar="X", default=None,
                       help=f"keep a mask whose score (query x presence) is above this (default: {defaults.threshold}, "
                            "transformers' post_process_instance_segmentation default)")
    group.add_argument("--sam3-mask-threshold", type=float, metavar="X", default=None,
                       help=f"a pixel is in a mask where its probability is above this (default: "
                            f"{defaults.mask_threshold}, transformers' default)")
    group.add_argument("--sam3-everything", action="store_true",
                       help="also store SAM 3's class-agnostic masks (its tracker over a point grid, through "
                            "transformers' mask-generation pipeline; untagged: class_index 0), so the samcam and "
                            "official rules run on SAM 3 too; without --concepts-from, these masks alone. Takes "
                            f"{', '.join('--' + n.replace('_', '-') for n in EVERYTHING_FLAGS)} (defaults: SAM's, "
                            "as the pipeline's). Needs the official folder (type sam3_video), which holds the tracker")


def is_concept_run(args: argparse.Namespace) -> bool:
    return getattr(args, "model", None) == CONCEPT_MODEL and args.source == "sam"


def _flags_given(args: argparse.Namespace, names: Sequence[str]) -> List[str]:
    """The SAM 3 flags among ``names`` (``--concepts-from``, ...) given a value."""
    return [name for name in names if getattr(args, name[2:].replace("-", "_"))]


def check_concept_flags(args: argparse.Namespace, fast: Any) -> None:
    """Before any work: SAM 3's flags only with ``--model sam3``, its packages, mode and folder."""
    if not is_concept_run(args):
        given = _flags_given(args, _SAM3_FLAGS)
        if given:
            raise ValueError(f"{', '.join(given)}: for SAM 3 (--model sam3): its concept masks or its "
                             "everything masks")
        return
    _check_what_to_make(args)
    if args.config is not None:
        raise ValueError("--config is for SAM 2 checkpoints, not SAM 3")
    require_packages(CONCEPT_MODEL)
    check_mode(CONCEPT_MODEL, args.dtype, fast)
    if args.checkpoint is not None or not args.download:
        # the folder, or the cache's copy when no download is asked for: before any work
        folder = sam3_family.resolve_folder(args.checkpoint, allow_download=False)
        if args.sam3_everything:
            check_tracker_folder(folder)


def _check_what_to_make(args: argparse.Namespace) -> None:
    """Concept masks (``--concepts-from``), everything masks (``--sam3-everything``) or both;
    the concept masks' own flags only with them."""
    if args.concepts_from:
        return
    if not args.sam3_everything:
        raise ValueError("--model sam3 needs --concepts-from: each image's classes (a label folder, a CAM folder or "
                         "IRN's cls_labels.npy); or --sam3-everything for its class-agnostic masks alone")
    given = _flags_given(args, _CONCEPT_ONLY_FLAGS)
    if given:
        raise ValueError(f"{', '.join(given)}: for SAM 3's concept masks, which need --concepts-from")


def concept_settings(args: argparse.Namespace, sam_settings: Dict[str, Any]) -> Dict[str, Any]:
    """SAM 3's settings given on the command line: its thresholds, ``--sam3-everything`` and,
    with it, the generator flags its everything masks take (``sam_settings``: the generator
    flags given); any other generator flag is refused."""
    _refuse_other_generator_flags(sam_settings, args.sam3_everything)
    given = {field: getattr(args, flag) for flag, field in _THRESHOLD_FLAGS.items() if getattr(args, flag) is not None}
    if args.sam3_everything:
        given.update(sam_settings, everything=True)
    try:
        Sam3Settings.of(given)
    except ValueError as error:
        message = str(error)
        for name, flag in _SETTING_FLAGS.items():
            message = message.replace(f"SAM 3's {name}", flag)
        raise ValueError(message) from None
    return given


def _refuse_other_generator_flags(sam_settings: Dict[str, Any], everything: bool) -> None:
    takes = EVERYTHING_FLAGS if everything else ()
    refused = sorted(name for name in sam_settings if name not in takes)
    if not refused:
        return
    more = "" if everything else f"; with --sam3-everything: {', '.join(_flag(n) for n in EVERYTHING_FLAGS)}"
    raise ValueError(f"{', '.join(_flag(n) for n in refused)}: not a setting of SAM 3 (it has --sam3-threshold and "
                     f"--sam3-mask-threshold{more})")


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def run_concepts(args: argparse.Namespace, names: Sequence[str]) -> Optional[Concepts]:
    """Each image's prompts for a SAM 3 run (None for the other models), refusing a source
    that has the classes of none of ``names``."""
    if not is_concept_run(args) or not args.concepts_from:
        return None
    concepts = open_concepts(args.concepts_from, args.num_classes, args.class_names)
    source = concepts.source
    listed = f"--list {args.list_file}" if args.list_file else ""
    if source.path.is_dir():
        label_folder = source.kind == "label folder"
        # a folder of colour images is no label folder: refused before any work, saying what it holds
        check = inputs.check_label_folder if label_folder else inputs.check_cam_folder
        contents = check(source.path, "--concepts-from")
        inputs.check_names_present(names, "--concepts-from", source.path, source.has,
                                   "{name}.png" if label_folder else "{name}.npy", contents, listed)
    else:
        _check_entries(source, names, listed)
    return concepts


def _check_entries(source, names: Sequence[str], listed: str) -> None:
    """Refuse a cls_labels file with an entry for none of ``names``."""
    if not names or any(source.has(name) for name in names):
        return
    shown = ", ".join(names[:3]) + (", ..." if len(names) > 3 else "")
    raise inputs.InputError(f"--concepts-from {source.path}: none of the {len(names)} image(s)"
                            f"{' of ' + listed if listed else ''} ({shown}) has an entry there: is it the "
                            "cls_labels file of these images?")

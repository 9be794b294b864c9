"""``samcam mmseg-config``: write an mmsegmentation config for refined labels (:mod:`samcam.mmseg.config`)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..mmseg.config import (
    BASES,
    DATASETS,
    DEFAULT_BASE,
    DEFAULT_TRAIN_LIST,
    DEFAULT_VAL_LIST,
    ConfigOptions,
    installed_mmseg_dir,
    mmseg_config_file,
    resolve_base,
    write_config,
)
from ..outputs import check_outputs
from .common import positive_int


def add_parser(subparsers) -> None:
    bases = "\n".join(f"  {name:<20} {base.description}" for name, base in BASES.items())
    parser = subparsers.add_parser(
        "mmseg-config",
        help="write an mmsegmentation config that trains DeepLab on refined labels",
        description=(
            "Write an mmsegmentation 1.x config inheriting mmseg's own Pascal VOC config "
            "(via 'mmseg::', from the installed package) with your paths: images from "
            "DATA_ROOT/JPEGImages, labels from --labels, validation on DATA_ROOT/SegmentationClass. "
            "With --dataset coco (81 classes): mmseg's COCO-Stuff 164k config of the model, images from "
            "DATA_ROOT/train2014 and val2014, validation on DATA_ROOT/SegmentationClass/val2014 "
            "(samcam coco-gt's labels)."
        ),
        epilog=f"--base choices:\n{bases}\n\n"
               "example (DeepLabV2 on refined VOC labels; it prints the train commands):\n"
               "  samcam mmseg-config --labels result/refined --data-root VOC2012 --base deeplabv2_r101 "
               "--out deeplab_samcam.py",
    )
    parser.add_argument("--labels", required=True, metavar="DIR", help="refined label directory ({name}.png)")
    parser.add_argument("--data-root", required=True, metavar="DIR",
                        help="VOC2012 directory holding JPEGImages/ and SegmentationClass/ (COCO: the folder "
                             "holding train2014/, val2014/ and SegmentationClass/val2014/)")
    parser.add_argument("--dataset", choices=tuple(DATASETS), default="voc",
                        help="voc: Pascal VOC 2012, 21 classes (default); coco: COCO 2014, 81 classes")
    parser.add_argument(
        "--base",
        default=DEFAULT_BASE, metavar="NAME",
        help=f"model: a name listed below, an 'mmseg::dir/config.py' path or a config file (default {DEFAULT_BASE})",
    )
    parser.add_argument("--schedule", choices=("20k", "40k", "80k", "160k"),
                        help="mmseg's iteration schedule: VOC 20k (default) or 40k; COCO 80k (default) or 160k")
    parser.add_argument("--train-list", metavar="FILE",
                        help=f"train names, one per line (default DATA_ROOT/{DEFAULT_TRAIN_LIST}; COCO: every "
                             "label of --labels, written beside --out as NAME.train.txt)")
    parser.add_argument("--val-list", metavar="FILE",
                        help=f"val names (default DATA_ROOT/{DEFAULT_VAL_LIST}; COCO: every label of the val "
                             "ground truth, written as NAME.val.txt)")
    parser.add_argument("--val-labels", metavar="DIR",
                        help="val ground truth (default DATA_ROOT/SegmentationClass; COCO: "
                             "DATA_ROOT/SegmentationClass/val2014)")
    parser.add_argument("--batch-size", type=positive_int, metavar="N",
                        help="images per GPU (default: the base config's, 4)")
    parser.add_argument("--no-check", action="store_true", help="do not check that every listed image and label exists")
    parser.add_argument("--out", required=True, metavar="FILE", help="config file to write (.py)")
    parser.set_defaults(run=run)


def _command_line(args: argparse.Namespace) -> str:
    """The command as the user could retype it (for the config's header)."""
    parts = ["samcam mmseg-config", "--labels", args.labels, "--data-root", args.data_root, "--base", args.base]
    if args.dataset != "voc":
        parts += ["--dataset", args.dataset]
    if args.schedule is not None and args.schedule != "20k":
        parts += ["--schedule", args.schedule]
    for flag, value in (("--train-list", args.train_list), ("--val-list", args.val_list),
                        ("--val-labels", args.val_labels), ("--batch-size", args.batch_size)):
        if value is not None:
            parts += [flag, str(value)]
    return " ".join(parts + ["--out", args.out])


def _check_output(args: argparse.Namespace) -> None:
    """--out never replaces what the config points to (images, labels, the name lists)."""
    root = Path(args.data_root)
    check_outputs(files={"--out": args.out},
                  reads={"--labels": args.labels, "--data-root": [root / "JPEGImages", root / "SegmentationClass"],
                         "--train-list": args.train_list or root / DEFAULT_TRAIN_LIST,
                         "--val-list": args.val_list or root / DEFAULT_VAL_LIST, "--base": args.base})


def run(args: argparse.Namespace) -> int:
    _check_output(args)
    command = _command_line(args)
    options = ConfigOptions(base=args.base, dataset=args.dataset, schedule=args.schedule, batch_size=args.batch_size,
                            command=command)
    out = write_config(args.out, labels=args.labels, data_root=args.data_root, options=options,
                       train_list=args.train_list, val_list=args.val_list, val_labels=args.val_labels,
                       check=not args.no_check)
    out = Path(out).resolve()  # printed commands work from any folder (e.g. mmseg's own)
    print(f"wrote {out}", file=sys.stderr)
    for role in ("train", "val"):
        written = out.with_name(f"{out.stem}.{role}.txt")
        if args.dataset == "coco" and getattr(args, f"{role}_list") is None and written.is_file():
            print(f"wrote {written} (the {role} names: every label of the {role} label folder)", file=sys.stderr)
    base_path, _ = resolve_base(args.base, args.schedule, args.dataset)
    package_dir = installed_mmseg_dir()
    if base_path.startswith("mmseg::"):
        resolved = mmseg_config_file(base_path)
        if resolved is None:
            print("note: mmsegmentation is not installed here; the config needs it "
                  "(pip install 'samcam[mmseg]') to resolve its mmseg:: base", file=sys.stderr)
        elif not resolved.is_file():
            print(f"warning: the installed mmseg has no {resolved}; check --base", file=sys.stderr)
    tools = (package_dir / ".mim" / "tools") if package_dir else Path("tools")
    print(f"train on one GPU:  python {tools / 'train.py'} {out}", file=sys.stderr)
    print(f"train on N GPUs:   bash {tools / 'dist_train.sh'} {out} N", file=sys.stderr)
    return 0

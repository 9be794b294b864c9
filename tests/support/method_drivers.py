"""The WSSS pipelines' own command lines, restated: each method's argument parsing and the
stages a command runs, what they read and write (the drivers behind
tests/adapters/test_base_continuations.py and tests/adapters/test_base_hints.py).

Every restatement cites the upstream file and lines it follows.
"""
from __future__ import annotations

import argparse
import os
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import pytest

from samcam.cli import build_parser


def str2bool(v):
    """AMN run_sample.py:8-16 and CLIMS run_sample.py:25-33, restated."""
    if isinstance(v, bool):
        return v
    if v.lower() in ("yes", "true", "t", "y", "1"):
        return True
    if v.lower() in ("no", "false", "f", "n", "0"):
        return False
    raise argparse.ArgumentTypeError("Boolean value expected.")


@dataclass
class Driver:
    """One upstream ``run_sample*.py``: its path flags, stages and what each stage touches."""

    script: str
    paths: Dict[str, Optional[str]]  # flag -> default (None: required)
    stages: Sequence[str]  # in the order the driver runs them
    bool_type: bool  # True: type=str2bool, default False; False: IRN's untyped default True
    writes: Dict[str, Tuple[str, ...]]  # stage -> path flags it writes ("+.pth": flag value + ".pth")
    reads: Dict[str, Tuple[str, ...]]  # stage -> path flags it reads labels from
    work_space: bool = False  # CLIMS: every path is os.path.join(work_space, path)
    extra: Dict[str, object] = field(default_factory=dict)  # other declared flags -> default

    def parser(self) -> argparse.ArgumentParser:
        parser = argparse.ArgumentParser(prog=self.script, exit_on_error=False)
        for flag, default in self.paths.items():
            parser.add_argument(f"--{flag}", required=default is None, default=default, type=str)
        for flag, default in self.extra.items():
            parser.add_argument(f"--{flag}", default=default)
        for stage in self.stages:
            if self.bool_type:
                parser.add_argument(f"--{stage}_pass", type=str2bool, default=False)
            else:
                parser.add_argument(f"--{stage}_pass", default=True)
        return parser


_IRN_PATHS = {
    # irn run_sample.py:12-21, 55-61
    "voc12_root": None, "train_list": "voc12/train_aug.txt", "val_list": "voc12/val.txt",
    "infer_list": "voc12/train.txt", "chainer_eval_set": "train", "log_name": "sample_train_eval",
    "cam_weights_name": "sess/res50_cam.pth", "irn_weights_name": "sess/res50_irn.pth",
    "cam_out_dir": "result/cam", "ir_label_out_dir": "result/ir_label", "sem_seg_out_dir": "result/sem_seg",
    "ins_seg_out_dir": "result/ins_seg",
}
IRN = Driver(
    "run_sample.py", _IRN_PATHS,
    ("train_cam", "make_cam", "eval_cam", "cam_to_ir_label", "train_irn", "make_ins_seg", "eval_ins_seg",
     "make_sem_seg", "eval_sem_seg"),  # run_sample.py:64-72
    bool_type=False,
    writes={"train_cam": ("cam_weights_name+.pth",), "make_cam": ("cam_out_dir",),
            "cam_to_ir_label": ("ir_label_out_dir",), "train_irn": ("irn_weights_name",),
            "make_ins_seg": ("ins_seg_out_dir",), "make_sem_seg": ("sem_seg_out_dir",)},
    reads={"train_irn": ("ir_label_out_dir",), "eval_sem_seg": ("sem_seg_out_dir",)},
)

_AMN_VOC_PATHS = {
    # AMN voc12 run_sample.py:22-31, 73-83
    "voc12_root": None, "train_list": "voc12/train_aug.txt", "val_list": "voc12/val.txt",
    "infer_list": "voc12/train.txt", "chainer_eval_set": "train", "log_name": "sample_train_eval",
    "cam_weights_name": "sess/res50_cam.pth", "amn_weights_name": "sess/res50_amn.pth",
    "irn_weights_name": "sess/res50_irn.pth", "cam_out_dir": "result/cam", "ir_label_out_dir": "result/ir_label",
    "amn_cam_out_dir": "result/amn_cam", "amn_ir_label_out_dir": "result/amn_ir_label",
    "sem_seg_out_dir": "result/sem_seg", "ins_seg_out_dir": "result/ins_seg",
}
_AMN_STAGES = ("train_cam", "make_cam", "eval_cam", "cam_to_ir_label", "train_amn", "make_amn_cam", "eval_amn_cam",
               "amn_cam_to_ir_label", "train_irn", "make_ins_seg", "eval_ins_seg", "make_sem_seg", "eval_sem_seg")
_AMN_WRITES = {"train_cam": ("cam_weights_name+.pth",), "make_cam": ("cam_out_dir",),
               "cam_to_ir_label": ("ir_label_out_dir",), "train_amn": ("amn_weights_name",),
               "make_amn_cam": ("amn_cam_out_dir",), "amn_cam_to_ir_label": ("amn_ir_label_out_dir",),
               "train_irn": ("irn_weights_name",), "make_ins_seg": ("ins_seg_out_dir",),
               "make_sem_seg": ("sem_seg_out_dir",)}
# AMN's train_irn reads amn_ir_label_out_dir (voc12 step/train_irn.py:18; coco14 train_irn_coco.py:18)
_AMN_READS = {"train_irn": ("amn_ir_label_out_dir",), "eval_sem_seg": ("sem_seg_out_dir",)}
AMN_VOC = Driver("run_sample.py", _AMN_VOC_PATHS, _AMN_STAGES, True, _AMN_WRITES, _AMN_READS)
AMN_COCO = Driver(
    "run_sample_coco.py",
    {  # AMN coco14 run_sample_coco.py:28-34, 49-51, 79-88
        "coco14_root": "/data/coco_2014", "train_list": "coco14/train14.txt", "val_list": "coco14/val14.txt",
        "infer_list": "coco14/train14.txt", "chainer_eval_set": "train", "log_name": "sample_train_eval_coco",
        "cam_weights_name": "sess/res50_cam_coco.pth", "amn_weights_name": "sess/res50_amn_coco.pth",
        "irn_weights_name": "sess/res50_irn_coco.pth", "cam_out_dir": "result/cam_coco",
        "ir_label_out_dir": "result/ir_label_coco", "amn_cam_out_dir": "result/amn_cam_coco",
        "amn_ir_label_out_dir": "result/amn_ir_label_coco", "sem_seg_out_dir": "result/sem_seg_coco",
        "ins_seg_out_dir": "result/ins_seg_coco",
    },
    _AMN_STAGES, True, _AMN_WRITES, _AMN_READS,
)
_CLIMS_PATHS = {
    # CLIMS run_sample.py:40-49, 93-101
    "voc12_root": "/data1/xjheng/dataset/VOC2012/", "train_list": "voc12/train_aug.txt", "val_list": "voc12/val.txt",
    "infer_list": "voc12/train_aug.txt", "chainer_eval_set": "train", "work_space": "result_default5",
    "log_name": "sample_train_eval", "cam_weights_name": "res50_cam.pth", "irn_weights_name": "res50_irn.pth",
    "cam_out_dir": "cam_mask", "ir_label_out_dir": "ir_label", "sem_seg_out_dir": "sem_seg", "ins_seg_out_dir": "ins_seg",
    "clims_weights_name": "res50_clims",
}
_CLIMS_STAGES = ("train_cam", "train_clims", "make_cam", "make_clims", "eval_cam", "cam_to_ir_label", "train_irn",
                 "make_ins_seg", "eval_ins_seg", "make_sem_seg", "eval_sem_seg")  # run_sample.py:104-114
_CLIMS_WRITES = {"train_cam": ("cam_weights_name",), "train_clims": ("clims_weights_name",),
                 "make_cam": ("cam_out_dir",), "make_clims": ("cam_out_dir",), "cam_to_ir_label": ("ir_label_out_dir",),
                 "train_irn": ("irn_weights_name",), "make_sem_seg": ("sem_seg_out_dir",)}
_CLIMS_READS = {"train_irn": ("ir_label_out_dir",), "eval_sem_seg": ("sem_seg_out_dir",)}
CLIMS_VOC = Driver("run_sample.py", _CLIMS_PATHS, _CLIMS_STAGES, True, _CLIMS_WRITES, _CLIMS_READS, work_space=True)
CLIMS_COCO = Driver(
    "run_sample_coco.py",
    {**{k: v for k, v in _CLIMS_PATHS.items() if k not in ("voc12_root", "train_list", "val_list", "infer_list",
                                                              "chainer_eval_set")},
     "mscoco_root": "/data0/dataset/xjheng/COCO/"},  # run_sample_coco.py:41, 86-93
    _CLIMS_STAGES, True, _CLIMS_WRITES, _CLIMS_READS, work_space=True,
    extra={"use_distributed_train": False},
)

# the run_sample*.py of each method and dataset
DRIVERS = {("irn", "voc"): IRN, ("amn", "voc"): AMN_VOC, ("amn", "coco"): AMN_COCO,
           ("clims", "voc"): CLIMS_VOC, ("clims", "coco"): CLIMS_COCO}


def mctformer_evaluation_parser():
    """MCTformer main:evaluation.py:114-126, restated."""
    parser = argparse.ArgumentParser(exit_on_error=False)
    parser.add_argument("--list", default="./VOC2012/ImageSets/Segmentation/train.txt", type=str)
    parser.add_argument("--predict_dir", default="./out_rw", type=str)
    parser.add_argument("--gt_dir", default="./VOC2012/SegmentationClass", type=str)
    parser.add_argument("--logfile", default="./evallog.txt", type=str)
    parser.add_argument("--comment", required=True, type=str)
    parser.add_argument("--type", default="png", choices=["npy", "png"], type=str)
    parser.add_argument("--t", default=None, type=float)
    parser.add_argument("--curve", default=False, type=bool)
    parser.add_argument("--num_classes", default=21, type=int)
    parser.add_argument("--start", default=0, type=int)
    parser.add_argument("--end", default=60, type=int)
    return parser


def mctformer_train_seg_parser():
    """MCTformer seg/train_seg.py:18-37, restated."""
    parser = argparse.ArgumentParser(exit_on_error=False)
    parser.add_argument("--gpu_ids", type=str, default="0")
    parser.add_argument("--list_path", default="voc12/train_aug_id.txt", type=str)
    parser.add_argument("--img_path", default="", type=str)
    parser.add_argument("--save_path", default=None, type=str)
    parser.add_argument("--seg_pgt_path", default=None, type=str)
    parser.add_argument("--batch_size", default=4, type=int)
    parser.add_argument("--num_classes", default=21, type=int)
    parser.add_argument("--num_epochs", default=15, type=int)
    parser.add_argument("--network", default="", type=str)
    parser.add_argument("--lr", default=0.0007, type=float)
    parser.add_argument("--wt_dec", default=1e-5, type=float)
    parser.add_argument("--init_weights", default="", type=str)
    parser.add_argument("--session_name", default="model_", type=str)
    parser.add_argument("--crop_size", default=321, type=int)
    parser.add_argument("--print_intervals", type=int, default=50)
    return parser


@dataclass
class Effect:
    """What one command does: stages run, paths written, paths its stages read labels from."""

    ran: List[str]
    writes: List[Path]
    reads: List[Path]


def _parse(parser: argparse.ArgumentParser, argv: Sequence[str], command: str):
    try:
        args, unknown = parser.parse_known_args(argv)
    except (argparse.ArgumentError, SystemExit) as error:  # pragma: no cover - the message is the point
        pytest.fail(f"{command!r}: the upstream parser refuses it: {error}")
    assert not unknown, f"{command!r}: flags the upstream script does not declare: {unknown}"
    return args


def effect(method: str, dataset: str, command: str, cwd: Path) -> Effect:
    """Run ``command`` (as printed) through the restated upstream parsing; nothing executes."""
    argv = shlex.split(command)

    def here(path: str) -> Path:
        return Path(os.path.normpath(cwd / path))

    if argv[:2] == ["samcam", "mmseg-config"]:
        args = build_parser().parse_args(argv[1:])
        return Effect(["mmseg-config"], [here(args.out)], [here(args.labels)])
    assert argv[0] == "python", command
    if (method, argv[1]) == ("mctformer", "evaluation.py"):
        args = _parse(mctformer_evaluation_parser(), argv[2:], command)
        assert args.type == "png"  # npy would need --t (evaluation.py:128-129) and read CAMs
        return Effect(["evaluation"], [here(args.logfile)], [here(args.predict_dir)])
    if (method, argv[1]) == ("mctformer", "seg/train_seg.py"):
        args = _parse(mctformer_train_seg_parser(), argv[2:], command)
        assert args.save_path and args.init_weights and args.network
        # save_path: mkdir, log, checkpoints (train_seg.py:44-47, 110)
        return Effect(["train_seg"], [here(args.save_path)], [here(args.seg_pgt_path)])
    if (method, argv[1]) == ("clims", "main_v2.py"):
        # click: `main_v2.py train --config-path FILE` (segmentation/deeplabv2/main_v2.py:101-121);
        # train writes under the config's EXP.OUTPUT_DIR "data" (voc12_imagenet_pretrained.yaml:3)
        assert argv[2:] == ["train", "--config-path", "configs/voc12_imagenet_pretrained.yaml"], command
        return Effect(["train"], [here("segmentation/deeplabv2/data")], [])
    driver = DRIVERS[(method, dataset)]
    assert argv[1] == driver.script, command
    args = _parse(driver.parser(), argv[2:], command)
    values = vars(args)
    if driver.work_space:
        for flag in driver.paths:
            if flag not in ("work_space", "voc12_root", "mscoco_root", "train_list", "val_list", "infer_list",
                            "chainer_eval_set"):
                values[flag] = os.path.join(values["work_space"], values[flag])  # run_sample.py:117-124
    ran = [stage for stage in driver.stages if values[f"{stage}_pass"] is True]

    def paths(flags):
        out = []
        for flag in flags:
            name, _, suffix = flag.partition("+")
            out.append(here(values[name] + suffix))
        return out

    writes = [here(values["log_name"] + ".log")]
    reads: List[Path] = []
    for stage in ran:
        writes += paths(driver.writes.get(stage, ()))
        reads += paths(driver.reads.get(stage, ()))
    return Effect(ran, writes, reads)


def inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def printed_commands(stdout: str) -> List[str]:
    return [line.strip() for line in stdout.splitlines() if line.startswith("  python ") or line.startswith("  samcam ")]

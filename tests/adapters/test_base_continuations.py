"""The commands samcam-adapt prints, run through each method's own argument parsing.

Each upstream driver's parser is restated here from its code, independently of
samcam: which flags exist, their defaults and types, which stages run, and which
folder each stage reads and writes. IRN's stage flags have no type and default True
and a stage runs only ``if args.X is True`` (irn run_sample.py:64-72, 85-133), so any
value given on the command line, even ``True``, *skips* it; AMN and CLIMS parse with
``str2bool``, default False (AMN run_sample.py:8-16, 86-100; CLIMS run_sample.py:25-33,
104-114). A printed command must use only flags the driver declares (parsing is
strict), run the stage that reads the refined folder, and run no stage that writes
into it.
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Tuple

import numpy as np
import pytest
from cam_files import WRITERS, H, W, make_scene
from method_drivers import _parse, effect, inside, printed_commands
from PIL import Image

from samcam import masks as samcam_masks
from samcam.adapters import get
from samcam.cli import main
from samcam.io import read_label_png, write_label_png

# ------------------------------------------------------------------------------ tests

def test_the_old_irn_hint_was_destructive_under_irns_own_parsing(tmp_path):
    """Sanity of the restated semantics: the hint samcam used to print skips evaluation and
    runs make_sem_seg_labels into the refined folder (and retrains everything)."""
    out = tmp_path / "result" / "sem_seg_sam"
    old = f"python run_sample.py --voc12_root VOC2012 --sem_seg_out_dir {out} --eval_sem_seg_pass True"
    result = effect("irn", "voc", old, tmp_path)
    assert "eval_sem_seg" not in result.ran
    assert {"train_cam", "make_cam", "train_irn", "make_sem_seg"} <= set(result.ran)
    assert any(inside(path, out) for path in result.writes)
    old_ir = f"python run_sample.py --voc12_root VOC2012 --ir_label_out_dir {out} --train_irn_pass True"
    result = effect("irn", "voc", old_ir, tmp_path)
    assert "train_irn" not in result.ran and "cam_to_ir_label" in result.ran
    assert any(inside(path, out) for path in result.writes)


def test_str2bool_drivers_run_only_what_is_named(tmp_path):
    result = effect("amn", "voc", "python run_sample.py --voc12_root V --eval_sem_seg_pass True", tmp_path)
    assert result.ran == ["eval_sem_seg"]
    result = effect("clims", "voc", "python run_sample.py --eval_sem_seg_pass 0", tmp_path)
    assert result.ran == []


# (method, fixture, dataset, extra flags, out relative to the method's repository root)
CASES = [
    ("irn", "irn", "voc", (), "result/sem_seg_samcam"),
    ("amn", "amn", "voc", (), "result/sem_seg_samcam"),
    ("amn", "amn", "coco", ("--num-classes", "81"), "result/sem_seg_coco_samcam"),
    ("clims", "clims", "voc", (), "clims_voc12/sem_seg_samcam"),
    ("clims", "clims", "coco", ("--num-classes", "81"), "clims_coco/sem_seg_samcam"),
    ("mctformer", "mctformer", "voc", ("--palette",), "MCTformer_results/pgt-samcam"),
    ("mctformer", "mctformer", "coco", ("--num-classes", "81", "--threshold", "0.39"), "MCTformer_results/coco-samcam"),
    ("toco", "toco", "voc", (), "work_dir/pseudo_samcam"),
]


@pytest.mark.parametrize("method,fixture,dataset,flags,out_rel", CASES,
                         ids=[f"{case[0]}-{case[2]}" for case in CASES])
def test_printed_continuation_reads_the_refined_folder_and_never_writes_into_it(
        tmp_path, monkeypatch, capsys, method, fixture, dataset, flags, out_rel):
    repo = tmp_path / f"{method}_repo"  # samcam-adapt run from the method's repository root
    (repo / "cams").mkdir(parents=True)
    (repo / "masks").mkdir()
    num_classes = 81 if dataset == "coco" else 21
    keys, high_res, masks = make_scene(0, num_classes=num_classes)
    WRITERS[fixture](repo / "cams" / "img_1.npy", keys, high_res)
    samcam_masks.write(repo / "masks" / "img_1", masks)
    monkeypatch.chdir(repo)
    assert main(["adapt", "--no-progress", "--method", method, "--cams", "cams", "--masks", "masks",
                 "--out", out_rel, *flags]) == 0
    stdout = capsys.readouterr().out
    out = repo / out_rel
    commands = printed_commands(stdout)
    assert commands, stdout
    readers = 0
    for command in commands:
        result = effect(method, dataset, command, repo)
        for path in result.writes:
            assert not inside(path, out), f"{command!r} writes {path} into the refined folder"
        readers += any(inside(path, out) for path in result.reads)
        for path in result.writes:
            # only new files and folders: a samcam-named log/weights/config, {out}_rw / {out}_seg, or
            # DeepLabV2's own data/; never the method's default labels, weights or log
            new = path.name in (out.name + "_rw", out.name + "_seg") or "samcam" in path.name
            assert new or path == repo / "segmentation/deeplabv2/data", f"{command!r} writes {path}"
    assert readers == len([c for c in commands if "main_v2.py" not in c]), stdout
    assert str(out) in stdout


@pytest.mark.parametrize("method,dataset,command_index,expected", [
    ("irn", "voc", 0, ["eval_sem_seg"]),
    ("irn", "voc", 1, ["train_irn", "make_sem_seg", "eval_sem_seg"]),
    ("amn", "voc", 0, ["eval_sem_seg"]),
    ("amn", "voc", 1, ["train_irn", "make_sem_seg", "eval_sem_seg"]),
    ("amn", "coco", 0, ["eval_sem_seg"]),
    ("amn", "coco", 1, ["train_irn", "make_sem_seg", "eval_sem_seg"]),
    ("clims", "voc", 0, ["eval_sem_seg"]),
    ("clims", "voc", 1, ["train_irn", "make_sem_seg", "eval_sem_seg"]),
    ("clims", "coco", 0, ["eval_sem_seg"]),
])
def test_each_driver_command_runs_exactly_the_intended_stages(tmp_path, method, dataset, command_index, expected):
    out = tmp_path / "refined"
    commands = get(method).continuation_commands(out, 81 if dataset == "coco" else 21)
    result = effect(method, dataset, commands[command_index][1], tmp_path)
    assert result.ran == expected
    assert result.reads and inside(result.reads[0], out)  # the first stage run reads the refined labels
    assert not any(inside(path, out) for path in result.writes)


def test_out_path_with_spaces_is_quoted(tmp_path):
    out = tmp_path / "my labels"
    commands = get("irn").continuation_commands(out)
    assert len(commands) == 3
    for _, command in commands:
        assert str(out) in shlex.split(command), command
    assert str(out) + "_rw" in shlex.split(commands[1][1])


def test_toco_hint_keeps_segmentationclassaug_untouched(tmp_path):
    hint = get("toco").hint(tmp_path / "refined")
    assert "SegmentationClassAug" in hint and "leave it untouched" in hint
    for command in printed_commands(hint):
        assert "SegmentationClassAug" not in command


def test_no_continuation_where_the_method_has_no_stage(tmp_path):
    hint = get("irn").hint(tmp_path / "refined", num_classes=81)
    assert "no stage for 81-class labels" in hint and not printed_commands(hint)
    for method in ("irn", "toco"):
        assert get(method).continuation_commands(tmp_path, 81) == []


DOCS_EXAMPLES = [  # (method, docs/methods.md's example --out, classes, its --cams)
    ("irn", "/work/irn/result/sem_seg_samcam", 21, "/work/irn/result/cam"),
    ("amn", "/work/amn/result/sem_seg_samcam", 21, "/work/amn/result/amn_cam"),
    ("amn", "/work/amn/result/sem_seg_coco_samcam", 81, "/work/amn/result/amn_cam_coco"),
    ("clims", "/work/clims/clims_voc12/sem_seg_samcam", 21, "/work/clims/clims_voc12/cam_mask"),
    ("clims", "/work/clims/clims_coco/sem_seg_samcam", 81, "/work/clims/clims_coco/cam_mask"),
    ("mctformer", "/work/MCTformer_results/pgt-samcam", 21, "/work/MCTformer_results/attn-patchrefine-npy"),
    ("mctformer", "/work/MCTformer_results/coco-samcam", 81, "/work/MCTformer_results/coco-npy"),
    ("toco", "/work/toco/work_dir/pseudo_samcam", 21, "/work/toco/work_dir/cams"),
    ("clip-es", "/work/clip-es/output/voc12/pseudo_samcam", 21, "/work/clip-es/output/voc12/cams"),
    ("transcam", "/work/TransCAM/data/transcam/pseudo_samcam", 21, "/work/TransCAM/data/transcam/out_cam"),
]


@pytest.mark.parametrize("method,out,num_classes,cams", DOCS_EXAMPLES)
def test_docs_show_exactly_the_printed_commands(method, out, num_classes, cams):
    page = (Path(__file__).resolve().parents[2] / "docs" / "methods.md").read_text(encoding="utf-8").splitlines()
    commands = get(method).continuation_commands(out, num_classes, cams_dir=cams)
    assert commands
    for _, command in commands:
        assert command in page, f"docs/methods.md lacks the {method} command {command!r}"


# --------------------------------------------------- CLIP-ES -> deeplab-pytorch

def deeplab_pytorch_voc12_yaml(root: str) -> str:
    """kazuto1011/deeplab-pytorch configs/voc12.yaml:1-15 and 30-31, verbatim but for DATASET.ROOT
    (your VOCdevkit, which its data/datasets/voc12/README.md asks you to set)."""
    return (
        "EXP:\n    ID: voc12\n    OUTPUT_DIR: data\n\n"
        f"DATASET:\n    NAME: vocaug\n    ROOT: {root}\n    LABELS: ./data/datasets/voc12/labels.txt\n"
        "    N_CLASSES: 21\n    IGNORE_LABEL: 255\n    SCALES: [0.5, 0.75, 1.0, 1.25, 1.5]\n    SPLIT:\n"
        "        TRAIN: train_aug\n        VAL: val\n        TEST: test\n\n"
        "MODEL:\n    NAME: DeepLabV2_ResNet101_MSC\n"
    )


def load_config(path: Path) -> Dict[str, object]:
    """OmegaConf.load for the nested-mapping subset configs/voc12.yaml uses (4-space indents)."""
    root: Dict[str, object] = {}
    stack = [(-1, root)]
    for line in path.read_text().splitlines():
        if not line.strip():
            continue
        indent = len(line) - len(line.lstrip(" "))
        key, _, value = line.strip().partition(":")
        while stack[-1][0] >= indent:
            stack.pop()
        value = value.strip()
        if value:
            stack[-1][1][key] = value
        else:
            stack[-1][1][key] = {}
            stack.append((indent, stack[-1][1][key]))
    return root


def vocaug_files(config: Dict[str, object], split: str) -> List[Tuple[str, str, str]]:
    """deeplab-pytorch libs/datasets/voc.py:65-86 (VOCAug): (image id, image path, label path)."""
    root = os.path.join(config["DATASET"]["ROOT"], "VOC2012")
    assert split in ["train", "train_aug", "trainval", "trainval_aug", "val"]
    lines = [line.rstrip().split(" ") for line in open(os.path.join(root, "ImageSets/SegmentationAug", split + ".txt"))]
    return [(files.split("/")[-1].split(".")[0], os.path.join(root, files[1:]), os.path.join(root, labels[1:]))
            for files, labels in lines]


def deeplab_main_parser():
    """deeplab-pytorch main.py:86-106, 286-304 (click): train -c/--config-path; test -c, -m/--model-path
    (click.Path(exists=True)); both --cuda/--cpu."""
    parser = argparse.ArgumentParser(prog="main.py", exit_on_error=False)
    commands = parser.add_subparsers(dest="command", required=True)
    for name in ("train", "test"):
        command = commands.add_parser(name, exit_on_error=False)
        command.add_argument("-c", "--config-path", required=True)
        if name == "test":
            command.add_argument("-m", "--model-path", required=True)
        command.add_argument("--cuda", dest="cuda", action="store_true", default=True)
        command.add_argument("--cpu", dest="cuda", action="store_false")
    return parser


def shell_commands(stdout: str) -> List[str]:
    return [line[2:] for line in stdout.splitlines() if line.startswith("  ")]


def run_shell(command: str, cwd: Path) -> None:
    env = dict(os.environ, PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))
    done = subprocess.run(["bash", "-c", command], cwd=cwd, env=env, capture_output=True, text=True)
    assert done.returncode == 0, f"{command!r} failed: {done.stderr}"


def test_clip_es_continuation_trains_deeplab_pytorch_on_the_refined_folder(tmp_path, monkeypatch, capsys):
    names = ["2007_000032", "2007_000039"]
    voc = tmp_path / "datasets" / "VOCdevkit" / "VOC2012"  # the user's VOC, with deeplab-pytorch's lists
    for folder in ("JPEGImages", "SegmentationClassAug", "ImageSets/SegmentationAug"):
        (voc / folder).mkdir(parents=True)
    for name in names:
        (voc / "JPEGImages" / f"{name}.jpg").write_bytes(b"jpeg")
        write_label_png(voc / "SegmentationClassAug" / f"{name}.png", np.full((H, W), 3, np.uint8))
    for split in ("train_aug", "val"):  # the lists' format: /JPEGImages/x.jpg /SegmentationClassAug/x.png
        (voc / "ImageSets/SegmentationAug" / f"{split}.txt").write_text(
            "".join(f"/JPEGImages/{n}.jpg /SegmentationClassAug/{n}.png\n" for n in names))
    before = sorted(str(p.relative_to(voc)) for p in voc.rglob("*"))
    repo = tmp_path / "deeplab-pytorch"
    (repo / "configs").mkdir(parents=True)
    original = deeplab_pytorch_voc12_yaml(str(voc.parent))
    (repo / "configs" / "voc12.yaml").write_text(original)
    (repo / "VOC2012").symlink_to(voc)
    # CLIP-ES's files, refined into a folder whose path needs quoting
    work = tmp_path / "clip es"
    (work / "cams").mkdir(parents=True), (work / "masks").mkdir()
    for seed, name in enumerate(names):
        keys, high_res, masks = make_scene(seed)
        WRITERS["clip_es"](work / "cams" / f"{name}.npy", keys, high_res)
        samcam_masks.write(work / "masks" / name, masks)
    out = work / "output" / "voc12" / "pseudo samcam"
    monkeypatch.chdir(repo)
    assert main(["adapt", "--no-progress", "--method", "clip-es", "--cams", str(work / "cams"),
                 "--masks", str(work / "masks"), "--out", str(out)]) == 0
    commands = shell_commands(capsys.readouterr().out)
    assert len(commands) == 5 and commands[-1].startswith("samcam mmseg-config")
    for _ in range(2):  # the set-up commands run, and can run again
        run_shell(commands[0], repo)
        run_shell(commands[1], repo)
    parser = deeplab_main_parser()
    train = parser.parse_args(shlex.split(commands[2])[2:])
    test = parser.parse_args(shlex.split(commands[3])[2:])
    assert shlex.split(commands[2])[:2] == ["python", "main.py"] and train.command == "train"
    assert test.command == "test" and train.cuda and test.cuda
    train_cfg = load_config(repo / train.config_path)
    test_cfg = load_config(repo / test.config_path)
    # training reads every train_aug label from the refined folder, images from the user's VOC
    for image_id, image_path, label_path in vocaug_files(train_cfg, train_cfg["DATASET"]["SPLIT"]["TRAIN"]):
        assert os.path.realpath(label_path) == os.path.realpath(out / f"{image_id}.png")
        assert os.path.realpath(image_path) == os.path.realpath(voc / "JPEGImages" / f"{image_id}.jpg")
        with Image.open(label_path) as image:  # np.asarray(Image.open(label_path)) at voc.py:85
            np.testing.assert_array_equal(np.asarray(image), read_label_png(out / f"{image_id}.png"))
    # its checkpoints (main.py:196-203, 282) and logs (:192) get a new EXP.ID, outside the refined folder
    checkpoint_dir = os.path.join(train_cfg["EXP"]["OUTPUT_DIR"], "models", train_cfg["EXP"]["ID"],
                                  train_cfg["MODEL"]["NAME"].lower(), train_cfg["DATASET"]["SPLIT"]["TRAIN"])
    assert train_cfg["EXP"]["ID"] == "voc12_samcam" and not inside(repo / checkpoint_dir, out)
    assert test.model_path == os.path.join(checkpoint_dir, "checkpoint_final.pth")
    # testing reads val against the user's ground truth and writes under the new ID (main.py:341-346)
    assert test_cfg["DATASET"]["ROOT"] == str(voc.parent) and test_cfg["EXP"]["ID"] == "voc12_samcam"
    for image_id, _, label_path in vocaug_files(test_cfg, test_cfg["DATASET"]["SPLIT"]["VAL"]):
        assert os.path.realpath(label_path) == os.path.realpath(voc / "SegmentationClassAug" / f"{image_id}.png")
    # nothing of the user's changed: their config, their VOC2012
    assert (repo / "configs" / "voc12.yaml").read_text() == original
    assert sorted(str(p.relative_to(voc)) for p in voc.rglob("*")) == before
    original_cfg = load_config(repo / "configs" / "voc12.yaml")
    for config in (train_cfg, test_cfg):  # the copies differ only in EXP.ID (and the train root)
        assert config["MODEL"] == original_cfg["MODEL"] and config["EXP"]["OUTPUT_DIR"] == "data"
        assert {k: v for k, v in config["DATASET"].items() if k != "ROOT"} == \
            {k: v for k, v in original_cfg["DATASET"].items() if k != "ROOT"}


@pytest.mark.parametrize("folder", ["pseudo#1", "a&b", "x: y", "back\\slash"])
def test_clip_es_config_command_is_not_printed_for_a_path_it_cannot_carry(tmp_path, folder):
    """sed's ``#`` delimiter and ``&``/``\\`` specials, and YAML's ``: `` in the unquoted
    ROOT value, would write a broken config: the command becomes a comment saying why."""
    commands = get("clip-es").continuation_commands(tmp_path / folder)
    config = [command for purpose, command in commands if "voc12.yaml" in purpose]
    assert len(config) == 1 and config[0].startswith("# not printed: the output path contains")
    assert all(not command.startswith("#") for purpose, command in commands if "voc12.yaml" not in purpose)
    done = subprocess.run(["bash", "-c", config[0]], capture_output=True, text=True)  # copied, it does nothing
    assert done.returncode == 0 and done.stdout == ""
    safe = get("clip-es").continuation_commands(tmp_path / "pseudo samcam")
    assert all(not command.startswith("#") for _, command in safe)


# ------------------------------------------------------------ TransCAM

def transcam_evaluation_parser():
    """TransCAM evaluation.py:105-114, restated (``--curve`` is type=bool: bool('') is False)."""
    parser = argparse.ArgumentParser(exit_on_error=False)
    parser.add_argument("--list", default="VOCdevkit/VOC2012/ImageSets/Segmentation/train.txt", type=str)
    parser.add_argument("--predict_dir", default="data/transcam/out_rw", type=str)
    parser.add_argument("--gt_dir", default="VOCdevkit/VOC2012/SegmentationClass", type=str)
    parser.add_argument("--logfile", default="./evallog.txt", type=str)
    parser.add_argument("--comment", required=True, type=str)
    parser.add_argument("--type", default="npy", choices=["npy", "png"], type=str)
    parser.add_argument("--t", default=None, type=float)
    parser.add_argument("--curve", default=True, type=bool)
    return parser


# TransCAM deeplab/config.py: the entries the paths depend on, as its lines 11-29 and 55-60 write them
TRANSCAM_CONFIG = """import os
config_dict = {
    'EXP_NAME': 'transcam',
    'GPUS': 1,
    'DATA_NAME': 'VOCDataset',
    'DATA_YEAR': 2012,
    'DATA_AUG': True,
    'DATA_PSEUDO_GT': 'data/out_rw',
    'MODEL_NAME': 'deeplabv1',
    'MODEL_BACKBONE': 'resnet38',
    'TRAIN_ITERATION': 20000,
}

config_dict['ROOT_DIR'] = os.path.abspath('.')
config_dict['MODEL_SAVE_DIR'] = os.path.join(config_dict['ROOT_DIR'], 'data')
config_dict['TRAIN_CKPT'] = None
config_dict['LOG_DIR'] = os.path.join(config_dict['ROOT_DIR'], 'log', config_dict['EXP_NAME'])
"""

# What train_deeplab.py does with those paths, restated: Configuration(config_dict) (:30; it keeps
# the dict, makes LOG_DIR afresh and MODEL_SAVE_DIR, deeplab/utils/configuration.py:10-30), VOCDataset's
# pseudo-label folder and reader (VOCDataset.py:35-38, 76-79), the final checkpoint (:130-132) and
# writelog's file (deeplab/utils/finalprocess.py:4). The GPU checks and the training are left out.
TRANSCAM_TRAIN = """import json, os, shutil
import numpy as np
from PIL import Image
from deeplab.config import config_dict


class Configuration():
    def __init__(self, config_dict, clear=True):
        self.__dict__ = config_dict
        if not os.path.isdir(self.LOG_DIR):
            os.makedirs(self.LOG_DIR)
        elif clear:
            shutil.rmtree(self.LOG_DIR)
            os.mkdir(self.LOG_DIR)
        if not os.path.isdir(self.MODEL_SAVE_DIR):
            os.makedirs(self.MODEL_SAVE_DIR)


cfg = Configuration(config_dict)


def train_net():
    pseudo_gt_dir = cfg.DATA_PSEUDO_GT if cfg.DATA_PSEUDO_GT else 'VOCdevkit/pseudo_gt/VOC2012/Segmentation'
    first = np.array(Image.open(pseudo_gt_dir + '/' + '2007_000032' + '.png'))
    save_path = os.path.join(cfg.MODEL_SAVE_DIR, '%s_%s_%s_itr%d_all.pth' % (
        cfg.MODEL_NAME, cfg.MODEL_BACKBONE, cfg.DATA_NAME, cfg.TRAIN_ITERATION))
    open(save_path, 'w').close()
    open(os.path.join(cfg.ROOT_DIR, 'log', 'logfile.txt'), 'a').close()
    json.dump({'pseudo_gt_dir': pseudo_gt_dir, 'save_path': save_path, 'log_dir': cfg.LOG_DIR,
               'first': first.tolist()}, open('seen.json', 'w'))


if __name__ == '__main__':
    train_net()
"""


def test_transcam_continuations_evaluate_and_train_on_the_refined_folder(tmp_path, monkeypatch, capsys):
    repo = tmp_path / "TransCAM"
    (repo / "deeplab").mkdir(parents=True)
    (repo / "deeplab" / "config.py").write_text(TRANSCAM_CONFIG)
    (repo / "train_deeplab.py").write_text(TRANSCAM_TRAIN)
    (repo / "log" / "transcam").mkdir(parents=True)  # a baseline run's log, which Configuration would empty
    (repo / "log" / "transcam" / "events").write_text("baseline")
    (repo / "data" / "transcam" / "out_cam").mkdir(parents=True)
    (repo / "masks").mkdir()
    keys, high_res, masks = make_scene(0)
    WRITERS["transcam"](repo / "data" / "transcam" / "out_cam" / "2007_000032.npy", keys, high_res)
    samcam_masks.write(repo / "masks" / "2007_000032", masks)
    out = repo / "data" / "transcam" / "out rw samcam"
    monkeypatch.chdir(repo)
    assert main(["adapt", "--no-progress", "--method", "transcam", "--cams", "data/transcam/out_cam",
                 "--masks", "masks", "--out", str(out)]) == 0
    commands = shell_commands(capsys.readouterr().out)
    assert len(commands) == 3
    # evaluation.py: PNGs of the refined folder, scored once, its log a new file
    argv = shlex.split(commands[0])
    assert argv[:2] == ["python", "evaluation.py"]
    args = _parse(transcam_evaluation_parser(), argv[2:], commands[0])
    assert args.type == "png" and args.curve is False and Path(args.predict_dir) == out
    assert "samcam" in args.logfile and not inside(repo / args.logfile, out)
    # train_deeplab.py through the printed python -c: DATA_PSEUDO_GT is the refined folder
    run_shell(commands[1], repo)
    seen = json.loads((repo / "seen.json").read_text())
    assert seen["pseudo_gt_dir"] == str(out)
    np.testing.assert_array_equal(np.array(seen["first"]), read_label_png(out / "2007_000032.png"))
    assert Path(seen["save_path"]).parent == Path(str(out) + "_deeplab")
    assert Path(seen["log_dir"]) == repo / "log" / "transcam_samcam"
    assert (repo / "log" / "transcam" / "events").read_text() == "baseline"  # the baseline log is untouched
    assert (repo / "deeplab" / "config.py").read_text() == TRANSCAM_CONFIG
    # nothing written into the refined folder: its label and samcam's own record only
    assert sorted(p.name for p in out.iterdir()) == ["2007_000032.png", "samcam.json"]
    assert shlex.split(commands[2])[:2] == ["samcam", "mmseg-config"]

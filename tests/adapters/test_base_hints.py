"""What samcam-adapt says and prints after a run, checked against the upstream code it names.

Each test here fails without the fix it is named after (issue 23, item 4, and issue 22's
adapt output): MCTformer's COCO training list, CLIMS's work space, TransCAM's trainaug.txt,
CLIP-ES's and CLIMS's COCO thresholds, AMN's IRN baseline, the refusal of a CRF dict, the
--palette help, the order of the output, absolute paths and the --help example. Upstream
file:line references are to the snapshots named in the adapters' docstrings.
"""
from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from cam_files import adapt, build_dataset, make_scene
from method_drivers import CLIMS_COCO, CLIMS_VOC, _parse, mctformer_train_seg_parser, printed_commands
from PIL import Image

import samcam
from samcam.adapters import amn, available, get, irn
from samcam.adapters.base import REFINED_NAMES
from samcam.adapters.checks import JobError, check_first_cam
from samcam.cli import adapt_main, build_parser, main

ROOT = Path(__file__).resolve().parents[2]
COCO = ["COCO_train2014_000000000009", "COCO_train2014_000000000025", "COCO_train2014_000000000030"]


# ------------------------------------------------ MCTformer on COCO: the list of names refined

def test_mctformer_coco_training_reads_the_names_refined(tmp_path, monkeypatch, capsys):
    """coco/train_id.txt names every train2014 image, but MCTformer writes no CAM for one without
    classes (engine.py:212) and train_seg.py opens {seg_pgt_path}/{name}.png for every listed name
    (seg/tool/exutils.py:125): the printed command must list only the labels written."""
    repo = tmp_path / "MCTformer"
    repo.mkdir()
    cams, masks, _ = build_dataset(repo, "mctformer", names=COCO, num_classes=81)
    (cams / f"{COCO[1]}.npy").unlink()  # an image without classes: no CAM file
    (repo / "coco").mkdir()
    (repo / "coco" / "train_id.txt").write_text("".join(f"{name}\n" for name in COCO))  # like coco/train_id.txt
    out = repo / "MCTformer_results" / "coco-samcam"
    monkeypatch.chdir(repo)
    flags = ["--method", "mctformer", "--cams", "cams", "--masks", "masks", "--out", "MCTformer_results/coco-samcam",
             "--num-classes", "81", "--threshold", "0.39"]
    assert adapt(*flags, "--list", "coco/train_id.txt") == 1  # the image without a CAM fails, the others are written
    stdout = capsys.readouterr().out
    names_file = out / REFINED_NAMES
    assert names_file.read_text() == f"{COCO[0]}\n{COCO[2]}\n"
    train = [command for command in printed_commands(stdout) if "seg/train_seg.py" in command]
    assert len(train) == 1
    args = _parse(mctformer_train_seg_parser(), shlex.split(train[0])[2:], train[0])
    assert Path(args.list_path) == names_file and os.path.isabs(args.list_path)
    # train_seg.py:56 reads the list (exutils.read_file), exutils.py:125 opens each label with PIL
    for piece in open(args.list_path).read().splitlines():
        with Image.open(os.path.join(args.seg_pgt_path, piece.strip() + ".png")) as label:
            assert label.mode == "L"
    # a later run into the folder (here: the missing CAM found, with its masks: the mask folder
    # changed, so the run must redo the folder, --overwrite) rewrites the list with every label
    build_dataset(repo, "mctformer", names=COCO[1:2], num_classes=81)
    assert adapt(*flags) == 2  # the masks changed since the labels were written
    assert adapt(*flags, "--overwrite") == 0
    assert names_file.read_text() == "".join(f"{name}\n" for name in sorted(COCO))


def test_only_a_command_that_reads_the_names_file_gets_one(tmp_path):
    assert [name for name in available() if get(name).uses_names_file(81)] == ["mctformer"]
    assert not any(get(name).uses_names_file(21) for name in available())
    cams, masks, _ = build_dataset(tmp_path, "mctformer")
    assert adapt("--method", "mctformer", "--cams", cams, "--masks", masks, "--out", tmp_path / "out") == 0
    assert not (tmp_path / "out" / REFINED_NAMES).exists()


# ------------------------------------------------ CLIMS: the work space and the CAMs make_sem_seg reads

def clims_paths(driver, command: str, cwd: Path) -> dict:
    """CLIMS run_sample.py:93-124 (COCO run_sample_coco.py:86-122), restated: every path is
    os.path.join(work_space, path), which keeps an absolute path as it is."""
    argv = shlex.split(command)
    values = vars(_parse(driver.parser(), argv[2:], command))
    for flag in ("log_name", "cam_weights_name", "irn_weights_name", "cam_out_dir", "ir_label_out_dir",
                 "sem_seg_out_dir", "ins_seg_out_dir", "clims_weights_name"):
        values[flag] = os.path.normpath(cwd / os.path.join(values["work_space"], values[flag]))
    values["work_space"] = os.path.normpath(cwd / values["work_space"])
    return values


@pytest.mark.parametrize("dataset", ["voc", "coco"])
def test_clims_commands_read_the_cams_refined_from_their_work_space(tmp_path, monkeypatch, capsys, dataset):
    """make_sem_seg reads {work_space}/{cam_out_dir} (run_sample.py:97, 120;
    step/make_sem_seg_labels.py:40): the CAMs refined, not those of a hard-coded clims_voc12."""
    repo = tmp_path / "CLIMS"
    work_space = repo / "my_run"  # not the README's clims_voc12
    num_classes = 81 if dataset == "coco" else 21
    names = COCO[:1] if dataset == "coco" else ["2007_000032"]
    work_space.mkdir(parents=True)
    build_dataset(work_space, "clims", names=names, num_classes=num_classes)
    (work_space / "cams").rename(work_space / "cam_mask")
    monkeypatch.chdir(repo)
    assert adapt("--method", "clims", "--cams", "my_run/cam_mask", "--masks", "my_run/masks",
                 "--out", "my_run/sem_seg_samcam", "--num-classes", num_classes) == 0
    commands = [c for c in printed_commands(capsys.readouterr().out) if c.startswith("python run_sample")]
    assert commands
    driver = CLIMS_COCO if dataset == "coco" else CLIMS_VOC
    for command in commands:
        paths = clims_paths(driver, command, Path("/elsewhere"))  # absolute: the same from any directory
        assert paths["work_space"] == str(work_space)
        assert paths["cam_out_dir"] == str(work_space / "cam_mask")
        assert paths["sem_seg_out_dir"].startswith(str(work_space / "sem_seg_samcam"))


def test_clims_cams_elsewhere_are_passed_and_png_labels_state_the_constraint(tmp_path):
    out, cams = tmp_path / "ws" / "sem_seg_samcam", tmp_path / "exported cams"
    commands = get("clims").continuation_commands(out, 21, cams_dir=cams)
    train = commands[1][1]
    assert "make_sem_seg_pass True" in train
    paths = clims_paths(CLIMS_VOC, train, tmp_path)
    assert paths["cam_out_dir"] == str(cams)  # what make_sem_seg_labels.py:40 reads
    assert paths["work_space"] == str(tmp_path / "clims_voc12")  # a placeholder: run_from says which
    # PNG labels refined: no --cams, so the work space must be CLIMS's own, and the text says so
    purpose, train = get("clims").continuation_commands(out, 21)[1]
    assert "--cam_out_dir" not in train and "--work_space clims_voc12" in train
    assert "clims_voc12/cam_mask (--work_space must be the one you ran CLIMS with)" in purpose


# ------------------------------------------------ training on every train_aug name

@pytest.mark.parametrize("method,index,words", [
    ("irn", 1, ("needs all train_aug names",)),
    ("amn", 1, ("needs all train_aug names",)),
    ("clims", 1, ("needs all train_aug names",)),
    ("clip-es", 0, ("every train_aug name",)),
    ("mctformer", 1, ("voc12/train_aug_id.txt", "10,582")),
    # TransCAM's DeepLab reads ImageSets/Segmentation/trainaug.txt (DATA_AUG True, deeplab/config.py:16;
    # VOCDataset.py:41-42)
    ("transcam", 1, ("ImageSets/Segmentation/trainaug.txt", "VOCDataset.py:41-42", "10,582")),
])
def test_each_training_command_says_it_needs_every_train_aug_label(tmp_path, method, index, words):
    purpose, _ = get(method).continuation_commands(tmp_path / "refined")[index]
    for word in words:
        assert word in purpose, (method, purpose)


# ------------------------------------------------ thresholds the user should know about

def test_clip_es_hint_names_the_sweep_and_the_training_masks_exponent(tmp_path):
    for num_classes in (21, 81):
        hint = get("clip-es").hint(tmp_path / "refined", num_classes=num_classes)
        for word in ("t = 2", "eval_cam.py", ":83", ":99-117", "eval_cam_with_crf.py:111", "--threshold 1"):
            assert word in hint, (num_classes, word)
    threshold_help = build_parser()._subparsers._group_actions[0].choices["adapt"].format_help()
    assert "1 is what its training masks use" in " ".join(threshold_help.split())


def test_clip_es_threshold_1_is_the_training_masks_exponent():
    """eval_cam_with_crf.py:110-112 before its CRF: bg = (1 - max)^1 in float16, argmax, keys + 1."""
    keys, high_res, _ = make_scene(3)
    cams = high_res.astype(np.float16)
    cam_dict = {"keys": keys, "attn_highres": cams}
    bg_score = np.power(1 - np.max(cams, axis=0, keepdims=True), 1)
    expected = np.pad(keys + 1, (1, 0), mode="constant")[np.argmax(np.concatenate((bg_score, cams), axis=0), axis=0)]
    np.testing.assert_array_equal(get("clip-es").cam_to_label(cam_dict, threshold=1), expected)
    assert not np.array_equal(get("clip-es").cam_to_label(cam_dict), expected)  # the default, 2, differs here


def test_clims_coco_hint_says_the_readme_and_parser_thresholds(tmp_path):
    hint = get("clims").hint(tmp_path / "refined", num_classes=81)
    assert "0.15" in hint and "README.md:86" in hint and "run_sample_coco.py's own default is 0.1 (:53)" in hint
    assert "--threshold 0.1" in hint
    assert "README.md:86" not in get("clims").hint(tmp_path / "refined", num_classes=21)
    coco_row = next(line for line in (ROOT / "docs" / "coco.md").read_text().splitlines() if line.startswith("| `clims`"))
    assert "README.md:86" in coco_row and "run_sample_coco.py:53" in coco_row and "--threshold 0.1" in coco_row


def _method_section(title: str) -> str:
    """The section of docs/methods.md on one method, e.g. "## IRN (jiwoon-ahn/irn @ a2ece00)"."""
    text = (ROOT / "docs" / "methods.md").read_text(encoding="utf-8")
    start = text.index(f"\n## {title} (")
    end = text.find("\n## ", start + 1)
    return text[start:end if end > 0 else len(text)]


def test_amns_irn_baseline_threshold_is_said_and_reproduced():
    """AMN voc12 step/eval_cam.py:13-18 scores result/cam (IRN's CAMs, run_sample.py:78) with
    --cam_eval_thres 0.25 (run_sample.py:40); --method irn uses IRN's 0.15."""
    amn_text = " ".join(_method_section("AMN").split())
    assert "`--method irn`" in amn_text and "`samcam-adapt --method irn --threshold 0.25`" in amn_text
    for citation in ("run_sample.py:78", "run_sample.py:40", "eval_cam.py:15"):
        assert citation in amn_text
    assert "`--threshold 0.25` to match that baseline" in " ".join(_method_section("IRN").split())
    assert "--method irn --threshold 0.25" in " ".join(amn.__doc__.split())
    keys, high_res, _ = make_scene(1)
    cam_dict = {"keys": keys, "cam": high_res[:, ::4, ::4], "high_res": high_res}  # IRN's layout, numpy
    # AMN step/eval_cam.py:14-17, restated
    cams = np.pad(cam_dict["high_res"], ((1, 0), (0, 0), (0, 0)), mode="constant", constant_values=0.25)
    expected = np.pad(cam_dict["keys"] + 1, (1, 0), mode="constant")[np.argmax(cams, axis=0)]
    np.testing.assert_array_equal(irn.cam_to_label(cam_dict, threshold=0.25), expected)
    assert not np.array_equal(irn.cam_to_label(cam_dict, threshold=0.15), expected)


# ------------------------------------------------ messages

@pytest.mark.parametrize("method", ["irn", "amn", "clims", "toco", "clip-es"])
def test_a_crf_dict_given_to_another_method_names_mctformers_crf_layout(tmp_path, capsys, method):
    """MCTformer --out-crf dicts are read only with --layout crf (never detected): the refusal
    must try that layout too, not say that no installed method reads them."""
    cams, masks, _ = build_dataset(tmp_path, "mctformer_crf")
    assert adapt("--method", method, "--cams", cams, "--masks", masks, "--out", tmp_path / "out") == 2
    err = capsys.readouterr().err
    assert err.rstrip().endswith("use --method mctformer --layout crf") and "no installed method" not in err
    assert not (tmp_path / "out").exists()
    with pytest.raises(JobError, match="use method mctformer layout crf$"):
        check_first_cam(method, cams, ["2007_000032"])
    # the files then read with the method and layout named
    assert adapt("--method", "mctformer", "--layout", "crf", "--cams", cams, "--masks", masks,
                 "--out", tmp_path / "out") == 0


def test_palette_help_names_every_method_that_allows_it(capsys):
    with pytest.raises(SystemExit):
        main(["adapt", "--help"])
    text = capsys.readouterr().out
    palette = " ".join(text[text.index("--palette  "):].split("\n\n")[0].split())
    allowed = [name for name in available() if get(name).palette_allowed]
    assert allowed == ["clip-es", "mctformer", "transcam"]
    assert ", ".join(allowed) in palette and "irn" not in palette
    for name in available():
        line = next(line for line in text.splitlines() if line.startswith(f"  {name} "))
        assert line.endswith("--palette allowed") == get(name).palette_allowed, line


# ------------------------------------------------ output: summary first, absolute paths, an example

@pytest.mark.slow
def test_summary_comes_before_the_commands_and_they_use_absolute_paths(tmp_path):
    cams, masks, _ = build_dataset(tmp_path, "toco")
    env = dict(os.environ, PYTHONUNBUFFERED="1", PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    done = subprocess.run([sys.executable, "-m", "samcam", "adapt", "--no-progress", "--method", "toco", "--cams",
                           "cams", "--masks", "masks", "--out", "pseudo_samcam"], cwd=tmp_path, env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert done.returncode == 0, done.stdout
    lines = done.stdout.splitlines()
    summary = next(i for i, line in enumerate(lines) if re.match(r"samcam adapt toco: .*3", line))
    commands = next(i for i, line in enumerate(lines) if line.startswith("Refined ToCo"))
    assert summary < commands, done.stdout
    (command,) = printed_commands(done.stdout)
    args = build_parser().parse_args(shlex.split(command)[1:])
    out = tmp_path / "pseudo_samcam"
    assert Path(args.labels) == out and os.path.isabs(args.out) and Path(args.out) == Path(f"{out}_mmseg.py")


def test_adapt_help_has_an_example_that_parses(capsys):
    with pytest.raises(SystemExit):
        main(["adapt", "--help"])
    text = capsys.readouterr().out
    example = next(line.strip() for line in text.splitlines() if line.strip().startswith("samcam adapt --method"))
    args = build_parser().parse_args(shlex.split(example)[1:])
    assert args.method == "irn" and args.cams_dir and args.masks_dir and args.out_dir
    with pytest.raises(SystemExit):
        adapt_main(["--help"])
    assert "\n  samcam-adapt --method irn --cams " in capsys.readouterr().out  # as the command is called


def test_refined_names_are_sorted_and_only_labels(tmp_path):
    from samcam.adapters.run import write_refined_names
    out = tmp_path / "out"
    out.mkdir()
    for name in ("b", "a", "c"):
        samcam.io.write_label_png(out / f"{name}.png", np.zeros((2, 2), np.uint8))
    (out / "samcam.json").write_text("{}")
    assert write_refined_names(out) == out / REFINED_NAMES
    assert (out / REFINED_NAMES).read_text() == "a\nb\nc\n"
    assert write_refined_names(out).read_text() == "a\nb\nc\n"  # a .txt among the labels is not a label

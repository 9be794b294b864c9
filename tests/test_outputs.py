"""No output over an input: every command's output paths go through one guard
(:func:`samcam.outputs.check_outputs`) before any work, and a resume never counts a folder
standing at an output path as a finished output.

Each case of issue "Reliability, third round" that lost data with exit 0 is here: the
command is refused with exit 2, blaming the right flag, and every input is unchanged.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from cli_calls import refused
from PIL import Image

from samcam import masks as store
from samcam.cli import main
from samcam.demo.synthetic import cam_to_label, make_scene
from samcam.images import write_label_png
from samcam.outputs import OutputConflict, check_outputs, ensure_not_inside

NAMES = ["a", "b", "c"]


@pytest.fixture
def data(tmp_path):
    """images/ (.jpg), gt/, labels/ and refined/ (label PNGs), masks/ and masks2/ (samcam stores), list.txt."""
    rng = np.random.default_rng(1)
    for name in NAMES:
        scene = make_scene(rng, 32, 40)
        label = cam_to_label(scene.cam)
        (tmp_path / "images").mkdir(exist_ok=True)
        Image.fromarray(rng.integers(0, 255, (32, 40, 3), np.uint8)).save(tmp_path / "images" / f"{name}.jpg")
        write_label_png(tmp_path / "gt" / f"{name}.png", label)
        write_label_png(tmp_path / "labels" / f"{name}.png", label)
        write_label_png(tmp_path / "refined" / f"{name}.png", np.where(label > 0, 0, label).astype(np.uint8))
        store.write(tmp_path / "masks" / name, scene.masks)
        store.write(tmp_path / "masks2" / name, scene.masks[:1])
    (tmp_path / "list.txt").write_text("\n".join(NAMES) + "\n")
    return tmp_path


def _snapshot(root: Path):
    return {p: p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _eval(data, *extra):
    return ["eval", "--gt", str(data / "gt"), "--labels", f"cam={data / 'labels'}", "--no-progress", *extra]


def test_eval_json_onto_a_mask_store_of_the_report_masks_is_refused(data, capsys):
    before = _snapshot(data)
    refused(capsys, _eval(data, "--report", str(data / "report"), "--images", str(data / "images"), "--masks",
                           str(data / "masks"), "--json", str(data / "masks" / "a.masks.npz")),
             "--json", "would replace a file inside --masks")
    assert _snapshot(data) == before and not (data / "report").exists()


def test_eval_per_image_onto_an_image_is_refused(data, capsys):
    before = _snapshot(data)
    refused(capsys, _eval(data, "--report", str(data / "report"), "--images", str(data / "images"),
                           "--per-image", str(data / "images" / "a.jpg")),
             "--per-image", "would replace a file inside --images")
    assert _snapshot(data) == before


def test_eval_json_onto_a_label_folders_record_is_refused(data, capsys):
    assert main(["refine", "--labels", str(data / "labels"), "--masks", str(data / "masks"), "--out",
                 str(data / "out"), "--no-progress"]) == 0
    capsys.readouterr()
    before = _snapshot(data)
    # the folder is read: replacing a file there is refused
    refused(capsys, _eval(data, "--labels", f"out={data / 'out'}", "--json", str(data / "out" / "samcam.json")),
             "--json", "samcam.json is the record samcam keeps")
    # not read by this command: still never a record samcam did not write as one
    refused(capsys, _eval(data, "--json", str(data / "out" / "samcam.json")), "--json", "samcam.json is the record")
    assert _snapshot(data) == before


def test_eval_report_into_an_input_folder_blames_report(data, capsys):
    before = _snapshot(data)
    refused(capsys, _eval(data, "--report", str(data / "gt" / "report")), "--report", "lies inside the input folder --gt")
    assert "--out" not in capsys.readouterr().err
    refused(capsys, _eval(data, "--report", str(data / "list.txt")), "--report", "is a file, not a folder")
    assert _snapshot(data) == before


def test_eval_outputs_into_an_input_folder_under_a_reader_suffix_are_refused(data, capsys):
    """A new file the folder's readers would take for an input (an RLE JSON among masks)."""
    before = _snapshot(data)
    refused(capsys, _eval(data, "--report", str(data / "r"), "--images", str(data / "images"), "--masks",
                           str(data / "masks"), "--json", str(data / "masks" / "metrics.json")),
             "--json", "would add a .json file to --masks")
    assert _snapshot(data) == before
    # another suffix beside the labels is fine (tests/test_evaluate.py: per_image.csv)


def _compare(data, *extra):
    return ["compare", "--masks", f"one={data / 'masks'}", f"two={data / 'masks2'}", "--labels", str(data / "labels"),
            "--gt", str(data / "gt"), "--no-progress", *extra]


def test_compare_json_onto_an_input_png_or_mask_store_is_refused(data, capsys):
    before = _snapshot(data)
    refused(capsys, _compare(data, "--json", str(data / "labels" / "a.png")), "--json",
             "would replace a file inside --labels")
    refused(capsys, _compare(data, "--json", str(data / "masks2" / "b.masks.npz")), "--json",
             "would replace a file inside --masks")
    refused(capsys, _compare(data, "--json", str(data / "gt" / "c.png")), "--json", "inside --gt")
    refused(capsys, _compare(data, "--report", str(data / "masks" / "r")), "--report", "lies inside")
    assert _snapshot(data) == before
    assert main(_compare(data, "--json", str(data / "comparison.json"))) == 0


def test_an_output_reaching_an_input_through_a_link_is_refused(data, capsys):
    os.symlink(data / "list.txt", data / "link.json")
    os.link(data / "list.txt", data / "hard.csv")
    before = _snapshot(data)
    refused(capsys, _eval(data, "--list", str(data / "list.txt"), "--json", str(data / "link.json")), "--json",
             "is the --list file")
    refused(capsys, _eval(data, "--list", str(data / "list.txt"), "--per-image", str(data / "hard.csv")),
             "--per-image", "is the --list file")
    assert _snapshot(data) == before


def test_refine_and_vis_and_mmseg_config_outputs_are_guarded(data, capsys):
    before = _snapshot(data)
    refused(capsys, ["refine", "--labels", str(data / "labels"), "--masks", str(data / "masks"), "--out",
                      str(data / "masks" / "sub")], "--out", "lies inside the input folder --masks")
    refused(capsys, ["refine", "--labels", str(data / "labels"), "--masks", str(data / "masks"), "--out",
                      str(data / "list.txt")], "--out", "is a file, not a folder")
    refused(capsys, ["vis", "--images", str(data / "images"), "--labels", f"cam={data / 'labels'}", "--gt",
                      str(data / "gt"), "--out", str(data / "gt" / "panels")], "--out", "inside the input folder --gt")
    (data / "voc" / "ImageSets" / "Segmentation").mkdir(parents=True)
    (data / "voc" / "JPEGImages").mkdir()
    (data / "voc" / "SegmentationClass").mkdir()
    train = data / "voc" / "ImageSets" / "Segmentation" / "train_aug.txt"
    train.write_text("a\n")
    before = _snapshot(data)
    refused(capsys, ["mmseg-config", "--labels", str(data / "refined"), "--data-root", str(data / "voc"),
                      "--no-check", "--out", str(train)], "--out", "is the --train-list file")
    refused(capsys, ["mmseg-config", "--labels", str(data / "refined"), "--data-root", str(data / "voc"),
                      "--no-check", "--out", str(data / "refined" / "a.png")], "--out",
             "would replace a file inside --labels")
    assert _snapshot(data) == before


def test_a_folder_at_an_output_path_is_not_already_done(data, capsys):
    """It used to count as "already done": now that image fails, saying why, and the others are written."""
    (data / "out" / "b.png").mkdir(parents=True)
    argv = ["refine", "--labels", str(data / "labels"), "--masks", str(data / "masks"), "--out", str(data / "out"),
            "--no-progress"]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "2 written, 0 already done (skipped), 1 failed" in err
    assert "b.png" in err and "a folder stands where this output file should be written" in err
    assert (data / "out" / "a.png").is_file() and (data / "out" / "c.png").is_file()
    (data / "out" / "b.png").rmdir()
    assert main(argv) == 0 and (data / "out" / "b.png").is_file()  # the resume does it
    assert "1 written, 2 already done" in capsys.readouterr().err


def test_the_guard_itself(tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "x.png").write_bytes(b"x")
    (tmp_path / "notes.txt").write_text("n")
    reads = {"--labels": [tmp_path / "in", None], "--list": tmp_path / "notes.txt", "--gt": tmp_path / "missing"}
    check_outputs(files={"--json": tmp_path / "in" / "scores.csv", "--per-image": None},
                  folders={"--out": tmp_path / "out"}, reads=reads)  # fine
    cases = [
        ({"--json": tmp_path / "in" / "x.png"}, {}, "--json .* would replace a file inside --labels"),
        ({"--json": tmp_path / "in" / "new.npz"}, {}, "would add a .npz file"),
        ({"--json": tmp_path / "notes.txt"}, {}, "is the --list file"),
        ({"--json": tmp_path / "in"}, {}, "is a folder; give a file name"),
        ({"--json": tmp_path / "a" / "samcam.json"}, {}, "record samcam keeps"),
        ({"--json": tmp_path / "o.json", "--per-image": tmp_path / "o.json"}, {}, "--per-image and --json are the same"),
        ({}, {"--report": tmp_path / "in" / "r"}, "--report .* lies inside the input folder --labels"),
        ({}, {"--out": tmp_path / "notes.txt"}, "--out .* is a file, not a folder"),
    ]
    for files, folders, message in cases:
        with pytest.raises(OutputConflict, match=message):
            check_outputs(files=files, folders=folders, reads=reads)
    with pytest.raises(ValueError, match="never writes into its inputs"):
        ensure_not_inside(tmp_path / "in" / "deep" / "er", [None, tmp_path / "in"])


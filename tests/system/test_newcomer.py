"""A newcomer's mistakes on the demo data: wrong folders, lists and methods are one clear error
(exit 2) saying what was found and what was expected; failures alike are said once with the fix."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from samcam import masks as mask_store
from samcam.cli import main
from samcam.demo.run import run_demo
from samcam.inputs import InputError, check_image_folder, check_label_folder, check_mask_folder, survey
from samcam.io import read_name_list, write_label_png

pytestmark = pytest.mark.slow  # every test runs on the demo it builds first


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("newcomer") / "demo"
    run_demo(root, num_images=4)
    return root


def cli(*argv) -> int:
    return main([str(a) for a in argv] + ["--no-progress"])


# --------------------------------------------------------------- 1. folders of the wrong kind

def test_swapped_labels_and_masks_is_one_error_naming_both_kinds(demo, tmp_path, capsys):
    out = tmp_path / "out"
    assert cli("refine", "--labels", demo / "masks_sam_like", "--masks", demo / "cam_label", "--out", out) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("samcam refine: error: --labels ")
    assert "expected label PNGs" in err[0] and "4 mask stores (*.masks.npz)" in err[0]
    assert "what --masks reads" in err[0]
    assert not out.exists()  # refused before samcam.json or any label
    # the labels right but the masks a label folder
    assert cli("refine", "--labels", demo / "cam_label", "--masks", demo / "cam_label", "--out", out) == 2
    err = capsys.readouterr().err
    assert "--masks" in err and "expected masks per image" in err and "4 label PNGs" in err
    assert "what --labels or --gt reads" in err and not out.exists()


def test_images_as_labels_and_labels_as_images(demo, tmp_path, capsys):
    assert cli("refine", "--pseudo", demo / "JPEGImages", "--masks", demo / "masks_sam_like",
               "--out", tmp_path / "o") == 2
    err = capsys.readouterr().err
    assert "4 JPEG images" in err and "what --images reads" in err
    colour = tmp_path / "colour"
    colour.mkdir()
    for path in (demo / "JPEGImages").glob("*.jpg"):
        Image.open(path).save(colour / f"{path.stem}.png")  # RGB PNGs: pictures, not class indices
    assert cli("refine", "--labels", colour, "--masks", demo / "masks_sam_like", "--out", tmp_path / "o") == 2
    assert "colour PNGs are pictures, not class indices" in capsys.readouterr().err
    # label maps given to samcam masks as images
    assert cli("masks", "--source", "proposals", "--images", demo / "cam_label", "--out", tmp_path / "m") == 2
    err = capsys.readouterr().err
    assert "samcam masks: error: --images" in err and "label PNGs" in err and not (tmp_path / "m").exists()


def test_empty_folders_and_folders_without_the_listed_images(demo, tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert cli("refine", "--labels", empty, "--masks", demo / "masks_sam_like", "--out", tmp_path / "o") == 2
    assert "found nothing" in capsys.readouterr().err
    other = tmp_path / "other.txt"
    other.write_text("2007_000032\n2007_000039\n")
    assert cli("refine", "--labels", demo / "cam_label", "--masks", demo / "masks_sam_like", "--out", tmp_path / "o",
               "--list", other) == 2
    err = capsys.readouterr().err
    assert "none of the 2 image(s) of --list" in err and "2007_000032" in err and "named like synth_00000" in err


@pytest.mark.parametrize("command", ["adapt", "eval", "vis", "mmseg-config"])
def test_wrong_kind_for_the_other_commands(command, demo, tmp_path, capsys):
    argv = {
        "adapt": ["adapt", "--method", "irn", "--cams", demo / "cam_label", "--masks", demo / "masks_sam_like",
                  "--out", tmp_path / "o"],
        "eval": ["eval", "--gt", demo / "JPEGImages", "--labels", demo / "cam_label"],
        "vis": ["vis", "--images", demo / "JPEGImages", "--labels", demo / "masks_sam_like", "--out", tmp_path / "o"],
        "mmseg-config": ["mmseg-config", "--labels", demo / "masks_sam_like", "--data-root", demo,
                         "--out", tmp_path / "o" / "c.py"],
    }[command]
    if command == "mmseg-config":
        assert main([str(a) for a in argv]) == 2  # no --no-progress here
    else:
        assert cli(*argv) == 2
    err = capsys.readouterr().err
    assert f"samcam {command}: error: " in err and "expected " in err and ", found " in err
    assert not (tmp_path / "o").exists()


def test_eval_gt_of_other_images_is_one_error(demo, tmp_path, capsys):
    gt = tmp_path / "gt"
    write_label_png(gt / "2007_000032.png", np.zeros((4, 4), np.uint8))
    assert cli("eval", "--gt", gt, "--labels", demo / "cam_label") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--gt" in err[0] and "none of the 4 image(s)" in err[0] and "named like 2007_000032" in err[0]


def test_survey_tells_label_maps_from_images(demo, tmp_path):
    assert survey(demo / "cam_label").main_kind().startswith("label PNGs")
    assert survey(demo / "SegmentationClass").main_kind().startswith("label PNGs")  # palette PNGs
    grey = tmp_path / "grey"
    Image.fromarray(np.arange(64 * 64, dtype=np.uint16).reshape(64, 64).astype(np.uint8)).save(
        (grey.mkdir() or grey) / "x.png")
    assert survey(grey).main_kind().startswith("greyscale PNG images")
    check_image_folder(grey)
    with pytest.raises(InputError, match="expected label PNGs"):
        check_label_folder(grey)
    check_mask_folder(demo / "masks_sam_like")
    with pytest.raises(FileNotFoundError, match="--masks .*nope: folder does not exist"):
        check_mask_folder(tmp_path / "nope", "--masks")
    # an unreadable PNG is left to the batch, which names it
    junk = tmp_path / "junk"
    (junk.mkdir() or junk).joinpath("a.png").write_bytes(b"not a png")
    check_label_folder(junk)


# ----------------------------------------------------------------------- 3. --list is a folder

@pytest.mark.parametrize("command", ["refine", "adapt", "eval", "vis", "masks"])
def test_list_pointing_at_a_folder_is_a_clean_error(command, demo, tmp_path, capsys):
    argv = {
        "refine": ["refine", "--labels", demo / "cam_label", "--masks", demo / "masks_sam_like", "--out", tmp_path / "o"],
        "adapt": ["adapt", "--method", "irn", "--cams", demo / "cam", "--masks", demo / "masks_sam_like",
                  "--out", tmp_path / "o"],
        "eval": ["eval", "--gt", demo / "SegmentationClass", "--labels", demo / "cam_label"],
        "vis": ["vis", "--images", demo / "JPEGImages", "--labels", demo / "cam_label", "--out", tmp_path / "o"],
        "masks": ["masks", "--source", "proposals", "--images", demo / "JPEGImages", "--out", tmp_path / "o"],
    }[command]
    assert cli(*argv, "--list", demo / "ImageSets") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"samcam {command}: error: {demo / 'ImageSets'}: is a folder, not a list file (a text file of "
                   "image names, one per line, e.g. ImageSets/Segmentation/train.txt)"]
    assert not (tmp_path / "o").exists()


def test_unreadable_list_is_a_clean_error(tmp_path, monkeypatch):
    listed = tmp_path / "list.txt"
    listed.write_text("a\n")

    def refuse(self, *args, **kwargs):
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "read_text", refuse)
    with pytest.raises(ValueError, match="list.txt: cannot read the list file \\(Permission denied\\)"):
        read_name_list(listed)


def test_mmseg_config_list_given_as_a_folder_is_a_clean_error(demo, tmp_path, capsys):
    out = tmp_path / "c.py"
    assert main(["mmseg-config", "--labels", str(demo / "cam_label"), "--data-root", str(demo),
                 "--train-list", str(demo / "ImageSets"), "--out", str(out)]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        f"samcam mmseg-config: error: --train-list {demo / 'ImageSets'}: is a folder; give the train list file "
        "(one image name per line)"]
    assert not out.exists()


# ------------------------------------------------------------------ 4. failures said once


def test_every_image_failing_alike_is_said_once_with_the_fix(demo, tmp_path, capsys):
    small = tmp_path / "small_masks"
    small.mkdir()
    for path in (demo / "masks_sam_like").glob("*.masks.npz"):
        mask_store.write(small / path.name[: -len(".masks.npz")], np.ones((2, 5, 5), bool))
    assert cli("refine", "--labels", demo / "cam_label", "--masks", small, "--out", tmp_path / "o") == 1
    err = capsys.readouterr().err.strip().splitlines()[-4:]
    assert err[0] == "samcam refine: 0 written, 0 already done (skipped), 4 failed"
    assert err[1] == ("every image failed (4: synth_00000, synth_00001, synth_00002, synth_00003), for the same "
                      "reason; the first, synth_00000:")
    assert err[2] == (f"  ValueError: {demo / 'cam_label' / 'synth_00000.png'} with "
                      f"{small / 'synth_00000.masks.npz'}: masks are 5×5 but the label is 240×320 (height×width); "
                      "masks must be computed on the same image size")
    assert err[3] == ("samcam refine: likely fix: the files come from images of another size: were the masks, "
                      "labels and images made from the same images?")


def test_vis_with_every_image_failing_alike_names_no_panel_folder(demo, tmp_path, capsys):
    small = tmp_path / "small_labels"
    for path in (demo / "cam_label").glob("*.png"):
        write_label_png(small / path.name, np.zeros((4, 4), np.uint8))
    out = tmp_path / "panels"
    assert cli("vis", "--images", demo / "JPEGImages", "--labels", small, "--out", out) == 1
    captured = capsys.readouterr()
    assert "panels in" not in captured.out and not out.exists()
    assert "every image failed (4: " in captured.err and "samcam vis: likely fix: " in captured.err
    # sizes as every other command says them: height×width
    assert "label is 4×4 but the image is 240×320 (height×width)" in captured.err
    assert cli("vis", "--images", demo / "JPEGImages", "--labels", demo / "cam_label", "--out", out) == 0
    assert f"panels in {out}" in capsys.readouterr().out


def test_eval_with_every_image_failing_alike_prints_no_empty_table(demo, tmp_path, capsys):
    gt = tmp_path / "gt"
    for path in (demo / "SegmentationClass").glob("*.png"):
        write_label_png(gt / path.name, np.zeros((4, 4), np.uint8))
    assert cli("eval", "--gt", gt, "--labels", demo / "cam_label") == 1
    captured = capsys.readouterr()
    assert captured.out == ""  # no table of "-"
    err = captured.err.strip().splitlines()
    assert err[0] == "samcam eval: 4 image(s) left out of every set"
    assert err[1].startswith("samcam eval: every image failed (4: synth_00000") and "for the same reason" in err[1]
    assert "prediction is 240×320 but ground truth is 4×4 (height×width)" in err[2]
    assert err[3].startswith("samcam eval: likely fix: the files come from images of another size")


def test_wrong_method_on_the_demo_names_the_method_that_reads_its_cams(demo, tmp_path, capsys):
    for method in ("mctformer", "clip-es", "transcam", "amn"):
        assert cli("adapt", "--method", method, "--cams", demo / "cam", "--masks", demo / "masks_sam_like",
                   "--out", tmp_path / method) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].endswith("use --method clims or irn"), err
        assert not (tmp_path / method).exists()
    assert cli("adapt", "--method", "irn", "--cams", demo / "cam", "--masks", demo / "masks_sam_like",
               "--out", tmp_path / "irn") == 0


def test_a_broken_copy_of_the_demo_still_resumes(demo, tmp_path, capsys):
    """The checks look at folders, not at every file: one bad label fails alone (exit 1)."""
    labels = tmp_path / "labels"
    shutil.copytree(demo / "cam_label", labels)
    (labels / "synth_00002.png").write_bytes(b"junk")
    assert cli("refine", "--labels", labels, "--masks", demo / "masks_sam_like", "--out", tmp_path / "o") == 1
    err = capsys.readouterr().err
    assert "3 written" in err and "  synth_00002: " in err and "likely fix" not in err


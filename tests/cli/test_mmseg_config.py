"""``samcam mmseg-config`` (samcam.cli.mmseg_config): configs with absolute user paths, COCO name
lists, and the refusals (missing labels, DeepLab-style lists, bad --out)."""
from __future__ import annotations

import pytest
from mmseg_runs import (
    TRAIN_IDS,
    TRAIN_NAMES,
    VAL_IDS,
    make_coco_dataset,
    make_voc_dataset,
    write_coco_config,
)

from samcam.cli import main


@pytest.fixture
def dataset(tmp_path):
    return make_voc_dataset(tmp_path)


@pytest.mark.slow
def test_cli_writes_config_with_absolute_user_paths(dataset, tmp_path, capsys):
    out = tmp_path / "cfg" / "train_refined.py"
    code = main(["mmseg-config", "--labels", str(dataset["refined"]), "--data-root", str(dataset["voc"]),
                 "--out", str(out)])
    assert code == 0
    text = out.read_text()
    assert "_base_ = 'mmseg::deeplabv3plus/deeplabv3plus_r101-d8_4xb4-20k_voc12aug-512x512.py'" in text
    assert f"data_root = {str(dataset['voc'].resolve())!r}" in text
    assert f"refined_labels = {str(dataset['refined'].resolve())!r}" in text
    train_list = dataset["voc"].resolve() / "ImageSets/Segmentation/train_aug.txt"
    assert f"ann_file={str(train_list)!r}" in text
    assert "seg_map_path='SegmentationClass'" in text
    assert "# Written by: samcam mmseg-config --labels" in text
    assert not list(out.parent.glob("*.tmp")), "atomic write left a temp file"
    err = capsys.readouterr().err
    assert "train.py" in err and "dist_train.sh" in err


@pytest.mark.slow
def test_cli_reports_missing_labels_and_writes_nothing(dataset, tmp_path, capsys):
    (dataset["refined"] / f"{TRAIN_NAMES[3]}.png").unlink()
    out = tmp_path / "cfg.py"
    code = main(["mmseg-config", "--labels", str(dataset["refined"]), "--data-root", str(dataset["voc"]),
                 "--out", str(out)])
    assert code == 2
    err = capsys.readouterr().err
    assert f"{TRAIN_NAMES[3]}.png" in err and "refined label" in err and "1 of 8" in err
    assert not out.exists()


@pytest.mark.slow
def test_cli_rejects_deeplab_style_list_and_bad_out(dataset, tmp_path, capsys):
    deeplab_list = tmp_path / "train_aug_deeplab.txt"
    deeplab_list.write_text("".join(f"/JPEGImages/{n}.jpg /SegmentationClassAug/{n}.png\n" for n in TRAIN_NAMES))
    common = ["mmseg-config", "--labels", str(dataset["refined"]), "--data-root", str(dataset["voc"])]
    assert main(common + ["--train-list", str(deeplab_list), "--out", str(tmp_path / "a.py")]) == 2
    assert "one image name per line" in capsys.readouterr().err
    assert main(common + ["--out", str(tmp_path / "a.yaml")]) == 2
    assert "must end in .py" in capsys.readouterr().err
    assert main(common + ["--base", "deeplabv9", "--out", str(tmp_path / "a.py")]) == 2
    assert "unknown --base" in capsys.readouterr().err
    assert main(common + ["--data-root", str(tmp_path / "nowhere"), "--out", str(tmp_path / "a.py")]) == 2
    assert "nowhere" in capsys.readouterr().err


@pytest.fixture
def coco_dataset(tmp_path):
    return make_coco_dataset(tmp_path)


def test_coco_config_and_its_name_lists(coco_dataset, tmp_path, capsys):
    out = tmp_path / "cfg" / "coco.py"
    assert write_coco_config(coco_dataset, out) == 0
    text = out.read_text()
    assert "_base_ = 'mmseg::deeplabv3/deeplabv3_r101-d8_4xb4-80k_coco-stuff164k-512x512.py'" in text
    assert "type='COCO2014ObjectDataset'" in text and "custom_imports = dict(imports=['samcam.mmseg.checkpoints', 'samcam.mmseg.datasets']" in text
    assert "type='DepthwiseSeparableASPPHead'" in text and "num_classes=81" in text
    train_list, val_list = out.with_name("coco.train.txt"), out.with_name("coco.val.txt")
    # every label of each folder, one name per line
    assert train_list.read_text().split() == sorted(f"{i:012d}" for i in TRAIN_IDS)
    assert val_list.read_text().split() == sorted(f"COCO_val2014_{i:012d}" for i in VAL_IDS)
    assert f"ann_file={str(train_list)!r}" in text and f"ann_file={str(val_list)!r}" in text
    val_gt = coco_dataset["coco"].resolve() / "SegmentationClass" / "val2014"
    assert f"seg_map_path={str(val_gt)!r}" in text
    err = capsys.readouterr().err
    assert f"wrote {train_list}" in err and "train.py" in err


def test_coco_config_refusals(coco_dataset, tmp_path, capsys):
    out = tmp_path / "c.py"
    assert write_coco_config(coco_dataset, out, "--base", "fcn_r101") == 2
    assert "fcn_r101 has no COCO config" in capsys.readouterr().err
    assert write_coco_config(coco_dataset, out, "--schedule", "20k") == 2
    assert "'20k' is not one of ['160k', '80k'] for --dataset coco" in capsys.readouterr().err
    (coco_dataset["coco"] / "train2014" / f"COCO_train2014_{TRAIN_IDS[1]:012d}.jpg").unlink()
    assert write_coco_config(coco_dataset, out) == 2
    err = capsys.readouterr().err
    assert f"COCO_train2014_{TRAIN_IDS[1]:012d}.jpg" in err and "1 of 4 names" in err
    assert not out.exists() and not out.with_name("c.train.txt").exists(), "a failed check writes nothing"
    assert main(["mmseg-config", "--dataset", "coco", "--labels", str(coco_dataset["labels"]), "--data-root",
                 str(tmp_path / "nowhere"), "--out", str(out)]) == 2


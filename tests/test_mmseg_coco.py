"""`samcam mmseg-config --dataset coco`: COCO 2014 (81 classes) configs, and a Runner smoke test.

The fixture is a tiny COCO 2014 layout whose ground truth `samcam coco-gt` makes from a
synthetic instances file: val labels named as the images (COCO_val2014_...), train labels
named by the 12-digit id, as AMN names its files, so the dataset's id -> image mapping is
exercised. The config tests need mmengine and the mmseg package (for its .mim/configs);
the training test needs mmseg.models (compiled mmcv.ops), as in tests/test_mmseg.py.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from test_mmseg import SIZE, _tiny, needs_config_parser, needs_mmseg_models

from samcam.classes import COCO_CATEGORY_IDS, COCO_CLASSES
from samcam.cli import main
from samcam.io import read_label_png
from samcam.mmseg.config import BASES, ConfigOptions, DataPaths, render_config

TRAIN_IDS = [9, 25, 57870, 391895]
VAL_IDS = [42, 73]


def _uncompressed_rle(mask: np.ndarray) -> dict:
    """Column-major run lengths starting with a 0-run (COCO's uncompressed RLE)."""
    flat = mask.astype(np.uint8).flatten(order="F")
    edges = np.flatnonzero(np.diff(flat)) + 1
    runs = np.diff(np.concatenate([[0], edges, [flat.size]])).tolist()
    if flat[0]:
        runs = [0] + runs
    return {"size": list(mask.shape), "counts": runs}


def make_coco_dataset(root: Path, seed: int = 0) -> dict:
    """root/coco2014/{train2014,val2014}/COCO_*.jpg, SegmentationClass/val2014/COCO_val2014_*.png
    (coco-gt, coco names) and root/train_labels/{12-digit id}.png (coco-gt --names padded)."""
    pytest.importorskip("pycocotools", reason='coco-gt needs pycocotools: pip install "samcam[coco]"')
    from samcam.demo.synthetic import make_scene

    rng = np.random.default_rng(seed)
    coco = root / "coco2014"
    categories = [{"id": c, "name": n} for c, n in zip(COCO_CATEGORY_IDS, COCO_CLASSES[1:])]
    for split, ids in (("train", TRAIN_IDS), ("val", VAL_IDS)):
        (coco / f"{split}2014").mkdir(parents=True)
        images, annotations = [], []
        for image_id in ids:
            scene = make_scene(rng, SIZE, SIZE)
            name = f"COCO_{split}2014_{image_id:012d}"
            Image.fromarray(scene.image).save(coco / f"{split}2014" / f"{name}.jpg", quality=95)
            images.append({"id": image_id, "file_name": f"{name}.jpg", "height": SIZE, "width": SIZE})
            for value in np.unique(scene.gt):
                if value in (0, 255):
                    continue
                # spread VOC-like values over COCO's ids, up to the last ones (labels up to 80)
                category = COCO_CATEGORY_IDS[(int(value) * 37) % 80]
                annotations.append({"id": len(annotations) + 1, "image_id": image_id, "category_id": category,
                                    "iscrowd": 0, "segmentation": _uncompressed_rle(scene.gt == value)})
        path = root / f"instances_{split}2014.json"
        path.write_text(json.dumps({"images": images, "annotations": annotations, "categories": categories}))
    assert main(["coco-gt", "--instances", str(root / "instances_train2014.json"), "--out",
                 str(root / "train_labels"), "--names", "padded", "--no-progress"]) == 0
    assert main(["coco-gt", "--instances", str(root / "instances_val2014.json"), "--out",
                 str(coco / "SegmentationClass" / "val2014"), "--no-progress"]) == 0
    return {"coco": coco, "labels": root / "train_labels"}


@pytest.fixture
def coco_dataset(tmp_path):
    return make_coco_dataset(tmp_path)


def _write(dataset, out: Path, *extra) -> int:
    return main(["mmseg-config", "--dataset", "coco", "--labels", str(dataset["labels"]), "--data-root",
                 str(dataset["coco"]), "--out", str(out), *extra])


# ---------------------------------------------------------------- config writer

def test_coco_config_and_its_name_lists(coco_dataset, tmp_path, capsys):
    out = tmp_path / "cfg" / "coco.py"
    assert _write(coco_dataset, out) == 0
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
    assert _write(coco_dataset, out, "--base", "fcn_r101") == 2
    assert "fcn_r101 has no COCO config" in capsys.readouterr().err
    assert _write(coco_dataset, out, "--schedule", "20k") == 2
    assert "'20k' is not one of ['160k', '80k'] for --dataset coco" in capsys.readouterr().err
    (coco_dataset["coco"] / "train2014" / f"COCO_train2014_{TRAIN_IDS[1]:012d}.jpg").unlink()
    assert _write(coco_dataset, out) == 2
    err = capsys.readouterr().err
    assert f"COCO_train2014_{TRAIN_IDS[1]:012d}.jpg" in err and "1 of 4 names" in err
    assert not out.exists() and not out.with_name("c.train.txt").exists(), "a failed check writes nothing"
    assert main(["mmseg-config", "--dataset", "coco", "--labels", str(coco_dataset["labels"]), "--data-root",
                 str(tmp_path / "nowhere"), "--out", str(out)]) == 2


def test_voc_examples_unchanged_by_the_coco_path():
    """The VOC text is what it was (examples/mmseg are byte-compared in test_mmseg)."""
    text = render_config(ConfigOptions(base="deeplabv2_r101"))
    assert "COCO" not in text and "num_classes=21" in text


def test_rendered_coco_defaults():
    text = render_config(ConfigOptions(base="deeplabv2_r101", dataset="coco", schedule="160k"), DataPaths())
    assert "_base_ = 'mmseg::deeplabv3/deeplabv3_r101-d8_4xb4-160k_coco-stuff164k-512x512.py'" in text
    assert "custom_imports = dict(imports=['samcam.mmseg.checkpoints', 'samcam.mmseg.datasets', 'samcam.mmseg.models']" in text
    assert "data_root = 'data/coco2014'" in text and "ann_file='train.txt'" in text
    assert "type='DeepLabV2Head'" in text and "auxiliary_head=None" in text
    assert [name for name, base in BASES.items() if not base.coco] == ["fcn_r101"]


@needs_config_parser
@pytest.mark.parametrize("base, head", [("deeplabv3plus_r101", "DepthwiseSeparableASPPHead"),
                                        ("deeplabv2_r101", "DeepLabV2Head"), ("deeplabv3_r50", "ASPPHead"),
                                        ("pspnet_r101", "PSPHead")])
def test_coco_config_parses_with_mmengine(coco_dataset, tmp_path, base, head):
    from mmengine.config import Config

    out = tmp_path / f"{base}.py"
    assert _write(coco_dataset, out, "--base", base, "--schedule", "160k", "--batch-size", "2") == 0
    cfg = Config.fromfile(str(out), import_custom_modules=False)
    train = cfg.train_dataloader
    assert train.batch_size == 2
    assert train.dataset.type == "COCO2014ObjectDataset" and "reduce_zero_label" not in train.dataset
    assert train.dataset.data_prefix == {"img_path": "train2014", "seg_map_path": str(coco_dataset["labels"].resolve())}
    assert train.dataset.id_image_prefix == "COCO_train2014_"
    assert [step["type"] for step in train.dataset.pipeline][:2] == ["LoadImageFromFile", "LoadAnnotations"]
    for loader in (cfg.val_dataloader, cfg.test_dataloader):
        assert loader.dataset.type == "COCO2014ObjectDataset"
        assert loader.dataset.data_prefix.img_path == "val2014"
        assert loader.dataset.id_image_prefix == "COCO_val2014_"
        assert loader.dataset.data_root == str(coco_dataset["coco"].resolve())
    assert cfg.train_cfg.max_iters == 160000
    assert cfg.model.decode_head.type == head and cfg.model.decode_head.num_classes == 81
    assert cfg.model.decode_head.get("_delete_") is None  # consumed by the merge
    if base == "deeplabv2_r101":
        assert cfg.model.auxiliary_head is None
        assert cfg.custom_imports.imports == ["samcam.mmseg.checkpoints", "samcam.mmseg.datasets",
                                              "samcam.mmseg.models"]
    else:
        assert cfg.model.auxiliary_head.num_classes == 81
        assert cfg.custom_imports.imports == ["samcam.mmseg.checkpoints", "samcam.mmseg.datasets"]
    if base == "deeplabv3plus_r101":
        assert cfg.model.decode_head.c1_in_channels == 256 and cfg.model.backbone.depth == 101


# ---------------------------------------------------------------- dataset and training

@needs_mmseg_models
def test_coco_dataset_maps_bare_ids_to_images(coco_dataset, tmp_path):
    from samcam.mmseg.datasets import COCO2014ObjectDataset

    names = tmp_path / "names.txt"
    names.write_text(f"{TRAIN_IDS[2]:012d}\n{TRAIN_IDS[0]}\nCOCO_train2014_{TRAIN_IDS[1]:012d}\n")
    dataset = COCO2014ObjectDataset(data_root=str(coco_dataset["coco"]), ann_file=str(names),
                                    data_prefix=dict(img_path="train2014", seg_map_path="labels"),
                                    id_image_prefix="COCO_train2014_", pipeline=[])
    paths = [Path(info["img_path"]).name for info in dataset.load_data_list()]
    assert paths == [f"COCO_train2014_{i:012d}.jpg" for i in (TRAIN_IDS[2], TRAIN_IDS[0], TRAIN_IDS[1])]
    assert dataset.metainfo["classes"] == COCO_CLASSES and len(dataset.metainfo["palette"]) == 81
    assert dataset.metainfo["palette"][0] == [0, 0, 0] and dataset.metainfo["palette"][15] == [192, 128, 128]


@needs_mmseg_models
@pytest.mark.parametrize("base", ["deeplabv3plus_r101", "deeplabv2_r101"])
def test_runner_trains_two_iterations_on_coco(coco_dataset, tmp_path, base):
    from mmengine.config import Config
    from mmengine.runner import Runner

    label = read_label_png(coco_dataset["labels"] / f"{TRAIN_IDS[0]:012d}.png")
    assert label.shape == (SIZE, SIZE) and label.max() > 20, "labels use COCO's upper classes too"
    out = tmp_path / "config.py"
    assert _write(coco_dataset, out, "--base", base) == 0
    iters = 2
    cfg = _tiny(Config.fromfile(str(out)), tmp_path / "work", iters)
    runner = Runner.from_cfg(cfg)
    train_set = runner.train_dataloader.dataset
    assert len(train_set) == len(TRAIN_IDS)
    assert train_set.metainfo["classes"] == COCO_CLASSES
    sample = train_set[0]["data_samples"]
    assert sample.seg_map_path == str(coco_dataset["labels"].resolve() / f"{TRAIN_IDS[0]:012d}.png")
    assert sample.img_path == str(coco_dataset["coco"].resolve() / "train2014" / f"COCO_train2014_{TRAIN_IDS[0]:012d}.jpg")
    assert runner.model.decode_head.num_classes == 81
    runner.train()
    losses = runner.message_hub.get_scalar("train/loss").data[0]
    assert len(losses) == iters and all(math.isfinite(float(v)) for v in losses), losses
    val_sample = runner.val_dataloader.dataset[0]["data_samples"]
    assert val_sample.seg_map_path.endswith(f"SegmentationClass/val2014/COCO_val2014_{VAL_IDS[0]:012d}.png")
    miou = float(runner.message_hub.get_scalar("val/mIoU").current())
    assert 0.0 <= miou <= 100.0

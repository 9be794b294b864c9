"""The mmsegmentation config writer (samcam.mmseg.config) and real mmsegmentation training
runs on what it writes (VOC and COCO).

The writer needs nothing beyond samcam, except the parse checks, which need mmengine and the
mmseg package (for its ``.mim/configs``). The training tests need the ``[mmseg]`` extra with
compiled ``mmcv.ops`` (``make test`` installs it); they are skipped, with the reason printed,
only when ``mmseg.models`` does not import. The command is in tests/cli/test_mmseg_config.py.
"""
from __future__ import annotations

import math

import pytest
from mmseg_runs import (
    EXAMPLES,
    SIZE,
    TRAIN_IDS,
    TRAIN_NAMES,
    VAL_IDS,
    VAL_NAMES,
    make_coco_dataset,
    make_voc_dataset,
    needs_config_parser,
    needs_mmseg_models,
    write_coco_config,
)
from mmseg_runs import tiny_config as _tiny

from samcam.classes import COCO_CLASSES
from samcam.cli import main
from samcam.io import read_label_png
from samcam.mmseg import config as mmseg_config
from samcam.mmseg.config import BASES, ConfigOptions, DataPaths, render_config


@pytest.fixture
def dataset(tmp_path):
    return make_voc_dataset(tmp_path)


# ---------------------------------------------------------------- config writer


def test_examples_are_what_the_writer_renders():
    """examples/mmseg/*.py are render_config() with mmseg's default VOC paths."""
    expected = {
        "deeplabv3plus_r101-d8_4xb4-20k_voc12aug-512x512_samcam.py": "deeplabv3plus_r101",
        "deeplabv3_r101-d8_4xb4-20k_voc12aug-512x512_samcam.py": "deeplabv3_r101",
        "deeplabv2_r101-d8_4xb4-20k_voc12aug-512x512_samcam.py": "deeplabv2_r101",
    }
    assert sorted(p.name for p in EXAMPLES.glob("*.py")) == sorted(expected)
    for filename, base in expected.items():
        assert (EXAMPLES / filename).read_text() == render_config(ConfigOptions(base=base)), filename


def test_every_base_names_an_mmseg_config_that_exists():
    package = mmseg_config.installed_mmseg_dir()
    if package is None:
        pytest.skip("mmseg is not installed: cannot check the mmseg:: base paths against its .mim/configs")
    for name, base in BASES.items():
        for schedule, scoped in list(base.configs.items()) + list(base.coco.items()):
            assert mmseg_config.mmseg_config_file(scoped).is_file(), (name, schedule, scoped)


@pytest.mark.slow
@needs_config_parser
@pytest.mark.parametrize("base", ["deeplabv3plus_r101", "deeplabv3_r101", "deeplabv2_r101"])
def test_written_config_parses_with_mmengine(dataset, tmp_path, base):
    from mmengine.config import Config

    out = tmp_path / f"{base}.py"
    assert main(["mmseg-config", "--labels", str(dataset["refined"]), "--data-root", str(dataset["voc"]),
                 "--base", base, "--schedule", "40k", "--batch-size", "2", "--out", str(out)]) == 0
    # custom_imports (the V2 head) would import mmseg.models: parsing alone must not need mmcv.
    cfg = Config.fromfile(str(out), import_custom_modules=False)
    train = cfg.train_dataloader
    assert train.batch_size == 2
    assert train.dataset.type == "PascalVOCDataset"
    assert train.dataset.data_root == str(dataset["voc"].resolve())
    assert train.dataset.data_prefix == {"img_path": "JPEGImages", "seg_map_path": str(dataset["refined"].resolve())}
    assert "datasets" not in train.dataset  # the base's ConcatDataset is replaced, not merged
    assert [step["type"] for step in train.dataset.pipeline][:2] == ["LoadImageFromFile", "LoadAnnotations"]
    for loader in (cfg.val_dataloader, cfg.test_dataloader):
        assert loader.dataset.data_prefix.seg_map_path == "SegmentationClass"
        assert loader.dataset.data_root == str(dataset["voc"].resolve())
        assert loader.dataset.ann_file.endswith("ImageSets/Segmentation/val.txt")
    assert cfg.train_cfg.max_iters == 40000
    assert cfg.model.decode_head.num_classes == 21
    if base == "deeplabv2_r101":
        assert cfg.model.decode_head.type == "DeepLabV2Head"
        assert cfg.model.auxiliary_head is None
        # the head is samcam's: without samcam the config must not load
        assert cfg.custom_imports == {"imports": ["samcam.mmseg.checkpoints", "samcam.mmseg.models"],
                                      "allow_failed_imports": False}
    else:
        assert cfg.model.auxiliary_head.num_classes == 21
        # only resuming needs samcam: training runs where it is not installed
        assert cfg.custom_imports == {"imports": ["samcam.mmseg.checkpoints"], "allow_failed_imports": True}


@pytest.mark.slow
@needs_config_parser
@pytest.mark.parametrize("own, expected", [
    (None, {"imports": ["samcam.mmseg.checkpoints"], "allow_failed_imports": True}),
    ("dict(imports='mmseg.models', allow_failed_imports=False)",
     {"imports": ["samcam.mmseg.checkpoints", "mmseg.models"], "allow_failed_imports": False}),
    ("dict(imports=['mmseg.models', 'mmseg.datasets'])",
     {"imports": ["samcam.mmseg.checkpoints", "mmseg.models", "mmseg.datasets"], "allow_failed_imports": True}),
])
def test_a_base_configs_own_custom_imports_are_kept(tmp_path, own, expected):
    """mmengine replaces a base's list with the child's: the written config adds samcam's module
    to the base's imports (as some mmseg configs import mmdet or mmpretrain) instead."""
    from mmengine.config import Config

    base = tmp_path / "my_base.py"
    base.write_text(f"_base_ = {BASES['deeplabv3plus_r101'].configs['20k']!r}\n"
                    + (f"custom_imports = {own}\n" if own else ""))
    written = tmp_path / "written.py"
    written.write_text(render_config(ConfigOptions(base=str(base))))
    cfg = Config.fromfile(str(written), import_custom_modules=False)
    assert cfg.custom_imports == expected
    assert not [key for key in cfg.keys() if "base_imports" in key]  # the helper name is no config key
    assert cfg.train_dataloader.dataset.type == "PascalVOCDataset"


# ---------------------------------------------------------------- training


@pytest.mark.slow
@needs_mmseg_models
@pytest.mark.parametrize("base", ["deeplabv3plus_r101", "deeplabv2_r101"])
def test_runner_trains_on_refined_labels(dataset, tmp_path, base, monkeypatch):
    import torch
    from mmengine.config import Config
    from mmengine.runner import Runner

    assert dataset["changed"] > 0, "fixture: samcam adapt should have changed some CAM labels"
    label = read_label_png(dataset["refined"] / f"{TRAIN_NAMES[0]}.png")
    assert label.shape == (SIZE, SIZE)

    out = tmp_path / "config.py"
    assert main(["mmseg-config", "--labels", str(dataset["refined"]), "--data-root", str(dataset["voc"]),
                 "--base", base, "--out", str(out)]) == 0
    iters = 6
    cfg = _tiny(Config.fromfile(str(out)), tmp_path / "work", iters)
    runner = Runner.from_cfg(cfg)
    train_set = runner.train_dataloader.dataset
    assert len(train_set) == len(TRAIN_NAMES)
    assert train_set[0]["data_samples"].seg_map_path == str(dataset["refined"].resolve() / f"{TRAIN_NAMES[0]}.png")
    runner.train()

    losses = runner.message_hub.get_scalar("train/loss").data[0]
    assert len(losses) == iters
    assert all(math.isfinite(float(v)) for v in losses), losses
    assert losses[-1] < losses[0], f"loss did not fall on a fixed batch: {losses}"
    # Validation ran, on the real SegmentationClass ground truth.
    val_sample = runner.val_dataloader.dataset[0]["data_samples"]
    assert val_sample.seg_map_path == str(dataset["voc"].resolve() / "SegmentationClass" / f"{VAL_NAMES[0]}.png")
    miou = float(runner.message_hub.get_scalar("val/mIoU").current())
    assert 0.0 <= miou <= 100.0

    checkpoint = tmp_path / "work" / f"iter_{iters}.pth"
    assert checkpoint.is_file()
    # torch.load's default (weights_only=True on torch>=2.6) reads it: the config's
    # custom_imports allow-listed what mmengine pickles (test_resume_... checks exactly what).
    from mmengine.runner import load_checkpoint

    monkeypatch.delenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", raising=False)
    state = load_checkpoint(runner.model, str(checkpoint), map_location="cpu")
    head_keys = [k for k in state["state_dict"] if k.startswith("decode_head.")]
    assert head_keys and all(torch.isfinite(state["state_dict"][k]).all() for k in head_keys)


@needs_config_parser
def test_one_opencv_package():
    """mmengine/mmcv want opencv-python, SAM's generator needs cv2: one build, not two."""
    from importlib import metadata

    installed = {dist.metadata["Name"].lower() for dist in metadata.distributions()}
    opencv = sorted(name for name in installed if name.startswith("opencv-"))
    assert opencv == ["opencv-python"], opencv


@pytest.fixture
def coco_dataset(tmp_path):
    return make_coco_dataset(tmp_path)


def test_voc_examples_unchanged_by_the_coco_path():
    """The VOC text is what it was (examples/mmseg are byte-compared by test_examples_are_what_the_writer_renders)."""
    text = render_config(ConfigOptions(base="deeplabv2_r101"))
    assert "COCO" not in text and "num_classes=21" in text


def test_rendered_coco_defaults():
    text = render_config(ConfigOptions(base="deeplabv2_r101", dataset="coco", schedule="160k"), DataPaths())
    assert "_base_ = 'mmseg::deeplabv3/deeplabv3_r101-d8_4xb4-160k_coco-stuff164k-512x512.py'" in text
    assert "custom_imports = dict(imports=['samcam.mmseg.checkpoints', 'samcam.mmseg.datasets', 'samcam.mmseg.models']" in text
    assert "data_root = 'data/coco2014'" in text and "ann_file='train.txt'" in text
    assert "type='DeepLabV2Head'" in text and "auxiliary_head=None" in text
    assert [name for name, base in BASES.items() if not base.coco] == ["fcn_r101"]


@pytest.mark.slow
@needs_config_parser
@pytest.mark.parametrize("base, head", [("deeplabv3plus_r101", "DepthwiseSeparableASPPHead"),
                                        ("deeplabv2_r101", "DeepLabV2Head"), ("deeplabv3_r50", "ASPPHead"),
                                        ("pspnet_r101", "PSPHead")])
def test_coco_config_parses_with_mmengine(coco_dataset, tmp_path, base, head):
    from mmengine.config import Config

    out = tmp_path / f"{base}.py"
    assert write_coco_config(coco_dataset, out, "--base", base, "--schedule", "160k", "--batch-size", "2") == 0
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


@pytest.mark.slow
@needs_mmseg_models
@pytest.mark.parametrize("base", ["deeplabv3plus_r101", "deeplabv2_r101"])
def test_runner_trains_two_iterations_on_coco(coco_dataset, tmp_path, base):
    from mmengine.config import Config
    from mmengine.runner import Runner

    label = read_label_png(coco_dataset["labels"] / f"{TRAIN_IDS[0]:012d}.png")
    assert label.shape == (SIZE, SIZE) and label.max() > 20, "labels use COCO's upper classes too"
    out = tmp_path / "config.py"
    assert write_coco_config(coco_dataset, out, "--base", base) == 0
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

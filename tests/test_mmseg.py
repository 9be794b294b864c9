"""`samcam mmseg-config` and a real mmsegmentation training run on refined labels.

The config-writer tests need nothing beyond samcam, except the parse checks, which
need mmengine and the mmseg package (for its ``.mim/configs``). The training tests
need the ``[mmseg]`` extra with compiled ``mmcv.ops`` (``make test`` installs it);
they are skipped, with the reason printed, only when ``mmseg.models`` does not import.
"""
from __future__ import annotations

import importlib
import importlib.util
import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from samcam.cli import main
from samcam.io import read_label_png, write_label_png
from samcam.mmseg import config as mmseg_config
from samcam.mmseg.config import BASES, ConfigOptions, render_config

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "mmseg"
SIZE = 64
TRAIN_NAMES = [f"2007_{i:06d}" for i in range(8)]
VAL_NAMES = [f"2008_{i:06d}" for i in range(2)]


def _import_error(module: str):
    """None if ``module`` imports, else the reason it does not (for skip messages)."""
    try:
        importlib.import_module(module)
    except Exception as error:  # ImportError, or mmcv's own version assertion
        return f"{type(error).__name__}: {error}"
    return None


MMENGINE_MISSING = _import_error("mmengine.config")
MMSEG_PACKAGE_MISSING = None if importlib.util.find_spec("mmseg") else "the mmseg package is not installed"
MMSEG_MODELS_MISSING = _import_error("mmseg.models")

needs_config_parser = pytest.mark.skipif(
    bool(MMENGINE_MISSING or MMSEG_PACKAGE_MISSING),
    reason=f"[mmseg] extra absent ({MMENGINE_MISSING or MMSEG_PACKAGE_MISSING}); `make test` installs it",
)
needs_mmseg_models = pytest.mark.skipif(
    bool(MMSEG_MODELS_MISSING),
    reason=f"`import mmseg.models` fails ({MMSEG_MODELS_MISSING}); `make test` installs the [mmseg] extra "
    "with compiled mmcv.ops",
)


def make_voc_dataset(root: Path, seed: int = 0) -> dict:
    """A tiny VOC2012 layout and IRN-style CAMs refined into labels by ``samcam adapt``.

    Layout: root/VOC2012/{JPEGImages/*.jpg, SegmentationClass/*.png,
    ImageSets/Segmentation/{train_aug,val}.txt}; IRN ``result/cam``-style
    ``{name}.npy`` in root/cams, mask store in root/masks, refined labels in root/refined.
    """
    torch = pytest.importorskip("torch", reason="IRN-style CAM fixtures hold torch tensors: pip install 'samcam[sam]'")
    from samcam import masks as mask_store
    from samcam.demo.synthetic import cam_to_label, make_scene

    rng = np.random.default_rng(seed)
    voc, cams, mask_dir, refined = root / "VOC2012", root / "cams", root / "masks", root / "refined"
    for folder in (voc / "JPEGImages", voc / "SegmentationClass", voc / "ImageSets" / "Segmentation", cams, mask_dir):
        folder.mkdir(parents=True)
    scenes = {}
    for name in TRAIN_NAMES + VAL_NAMES:
        scene = make_scene(rng, SIZE, SIZE)
        scenes[name] = scene
        Image.fromarray(scene.image).save(voc / "JPEGImages" / f"{name}.jpg", quality=95)
        write_label_png(voc / "SegmentationClass" / f"{name}.png", scene.gt, palette=True)
        high_res = np.asarray(scene.cam["high_res"], np.float32)
        # As IRN's step/make_cam.py saves it: torch keys and stride-4 cam, numpy high_res.
        np.save(cams / f"{name}.npy", {"keys": torch.as_tensor(scene.cam["keys"], dtype=torch.int64),
                                       "cam": torch.from_numpy(np.ascontiguousarray(high_res[:, ::4, ::4])),
                                       "high_res": high_res})
        mask_store.write(mask_dir / name, scene.masks)
    train_list = voc / "ImageSets" / "Segmentation" / "train_aug.txt"
    train_list.write_text("\n".join(TRAIN_NAMES) + "\n")
    (voc / "ImageSets" / "Segmentation" / "val.txt").write_text("\n".join(VAL_NAMES) + "\n")
    code = main(["adapt", "--method", "irn", "--cams", str(cams), "--masks", str(mask_dir), "--out", str(refined),
                 "--list", str(train_list), "--no-progress"])
    assert code == 0, "samcam adapt failed on the fixture"
    # Refinement must have changed something, or the test would train on plain CAM labels.
    changed = sum(
        int(not np.array_equal(read_label_png(refined / f"{name}.png"), cam_to_label(scenes[name].cam)))
        for name in TRAIN_NAMES
    )
    return {"voc": voc, "refined": refined, "changed": changed}


@pytest.fixture
def dataset(tmp_path):
    return make_voc_dataset(tmp_path)


# ---------------------------------------------------------------- config writer

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


def test_cli_reports_missing_labels_and_writes_nothing(dataset, tmp_path, capsys):
    (dataset["refined"] / f"{TRAIN_NAMES[3]}.png").unlink()
    out = tmp_path / "cfg.py"
    code = main(["mmseg-config", "--labels", str(dataset["refined"]), "--data-root", str(dataset["voc"]),
                 "--out", str(out)])
    assert code == 2
    err = capsys.readouterr().err
    assert f"{TRAIN_NAMES[3]}.png" in err and "refined label" in err and "1 of 8" in err
    assert not out.exists()


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
        assert cfg.custom_imports.imports == ["samcam.mmseg.models"]
    else:
        assert cfg.model.auxiliary_head.num_classes == 21


# ---------------------------------------------------------------- training

def _tiny(cfg, work_dir: Path, iters: int):
    """Shrink a written config to ResNetV1c-18, plain BN, 64x64, fixed pipeline, CPU."""
    bn = dict(type="BN", requires_grad=True)
    model = cfg.model
    model.pretrained = None
    model.data_preprocessor.size = (SIZE, SIZE)
    model.backbone.update(depth=18, norm_cfg=bn, init_cfg=None)
    head = model.decode_head
    if head.type == "DeepLabV2Head":
        head.update(in_channels=512, channels=512)
    else:
        head.update(in_channels=512, channels=32, norm_cfg=bn)
        if "c1_in_channels" in head:  # DeepLabV3+ low-level branch: ResNet-18 stage 1 has 64 channels
            head.update(c1_in_channels=64, c1_channels=16)
    if model.get("auxiliary_head") is not None:
        model.auxiliary_head.update(in_channels=256, channels=16, norm_cfg=bn)
    # Fixed pipeline: with random resize/crop the loss over a handful of steps is noise.
    fixed = [dict(type="LoadImageFromFile"), dict(type="LoadAnnotations"), dict(type="PackSegInputs")]
    cfg.train_dataloader.update(batch_size=4, num_workers=0, persistent_workers=False,
                                sampler=dict(type="InfiniteSampler", shuffle=False))
    cfg.train_dataloader.dataset.pipeline = fixed
    for loader in ("val_dataloader", "test_dataloader"):
        cfg[loader].update(num_workers=0, persistent_workers=False)
        cfg[loader].dataset.pipeline = fixed
    cfg.train_cfg.update(max_iters=iters, val_interval=iters)
    cfg.param_scheduler = [dict(type="PolyLR", eta_min=1e-4, power=0.9, begin=0, end=iters, by_epoch=False)]
    cfg.default_hooks.checkpoint.update(interval=iters)
    cfg.default_hooks.logger.update(interval=1)
    cfg.env_cfg.cudnn_benchmark = False
    cfg.randomness = dict(seed=0)
    cfg.work_dir = str(work_dir)
    return cfg


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
    # torch>=2.6 defaults to weights_only=True, which refuses mmengine 0.10's
    # checkpoints (they hold its message hub); the README's workaround is the env var.
    from mmengine.runner import load_checkpoint

    monkeypatch.delenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", raising=False)
    if tuple(int(part) for part in torch.__version__.split(".")[:2]) >= (2, 6):
        with pytest.raises(Exception, match="[Ww]eights only"):
            load_checkpoint(runner.model, str(checkpoint), map_location="cpu")
    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
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


@needs_mmseg_models
def test_deeplabv2_head_sums_dilated_branches():
    import torch

    from samcam.mmseg.models import DeepLabV2Head

    head = DeepLabV2Head(in_channels=8, channels=8, num_classes=21, dilations=(6, 12, 18, 24))
    head.init_weights()
    assert not hasattr(head, "conv_seg")  # no unused parameters under DistributedDataParallel
    assert [branch.dilation for branch in head.aspp] == [(6, 6), (12, 12), (18, 18), (24, 24)]
    for branch in head.aspp:
        assert abs(float(branch.weight.detach().std()) - 0.01) < 0.003 and float(branch.bias.detach().abs().max()) == 0.0
    features = torch.randn(2, 8, 9, 11)
    logits = head([features])
    assert logits.shape == (2, 21, 9, 11)
    expected = sum(branch(features) for branch in head.aspp)
    assert torch.allclose(logits, expected)

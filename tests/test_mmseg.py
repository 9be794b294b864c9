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
import os
import pickle
import sys
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
        # the head is samcam's: without samcam the config must not load
        assert cfg.custom_imports == {"imports": ["samcam.mmseg.checkpoints", "samcam.mmseg.models"],
                                      "allow_failed_imports": False}
    else:
        assert cfg.model.auxiliary_head.num_classes == 21
        # only resuming needs samcam: training runs where it is not installed
        assert cfg.custom_imports == {"imports": ["samcam.mmseg.checkpoints"], "allow_failed_imports": True}


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
    # torch.load's default (weights_only=True on torch>=2.6) reads it: the config's
    # custom_imports allow-listed what mmengine pickles (test_resume_... checks exactly what).
    from mmengine.runner import load_checkpoint

    monkeypatch.delenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", raising=False)
    state = load_checkpoint(runner.model, str(checkpoint), map_location="cpu")
    head_keys = [k for k in state["state_dict"] if k.startswith("decode_head.")]
    assert head_keys and all(torch.isfinite(state["state_dict"][k]).all() for k in head_keys)


def _torch_too_old():
    """None if torch.load defaults to weights_only=True (torch >= 2.6), else why not (skip reason)."""
    from importlib import metadata

    try:
        version = metadata.version("torch")
    except metadata.PackageNotFoundError:
        return "torch is not installed; `make test` installs it with the [mmseg] extra"
    if tuple(int(part) for part in version.split("+")[0].split(".")[:2]) < (2, 6):
        return f"torch {version} does not load with weights_only=True by default"
    return None


TORCH_WEIGHTS_ONLY_DEFAULT = _torch_too_old()


@pytest.fixture
def empty_allow_list(monkeypatch):
    """torch's weights_only allow-list emptied for one test (restored after), and
    samcam.mmseg.checkpoints unimported, so only a config's custom_imports can fill it."""
    import torch

    saved = torch.serialization.get_safe_globals()
    torch.serialization.clear_safe_globals()
    monkeypatch.delitem(sys.modules, "samcam.mmseg.checkpoints", raising=False)
    monkeypatch.delenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", raising=False)
    monkeypatch.delenv("TORCH_FORCE_WEIGHTS_ONLY_LOAD", raising=False)
    yield
    torch.serialization.clear_safe_globals()
    torch.serialization.add_safe_globals(saved)


class _Plant:
    """Unpickled, it would create a folder: a stand-in for a checkpoint that runs code."""

    def __init__(self, path: Path):
        self.path = str(path)

    def __reduce__(self):
        return os.makedirs, (self.path,)


def _assert_allow_list_is_exactly_what_it_holds(checkpoint: Path):
    """Every entry of samcam's list is needed to load a real mmengine checkpoint, and together
    they suffice; the config's custom_imports (the only importer here) registered that list."""
    import torch

    from samcam.mmseg.checkpoints import mmengine_checkpoint_globals

    entries = mmengine_checkpoint_globals()
    registered = torch.serialization.get_safe_globals()
    assert sorted(name for _, name in registered) == sorted(name for _, name in entries)
    try:
        for left_out in entries:
            torch.serialization.clear_safe_globals()
            torch.serialization.add_safe_globals([entry for entry in entries if entry is not left_out])
            with pytest.raises(pickle.UnpicklingError, match=left_out[1].rsplit(".", 1)[-1]):
                torch.load(checkpoint, map_location="cpu")
    finally:
        torch.serialization.clear_safe_globals()
        torch.serialization.add_safe_globals(registered)
    torch.load(checkpoint, map_location="cpu")


@needs_mmseg_models
@pytest.mark.skipif(bool(TORCH_WEIGHTS_ONLY_DEFAULT), reason=str(TORCH_WEIGHTS_ONLY_DEFAULT))
def test_resume_reads_mmengine_checkpoints_with_weights_only(dataset, tmp_path, empty_allow_list):
    """Resume and load_from with torch.load's safe default and no TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD:
    the written config allow-lists exactly what mmengine pickled, and nothing else loads."""
    import torch
    from mmengine.config import Config
    from mmengine.runner import Runner

    out = tmp_path / "config.py"
    assert main(["mmseg-config", "--labels", str(dataset["refined"]), "--data-root", str(dataset["voc"]),
                 "--out", str(out)]) == 0

    def runner(iters, work, **settings):
        cfg = _tiny(Config.fromfile(str(out)), work, iters)  # imports samcam.mmseg.checkpoints
        cfg.train_cfg.val_interval = 1  # the checkpoint then holds the last validation's metrics too
        cfg.update(settings)
        return Runner.from_cfg(cfg)

    first = runner(2, tmp_path / "work")
    first.train()
    losses = list(first.message_hub.get_scalar("train/loss").data[0])
    checkpoint = tmp_path / "work" / "iter_2.pth"
    assert "val/mIoU" in torch.load(checkpoint, map_location="cpu")["message_hub"]["log_scalars"]

    _assert_allow_list_is_exactly_what_it_holds(checkpoint)

    resumed = runner(4, tmp_path / "work", resume=True, load_from=str(checkpoint))
    resumed.load_or_resume()
    assert resumed.iter == 2
    for key, value in torch.load(checkpoint, map_location="cpu")["state_dict"].items():
        assert torch.equal(resumed.model.state_dict()[key], value), key
    resumed.train()
    assert resumed.iter == 4
    history = list(resumed.message_hub.get_scalar("train/loss").data[0])
    assert len(history) == 4 and history[:2] == losses  # the message hub came back, then 2 more steps

    # A checkpoint carrying one more pickled object is refused, and the object never runs.
    planted = tmp_path / "planted"
    evil = torch.load(checkpoint, map_location="cpu")
    evil["meta"]["note"] = _Plant(planted)
    torch.save(evil, tmp_path / "evil.pth")
    for settings in ({"load_from": str(tmp_path / "evil.pth")},
                     {"resume": True, "load_from": str(tmp_path / "evil.pth")}):
        refused = runner(4, tmp_path / "work_evil", **settings)
        with pytest.raises(pickle.UnpicklingError, match="makedirs"):
            refused.load_or_resume()
        assert not planted.exists()
    torch.load(tmp_path / "evil.pth", map_location="cpu", weights_only=False)
    assert planted.is_dir(), "the planted object is real: the unsafe loader ran it"


class _Reach:
    """Unpickled, ``getattr(owner, name)``: how a pickle reaches past an allowed object."""

    def __init__(self, owner, name):
        self.owner, self.name = owner, name

    def __reduce__(self):
        return getattr, (self.owner, self.name)


@needs_config_parser
@pytest.mark.skipif(bool(TORCH_WEIGHTS_ONLY_DEFAULT), reason=str(TORCH_WEIGHTS_ONLY_DEFAULT))
def test_a_checkpoints_getattr_reaches_only_history_buffer_statistics(tmp_path, empty_allow_list):
    import numpy as np
    import torch
    from mmengine.logging import HistoryBuffer

    import samcam.mmseg.checkpoints  # noqa: F401  (registers on import)

    path = tmp_path / "reach.pth"
    torch.save({"ok": [_Reach(HistoryBuffer, name) for name in ("min", "max", "current", "mean")]}, path)
    assert torch.load(path)["ok"] == [HistoryBuffer.min, HistoryBuffer.max, HistoryBuffer.current,
                                      HistoryBuffer.mean]
    for owner, name in ((HistoryBuffer, "__init__"), (HistoryBuffer, "register_statistics"),
                        (np.ndarray, "tofile"), (HistoryBuffer.min, "__globals__")):
        torch.save({"bad": _Reach(owner, name)}, path)
        with pytest.raises(pickle.UnpicklingError, match=f"getattr.*'{name}'.* is refused"):
            torch.load(path)


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

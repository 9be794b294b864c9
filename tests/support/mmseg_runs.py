"""Tiny mmsegmentation datasets and configs for the tests of samcam.mmseg and
``samcam mmseg-config``: a VOC layout with IRN-style CAMs refined by ``samcam adapt``, a
COCO 2014 layout made by ``samcam coco-gt``, a written config shrunk to train on the CPU,
and the skip markers for what the [mmseg] extra provides.
"""
from __future__ import annotations

import importlib
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from samcam.classes import COCO_CATEGORY_IDS, COCO_CLASSES
from samcam.cli import main
from samcam.images import read_label_png, write_label_png

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "mmseg"

SIZE = 64


TRAIN_NAMES = [f"2007_{i:06d}" for i in range(8)]


VAL_NAMES = [f"2008_{i:06d}" for i in range(2)]


def import_error(module: str):
    """None if ``module`` imports, else the reason it does not (for skip messages)."""
    try:
        importlib.import_module(module)
    except Exception as error:  # ImportError, or mmcv's own version assertion
        return f"{type(error).__name__}: {error}"
    return None


MMENGINE_MISSING = import_error("mmengine.config")


MMSEG_PACKAGE_MISSING = None if importlib.util.find_spec("mmseg") else "the mmseg package is not installed"


MMSEG_MODELS_MISSING = import_error("mmseg.models")


needs_config_parser = pytest.mark.skipif(
    bool(MMENGINE_MISSING or MMSEG_PACKAGE_MISSING),
    reason=f"[mmseg] extra absent ({MMENGINE_MISSING or MMSEG_PACKAGE_MISSING}); `make test` installs it",
)


_MMSEG_MODELS = pytest.mark.skipif(
    bool(MMSEG_MODELS_MISSING),
    reason=f"`import mmseg.models` fails ({MMSEG_MODELS_MISSING}); `make test` installs the [mmseg] extra "
    "with compiled mmcv.ops",
)


def needs_mmseg_models(test):
    """Mark a test ``mmseg`` (it builds or trains mmseg's models; slow) and skip it, with the
    reason, where ``mmseg.models`` does not import."""
    return pytest.mark.mmseg(_MMSEG_MODELS(test))


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


def tiny_config(cfg, work_dir: Path, iters: int):
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


TRAIN_IDS = [9, 25, 57870, 391895]


VAL_IDS = [42, 73]


def uncompressed_rle(mask: np.ndarray) -> dict:
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
                                    "iscrowd": 0, "segmentation": uncompressed_rle(scene.gt == value)})
        path = root / f"instances_{split}2014.json"
        path.write_text(json.dumps({"images": images, "annotations": annotations, "categories": categories}))
    assert main(["coco-gt", "--instances", str(root / "instances_train2014.json"), "--out",
                 str(root / "train_labels"), "--names", "padded", "--no-progress"]) == 0
    assert main(["coco-gt", "--instances", str(root / "instances_val2014.json"), "--out",
                 str(coco / "SegmentationClass" / "val2014"), "--no-progress"]) == 0
    return {"coco": coco, "labels": root / "train_labels"}


def write_coco_config(dataset: dict, out: Path, *extra) -> int:
    """``samcam mmseg-config --dataset coco`` on a :func:`make_coco_dataset` folder -> exit code."""
    return main(["mmseg-config", "--dataset", "coco", "--labels", str(dataset["labels"]), "--data-root",
                 str(dataset["coco"]), "--out", str(out), *extra])

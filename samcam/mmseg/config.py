"""Write an mmsegmentation 1.x config that trains DeepLab on refined pseudo labels.

:func:`write_config` (``samcam mmseg-config --labels DIR --data-root DIR --out FILE``) writes a short config
that *inherits* one of mmsegmentation's own Pascal VOC configs through mmengine's
package scope (``_base_ = 'mmseg::deeplabv3plus/...voc12aug-512x512.py'``, resolved
from the installed mmseg's ``.mim/configs``) and overrides only the data: images from
``{data_root}/JPEGImages``, labels from the refined directory (``seg_map_path``), a
train_aug name list as ``ann_file``, validation on the real ``SegmentationClass`` val
split. That is how mmseg users write their own configs: model, schedule and pipeline
stay mmseg's, and a newer mmseg's fixes are picked up without regenerating anything.

The written file works with ``tools/train.py`` / ``tools/dist_train.sh`` of mmseg's
repository, with the copies installed under ``mmseg/.mim/tools``, and with
``mim train mmseg``. This module does not import mmseg or mmengine.
"""
from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from ..files import atomic_write_bytes, clean_stale_temp_files
from ..inputs import check_label_folder
from ..names import read_name_list

#: Where a refined label directory usually sits in the examples: inside data_root,
#: next to mmseg's own ``SegmentationClassAug``.
DEFAULT_LABEL_DIR = "SegmentationClassSAMCAM"
DEFAULT_TRAIN_LIST = "ImageSets/Segmentation/train_aug.txt"
DEFAULT_VAL_LIST = "ImageSets/Segmentation/val.txt"
VOC_DATA_ROOT = "data/VOCdevkit/VOC2012"

# mmseg's DeepLabV2 equivalent does not exist; this model override turns its
# DeepLabV3 R101 config into the DeepLabV2 (ASPP-L, no auxiliary head) that WSSS
# papers train, with the head from samcam.mmseg.models.
_DEEPLABV2_MODEL = """\
# DeepLabV2 as in the WSSS literature: dilated ResNet-101 (output stride 8) with
# ASPP-L (four 3x3 branches, dilations 6/12/18/24, summed logits), no auxiliary head.
# mmseg has no V2 head; samcam.mmseg.models registers one.
custom_imports = dict(imports=['samcam.mmseg.models'], allow_failed_imports=False)
model = dict(
    decode_head=dict(
        _delete_=True,
        type='DeepLabV2Head',
        in_channels=2048,
        in_index=3,
        channels=2048,
        dilations=(6, 12, 18, 24),
        num_classes=21,
        align_corners=False,
        loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0)),
    auxiliary_head=None)
"""


@dataclass(frozen=True)
class Base:
    """One choice of ``--base``: an mmseg VOC config (per schedule) plus extra lines."""

    configs: Dict[str, str]  # schedule ("20k"/"40k") -> mmseg-scoped config path
    extra: str = ""
    description: str = ""


def _voc(model: str, backbone: str) -> Dict[str, str]:
    return {
        schedule: f"mmseg::{model}/{model}_{backbone}-d8_4xb4-{schedule}_voc12aug-512x512.py"
        for schedule in ("20k", "40k")
    }


BASES: Dict[str, Base] = {
    "deeplabv3plus_r101": Base(_voc("deeplabv3plus", "r101"), description="DeepLabV3+ ResNet-101 (mmseg)"),
    "deeplabv3plus_r50": Base(_voc("deeplabv3plus", "r50"), description="DeepLabV3+ ResNet-50 (mmseg)"),
    "deeplabv3_r101": Base(_voc("deeplabv3", "r101"), description="DeepLabV3 ResNet-101 (mmseg)"),
    "deeplabv3_r50": Base(_voc("deeplabv3", "r50"), description="DeepLabV3 ResNet-50 (mmseg)"),
    "deeplabv2_r101": Base(
        _voc("deeplabv3", "r101"),
        extra=_DEEPLABV2_MODEL,
        description="DeepLabV2-style ResNet-101 ASPP-L as in WSSS papers (mmseg DeepLabV3 R101 config + samcam head)",
    ),
    "fcn_r101": Base(_voc("fcn", "r101"), description="FCN ResNet-101 (mmseg)"),
    "pspnet_r101": Base(_voc("pspnet", "r101"), description="PSPNet ResNet-101 (mmseg)"),
}
DEFAULT_BASE = "deeplabv3plus_r101"


def resolve_base(base: str, schedule: str = "20k") -> Tuple[str, str]:
    """``(base config path for _base_, extra config lines)`` for a ``--base`` value.

    ``base`` is a name from :data:`BASES`, an mmseg-scoped path (``mmseg::dir/file.py``)
    or a config file on disk (returned as an absolute path; it must define
    ``train_pipeline`` like mmseg's dataset configs do).
    """
    if base in BASES:
        configs = BASES[base].configs
        if schedule not in configs:
            raise ValueError(f"--schedule {schedule!r} is not one of {sorted(configs)}")
        return configs[schedule], BASES[base].extra
    if base.startswith("mmseg::"):
        return base, ""
    if base.endswith(".py"):
        path = Path(base)
        if not path.is_file():
            raise FileNotFoundError(f"base config {path} does not exist")
        return str(path.resolve()), ""
    raise ValueError(
        f"unknown --base {base!r}: use one of {', '.join(BASES)}, an 'mmseg::dir/config.py' path "
        "or a config file"
    )


def installed_mmseg_dir() -> Optional[Path]:
    """Directory of the installed ``mmseg`` package, without importing it (None if absent)."""
    spec = importlib.util.find_spec("mmseg")
    if spec is None or not spec.origin:
        return None
    return Path(spec.origin).parent


def mmseg_config_file(scoped: str) -> Optional[Path]:
    """The file an ``mmseg::`` path resolves to in the installed mmseg (None if no mmseg)."""
    package_dir = installed_mmseg_dir()
    if package_dir is None:
        return None
    return package_dir / ".mim" / "configs" / scoped[len("mmseg::"):]


def _q(value: str) -> str:
    """A Python string literal for a path (repr escapes quotes and backslashes)."""
    return repr(str(value))


def render_config(
    base: str = DEFAULT_BASE,
    *,
    data_root: str = VOC_DATA_ROOT,
    labels: str = DEFAULT_LABEL_DIR,
    train_list: str = DEFAULT_TRAIN_LIST,
    val_list: str = DEFAULT_VAL_LIST,
    schedule: str = "20k",
    batch_size: Optional[int] = None,
    num_classes: int = 21,
    command: Optional[str] = None,
) -> str:
    """The text of a config that trains ``base`` on refined labels.

    Paths are written as given. As in mmseg, a relative ``labels``, ``train_list`` or
    ``val_list`` is relative to ``data_root``; ``data_root`` itself is relative to the
    directory training is started from. ``batch_size`` (per GPU) keeps the base's
    value when None. ``command`` is recorded in the header for reproducibility.
    """
    base_path, extra = resolve_base(base, schedule)
    if num_classes != 21:
        raise ValueError("only Pascal VOC (21 classes) configs are written; COCO needs its own dataset config")
    if batch_size is not None and batch_size < 1:
        raise ValueError(f"--batch-size must be positive, got {batch_size}")
    lines = [
        "# mmsegmentation 1.x config: train on SAM-refined pseudo labels (samcam).",
    ]
    if command:
        lines.append(f"# Written by: {command}")
    lines += [
        "# One GPU:   python tools/train.py THIS_CONFIG",
        "# N GPUs:    bash tools/dist_train.sh THIS_CONFIG N   (the base schedule is 4 GPUs x 4 images)",
        "# Resuming or load_from with torch>=2.6 and mmengine 0.10.x needs",
        "# TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1 in the environment.",
        f"_base_ = {_q(base_path)}",
        "",
        f"data_root = {_q(data_root)}",
        "# Refined pseudo labels {name}.png: 0 background, 1..20 classes, 255 ignored.",
        f"refined_labels = {_q(labels)}",
        "",
        "train_dataloader = dict(",
    ]
    if batch_size is not None:
        lines.append(f"    batch_size={int(batch_size)},")
    lines += [
        "    dataset=dict(",
        "        # mmseg's voc12aug base concatenates SegmentationClass and SegmentationClassAug;",
        "        # pseudo-label training reads one directory with one name list instead.",
        "        _delete_=True,",
        "        type='PascalVOCDataset',",
        "        data_root=data_root,",
        "        data_prefix=dict(img_path='JPEGImages', seg_map_path=refined_labels),",
        f"        ann_file={_q(train_list)},",
        "        pipeline={{_base_.train_pipeline}}))",
        "# Validation and test on the real ground truth of the val split.",
        "val_dataloader = dict(",
        "    dataset=dict(",
        "        data_root=data_root,",
        "        data_prefix=dict(img_path='JPEGImages', seg_map_path='SegmentationClass'),",
        f"        ann_file={_q(val_list)}))",
        "test_dataloader = val_dataloader",
    ]
    text = "\n".join(lines) + "\n"
    if extra:
        text += "\n" + extra
    return text


def _resolve_in_root(data_root: Path, value: Optional[str], default: str) -> Path:
    if value is None:
        return data_root / default
    return Path(value).resolve()


def _check_names(names: List[str], directory: Path, suffix: str, what: str, list_path: Path) -> None:
    missing = [name for name in names if not (directory / f"{name}{suffix}").is_file()]
    if missing:
        shown = ", ".join(f"{name}{suffix}" for name in missing[:5])
        more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
        raise FileNotFoundError(
            f"{len(missing)} of {len(names)} names in {list_path} have no {what} in {directory}: {shown}{more}"
        )


def _check_list(path: Path, role: str) -> List[str]:
    flag = f"--{role}-list"
    if path.is_dir():
        raise ValueError(f"{flag} {path}: is a folder; give the {role} list file (one image name per line)")
    if not path.is_file():
        raise FileNotFoundError(f"{role} list {path} does not exist; give {flag} FILE (one image name per line)")
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if len(line.split()) > 1:
                # mmseg's PascalVOCDataset takes each whole line as an image name.
                raise ValueError(
                    f"{path} line {number}: mmseg needs one image name per line, found {line.strip()!r} "
                    "(a DeepLab-style 'image label' list); write the first column's file stems instead"
                )
    names = read_name_list(path)
    if not names:
        raise ValueError(f"{role} list {path} has no names")
    return names


def check_dataset(data_root: Path, labels: Path, train_list: Path, val_list: Path) -> Tuple[int, int]:
    """Fail early (before a GPU job starts) on what mmseg would only hit mid-training.

    Every train name needs ``JPEGImages/{name}.jpg`` and ``{labels}/{name}.png``;
    every val name needs its image and ``SegmentationClass/{name}.png``.
    Returns ``(number of train names, number of val names)``.
    """
    images = data_root / "JPEGImages"
    for directory, what in ((data_root, "data root"), (images, "image directory"), (labels, "label directory")):
        if not directory.is_dir():
            raise FileNotFoundError(f"{what} {directory} does not exist")
    check_label_folder(labels, "--labels")  # not a folder of masks or images
    train_names = _check_list(train_list, "train")
    val_names = _check_list(val_list, "val")
    _check_names(train_names, images, ".jpg", "image", train_list)
    _check_names(train_names, labels, ".png", "refined label", train_list)
    _check_names(val_names, images, ".jpg", "image", val_list)
    _check_names(val_names, data_root / "SegmentationClass", ".png", "ground-truth label", val_list)
    return len(train_names), len(val_names)


def write_config(
    out: os.PathLike,
    *,
    labels: os.PathLike,
    data_root: os.PathLike,
    base: str = DEFAULT_BASE,
    train_list: Optional[os.PathLike] = None,
    val_list: Optional[os.PathLike] = None,
    schedule: str = "20k",
    batch_size: Optional[int] = None,
    check: bool = True,
    command: Optional[str] = None,
) -> Path:
    """Check the dataset and atomically write a config with absolute paths to ``out``.

    ``train_list``/``val_list`` default to ``{data_root}/ImageSets/Segmentation/
    train_aug.txt`` and ``.../val.txt``. Returns the written path.
    """
    out = Path(out)
    if out.suffix != ".py":
        raise ValueError(f"--out {out}: mmengine reads Python configs, the name must end in .py")
    root = Path(data_root).resolve()
    label_dir = Path(labels).resolve()
    train_path = _resolve_in_root(root, None if train_list is None else str(train_list), DEFAULT_TRAIN_LIST)
    val_path = _resolve_in_root(root, None if val_list is None else str(val_list), DEFAULT_VAL_LIST)
    if check:
        check_dataset(root, label_dir, train_path, val_path)
    text = render_config(
        base,
        data_root=str(root),
        labels=str(label_dir),
        train_list=str(train_path),
        val_list=str(val_path),
        schedule=schedule,
        batch_size=batch_size,
        command=command,
    )
    clean_stale_temp_files(Path(out).parent)
    return atomic_write_bytes(out, text.encode("utf-8"))

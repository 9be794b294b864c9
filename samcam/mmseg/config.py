"""Write an mmsegmentation 1.x config that trains DeepLab on refined pseudo labels.

:func:`write_config` (``samcam mmseg-config --labels DIR --data-root DIR --out FILE``) writes a short config
that *inherits* one of mmsegmentation's own Pascal VOC configs through mmengine's
package scope (``_base_ = 'mmseg::deeplabv3plus/...voc12aug-512x512.py'``, resolved
from the installed mmseg's ``.mim/configs``) and overrides only the data: images from
``{data_root}/JPEGImages``, labels from the refined directory (``seg_map_path``), a
train_aug name list as ``ann_file``, validation on the real ``SegmentationClass`` val
split. That is how mmseg users write their own configs: model, schedule and pipeline
stay mmseg's, and a newer mmseg's fixes are picked up without regenerating anything.

COCO 2014 (``--dataset coco``, 81 classes) has no mmseg config of its own: the written
config inherits mmseg's COCO-Stuff 164k config of the model (DeepLabV3 or PSPNet, the
80k or 160k schedule: 4 GPUs x 4 images, 512x512 crops, SGD lr 0.01, poly), swaps in the
DeepLabV3+ or DeepLabV2 head where asked, and reads the data through
``COCO2014ObjectDataset`` (:mod:`samcam.mmseg.datasets`, loaded by ``custom_imports``):
images ``{data_root}/train2014``, refined labels, validation on the val ground truth
that ``samcam coco-gt`` writes. 80k iterations is ToCo's COCO schedule
(rulixiang/ToCo logs/toco_vit-b_coco_80k.log:4, ``max_iters=80000``); the DeepLabV2
trainer that CLIP-ES, ReCAM and AMN point to (kazuto1011/deeplab-pytorch) runs 100k
iterations of 10 images on COCO (its ``configs/cocostuff164k.yaml``, copied as CVI-SZU/CLIMS
segmentation/deeplabv2/configs/cocostuff164k.yaml:36-49): 1.0M images seen, against
1.28M for 80k x 16.

The written file works with ``tools/train.py`` / ``tools/dist_train.sh`` of mmseg's
repository, with the copies installed under ``mmseg/.mim/tools``, and with
``mim train mmseg``. This module does not import mmseg or mmengine.
"""
from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple, Union

from ..files import atomic_write_bytes, clean_stale_temp_files
from ..inputs import check_label_folder
from ..names import read_name_list

#: Where a refined label directory usually sits in the examples: inside data_root,
#: next to mmseg's own ``SegmentationClassAug``.
DEFAULT_LABEL_DIR = "SegmentationClassSAMCAM"
DEFAULT_TRAIN_LIST = "ImageSets/Segmentation/train_aug.txt"
DEFAULT_VAL_LIST = "ImageSets/Segmentation/val.txt"
VOC_DATA_ROOT = "data/VOCdevkit/VOC2012"
COCO_DATA_ROOT = "data/coco2014"

_V2_COMMENT = """\
# DeepLabV2 as in the WSSS literature: dilated ResNet-101 (output stride 8) with
# ASPP-L (four 3x3 branches, dilations 6/12/18/24, summed logits), no auxiliary head.
# mmseg has no V2 head; samcam.mmseg.models registers one (see custom_imports above).
"""
_V2_HEAD = """\
    decode_head=dict(
        _delete_=True,
        type='DeepLabV2Head',
        in_channels=2048,
        in_index=3,
        channels=2048,
        dilations=(6, 12, 18, 24),
        num_classes={num_classes},
        align_corners=False,
        loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0)),
    auxiliary_head=None)
"""
# mmseg's DeepLabV2 equivalent does not exist; this model override turns its
# DeepLabV3 R101 config into the DeepLabV2 (ASPP-L, no auxiliary head) that WSSS
# papers train, with the head from samcam.mmseg.models.
_DEEPLABV2_MODEL = _V2_COMMENT + "model = dict(\n" + _V2_HEAD.format(num_classes=21)
# DeepLabV3+'s head, as mmseg's _base_/models/deeplabv3plus_r50-d8.py defines it: mmseg has
# no DeepLabV3+ COCO-Stuff config, so COCO's takes its DeepLabV3 one and swaps the head
# (same ResNetV1c-d8 backbone and auxiliary head in both).
_V3PLUS_HEAD = """\
    decode_head=dict(
        _delete_=True,
        type='DepthwiseSeparableASPPHead',
        in_channels=2048,
        in_index=3,
        channels=512,
        dilations=(1, 12, 24, 36),
        c1_in_channels=256,
        c1_channels=48,
        dropout_ratio=0.1,
        num_classes={num_classes},
        norm_cfg=dict(type='SyncBN', requires_grad=True),
        align_corners=False,
        loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0)),
    auxiliary_head=dict(num_classes={num_classes}))
"""


@dataclass(frozen=True)
class Base:
    """One choice of ``--base``: an mmseg config per dataset and schedule, plus extra lines.

    ``configs`` holds the VOC configs (schedule -> mmseg-scoped path), ``coco`` the
    COCO-Stuff 164k configs used for COCO 2014, ``coco_head`` the head swapped in there
    (``"v2"``, ``"v3plus"`` or ``""`` to keep the base's).
    """

    configs: Dict[str, str]  # schedule ("20k"/"40k") -> mmseg-scoped config path
    extra: str = ""
    description: str = ""
    coco: Dict[str, str] = field(default_factory=dict)
    coco_head: str = ""
    imports: Tuple[str, ...] = ()  # samcam modules the model needs (custom_imports)


def _voc(model: str, backbone: str) -> Dict[str, str]:
    return {
        schedule: f"mmseg::{model}/{model}_{backbone}-d8_4xb4-{schedule}_voc12aug-512x512.py"
        for schedule in ("20k", "40k")
    }


def _coco(model: str, backbone: str) -> Dict[str, str]:
    return {
        schedule: f"mmseg::{model}/{model}_{backbone}-d8_4xb4-{schedule}_coco-stuff164k-512x512.py"
        for schedule in ("80k", "160k")
    }


BASES: Dict[str, Base] = {
    "deeplabv3plus_r101": Base(_voc("deeplabv3plus", "r101"), description="DeepLabV3+ ResNet-101 (mmseg)",
                               coco=_coco("deeplabv3", "r101"), coco_head="v3plus"),
    "deeplabv3plus_r50": Base(_voc("deeplabv3plus", "r50"), description="DeepLabV3+ ResNet-50 (mmseg)",
                              coco=_coco("deeplabv3", "r50"), coco_head="v3plus"),
    "deeplabv3_r101": Base(_voc("deeplabv3", "r101"), description="DeepLabV3 ResNet-101 (mmseg)",
                           coco=_coco("deeplabv3", "r101")),
    "deeplabv3_r50": Base(_voc("deeplabv3", "r50"), description="DeepLabV3 ResNet-50 (mmseg)",
                          coco=_coco("deeplabv3", "r50")),
    "deeplabv2_r101": Base(
        _voc("deeplabv3", "r101"),
        extra=_DEEPLABV2_MODEL,
        description="DeepLabV2-style ResNet-101 ASPP-L as in WSSS papers (mmseg DeepLabV3 R101 config + samcam head)",
        coco=_coco("deeplabv3", "r101"),
        coco_head="v2",
        imports=("samcam.mmseg.models",),
    ),
    "fcn_r101": Base(_voc("fcn", "r101"), description="FCN ResNet-101 (mmseg; VOC only)"),
    "pspnet_r101": Base(_voc("pspnet", "r101"), description="PSPNet ResNet-101 (mmseg)", coco=_coco("pspnet", "r101")),
}
DEFAULT_BASE = "deeplabv3plus_r101"


@dataclass(frozen=True)
class Dataset:
    """What a ``--dataset`` fixes: classes, schedules, the layout under ``data_root``."""

    name: str
    num_classes: int
    schedules: Tuple[str, ...]
    dataset_type: str
    train_images: str
    val_images: str
    val_labels: str
    train_list: Optional[str]  # None: the names of the label folders
    val_list: Optional[str]
    data_root: str
    labels: str


DATASETS: Dict[str, Dataset] = {
    "voc": Dataset("voc", 21, ("20k", "40k"), "PascalVOCDataset", "JPEGImages", "JPEGImages", "SegmentationClass",
                   DEFAULT_TRAIN_LIST, DEFAULT_VAL_LIST, VOC_DATA_ROOT, DEFAULT_LABEL_DIR),
    "coco": Dataset("coco", 81, ("80k", "160k"), "COCO2014ObjectDataset", "train2014", "val2014",
                    "SegmentationClass/val2014", None, None, COCO_DATA_ROOT, "SegmentationClassSAMCAM/train2014"),
}


@dataclass(frozen=True)
class ConfigOptions:
    """The choices of a config besides its paths (``samcam mmseg-config``'s flags).

    ``schedule`` None is the dataset's first (VOC 20k, COCO 80k); ``batch_size`` None
    keeps the base's (4 per GPU); ``command`` is recorded in the header.
    """

    base: str = DEFAULT_BASE
    dataset: str = "voc"
    schedule: Optional[str] = None
    batch_size: Optional[int] = None
    command: Optional[str] = None


@dataclass(frozen=True)
class DataPaths:
    """Where the data is, as written into the config.

    As in mmseg, relative ``labels``, ``train_list``, ``val_list`` and ``val_labels`` are
    relative to ``data_root``, which is relative to where training starts. None takes
    the dataset's default (:data:`DATASETS`).
    """

    data_root: Optional[str] = None
    labels: Optional[str] = None
    train_list: Optional[str] = None
    val_list: Optional[str] = None
    val_labels: Optional[str] = None

    def filled(self, dataset: Dataset) -> "DataPaths":
        """These paths with the dataset's defaults where None (COCO's lists: ``train.txt``, ``val.txt``)."""
        return DataPaths(self.data_root or dataset.data_root, self.labels or dataset.labels,
                         self.train_list or dataset.train_list or "train.txt",
                         self.val_list or dataset.val_list or "val.txt", self.val_labels or dataset.val_labels)


def get_dataset(name: str) -> Dataset:
    """The :class:`Dataset` called ``name`` (``voc`` or ``coco``); ValueError otherwise."""
    if name not in DATASETS:
        raise ValueError(f"--dataset {name!r}: choose one of {', '.join(DATASETS)}")
    return DATASETS[name]


def _named_base(base: str, schedule: str, dataset: str) -> Tuple[str, str]:
    configs = BASES[base].configs if dataset == "voc" else BASES[base].coco
    if not configs:
        usable = ", ".join(name for name, b in BASES.items() if b.coco)
        raise ValueError(f"--base {base} has no {dataset.upper()} config in mmseg; use one of {usable}")
    if schedule not in configs:
        raise ValueError(f"--schedule {schedule!r} is not one of {sorted(configs)} for --dataset {dataset}")
    return configs[schedule], BASES[base].extra if dataset == "voc" else ""


def resolve_base(base: str, schedule: Optional[str] = None, dataset: str = "voc") -> Tuple[str, str]:
    """``(base config path for _base_, extra config lines)`` for a ``--base`` value.

    ``base`` is a name from :data:`BASES`, an mmseg-scoped path (``mmseg::dir/file.py``)
    or a config file on disk (returned as an absolute path; it must define
    ``train_pipeline`` like mmseg's dataset configs do). ``schedule`` None is the
    dataset's first.
    """
    if base in BASES:
        return _named_base(base, schedule or get_dataset(dataset).schedules[0], dataset)
    get_dataset(dataset)
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


#: Imported by every written config: lets mmengine's own checkpoints load with
#: torch.load(weights_only=True) (resume, load_from, tools/test.py).
CHECKPOINT_MODULE = "samcam.mmseg.checkpoints"


def _custom_imports(imports: Tuple[str, ...], known_base: bool) -> List[str]:
    """The config's ``custom_imports`` lines: samcam's checkpoint allow-list plus what the model needs.

    Only a model that needs samcam (``imports``) makes a failed import an error; otherwise
    training runs where samcam is not installed and only resuming is refused by torch.
    mmengine merges a child's dict into the base's but replaces lists
    (``Config._merge_a_into_b``), so for a base samcam does not know (some mmseg configs
    import ``mmdet.models`` or ``mmpretrain.models`` this way) the line keeps the base's own
    imports and its ``allow_failed_imports``; the config's code sees the merged base as
    ``_base_`` (mmengine 0.10.7 ``config/config.py:923``).
    """
    lines = [
        f"# {CHECKPOINT_MODULE} allow-lists the few numpy and mmengine objects in mmengine's",
        "# checkpoints, so resume, load_from and tools/test.py load them with torch.load's",
        "# weights_only=True (torch>=2.6's default); any other pickled object is still refused.",
    ]
    if known_base and not imports:
        lines.append("# Without samcam installed, training runs (mmengine warns) and only those loads fail.")
    listed = ", ".join(_q(module) for module in (CHECKPOINT_MODULE, *imports))
    if known_base:
        return lines + [f"custom_imports = dict(imports=[{listed}], allow_failed_imports={not imports})"]
    # Names starting with "__" do not become config keys (mmengine drops them).
    return lines + [
        "# The base's own custom_imports are kept: a list here would replace the base's.",
        "__base_imports = _base_.get('custom_imports', {}).get('imports', [])",
        "custom_imports = dict(",
        f"    imports=[{listed}]",
        "    + ([__base_imports] if isinstance(__base_imports, str) else list(__base_imports)),",
        f"    allow_failed_imports=_base_.get('custom_imports', {{}}).get('allow_failed_imports', {not imports}))",
    ]


def _q(value: str) -> str:
    """A Python string literal for a path (repr escapes quotes and backslashes)."""
    return repr(str(value))


def _header(options: ConfigOptions, base_path: str) -> List[str]:
    lines = ["# mmsegmentation 1.x config: train on SAM-refined pseudo labels (samcam)."]
    if options.command:
        lines.append(f"# Written by: {options.command}")
    return lines + [
        "# One GPU:   python tools/train.py THIS_CONFIG",
        "# N GPUs:    bash tools/dist_train.sh THIS_CONFIG N   (the base schedule is 4 GPUs x 4 images)",
        f"_base_ = {_q(base_path)}",
        *_custom_imports(_model_imports(options), known_base=options.base in BASES),
        "",
    ]


def _model_imports(options: ConfigOptions) -> Tuple[str, ...]:
    """The samcam modules the config's model and dataset need: the V2 head, COCO's dataset."""
    base = BASES.get(options.base)
    if options.dataset != "coco":
        return base.imports if base is not None else ()
    head = base.coco_head if base is not None else ""
    return ("samcam.mmseg.datasets",) + (("samcam.mmseg.models",) if head == "v2" else ())


def _voc_lines(paths: DataPaths, batch_size: Optional[int]) -> List[str]:
    lines = [
        f"data_root = {_q(paths.data_root)}",
        "# Refined pseudo labels {name}.png: 0 background, 1..20 classes, 255 ignored.",
        f"refined_labels = {_q(paths.labels)}",
        "",
        "train_dataloader = dict(",
    ]
    if batch_size is not None:
        lines.append(f"    batch_size={int(batch_size)},")
    return lines + [
        "    dataset=dict(",
        "        # mmseg's voc12aug base concatenates SegmentationClass and SegmentationClassAug;",
        "        # pseudo-label training reads one directory with one name list instead.",
        "        _delete_=True,",
        "        type='PascalVOCDataset',",
        "        data_root=data_root,",
        "        data_prefix=dict(img_path='JPEGImages', seg_map_path=refined_labels),",
        f"        ann_file={_q(paths.train_list)},",
        "        pipeline={{_base_.train_pipeline}}))",
        "# Validation and test on the real ground truth of the val split.",
        "val_dataloader = dict(",
        "    dataset=dict(",
        "        data_root=data_root,",
        f"        data_prefix=dict(img_path='JPEGImages', seg_map_path={_q(paths.val_labels)}),",
        f"        ann_file={_q(paths.val_list)}))",
        "test_dataloader = val_dataloader",
    ]


def _coco_dataset(split: str, images: str, labels: str, names: str, pipeline: str) -> List[str]:
    return [
        "    dataset=dict(",
        "        _delete_=True,",
        "        type='COCO2014ObjectDataset',",
        "        data_root=data_root,",
        f"        data_prefix=dict(img_path={_q(images)}, seg_map_path={labels}),",
        f"        ann_file={_q(names)},",
        f"        # a label named by the image id alone (AMN, CLIMS) is the image COCO_{split}2014_<12-digit id>",
        f"        id_image_prefix='COCO_{split}2014_',",
        f"        pipeline={{{{_base_.{pipeline}}}}}))",
    ]


def _coco_lines(options: ConfigOptions, paths: DataPaths) -> List[str]:
    base = BASES.get(options.base)
    head = base.coco_head if base is not None else ""
    lines = [
        "# COCO 2014 (81 classes): COCO2014ObjectDataset is registered by samcam.mmseg.datasets",
        "# (see custom_imports above).",
        f"data_root = {_q(paths.data_root)}",
        "# Refined pseudo labels {name}.png: 0 background, 1..80 classes, 255 ignored.",
        f"refined_labels = {_q(paths.labels)}",
        "",
        "train_dataloader = dict(",
    ]
    if options.batch_size is not None:
        lines.append(f"    batch_size={int(options.batch_size)},")
    lines += _coco_dataset("train", DATASETS["coco"].train_images, "refined_labels", paths.train_list,
                           "train_pipeline")
    lines += ["# Validation and test on the ground truth of val2014 (samcam coco-gt).", "val_dataloader = dict("]
    lines += _coco_dataset("val", DATASETS["coco"].val_images, _q(paths.val_labels), paths.val_list, "test_pipeline")
    lines += ["test_dataloader = val_dataloader", ""]
    if head == "v2":
        lines.append(_V2_COMMENT.rstrip("\n"))
    lines.append("model = dict(")
    if head == "v2":
        lines.append(_V2_HEAD.format(num_classes=81).rstrip("\n"))
    elif head == "v3plus":
        lines.append("    # mmseg's DeepLabV3+ head on its DeepLabV3 COCO-Stuff config")
        lines.append(_V3PLUS_HEAD.format(num_classes=81).rstrip("\n"))
    else:
        lines.append("    decode_head=dict(num_classes=81),")
        lines.append("    auxiliary_head=dict(num_classes=81))")
    return lines


def render_config(options: ConfigOptions = ConfigOptions(), paths: DataPaths = DataPaths()) -> str:
    """The text of a config that trains ``options.base`` on refined labels.

    ``paths`` are written as given (None: the dataset's defaults, :meth:`DataPaths.filled`).
    """
    dataset = get_dataset(options.dataset)
    base_path, extra = resolve_base(options.base, options.schedule, options.dataset)
    if options.batch_size is not None and options.batch_size < 1:
        raise ValueError(f"--batch-size must be positive, got {options.batch_size}")
    paths = paths.filled(dataset)
    lines = _header(options, base_path)
    if dataset.name == "voc":
        lines += _voc_lines(paths, options.batch_size)
    else:
        lines += _coco_lines(options, paths)
    text = "\n".join(lines) + "\n"
    if extra:
        text += "\n" + extra
    return text


def _resolve_in_root(data_root: Path, value: Optional[str], default: str) -> Path:
    if value is None:
        return data_root / default
    return Path(value).resolve()


def _check_names(names: List[str], directory: Path, suffix: str, what: str, list_path: NameList,
                 prefix: str = "") -> None:
    """Every name has ``{directory}/{name}{suffix}`` (a bare COCO id: ``{prefix}{12-digit id}``)."""
    def file_name(name: str) -> str:
        return f"{prefix}{int(name):012d}{suffix}" if prefix and name.isdigit() else f"{name}{suffix}"

    missing = [file_name(name) for name in names if not (directory / file_name(name)).is_file()]
    if missing:
        shown = ", ".join(missing[:5])
        more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
        source = list_path if isinstance(list_path, Path) else "the label folder"
        raise FileNotFoundError(
            f"{len(missing)} of {len(names)} names in {source} have no {what} in {directory}: {shown}{more}"
        )


def _check_list(path: Union[Path, Sequence[str]], role: str) -> List[str]:
    if not isinstance(path, Path):  # names in memory (a COCO list still to be written)
        return list(path)
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


@dataclass(frozen=True)
class _Resolved:
    """Absolute paths of one config, checked or to be checked."""

    root: Path
    labels: Path
    train_list: Path
    val_list: Path
    val_labels: Path


NameList = Union[Path, Sequence[str]]


def check_dataset(data_root: Path, labels: Path, train_list: NameList, val_list: NameList, dataset: str = "voc",
                  val_labels: Optional[Path] = None) -> Tuple[int, int]:
    """Fail early (before a GPU job starts) on what mmseg would only hit mid-training.

    ``train_list``/``val_list``: a list file, or the names themselves.

    Every train name needs its image and ``{labels}/{name}.png``; every val name needs
    its image and its ground truth (VOC: ``JPEGImages/{name}.jpg`` and
    ``SegmentationClass/{name}.png``; COCO: ``train2014/``/``val2014/`` and
    ``SegmentationClass/val2014/`` unless ``val_labels`` says otherwise).
    Returns ``(number of train names, number of val names)``.
    """
    info = get_dataset(dataset)
    val_labels = val_labels or data_root / info.val_labels
    train_images, val_images = data_root / info.train_images, data_root / info.val_images
    for directory, what in ((data_root, "data root"), (train_images, "image directory"),
                            (val_images, "image directory"), (labels, "label directory"),
                            (val_labels, "ground-truth directory")):
        if not directory.is_dir():
            raise FileNotFoundError(f"{what} {directory} does not exist")
    check_label_folder(labels, "--labels")  # not a folder of masks or images
    train_names = _check_list(train_list, "train")
    val_names = _check_list(val_list, "val")
    coco = dataset == "coco"
    _check_names(train_names, train_images, ".jpg", "image", train_list, "COCO_train2014_" if coco else "")
    _check_names(train_names, labels, ".png", "refined label", train_list)
    _check_names(val_names, val_images, ".jpg", "image", val_list, "COCO_val2014_" if coco else "")
    _check_names(val_names, val_labels, ".png", "ground-truth label", val_list)
    return len(train_names), len(val_names)


def _folder_names(folder: Path, what: str) -> List[str]:
    """Every ``{name}.png`` of ``folder``, sorted (a COCO default list)."""
    if not folder.is_dir():
        raise FileNotFoundError(f"{what} {folder} does not exist")
    names = sorted(entry.name[:-4] for entry in os.scandir(folder) if entry.name.endswith(".png"))
    if not names:
        raise ValueError(f"{what} {folder} holds no .png labels to list")
    return names


def _resolve(out: Path, root: Path, labels: Path, paths: DataPaths, dataset: Dataset):
    """-> (absolute paths, the lists: a path, or for a COCO list not given, (path to write, names))."""
    val_labels = Path(paths.val_labels).resolve() if paths.val_labels else root / dataset.val_labels
    lists = []
    for role, given, default, folder in (("train", paths.train_list, dataset.train_list, labels),
                                         ("val", paths.val_list, dataset.val_list, val_labels)):
        if given is not None or default is not None:
            lists.append(_resolve_in_root(root, given, default or ""))
        else:  # COCO: the names of the label folder, written beside the config
            what = "label directory" if role == "train" else "ground-truth directory"
            lists.append((out.with_name(f"{out.stem}.{role}.txt"), _folder_names(folder, what)))
    return _Resolved(root, labels, *[item if isinstance(item, Path) else item[0] for item in lists],
                     val_labels), lists


def _write_lists(lists) -> None:
    """Write the COCO name lists :func:`_resolve` left to write (after the checks passed)."""
    for item in lists:
        if not isinstance(item, Path):
            atomic_write_bytes(item[0], ("\n".join(item[1]) + "\n").encode("utf-8"))


def write_config(
    out: os.PathLike,
    *,
    labels: os.PathLike,
    data_root: os.PathLike,
    options: ConfigOptions = ConfigOptions(),
    train_list: Optional[os.PathLike] = None,
    val_list: Optional[os.PathLike] = None,
    val_labels: Optional[os.PathLike] = None,
    check: bool = True,
) -> Path:
    """Check the dataset and atomically write a config with absolute paths to ``out``.

    VOC: ``train_list``/``val_list`` default to ``{data_root}/ImageSets/Segmentation/
    train_aug.txt`` and ``.../val.txt``. COCO: to every label of ``labels`` and of the
    val ground truth (``{data_root}/SegmentationClass/val2014`` unless ``val_labels``),
    written beside ``out`` as ``{stem}.train.txt`` and ``{stem}.val.txt``. Returns the
    written path.
    """
    out = Path(out)
    if out.suffix != ".py":
        raise ValueError(f"--out {out}: mmengine reads Python configs, the name must end in .py")
    dataset = get_dataset(options.dataset)
    resolve_base(options.base, options.schedule, options.dataset)  # a bad --base fails before any file is written
    root = Path(data_root).resolve()
    given = DataPaths(None, None, *(None if p is None else str(p) for p in (train_list, val_list, val_labels)))
    resolved, lists = _resolve(out, root, Path(labels).resolve(), given, dataset)
    if check:
        train, val = (item if isinstance(item, Path) else item[1] for item in lists)
        check_dataset(root, resolved.labels, train, val, dataset.name, resolved.val_labels)
    clean_stale_temp_files(out.parent)
    _write_lists(lists)
    # VOC's default ground truth stays relative, as before ('SegmentationClass')
    keep_relative = val_labels is None and dataset.name == "voc"
    paths = DataPaths(str(root), str(resolved.labels), str(resolved.train_list), str(resolved.val_list),
                      dataset.val_labels if keep_relative else str(resolved.val_labels))
    return atomic_write_bytes(out, render_config(options, paths).encode("utf-8"))


__all__ = ["BASES", "DATASETS", "ConfigOptions", "DataPaths", "Dataset", "DEFAULT_BASE", "render_config",
           "write_config", "check_dataset", "resolve_base", "get_dataset", "installed_mmseg_dir",
           "mmseg_config_file"]

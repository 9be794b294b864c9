"""COCO instance annotations -> semantic label PNGs, as the WSSS repositories make them.

The conversion is CVI-SZU/CLIMS's (@ f9546d3, ``mscoco/annToMask.py``), the one
published with a COCO-2014 WSSS code base:

* every image of the instances file gets a label (``ids = list(coco.imgs.keys())``,
  :37), also an image without annotations: all background (``np.zeros``, :16, written
  at :29);
* an image's annotations are its non-crowd ones (``getAnnIds(imgIds=imgId,
  iscrowd=False)``, :19) in the order the file lists them (pycocotools' ``createIndex``
  appends each image's annotations in file order), each decoded by ``coco.annToMask``
  (:25; polygons merged into one RLE, uncompressed RLE encoded, compressed RLE as is)
  and painted over the earlier ones (:27): where annotations overlap, the one later in
  the file wins;
* category ids (1..90, 80 of them used) become 1..80 in ascending order (the
  hard-coded ``category_map``, :8); here: the file's category ids in ascending order,
  which for COCO's instances files is that map;
* the label is an 8-bit grayscale PNG (``imageio.imsave`` of uint8, :29) named
  ``str(image_id)`` (:29).

Which name each method's COCO evaluator reads (:data:`NAMINGS`): ``coco``, the image's
file stem ``COCO_train2014_000000057870`` (ToCo ``tools/eval_cam_coco.py:48``, CLIP-ES
``eval_cam.py:67``, MCTformer ``evaluation.py:38``, with their name lists); ``id``,
``57870`` (CLIMS ``mscoco/dataloader.py:233``); ``padded``, ``000000057870`` (AMN
branch coco14 ``step/eval_cam_coco.py:17``, ids from ``coco14/train14.txt``).

Memory: the instances file is read whole (as pycocotools does); the Python objects take
several times the file's size (see ``benchmarks/bench_coco_gt.py``). Each image then
costs one H×W label and one mask at a time. With ``workers`` > 1 the loaded file is
shared with the worker processes where they are forked (Linux); a worker started
otherwise loads it again.
"""
from __future__ import annotations

import functools
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from .. import provenance
from ..batch import BatchResult, run_batch
from ..classes import COCO_CATEGORY_IDS, MAX_CLASSES
from ..io import check_input_file, check_pixels, read_name_list, unique_names, write_label_png
from ..sam.families import MissingPackages

__all__ = [
    "NAMINGS",
    "CONVERSION",
    "CocoImage",
    "Instances",
    "load_instances",
    "select_images",
    "annotation_mask",
    "semantic_label",
    "coco_gt",
]

log = logging.getLogger(__name__)

#: ``--names``: how a label file is named, and which evaluators read that name.
NAMINGS: Dict[str, str] = {
    "coco": "the image's file stem, COCO_train2014_000000057870 (ToCo, CLIP-ES, MCTformer)",
    "id": "the image id, 57870 (CLIMS)",
    "padded": "the image id in 12 digits, 000000057870 (AMN)",
}
CONVERSION = ("CVI-SZU/CLIMS mscoco/annToMask.py: every image; its non-crowd annotations in file order, later "
              "over earlier; category ids -> 1..N in ascending order; no annotation -> 0 (background)")
WHAT = ("semantic ground-truth label PNGs ({name}.png) made from COCO instance annotations by samcam coco-gt; "
        "settings decide their content")
GROUND_TRUTH = provenance.FolderKind(".png", "label", WHAT)
_NEEDS = "a COCO instances file (instances_train2014.json) has 'images', 'annotations' and 'categories' lists"


def _mask_api():
    """pycocotools.mask, or MissingPackages saying how to install it."""
    try:
        from pycocotools import mask
    except ImportError:
        raise MissingPackages('samcam coco-gt needs pycocotools, not installed here; install it with '
                              'pip install "samcam[coco]"') from None
    return mask


@dataclass(frozen=True)
class CocoImage:
    """One ``images`` entry: its id, file name and size."""

    id: int
    file_name: str
    height: int
    width: int

    def name(self, naming: str) -> str:
        """The label's file name (without ``.png``) under ``naming`` (:data:`NAMINGS`)."""
        if naming == "id":
            return str(self.id)
        if naming == "padded":
            return f"{self.id:012d}"
        if naming == "coco":
            return Path(self.file_name).stem
        raise ValueError(f"unknown naming {naming!r}; choose one of {', '.join(NAMINGS)}")


# (annotation id, label value, segmentation as in the file)
Annotation = Tuple[int, int, object]


@dataclass
class Instances:
    """What the conversion needs from an instances file.

    ``images`` in file order; ``annotations``: image id -> its non-crowd annotations in
    file order; ``categories``: (category id, name) in ascending id, category
    ``categories[k][0]`` becoming label value k + 1.
    """

    path: str
    size: int
    images: List[CocoImage]
    annotations: Dict[int, List[Annotation]]
    categories: List[Tuple[int, str]]
    crowds: int = 0
    orphans: int = 0
    _by_name: Dict[str, Dict[str, CocoImage]] = field(default_factory=dict, repr=False)

    def by_name(self, naming: str) -> Dict[str, CocoImage]:
        """name -> image under ``naming`` (built once). Raises ValueError when two images share a name."""
        if naming not in self._by_name:
            table: Dict[str, CocoImage] = {}
            for image in self.images:
                name = image.name(naming)
                if name in table:
                    raise ValueError(f"{self.path}: images {table[name].id} and {image.id} are both named {name!r} "
                                     f"under --names {naming}; choose another naming")
                table[name] = image
            self._by_name[naming] = table
        return self._by_name[naming]

    @property
    def num_annotations(self) -> int:
        return sum(len(anns) for anns in self.annotations.values())


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _polygon(points):
    """One polygon's coordinates as a float64 array (8 bytes a number instead of a list's 32);
    anything else as it is. pycocotools' ``frPoly`` takes ``np.array(p, dtype=np.double)``
    of each polygon, which is the same numbers either way."""
    if isinstance(points, list):
        try:
            array = np.asarray(points, dtype=np.float64)
        except (TypeError, ValueError):
            return points
        if array.ndim == 1:
            return array
    return points


def _compact(entry: dict) -> dict:
    """``json.load`` object hook: each annotation is cut to what the conversion reads as soon as it
    is parsed, so that the file's objects never all exist at once: polygons become arrays, a
    crowd's segmentation (never drawn) and the box and area (not read) are dropped."""
    if "category_id" in entry and "segmentation" in entry:
        if entry.get("iscrowd") != 0:
            entry["segmentation"] = None
        elif isinstance(entry["segmentation"], list):
            entry["segmentation"] = [_polygon(points) for points in entry["segmentation"]]
        entry.pop("bbox", None)
        entry.pop("area", None)
    return entry


def _read_json(path: Path) -> Mapping:
    check_input_file(path, "COCO instances file")
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle, object_hook=_compact)
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: not a JSON file ({error.msg} at line {error.lineno} column {error.colno}); "
                         f"{_NEEDS}") from None
    except UnicodeDecodeError as error:
        raise ValueError(f"{path}: not UTF-8 JSON text ({error}); {_NEEDS}") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: holds a JSON {type(data).__name__}, not an object; {_NEEDS}")
    for key in ("images", "annotations", "categories"):
        if not isinstance(data.get(key), list):
            what = "no" if key not in data else f"a {type(data[key]).__name__} as"
            hint = " (an image-info file, e.g. the test set's, has no annotations to convert)" \
                if key == "annotations" else ""
            raise ValueError(f"{path}: {what} {key!r} list{hint}; {_NEEDS}")
    return data


def _image(path: Path, index: int, entry) -> CocoImage:
    """One ``images`` entry, checked."""
    if not isinstance(entry, dict):
        raise ValueError(f"{path}: images[{index}] is not an object")
    values = [entry.get(key) for key in ("id", "height", "width")]
    if not all(_is_int(v) for v in values) or values[1] < 1 or values[2] < 1:
        raise ValueError(f"{path}: images[{index}] needs integer 'id', and 'height' and 'width' >= 1, got {values}")
    if not isinstance(entry.get("file_name"), str) or not entry["file_name"]:
        raise ValueError(f"{path}: images[{index}] (id {values[0]}) has no 'file_name'")
    return CocoImage(values[0], entry["file_name"], values[1], values[2])


def _images(path: Path, entries: list) -> List[CocoImage]:
    images, seen = [], set()
    for index, entry in enumerate(entries):
        image = _image(path, index, entry)
        if image.id in seen:
            raise ValueError(f"{path}: image id {image.id} appears twice in 'images'")
        seen.add(image.id)
        images.append(image)
    return images


def _categories(path: Path, entries: list) -> List[Tuple[int, str]]:
    categories = {}
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict) or not _is_int(entry.get("id")):
            raise ValueError(f"{path}: categories[{index}] needs an integer 'id'")
        if entry["id"] in categories:
            raise ValueError(f"{path}: category id {entry['id']} appears twice in 'categories'")
        categories[entry["id"]] = str(entry.get("name", f"category {entry['id']}"))
    if not categories:
        raise ValueError(f"{path}: 'categories' is empty; {_NEEDS}")
    if len(categories) >= MAX_CLASSES:
        raise ValueError(f"{path}: {len(categories)} categories; a label map holds at most {MAX_CLASSES - 1} "
                         "(1..254; 0 is background, 255 ignore)")
    return sorted(categories.items())


def _annotation_fields(path: Path, index: int, entry) -> Tuple[int, int, int, int]:
    """(id, image_id, category_id, iscrowd) of one annotation, checked."""
    if not isinstance(entry, dict):
        raise ValueError(f"{path}: annotations[{index}] is not an object")
    for key in ("id", "image_id", "category_id", "iscrowd", "segmentation"):
        if key not in entry:
            raise ValueError(f"{path}: annotations[{index}] has no {key!r}; {_NEEDS}, and its annotations have "
                             "'id', 'image_id', 'category_id', 'iscrowd' and 'segmentation' (a captions or "
                             "image-info file has none of these)")
    values = tuple(entry[key] for key in ("id", "image_id", "category_id", "iscrowd"))
    if not (all(_is_int(v) for v in values[:3]) and isinstance(values[3], int)):
        raise ValueError(f"{path}: annotations[{index}] needs integer 'id', 'image_id', 'category_id' and "
                         f"'iscrowd', got {list(values)}")
    return values  # type: ignore[return-value]


def _annotations(path: Path, entries: list, image_ids: set, labels: Mapping[int, int]):
    """-> (image id -> [(annotation id, label value, segmentation)], crowds, orphans)."""
    per_image: Dict[int, List[Annotation]] = {}
    seen = set()
    crowds = orphans = 0
    for index, entry in enumerate(entries):
        ann_id, image_id, category, crowd = _annotation_fields(path, index, entry)
        # pycocotools keeps one annotation per id (COCO.anns), so ids must be unique
        if ann_id in seen:
            raise ValueError(f"{path}: annotation id {ann_id} appears twice (annotations[{index}]); "
                             "pycocotools looks annotations up by id")
        seen.add(ann_id)
        if crowd != 0:  # getAnnIds(iscrowd=False) keeps ann['iscrowd'] == False
            crowds += 1
            continue
        if image_id not in image_ids:  # never drawn: the conversion visits the images of the file
            orphans += 1
            continue
        if category not in labels:
            raise ValueError(f"{path}: annotation {ann_id} (annotations[{index}]) has category_id {category}, "
                             "which 'categories' does not list")
        per_image.setdefault(image_id, []).append((ann_id, labels[category], entry["segmentation"]))
    return per_image, crowds, orphans


def load_instances(path: os.PathLike) -> Instances:
    """Read and check a COCO instances file (the whole file, as pycocotools does).

    Raises:
        FileNotFoundError: no such file.
        ValueError: not JSON, or not an instances file (no ``images``/``annotations``/
            ``categories`` lists, an annotation without ``category_id``, a category no
            ``categories`` entry lists, an id given twice), naming the file and the entry.
    """
    path = Path(path)
    size = check_input_file(path, "COCO instances file")
    log.info("reading %s (%.0f MB, whole, as pycocotools does)", path, size / 1e6)
    data = _read_json(path)
    images = _images(path, data["images"])
    categories = _categories(path, data["categories"])
    labels = {category: value for value, (category, _) in enumerate(categories, 1)}
    per_image, crowds, orphans = _annotations(path, data["annotations"], {image.id for image in images}, labels)
    if [category for category, _ in categories] != list(COCO_CATEGORY_IDS):
        log.warning("%s: its %d category ids are not COCO's 80; label k is its k-th smallest category id "
                    "(the list is recorded in samcam.json)", path, len(categories))
    if orphans:
        log.warning("%s: %d annotation(s) belong to images the file does not list; they are not drawn",
                    path, orphans)
    return Instances(str(path), size, images, per_image, categories, crowds, orphans)


def _any_naming(instances: Instances, naming: str) -> Dict[str, CocoImage]:
    """name -> image under every naming (``naming``'s names win)."""
    lookup: Dict[str, CocoImage] = {}
    for other in NAMINGS:
        try:
            lookup.update(instances.by_name(other))
        except ValueError:  # two images share a name under that other naming: not a way to name them
            continue
    lookup.update(instances.by_name(naming))
    return lookup


def select_images(instances: Instances, naming: str, wanted: Optional[Sequence[str]] = None,
                  source: str = "names") -> List[Tuple[str, CocoImage]]:
    """``(label name, image)`` for every image (file order), or for ``wanted`` (their order).

    A wanted name may be in any of the three namings (a ToCo, AMN or CLIMS list), with
    or without ``.jpg``; for a line with more fields (CLIP-ES's ``coco14/train.txt``,
    ``NAME class class ...``) the first field counts.

    Raises:
        ValueError: a wanted name that is no image of the file (the list of another split?).
    """
    instances.by_name(naming)  # two images of one name under this naming: refused
    if wanted is None:
        return [(image.name(naming), image) for image in instances.images]
    lookup = _any_naming(instances, naming)
    chosen, unknown = [], []
    for name in unique_names(wanted, source):
        image = lookup.get(name) or lookup.get(name.split()[0] if name.split() else name)
        if image is None:
            unknown.append(name)
        else:
            chosen.append((image.name(naming), image))
    if unknown:
        raise ValueError(f"{source}: {len(unknown)} of {len(wanted)} names are no image of {instances.path} "
                         f"(e.g. {unknown[0]!r}); is it the list of another split?")
    return list({name: (name, image) for name, image in chosen}.values())


def annotation_mask(segmentation, height: int, width: int) -> np.ndarray:
    """One annotation's ``segmentation`` -> H×W bool, decoded as pycocotools' ``COCO.annToMask``.

    Polygons (a list of coordinate lists) are merged into one RLE, uncompressed RLE
    (``counts`` a list) is encoded, compressed RLE is decoded as is.

    Raises:
        ValueError: a segmentation pycocotools cannot decode, or whose RLE size is not
            ``height``×``width``.
    """
    masks = _mask_api()
    try:
        if isinstance(segmentation, list):
            rle = masks.merge(masks.frPyObjects(segmentation, height, width))
        elif isinstance(segmentation, dict) and isinstance(segmentation.get("counts"), list):
            rle = masks.frPyObjects(segmentation, height, width)
        elif isinstance(segmentation, dict):
            rle = segmentation
        else:
            raise TypeError(f"a {type(segmentation).__name__}, neither polygons nor RLE")
        decoded = masks.decode(rle)
    except Exception as error:  # pycocotools raises bare Exception, TypeError, IndexError... on bad input
        raise ValueError(f"segmentation cannot be decoded ({type(error).__name__}: {error})") from None
    if decoded.shape != (height, width):
        raise ValueError(f"segmentation is {decoded.shape[0]}×{decoded.shape[1]} but the image is "
                         f"{height}×{width} (height×width)")
    return decoded == 1


def semantic_label(image: CocoImage, annotations: Sequence[Annotation]) -> np.ndarray:
    """The semantic label of one image: H×W uint8, 0 background, annotations painted in order.

    ``annotations``: ``(annotation id, label value, segmentation)`` in file order (later
    ones win where they overlap), as :class:`Instances` holds them.

    Raises:
        ValueError: an annotation that cannot be decoded (naming it), an image above
            ``SAMCAM_MAX_PIXELS``.
    """
    check_pixels(f"image {image.id} ({image.file_name})", image.width, image.height)
    label = np.zeros((image.height, image.width), np.uint8)
    for ann_id, value, segmentation in annotations:
        try:
            mask = annotation_mask(segmentation, image.height, image.width)
        except ValueError as error:
            raise ValueError(f"image {image.id} ({image.file_name}), annotation {ann_id}: {error}") from None
        label[mask] = value
    return label


# One loaded file per process: workers forked after the parent loaded it share it.
_LOADED: Dict[str, Tuple[Tuple[str, int, int], Instances]] = {}


def _stamp(path: Path) -> Tuple[str, int, int]:
    info = os.stat(path)
    return str(path.resolve()), info.st_size, info.st_mtime_ns


def _cached(stamp: Tuple[str, int, int]) -> Instances:
    held = _LOADED.get("file")
    if held is None or held[0] != stamp:
        _LOADED.clear()  # drop the old one first: two at once could double the memory
        _LOADED["file"] = (stamp, load_instances(stamp[0]))
    return _LOADED["file"][1]


def _convert_one(name: str, stamp: Tuple[str, int, int], naming: str, out_dir: str) -> None:
    instances = _cached(stamp)
    image = instances.by_name(naming)[name]
    label = semantic_label(image, instances.annotations.get(image.id, ()))
    write_label_png(Path(out_dir) / f"{name}.png", label)


def coco_gt(
    instances: os.PathLike,
    out_dir: os.PathLike,
    *,
    naming: str = "coco",
    list_file: Optional[os.PathLike] = None,
    workers: int = 1,
    overwrite: bool = False,
    progress: bool = False,
    command: Optional[Sequence[str]] = None,
) -> BatchResult:
    """Write ``{out_dir}/{name}.png`` for the images of a COCO instances file (module docstring).

    Args:
        instances: ``annotations/instances_{train,val}2014.json``.
        out_dir: output folder (one split per folder).
        naming: a key of :data:`NAMINGS`: ``coco`` (default), ``id`` or ``padded``.
        list_file: only the images named there, one per line, in any naming.
        workers: processes; the labels do not depend on it.
        overwrite: redo labels that exist (default: skip them, i.e. resume).
        progress: a progress bar on stderr.
        command: the command line, recorded in ``samcam.json``.

    Writes ``{out_dir}/samcam.json`` first (the instances file's name and size, the
    naming, the category list; see :mod:`samcam.provenance`), then H×W uint8 mode ``L``
    PNGs atomically. Returns the :class:`~samcam.batch.BatchResult` (an image whose
    annotations cannot be decoded is a failure; the others are written).

    Raises:
        MissingPackages: pycocotools is not installed.
        FileNotFoundError / ValueError: a missing or bad instances file or list, a
            ``list_file`` name that is no image of the file, ``out_dir`` holding labels
            made with other settings.
    """
    if naming not in NAMINGS:
        raise ValueError(f"unknown naming {naming!r}; choose one of {', '.join(NAMINGS)}")
    _mask_api()  # before reading a large file
    path = Path(instances)
    if Path(out_dir).is_file():
        raise ValueError(f"--out {out_dir} is a file; give a folder")
    check_input_file(path, "COCO instances file")
    stamp = _stamp(path)
    try:
        loaded = _cached(stamp)
        wanted = read_name_list(list_file) if list_file is not None else None
        names = [name for name, _ in select_images(loaded, naming, wanted, f"--list {list_file}")]
        settings = {
            "tool": "coco-gt",
            "instances": {"file": path.name, "bytes": loaded.size, "images": len(loaded.images)},
            "names": naming,
            "conversion": CONVERSION,
            "categories": [[category, value, title] for value, (category, title) in enumerate(loaded.categories, 1)],
        }
        _held = provenance.claim(  # the folder's lock, held until this returns  # noqa: F841
            out_dir, GROUND_TRUTH, settings,
            provenance.RunInfo(names, overwrite=overwrite, command=command, list_file=list_file,
                               extra={"instances": stamp[0]}))
        job = functools.partial(_convert_one, stamp=stamp, naming=naming, out_dir=str(out_dir))
        return run_batch(names, job, lambda n: Path(out_dir) / f"{n}.png", workers=workers, overwrite=overwrite,
                         desc="coco-gt", progress=progress)
    finally:
        _LOADED.clear()  # the parsed file is several times its size: do not keep it after the run

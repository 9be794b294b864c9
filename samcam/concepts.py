"""Each image's classes, and the concepts (class, phrase) a concept-mask model is prompted with.

SAM 3 (``samcam masks --model sam3``) segments the instances of a concept given as a
noun phrase. In weakly supervised segmentation every training image comes with its
image-level classes, so samcam prompts SAM 3 with the phrases of those classes
(:mod:`samcam.classes`: built in for VOC and COCO, or a class-names file). Where the
classes come from (``--concepts-from``):

* a **label folder** (:class:`LabelFolderClasses`): ``{name}.png`` label maps, e.g.
  the ground truth or CAM pseudo labels: the classes present (values 1..C-1; 0 is
  background, 255 ignore);
* a **CAM folder** of any method (:class:`CamFolderClasses`): ``{name}.npy`` CAM dicts,
  whose keys are the image's classes (e.g. IRN's ``step/make_cam.py`` stores the
  classes of the image's label, ``keys = torch.nonzero(label)[:, 0]``). The layouts
  are the adapters' (:mod:`samcam.adapters`), so the reader is given by the caller
  (core does not import the adapters: :mod:`samcam.sam.concepts` passes it);
* IRN's **cls_labels.npy** (:class:`ClsLabels`): ``np.save`` of a dict from image id to
  a float32 multi-hot vector of the C-1 foreground classes (jiwoon-ahn/irn
  ``voc12/make_cls_labels.py:22-28``: the keys are the ``np.int32`` ids of
  ``np.loadtxt(list, dtype=np.int32)`` (``voc12/dataloader.py:60``), ``2007_000032``
  read as ``2007000032``; ``load_image_label_from_xml`` (``dataloader.py:30-43``) makes
  the vectors). COCO ports of it key by the image id (``000000000009`` -> 9). String
  keys (the image name) are read as they are. Read with samcam's safe unpickler.

Nothing here imports torch or the adapters.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from .classes import ClassNames
from .errors import ImageError
from .io import read_label_png
from .safe_pickle import load_npy

__all__ = [
    "LabelFolderClasses",
    "CamFolderClasses",
    "ClsLabels",
    "Concepts",
    "open_image_classes",
    "cls_label_key",
    "CamClassReader",
]

Concept = Tuple[int, str]
# (cam_dict, num_classes) -> the label values of its classes (1..C-1).
CamClassReader = Callable[[Mapping, int], Sequence[int]]

_VOC_NAME = re.compile(r"(\d{4})_(\d{6})")
_COCO_NAME = re.compile(r"(?:COCO_[A-Za-z]+20\d\d_)?(\d{12})")


def _checked_classes(values: Sequence[int], num_classes: int, where: str) -> Tuple[int, ...]:
    """Label values -> sorted unique classes 1..C-1; ImageError naming ``where`` for one outside."""
    values = np.unique(np.asarray(values, np.int64))
    bad = values[(values < 1) | (values >= num_classes)]
    if bad.size:
        raise ImageError(f"{where}: classes {bad[:8].tolist()} outside 1..{num_classes - 1}; pass --num-classes "
                         "(81 for COCO) or a --class-names file with as many classes as the dataset has")
    return tuple(int(v) for v in values)


class LabelFolderClasses:
    """The classes present in ``{folder}/{name}.png`` (label maps: 0 background, 255 ignore)."""

    kind = "label folder"

    def __init__(self, folder: os.PathLike, num_classes: int):
        self.path = Path(folder)
        self.num_classes = num_classes

    def has(self, name: str) -> bool:
        return (self.path / f"{name}.png").is_file()

    def classes(self, name: str) -> Tuple[int, ...]:
        """Raises FileNotFoundError (no label) or ImageError (unreadable, or a value >= C other than 255)."""
        path = self.path / f"{name}.png"
        if not path.is_file():
            raise FileNotFoundError(f"{path}: label PNG does not exist (--concepts-from {self.path})")
        label = read_label_png(path)
        counts = np.bincount(label.ravel(), minlength=256)
        counts[[0, 255]] = 0
        return _checked_classes(np.flatnonzero(counts), self.num_classes, str(path))


class CamFolderClasses:
    """The classes of ``{folder}/{name}.npy``, a method's CAM dict, read by ``read_classes``.

    A COCO image name (``COCO_train2014_000000000009``) also finds the CAM of its bare
    id (``000000000009.npy``, as AMN's COCO branch names them).
    """

    kind = "CAM folder"

    def __init__(self, folder: os.PathLike, num_classes: int, read_classes: CamClassReader):
        self.path = Path(folder)
        self.num_classes = num_classes
        self.read_classes = read_classes

    def _file(self, name: str) -> Optional[Path]:
        match = _COCO_NAME.fullmatch(name)
        for candidate in [name] + ([match.group(1)] if match and match.group(1) != name else []):
            path = self.path / f"{candidate}.npy"
            if path.is_file():
                return path
        return None

    def has(self, name: str) -> bool:
        return self._file(name) is not None

    def classes(self, name: str) -> Tuple[int, ...]:
        """Raises FileNotFoundError (no CAM) or ImageError/ValueError (not a CAM dict of a known layout)."""
        path = self._file(name)
        if path is None:
            raise FileNotFoundError(f"{self.path / (name + '.npy')}: CAM file does not exist "
                                    f"(--concepts-from {self.path})")
        cam_dict = load_npy(path)
        if not isinstance(cam_dict, Mapping):
            raise ImageError(f"{path}: expected a CAM dict saved with np.save, got {type(cam_dict).__name__}")
        try:
            found = self.read_classes(cam_dict, self.num_classes)
        except ValueError as error:
            raise ImageError(f"{path}: {error}") from None
        return _checked_classes(found, self.num_classes, str(path))


def cls_label_key(name: str) -> Optional[int]:
    """The integer key IRN-style ``cls_labels.npy`` files use for image ``name``: VOC's
    ``2007_000032`` -> 2007000032, a COCO name or id (``COCO_val2014_000000000042``,
    ``000000000042``) -> 42; None for other names."""
    match = _VOC_NAME.fullmatch(name)
    if match:
        return int(match.group(1) + match.group(2))
    match = _COCO_NAME.fullmatch(name)
    return int(match.group(1)) if match else None


class ClsLabels:
    """IRN's ``cls_labels.npy``: image -> multi-hot vector of the C-1 foreground classes
    (module docstring). The whole file is read and checked when this is built."""

    kind = "cls_labels file"

    def __init__(self, path: os.PathLike, num_classes: int):
        self.path = Path(path)
        self.num_classes = num_classes
        table = load_npy(self.path)
        if not isinstance(table, Mapping):
            raise ValueError(f"{self.path}: expected a dict saved with np.save (IRN's cls_labels.npy: image id -> "
                             f"multi-hot vector), got {type(table).__name__}")
        self._by_key: Dict[Any, Tuple[int, ...]] = {}
        for key, vector in table.items():
            key = self._key(key)
            self._by_key[key] = self._vector_classes(key, vector)

    def _key(self, key: Any) -> Any:
        if isinstance(key, (bool, np.bool_)) or not isinstance(key, (int, np.integer, str)):
            raise ValueError(f"{self.path}: key {key!r} is not an image id (int) or name (str)")
        return key if isinstance(key, str) else int(key)

    def _vector_classes(self, key: Any, vector: Any) -> Tuple[int, ...]:
        vector = np.asarray(vector)
        expected = self.num_classes - 1
        if vector.shape != (expected,) or vector.dtype.kind not in "biuf":
            raise ValueError(f"{self.path}: entry {key!r} is {vector.dtype} {vector.shape}, not a multi-hot vector of "
                             f"the {expected} foreground classes of {self.num_classes} (--num-classes, --class-names)")
        if not np.isin(vector, (0, 1)).all():
            raise ValueError(f"{self.path}: entry {key!r} holds values other than 0 and 1: not a multi-hot vector")
        return tuple(int(c) + 1 for c in np.flatnonzero(vector))

    def _lookup(self, name: str) -> Optional[Tuple[int, ...]]:
        if name in self._by_key:
            return self._by_key[name]
        return self._by_key.get(cls_label_key(name))

    def has(self, name: str) -> bool:
        return self._lookup(name) is not None

    def classes(self, name: str) -> Tuple[int, ...]:
        found = self._lookup(name)
        if found is None:
            key = cls_label_key(name)
            raise ImageError(f"{self.path}: no entry for {name}" + (f" (key {key})" if key is not None else ""))
        return found


def open_image_classes(path: os.PathLike, num_classes: int, read_cam_classes: Optional[CamClassReader] = None):
    """The source of each image's classes at ``path``: a ``.npy`` file is IRN's cls_labels, a
    folder of ``{name}.png`` label maps a label folder, a folder of ``{name}.npy`` a CAM folder
    (read with ``read_cam_classes``).

    Raises:
        FileNotFoundError: ``path`` does not exist; ValueError: it is none of these.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"--concepts-from {path}: no such file or folder")
    if path.is_file():
        if path.suffix.lower() != ".npy":
            raise ValueError(f"--concepts-from {path}: a file must be IRN's cls_labels.npy (np.save of a dict); "
                             "otherwise give a label folder or a CAM folder")
        return ClsLabels(path, num_classes)
    pngs, npys = _count_suffixes(path)
    if npys and npys >= pngs:
        if read_cam_classes is None:
            raise ValueError(f"--concepts-from {path}: a CAM folder needs a reader of the methods' CAM layouts")
        return CamFolderClasses(path, num_classes, read_cam_classes)
    if pngs:
        return LabelFolderClasses(path, num_classes)
    raise ValueError(f"--concepts-from {path}: holds no label PNGs ({{name}}.png) and no CAM files ({{name}}.npy); "
                     "give a label folder, a CAM folder or IRN's cls_labels.npy")


def _count_suffixes(folder: Path) -> Tuple[int, int]:
    """(PNG files, .npy files) in ``folder``."""
    pngs = npys = 0
    with os.scandir(folder) as entries:
        for entry in entries:
            name = entry.name.lower()
            pngs += name.endswith(".png")
            npys += name.endswith(".npy")
    return pngs, npys


@dataclass(frozen=True)
class Concepts:
    """Each image's prompts: its classes (from ``source``) with their phrases (from ``names``).

    Calling it with an image name gives ``((class, phrase), ...)`` in ascending class order
    (what :meth:`samcam.sam.sam3_family.Sam3ConceptGenerator.prepare` takes), or raises
    that image's error (no entry, unreadable file).
    """

    source: Any
    names: ClassNames

    def __post_init__(self) -> None:
        if len(self.names) != self.source.num_classes:
            raise ValueError(f"{len(self.names)} class names ({self.names.source}) for {self.source.num_classes} "
                             "classes: give as many names as the dataset has classes, background first")

    def __call__(self, name: str) -> Tuple[Concept, ...]:
        return tuple((c, self.names.phrases[c]) for c in self.source.classes(name))

    def table(self) -> List[Concept]:
        """Every foreground class with its phrase (to check the phrases once, before a run)."""
        return [(c, self.names.phrases[c]) for c in range(1, len(self.names))]

    def record(self) -> Dict[str, Any]:
        """What decides the prompts beyond the images' classes (for ``samcam.json``): the phrases
        (not where they came from: the same phrases from a file or built in are the same prompts)."""
        return {"phrases": list(self.names.phrases)}

    def describe(self) -> str:
        return f"{self.source.kind} {self.source.path}"

"""Class names: Pascal VOC's 21, COCO's 81, or your own from a text file.

Label value k is class k: 0 is background, 1..C-1 the classes (255 is ignore, never a
class). Each class has a *name* (how tables, reports and upstream code spell it,
``tvmonitor``) and a *phrase* (how it is said in plain words, ``tv monitor``: what a
text prompt, e.g. SAM 3's, needs).

* ``VOC_CLASSES``: VOC 2012's spelling, as every VOC evaluator prints it (the
  SegmentationClass colour order);
* ``COCO_CLASSES``: background, then COCO's 80 object categories in ascending
  category id (``COCO_CATEGORY_IDS``), spelled as the instances files spell them
  (``motorcycle``, ``tv``, ``hair drier``). Label value k holds category
  ``COCO_CATEGORY_IDS[k - 1]``: the ids run 1..90 with 10 unused, and the WSSS
  repositories map them to 1..80 in ascending order (CVI-SZU/CLIMS
  ``mscoco/annToMask.py:8``; rulixiang/ToCo ``datasets/coco.py:14`` lists the names
  in this order);
* a class-names file (:func:`read_class_names`): one class per line in class-index
  order, the first line being background (index 0). Blank lines and lines starting
  with ``#`` are skipped. A line is ``name`` or ``name: phrase``::

      # my dataset
      background
      tvmonitor: tv monitor
      pottedplant: potted plant
      cat
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Tuple

from .files import read_text_file

__all__ = [
    "VOC_CLASSES",
    "VOC_PHRASES",
    "COCO_CLASSES",
    "COCO_CATEGORY_IDS",
    "MAX_CLASSES",
    "ClassNames",
    "class_names",
    "class_phrases",
    "builtin_class_names",
    "read_class_names",
]

VOC_CLASSES = (
    "background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
    "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train", "tvmonitor",
)
# The VOC names that are not plain words (every other name is its own phrase).
VOC_PHRASES: Dict[str, str] = {"diningtable": "dining table", "pottedplant": "potted plant",
                               "tvmonitor": "tv monitor"}

COCO_CLASSES = (
    "background", "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat",
    "traffic light", "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog", "horse", "sheep",
    "cow", "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella", "handbag", "tie", "suitcase", "frisbee",
    "skis", "snowboard", "sports ball", "kite", "baseball bat", "baseball glove", "skateboard", "surfboard",
    "tennis racket", "bottle", "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple", "sandwich",
    "orange", "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch", "potted plant", "bed",
    "dining table", "toilet", "tv", "laptop", "mouse", "remote", "keyboard", "cell phone", "microwave", "oven",
    "toaster", "sink", "refrigerator", "book", "clock", "vase", "scissors", "teddy bear", "hair drier", "toothbrush",
)
# COCO's category ids 1..90 without the 10 that no 2014/2017 instances file uses.
COCO_CATEGORY_IDS: Tuple[int, ...] = tuple(
    i for i in range(1, 91) if i not in (12, 26, 29, 30, 45, 66, 68, 69, 71, 83))

# 0..254: 255 is ignore in every label map.
MAX_CLASSES = 255


@dataclass(frozen=True)
class ClassNames:
    """Names and plain-word phrases of classes 0..C-1 (``names[0]`` is background).

    ``source``: ``"Pascal VOC"``, ``"COCO"``, ``"generic"`` or the file they were read from.
    """

    names: Tuple[str, ...]
    phrases: Tuple[str, ...]
    source: str = "generic"

    def __len__(self) -> int:
        return len(self.names)


def builtin_class_names(num_classes: int) -> ClassNames:
    """VOC's names for 21 classes, COCO's for 81, ``class k`` otherwise (index 0 background)."""
    if num_classes == len(VOC_CLASSES):
        return ClassNames(VOC_CLASSES, tuple(VOC_PHRASES.get(n, n) for n in VOC_CLASSES), "Pascal VOC")
    if num_classes == len(COCO_CLASSES):
        return ClassNames(COCO_CLASSES, COCO_CLASSES, "COCO")
    names = ("background",) + tuple(f"class {k}" for k in range(1, num_classes))
    return ClassNames(names, names, "generic")


def class_names(num_classes: int) -> List[str]:
    """The names of classes 0..num_classes-1: VOC for 21, COCO for 81, ``class k`` otherwise."""
    return list(builtin_class_names(num_classes).names)


def class_phrases(num_classes: int) -> List[str]:
    """Plain-word phrases of classes 0..num_classes-1 (``tvmonitor`` -> ``tv monitor``)."""
    return list(builtin_class_names(num_classes).phrases)


def _parse_line(path: Path, number: int, line: str) -> Tuple[str, str]:
    """``name`` or ``name: phrase`` -> (name, phrase), naming the file and line on error."""
    name, colon, phrase = line.partition(":")
    name, phrase = name.strip(), phrase.strip()
    if not name:
        raise ValueError(f"{path} line {number}: {line!r} has no class name before ':'")
    if colon and not phrase:
        raise ValueError(f"{path} line {number}: {line!r} has ':' but no phrase after it "
                         "(write 'name' alone, or 'name: phrase')")
    return name, phrase or name


def read_class_names(path: os.PathLike) -> ClassNames:
    """Read a class-names file (module docstring): line k names class k, the first background.

    Returns:
        A :class:`ClassNames` with one name and phrase per class (``source`` = the path).

    Raises:
        FileNotFoundError: no such file.
        ValueError: a folder or not UTF-8 text, a line without a name or with ``:`` and
            no phrase, a name given twice, fewer than 2 classes or more than 255, each
            naming the file (and the line).
    """
    path = Path(path)
    names: List[str] = []
    phrases: List[str] = []
    first_line: Dict[str, int] = {}
    for number, raw in enumerate(read_text_file(path, "class-names file", "one class per line", "give a text file with one class per line").splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        name, phrase = _parse_line(path, number, line)
        if name in first_line:
            raise ValueError(f"{path} line {number}: class {name!r} is already on line {first_line[name]}; "
                             "each line names a different class")
        first_line[name] = number
        names.append(name)
        phrases.append(phrase)
    if len(names) < 2:
        raise ValueError(f"{path}: {len(names)} class(es); a class-names file lists background (first line) "
                         "and at least one class, one per line")
    if len(names) > MAX_CLASSES:
        raise ValueError(f"{path}: {len(names)} classes; label maps hold at most {MAX_CLASSES} "
                         "(0..254; 255 is ignore)")
    return ClassNames(tuple(names), tuple(phrases), str(path))


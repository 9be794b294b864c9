"""What an adapt job checks against the method and the data before anything is written.

* :func:`check_first_cam`: the first CAM files with classes are this method's, in a
  layout it has a threshold for (another method's files would be thresholded wrongly).
* :func:`check_coco_names`: images named like COCO's (``COCO_train2014_{id}``, a bare
  12-digit id) run with VOC settings (21 classes and the method's own threshold, which
  is its VOC one) are refused: the method's COCO threshold differs (ToCo 0.4, not 0.5).
* :func:`check_cam_classes`: a sample of the CAM files (the first ones and some spread
  over the rest) holds no class beyond ``num_classes``. Loading every CAM file twice
  would double the run's reading (COCO's CAMs are tens of GB), so this is a sample; each
  file is checked again as the batch reads it, and fails alone if it is out of range.
* :func:`check_label_classes`: every label PNG to be written holds no class beyond
  ``num_classes``. A label PNG decodes in a millisecond or two
  (``benchmarks/bench_adapt_checks.py``): seconds for VOC, a few minutes at most for
  COCO, little next to refining them. So all of them are read, and a wrong
  ``num_classes`` writes nothing instead of a folder of which some images failed.

Errors are :class:`JobError`: a :class:`~samcam.settings.SettingsError` that names the
parameter and words other parameters it mentions as ``{name}``, so that the command
line can show its flags instead (:meth:`JobError.worded`).
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, List, Mapping, Optional, Sequence, Tuple

from samcam.labels import class_count_hint, wrong_class_count
from samcam.settings import SettingsError

from . import available, get
from .base import MethodAdapter, looks_like_coco
from .cam_dicts import AdapterSetupError

__all__ = ["JobError", "check_first_cam", "check_coco_names", "check_cam_classes", "check_label_classes",
           "sample_names"]

# how many CAM files the method check looks through for one with classes
FIRST_FILES_CHECKED = 20
# CAM files whose classes are checked: the first ones, and as many spread over the rest
SAMPLE_FIRST = 16
SAMPLE_SPREAD = 16
# Label scans at least this long say so in the log (the command line shows it).
log = logging.getLogger(__name__)

# What a file that cannot be read raises; the batch reports it with the others.
_UNREADABLE = (ValueError, OSError, KeyError, ImportError, TypeError, MemoryError)


class _Words(dict):
    """Template values: ``{name}`` of a value given, else the parameter's wording."""

    def __init__(self, values: Mapping[str, Any], names: Mapping[str, str]):
        super().__init__(values)
        self.names = names

    def __missing__(self, key: str) -> str:
        return self.names.get(key, key)


class JobError(SettingsError):
    """A setting that does not fit the others, the method or the data.

    ``str()`` names parameters (``threshold applies to CAMs (source cam)``);
    :meth:`worded` names them the caller's way (``--threshold applies to CAMs
    (--source cam)``). The problem is a template: ``{parameter}`` is another
    parameter's name, ``{key}`` of ``values`` a value shown as it is.
    """

    def __init__(self, parameter: str, template: str, **values: Any):
        self.template = template
        self.values = values
        super().__init__(parameter, template.format_map(_Words(values, {})))

    @classmethod
    def wrap(cls, parameter: str, message: str) -> "JobError":
        """A message that starts with ``parameter`` (e.g. from :mod:`samcam.inputs`), as a JobError."""
        rest = message[len(parameter) + 1:] if message.startswith(parameter + " ") else message
        return cls(parameter, "{message}", message=rest)

    def worded(self, names: Mapping[str, str]) -> str:
        """The message with every parameter named as ``names`` says (missing ones as themselves)."""
        problem = self.template.format_map(_Words(self.values, names))
        return f"{names.get(self.parameter, self.parameter)} {problem}"


# ------------------------------------------------------------------ the method

@dataclass
class _FirstCams:
    """What the first CAM files say about the method (see :func:`check_first_cam`)."""

    adapter: MethodAdapter
    threshold: Optional[float]
    num_classes: int
    layout: Optional[str]
    others_layout: List[tuple] = field(default_factory=list)  # files in none of the method's layouts
    unread: List[tuple] = field(default_factory=list)  # in one of its layouts, but not read (wrong channels, ...)
    own_layout: bool = False

    def reads(self, path: Path, cam_dict: Mapping) -> bool:
        """Whether ``cam_dict`` has classes and reads as this method's; failures are noted.

        Raises:
            ValueError: the file says the options are wrong (another layout asked for,
                no threshold of the method's own).
        """
        try:
            self.adapter.cam_format(cam_dict, self.layout)
        except AdapterSetupError as error:
            raise ValueError(f"{path}: {error}") from error
        except ValueError as error:
            self.others_layout.append((path, cam_dict, error))
            return False
        self.own_layout = True
        try:
            # no image size to check against here (an empty dict raises: no classes to look at)
            classes, _, _ = self.adapter.foreground(cam_dict, self.num_classes, layout=self.layout)
            if classes.size:
                self.adapter.read(cam_dict, self.threshold, self.num_classes, layout=self.layout)
            return bool(classes.size)
        except AdapterSetupError as error:
            raise ValueError(f"{path}: {error}") from error
        except (ValueError, OSError, KeyError, ImportError) as error:
            self.unread.append((path, cam_dict, error))
            return False

    def refuse(self) -> None:
        """Raise when every file that loaded is unreadable for this method (no file with classes read)."""
        failing = self.others_layout + self.unread
        if not failing:
            return
        # If another method reads them, the method is wrong, not the files: say whose they are.
        path, cam_dict, error = failing[0]
        name = self.adapter.name
        readers = _readers(name, cam_dict, self.num_classes)
        count = f"the first {len(failing)} CAM file(s) read"
        if readers:
            raise JobError("method", "{name}: {path}: {error}; {count} all fail for {name}, but they read as "
                           "{titles} CAM files: use " + _use(readers), name=name, path=path, error=error,
                           count=count, titles=" and ".join(get(r).title + (f" {layout}" if layout else "")
                                                            for r, layout in readers))
        if not self.own_layout:
            raise JobError("method", "{name}: {path}: {error}; {count} are all in another layout, and no installed "
                           "method reads it (installed: {installed})", name=name, path=path, error=error,
                           count=count, installed=", ".join(available()))


def _readers(method: str, cam_dict: Mapping, num_classes: int) -> List[Tuple[str, str]]:
    """``(method, layout)`` of every other method that reads ``cam_dict`` (see :func:`_reading_layout`)."""
    found = ((other, _reading_layout(other, cam_dict, num_classes)) for other in available() if other != method)
    return [(other, layout) for other, layout in found if layout is not None]


def _use(readers: Sequence[Tuple[str, str]]) -> str:
    """``{method} clims or irn``, or with a layout only asked for ``{method} mctformer {layout} crf``:
    a JobError template naming each reader (a name's braces escaped)."""
    def text(value: str) -> str:
        return value.replace("{", "{{").replace("}", "}}")
    if not any(layout for _, layout in readers):
        return "{method} " + " or ".join(text(method) for method, _ in readers)
    return " or ".join("{method} " + text(method) + (" {layout} " + text(layout) if layout else "")
                       for method, layout in readers)


def check_first_cam(
    method: str,
    cams_dir: os.PathLike,
    names: Sequence[str],
    *,
    threshold: Optional[float] = None,
    num_classes: int = 21,
    layout: Optional[str] = None,
) -> Optional[Path]:
    """Check the folder's first CAM file with classes for method-level problems.

    A file of another method or layout, or a layout without a threshold of the
    method's own, is a mistake in the options, not in one image: raise before any
    image is written. Files that do not load or read are left to the batch, which
    reports them per image. Looks at up to the first 20 names.

    Returns:
        The file checked, or None when none of them had classes.

    Raises:
        ValueError: naming the file and what is wrong (:class:`JobError` naming
            ``method`` when every file read is another method's).
    """
    first = _FirstCams(get(method), threshold, num_classes, layout)
    for name in list(names)[:FIRST_FILES_CHECKED]:
        path = Path(cams_dir) / f"{name}.npy"
        try:
            cam_dict = first.adapter.load_cam(path)
        except (ValueError, OSError, KeyError, ImportError):
            continue  # a bad file: the batch reports it with the others
        if first.reads(path, cam_dict):
            return path
    first.refuse()
    return None


def _reading_layout(method: str, cam_dict: Mapping, num_classes: int) -> Optional[str]:
    """How ``method`` reads ``cam_dict`` as its own: ``""`` detected, a layout name when only asked
    for (MCTformer's ``crf``, never detected), None when it does not."""
    adapter = get(method)
    if _reads(adapter, cam_dict, num_classes):
        return ""
    for fmt in adapter.cam_formats:
        if not fmt.auto and _reads(adapter, cam_dict, num_classes, fmt.layout):
            return fmt.layout
    return None


def _reads(adapter: MethodAdapter, cam_dict: Mapping, num_classes: int, layout: Optional[str] = None) -> bool:
    """Whether ``adapter`` reads ``cam_dict`` as its own, in ``layout`` or a detected one (not refused as
    another method's or layout's)."""
    try:
        adapter.cam_format(cam_dict, layout)
        classes, _, _ = adapter.foreground(cam_dict, num_classes, layout=layout)
        if classes.size:
            adapter.read(cam_dict, None, num_classes, layout=layout)
    except AdapterSetupError as error:
        # detected: only a missing threshold of its own, still its file; asked for: a refusal
        return layout is None and "--method" not in str(error)
    except (ValueError, KeyError, TypeError):
        return False
    return True


# ------------------------------------------------------------------ the data set

def check_coco_names(names: Sequence[str], num_classes: int, threshold: Optional[float]) -> None:
    """Refuse COCO-named images run with VOC settings: 21 classes and the method's own threshold.

    The method's own threshold for 21 classes is its VOC one; on COCO CAMs it labels
    wrongly even the images whose classes are all VOC-sized. With ``threshold`` given
    the threshold is the caller's, and 21 classes may be meant (COCO images with VOC
    labels); a class beyond them is still caught by :func:`check_cam_classes`.
    """
    if num_classes != 21 or threshold is not None:
        return
    coco = [name for name in names if looks_like_coco(name)]
    if coco:
        raise JobError(
            "num_classes", "is 21 (VOC) with the method's own VOC threshold, but {count} of the {total} images are "
            "named like COCO's (e.g. {example}): for COCO CAMs pass {num_classes} 81, which also picks the "
            "method's COCO threshold (VOC has 21 classes, COCO 81, background included); if these really are "
            "21-class CAMs, pass {threshold} explicitly", count=len(coco), total=len(names), example=coco[0])


def sample_names(names: Sequence[str], first: int = SAMPLE_FIRST, spread: int = SAMPLE_SPREAD) -> List[str]:
    """The first ``first`` names, then ``spread`` names evenly spaced over the rest, the last one included
    (each once, in order)."""
    names = list(names)
    rest = names[first:]
    if len(rest) <= spread:
        return names
    picked = sorted({round(i * (len(rest) - 1) / (spread - 1)) for i in range(spread)}) if spread > 1 else [0]
    return names[:first] + [rest[i] for i in picked]


def check_cam_classes(adapter: MethodAdapter, cams_dir: os.PathLike, names: Sequence[str], num_classes: int,
                      layout: Optional[str] = None) -> None:
    """Refuse ``num_classes`` when a sampled CAM file (:func:`sample_names`) holds a class beyond it.

    Files that do not load or read are skipped: the batch reports each.

    Raises:
        JobError: naming ``num_classes``, the file and the class, with the count to pass.
    """
    for name in sample_names(names):
        path = Path(cams_dir) / f"{name}.npy"
        try:
            classes, _, _ = adapter.foreground(adapter.load_cam(path), layout=layout)
        except _UNREADABLE:
            continue
        value = int(classes.max(initial=0))
        if value >= num_classes:
            count, dataset = class_count_hint(value)
            raise JobError(
                "num_classes", "is {num}, but {path} holds class key {key} (label {value}), beyond the {num} "
                "classes: these look like {dataset} CAMs; pass {num_classes} {count} (classes including "
                "background: VOC 21, COCO 81)", num=num_classes, path=path, key=value - 1, value=value,
                dataset=dataset, count=count)


def check_label_classes(labels_dir: os.PathLike, names: Sequence[str], num_classes: int, ignore_index: int = 255,
                        threads: int = 1) -> None:
    """Refuse ``num_classes`` when one of the label PNGs ``{labels_dir}/{name}.png`` holds a class beyond it.

    Every name's label is read (``threads`` at a time, at most one per core: PIL decodes
    without the GIL);
    labels that cannot be read are skipped, the batch reports each.

    Raises:
        JobError: naming ``num_classes``, the first such file and its class, with the count to pass.
    """
    found = wrong_class_count(labels_dir, names, num_classes, ignore_index, threads)
    if found is not None:  # (one label alone with a value beyond VOC's and COCO's: broken, it fails alone)
        path, value = found
        raise JobError(
            "num_classes", "is {num}, but {path} holds class {value}, beyond 0..{top} (and {ignore} "
            "ignore): pass {num_classes} {count} (classes including background: VOC 21, COCO 81)",
            num=num_classes, path=path, value=value, top=num_classes - 1, ignore=ignore_index,
            count=class_count_hint(value)[0])

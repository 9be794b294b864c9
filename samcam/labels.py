"""Checks of a folder of label PNGs before any work: the classes they hold against ``num_classes``.

A run with too few classes (``--num-classes 20`` on VOC labels, 21 on COCO's) would write
the images whose classes all fit and then fail the others; reading every label to be
refined first (about 2 ms each: 20 s for VOC's 10,582, 4 minutes for COCO's 82k, with the
count logged from 2,000 labels) refuses it before anything is written. A class count is
taken to be wrong when two labels or more hold classes beyond it, or one holds a class a
VOC or COCO label can hold (below 81); one label alone with a value beyond any of theirs
(e.g. 99) is more likely a broken file, and fails alone in the batch, naming its values.
"""
from __future__ import annotations

import itertools
import logging
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Iterator, List, Optional, Sequence, Tuple

import numpy as np

from .images import read_label_png

__all__ = ["class_count_hint", "labels_beyond", "highest_class", "wrong_class_count"]

log = logging.getLogger(__name__)

SAY_SCAN_FROM = 2000  # labels: from this many on, say that they are being read
# What a file that cannot be read raises; the batch reports it with the others.
_UNREADABLE = (ValueError, OSError, KeyError, ImportError, TypeError, MemoryError)


def class_count_hint(value: int) -> Tuple[int, str]:
    """The class count (background included) to suggest for labels holding ``value``, and whose it is."""
    if value < 21:
        return 21, "VOC"
    if value < 81:
        return 81, "COCO"
    return value + 1, "this data set"


def highest_class(path: Path, ignore_index: int = 255) -> Optional[int]:
    """The highest label value in a label PNG other than ``ignore_index``; None if it cannot be read."""
    try:
        label = read_label_png(path)
    except _UNREADABLE:
        return None
    high = int(label.max(initial=0))
    if high == ignore_index:  # uint8 passes, much faster than a histogram
        high = int(np.where(label == ignore_index, 0, label).max(initial=0))
    return high


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    iterator = iter(items)
    while True:
        chunk = list(itertools.islice(iterator, size))
        if not chunk:
            return
        yield chunk


def labels_beyond(labels_dir: os.PathLike, names: Sequence[str], num_classes: int, ignore_index: int = 255,
                  threads: int = 1, enough: int = 2) -> List[Tuple[Path, int]]:
    """The first ``enough`` label PNGs ``{labels_dir}/{name}.png`` (in the order of ``names``) holding a
    class >= ``num_classes``, each with its highest class; [] when every label fits. Labels that
    cannot be read are passed over (the batch reports each); ``threads`` read at a time, at most
    one per core (PIL decodes without the GIL)."""
    paths = [Path(labels_dir) / f"{name}.png" for name in names]
    threads = max(1, min(threads, os.cpu_count() or 1))
    if len(paths) >= SAY_SCAN_FROM:
        log.info("checking the classes of %d label PNGs against num_classes=%d before writing", len(paths),
                 num_classes)
    found: List[Tuple[Path, int]] = []
    with ThreadPoolExecutor(max_workers=threads) as pool:
        for chunk in _chunks(paths, 64 * threads):
            for path, value in zip(chunk, pool.map(lambda p: highest_class(p, ignore_index), chunk)):
                if value is not None and value >= num_classes:
                    found.append((path, value))
                    if len(found) >= enough:
                        return found
    return found


def wrong_class_count(labels_dir: os.PathLike, names: Sequence[str], num_classes: int, ignore_index: int = 255,
                      threads: int = 1) -> Optional[Tuple[Path, int]]:
    """``(label file, its class)`` showing that ``num_classes`` is too small for these labels (see
    the module docstring), or None: every label fits, or one alone looks broken."""
    found = labels_beyond(labels_dir, names, num_classes, ignore_index, threads)
    if len(found) >= 2 or (found and found[0][1] < 81):
        return found[0]
    return None


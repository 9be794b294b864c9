"""Where SAM 3's prompts come from: each image's classes (``--concepts-from``) and their phrases.

:func:`open_concepts` puts together the core readers of :mod:`samcam.concepts` (a label
folder, IRN's ``cls_labels.npy``) and, for a CAM folder, the adapters' own readers of
every method's CAM layouts (:mod:`samcam.adapters`): a CAM dict's classes are its keys,
read by the first method whose layout the dict has (IRN, AMN, CLIMS, ToCo, CLIP-ES,
MCTformer, TransCAM, and plug-ins). The phrases are built in for VOC (21 classes) and
COCO (81), or read from a class-names file (:func:`samcam.classes.read_class_names`).
"""
from __future__ import annotations

import os
from typing import Mapping, Optional, Tuple

import numpy as np

from .. import adapters
from ..classes import ClassNames, builtin_class_names, read_class_names
from ..concepts import Concepts, open_image_classes

__all__ = ["cam_classes", "class_names_for", "open_concepts"]


def cam_classes(cam_dict: Mapping, num_classes: int) -> Tuple[int, ...]:
    """The classes (label values 1..C-1) of a CAM dict in any method's layout.

    Each installed method's auto-detected layouts are tried in name order; the first that
    reads the dict gives its classes (methods that share a layout store the classes the
    same way). ValueError naming what the dict holds when no method reads it.
    """
    problems = []
    for name in sorted(adapters.available()):
        adapter = adapters.get(name)
        try:
            classes, _, _ = adapter.foreground(cam_dict, num_classes=num_classes)
        except ValueError as error:  # AdapterSetupError included: another method's layout
            problems.append(f"{name}: {str(error).splitlines()[0]}")
            continue
        return tuple(int(c) for c in np.asarray(classes))
    keys = sorted(map(str, cam_dict))[:10]
    raise ValueError(f"not a CAM dict of any method's layout (keys {keys}); "
                     + "; ".join(problems[:3]))


def class_names_for(num_classes: int, names_file: Optional[os.PathLike] = None) -> ClassNames:
    """The class names and phrases: from ``names_file`` (its class count must be
    ``num_classes``), else built in for VOC (21) and COCO (81).

    Raises:
        ValueError: no names for this class count, or a file of another count.
    """
    if names_file is not None:
        names = read_class_names(names_file)
        if len(names) != num_classes:
            raise ValueError(f"--class-names {names_file}: {len(names)} classes (background included), but "
                             f"--num-classes is {num_classes}; pass --num-classes {len(names)}")
        return names
    names = builtin_class_names(num_classes)
    if names.source == "generic":
        raise ValueError(f"SAM 3 is prompted with class names, and samcam knows them for VOC (21 classes) and COCO "
                         f"(81), not for {num_classes}: pass --class-names FILE (one class per line, background "
                         "first, 'name: phrase' where the name is not plain words)")
    return names


def open_concepts(path: os.PathLike, num_classes: int, names_file: Optional[os.PathLike] = None) -> Concepts:
    """Each image's SAM 3 prompts: the classes at ``path`` (a label folder, a CAM folder of any
    method, or IRN's ``cls_labels.npy``: :func:`samcam.concepts.open_image_classes`) with
    the phrases of :func:`class_names_for`."""
    names = class_names_for(num_classes, names_file)
    source = open_image_classes(path, num_classes, cam_classes)
    return Concepts(source, names)

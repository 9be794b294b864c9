"""Image-level labels as IRN writes them (``cls_labels.npy``), for the concept-source tests."""
from __future__ import annotations

import numpy as np


def irn_cls_labels(path, labels):
    """IRN voc12/make_cls_labels.py:14-28: keys are the np.int32 ids np.loadtxt(list, dtype=np.int32)
    reads (dataloader.py:60: '2007_000032' -> 2007000032), values float32 multi-hot vectors of the
    20 classes (load_image_label_from_xml, dataloader.py:35-41); np.save of the dict."""
    ids = np.array([int(name.replace("_", "")) for name in labels], np.int32)
    table = {}
    for image_id, classes in zip(ids, labels.values()):
        vector = np.zeros(20, np.float32)
        vector[np.asarray(classes, np.int64) - 1] = 1.0
        table[image_id] = vector
    np.save(path, table)
    return path

"""samcam.concepts: each image's classes from IRN's cls_labels.npy and other sources (core part)."""
from __future__ import annotations

import numpy as np
import pytest

from samcam.concepts import ClsLabels, cls_label_key, open_image_classes


def test_cls_labels_keys_of_coco_ports_and_names(tmp_path):
    assert cls_label_key("2007_000032") == 2007000032
    assert cls_label_key("COCO_val2014_000000000042") == cls_label_key("000000000042") == 42
    assert cls_label_key("img_1") is None
    vector = np.zeros(80, np.float32)
    vector[[0, 61]] = 1
    np.save(tmp_path / "coco.npy", {42: vector, "img_1": vector})
    source = ClsLabels(tmp_path / "coco.npy", 81)
    assert source.classes("COCO_val2014_000000000042") == (1, 62) == source.classes("img_1")
    np.save(tmp_path / "soft.npy", {42: vector * 0.5})
    with pytest.raises(ValueError, match="values other than 0 and 1"):
        ClsLabels(tmp_path / "soft.npy", 81)
    np.save(tmp_path / "list.npy", np.zeros((3, 20)))
    with pytest.raises(ValueError, match="expected a dict saved with np.save"):
        ClsLabels(tmp_path / "list.npy", 21)


def test_what_is_not_a_concept_source(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file or folder"):
        open_image_classes(tmp_path / "nope", 21)
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(ValueError, match="a file must be IRN's cls_labels.npy"):
        open_image_classes(tmp_path / "notes.txt", 21)
    with pytest.raises(ValueError, match="holds no label PNGs"):
        open_image_classes(tmp_path, 21)

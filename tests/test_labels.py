"""samcam.labels: a class count too small for the labels is found before any work."""
import numpy as np

from samcam.images import write_label_png
from samcam.labels import class_count_hint, highest_class, labels_beyond, wrong_class_count


def _labels(folder, values):
    for index, value in enumerate(values):
        label = np.zeros((4, 5), np.uint8)
        label[1, 1:3] = value
        label[3, 4] = 255
        write_label_png(folder / f"n{index}.png", label)
    return [f"n{index}" for index in range(len(values))]


def test_the_highest_class_leaves_out_ignore(tmp_path):
    names = _labels(tmp_path, [7])
    assert highest_class(tmp_path / f"{names[0]}.png") == 7
    (tmp_path / "broken.png").write_bytes(b"junk")
    assert highest_class(tmp_path / "broken.png") is None  # the batch reports it


def test_a_wrong_count_is_told_from_one_broken_label(tmp_path):
    names = _labels(tmp_path, [3, 20, 5, 99, 20])
    assert labels_beyond(tmp_path, names, 20) == [(tmp_path / "n1.png", 20), (tmp_path / "n3.png", 99)]
    assert wrong_class_count(tmp_path, names, 20) == (tmp_path / "n1.png", 20)  # a VOC class: count too small
    assert wrong_class_count(tmp_path, names, 21) is None  # one label of 99: broken, it fails alone
    assert wrong_class_count(tmp_path, names[:2], 20) == (tmp_path / "n1.png", 20)  # one VOC class is enough
    (tmp_path / "x").mkdir()
    more = _labels(tmp_path / "x", [99, 120])
    assert wrong_class_count(tmp_path / "x", more, 21) == (tmp_path / "x" / "n0.png", 99)  # two: a count
    assert class_count_hint(20) == (21, "VOC") and class_count_hint(80) == (81, "COCO")
    assert class_count_hint(99) == (100, "this data set")

"""Class names (samcam.classes): VOC's and COCO's built in, and class-names files.

``samcam eval`` printing them is in tests/cli/test_evaluate.py.
"""
from __future__ import annotations

import re

import pytest

from samcam import classes
from samcam.classes import COCO_CATEGORY_IDS, COCO_CLASSES, VOC_CLASSES, class_names, class_phrases, read_class_names


def test_builtin_names():
    assert class_names(21) == list(VOC_CLASSES) and VOC_CLASSES[20] == "tvmonitor"
    coco = class_names(81)
    assert coco == list(COCO_CLASSES) and len(coco) == 81 == len(COCO_CATEGORY_IDS) + 1
    # the instances files' spelling, in category-id order (ToCo datasets/coco.py:14 lists the same):
    # label k is category COCO_CATEGORY_IDS[k - 1], whose name is COCO_CLASSES[k]
    official = {"person": 1, "motorcycle": 4, "airplane": 5, "fire hydrant": 11, "stop sign": 13, "couch": 63,
                "potted plant": 64, "dining table": 67, "toilet": 70, "tv": 72, "book": 84, "hair drier": 89,
                "toothbrush": 90}
    assert {name: COCO_CATEGORY_IDS[coco.index(name) - 1] for name in official} == official
    assert class_names(4) == ["background", "class 1", "class 2", "class 3"]
    phrases = class_phrases(21)
    assert phrases[VOC_CLASSES.index("tvmonitor")] == "tv monitor"
    assert phrases[VOC_CLASSES.index("pottedplant")] == "potted plant"
    assert phrases[VOC_CLASSES.index("cat")] == "cat"
    assert class_phrases(81) == list(COCO_CLASSES)


def test_evaluate_keeps_its_public_names():
    from samcam.evaluate import VOC_CLASSES as voc
    from samcam.evaluate import class_names as names

    assert voc is VOC_CLASSES and names(81)[1] == "person"


def test_read_class_names(tmp_path):
    path = tmp_path / "classes.txt"
    path.write_text("# my classes\n\n_background_\ntvmonitor: tv monitor\n  pottedplant :potted plant  \n"
                    "   # indented comment\ncat\n")
    read = read_class_names(path)
    assert read.names == ("_background_", "tvmonitor", "pottedplant", "cat")
    assert read.phrases == ("_background_", "tv monitor", "potted plant", "cat")
    assert len(read) == 4 and read.source == str(path)


@pytest.mark.parametrize("text, expected", [
    ("background\ncat\ncat: kitty\n", "line 3: class 'cat' is already on line 2"),
    ("background\n: kitty\n", "line 2: ': kitty' has no class name"),
    ("background\ncat:\n", "line 2: 'cat:' has ':' but no phrase"),
    ("# only\nbackground\n", "1 class(es)"),
    ("\n".join(f"c{i}" for i in range(256)), "256 classes"),
])
def test_read_class_names_errors_name_file_and_line(tmp_path, text, expected):
    path = tmp_path / "classes.txt"
    path.write_text(text)
    with pytest.raises(ValueError, match=re.escape(expected)) as info:
        read_class_names(path)
    assert str(path) in str(info.value)


def test_read_class_names_bad_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        read_class_names(tmp_path / "missing.txt")
    with pytest.raises(ValueError, match="is a folder"):
        read_class_names(tmp_path)
    (tmp_path / "latin1.txt").write_bytes("background\ncaf\xe9\n".encode("latin-1"))
    with pytest.raises(ValueError, match="not UTF-8"):
        read_class_names(tmp_path / "latin1.txt")
    assert classes.MAX_CLASSES == 255


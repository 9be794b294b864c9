"""Where SAM 3's prompts come from (``--concepts-from``): a label folder, a CAM folder of any
method (written by the adapters' own fixture writers, tests/support/cam_files.py), IRN's
``cls_labels.npy`` as IRN writes it; the class names and phrases."""
from __future__ import annotations

import numpy as np
import pytest
from cam_files import WRITERS, make_scene
from sam3_concepts_data import irn_cls_labels

from samcam.classes import VOC_CLASSES
from samcam.concepts import ClsLabels, Concepts, open_image_classes
from samcam.errors import ImageError
from samcam.io import write_label_png
from samcam.sam.concepts import cam_classes, class_names_for, open_concepts

NAMES = ["2007_000032", "2007_000039", "2008_000123"]


def test_label_folder_gives_the_classes_present(tmp_path):
    label = np.zeros((6, 8), np.uint8)
    label[1:3, 1:3] = 15
    label[4:, 5:] = 12
    label[0, 7] = 255
    write_label_png(tmp_path / "labels" / "a.png", label)
    write_label_png(tmp_path / "labels" / "empty.png", np.zeros((6, 8), np.uint8))
    write_label_png(tmp_path / "labels" / "coco.png", np.full((6, 8), 40, np.uint8))
    concepts = open_concepts(tmp_path / "labels", 21)
    assert concepts("a") == ((12, "dog"), (15, "person"))
    assert concepts("empty") == ()
    with pytest.raises(ImageError, match=r"coco.png: classes \[40\] outside 1..20; pass --num-classes"):
        concepts("coco")
    with pytest.raises(FileNotFoundError, match="missing.png: label PNG does not exist"):
        concepts("missing")
    assert open_concepts(tmp_path / "labels", 81)("coco") == ((40, "bottle"),)


@pytest.mark.parametrize("fixture", sorted(set(WRITERS) - {"mctformer_crf"}))
def test_cam_folder_of_every_method_gives_its_keys(tmp_path, fixture):
    """Each method's CAM file, written as its CAM stage writes it, gives its classes."""
    keys, high_res, _ = make_scene(4)
    WRITERS[fixture](tmp_path / f"{NAMES[0]}.npy", keys, high_res)
    concepts = open_concepts(tmp_path, 21)
    assert concepts.source.kind == "CAM folder"
    assert [c for c, _ in concepts(NAMES[0])] == sorted(int(k) + 1 for k in keys)
    assert concepts(NAMES[0])[0][1] == VOC_CLASSES[int(min(keys)) + 1]


def test_mctformer_crf_dicts_are_read_by_their_layout_not_taken_for_class_dicts(tmp_path):
    """A CRF dict (key 0 background) is no 0-based CAM dict: refused, not read one class off."""
    keys, high_res, _ = make_scene(4)
    WRITERS["mctformer_crf"](tmp_path / "a.npy", keys, high_res)
    with pytest.raises(ImageError, match="not a CAM dict of any method's layout"):
        open_concepts(tmp_path, 21)("a")


def test_cam_folder_finds_amns_bare_coco_ids(tmp_path):
    keys, high_res, _ = make_scene(2, num_classes=81)
    WRITERS["amn"](tmp_path / "000000000009.npy", keys, high_res)
    concepts = open_concepts(tmp_path, 81)
    assert [c for c, _ in concepts("COCO_train2014_000000000009")] == sorted(int(k) + 1 for k in keys)
    assert concepts.source.has("000000000009") and not concepts.source.has("COCO_val2014_000000000010")


def test_irn_cls_labels_as_irn_writes_them(tmp_path):
    path = irn_cls_labels(tmp_path / "cls_labels.npy", {"2007_000032": [1], "2007_000039": [15, 20]})
    concepts = open_concepts(path, 21)
    assert concepts.source.kind == "cls_labels file"
    assert concepts("2007_000032") == ((1, "aeroplane"),)
    assert concepts("2007_000039") == ((15, "person"), (20, "tv monitor"))
    with pytest.raises(ImageError, match="no entry for 2008_000123 \\(key 2008000123\\)"):
        concepts("2008_000123")
    with pytest.raises(ValueError, match="entry 2007000032 is float32 \\(20,\\), not a multi-hot vector of the 80"):
        ClsLabels(path, 81)


def test_class_names_built_in_or_from_a_file(tmp_path):
    assert class_names_for(21).phrases[20] == "tv monitor" and class_names_for(81).phrases[63] == "tv"
    with pytest.raises(ValueError, match="not for 5: pass --class-names FILE"):
        class_names_for(5)
    names = tmp_path / "names.txt"
    names.write_text("background\nmug: coffee mug\nfern\n")
    assert class_names_for(3, names).phrases == ("background", "coffee mug", "fern")
    with pytest.raises(ValueError, match="3 classes .* --num-classes is 21; pass --num-classes 3"):
        class_names_for(21, names)
    write_label_png(tmp_path / "labels" / "a.png", np.array([[0, 1, 2]], np.uint8))
    concepts = open_concepts(tmp_path / "labels", 3, names)
    assert concepts("a") == ((1, "coffee mug"), (2, "fern"))
    assert concepts.table() == [(1, "coffee mug"), (2, "fern")]
    assert concepts.record() == {"phrases": ["background", "coffee mug", "fern"]}


def test_concepts_need_as_many_names_as_classes(tmp_path):
    write_label_png(tmp_path / "a.png", np.zeros((2, 2), np.uint8))
    source = open_image_classes(tmp_path, 21)
    with pytest.raises(ValueError, match="81 class names .* for 21 classes"):
        Concepts(source, class_names_for(81))


def test_cam_classes_names_what_no_method_reads():
    with pytest.raises(ValueError, match="not a CAM dict of any method's layout \\(keys \\['foo'\\]\\)"):
        cam_classes({"foo": np.zeros(3)}, 21)

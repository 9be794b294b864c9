"""`samcam coco-gt`: COCO instances -> semantic labels, bit-equal to the WSSS repositories' conversion.

The reference below restates CVI-SZU/CLIMS's mscoco/annToMask.py from its facts, not from
samcam's code: every image of the file; its non-crowd annotations in file order, each
decoded with pycocotools' COCO.annToMask and painted over the earlier ones; category ids
-> 1..80 in ascending order; no annotation -> 0; file name str(image_id).
"""
from __future__ import annotations

import contextlib
import io
import json
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("pycocotools", reason='coco-gt needs pycocotools: pip install "samcam[coco]" (or [dev])')
from pycocotools import mask as mask_utils  # noqa: E402
from pycocotools.coco import COCO  # noqa: E402

from samcam.classes import COCO_CATEGORY_IDS, COCO_CLASSES  # noqa: E402
from samcam.cli import main  # noqa: E402
from samcam.datasets import coco as coco_gt  # noqa: E402

# CLIMS mscoco/annToMask.py:8 hard-codes these (category id -> label); a few of its entries:
CLIMS_MAP_SAMPLES = {1: 1, 11: 11, 13: 12, 25: 24, 27: 25, 44: 40, 46: 41, 65: 60, 67: 61, 70: 62, 82: 73, 84: 74,
                     90: 80}


def _rle_text(mask: np.ndarray) -> dict:
    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": list(rle["size"]), "counts": rle["counts"].decode("ascii")}


def _uncompressed(mask: np.ndarray) -> dict:
    """Column-major run lengths starting with a 0-run, as COCO's crowd annotations store them."""
    flat = mask.astype(np.uint8).flatten(order="F")
    counts, value, run = [], 0, 0
    for pixel in flat:
        if pixel == value:
            run += 1
        else:
            counts.append(run)
            value, run = pixel, 1
    counts.append(run)
    return {"size": list(mask.shape), "counts": counts}


def _polygon(rng, height, width, parts=1):
    """Random polygons (some vertices outside the image, as annotators' clicks can be)."""
    out = []
    for _ in range(parts):
        cy, cx = rng.uniform(0, height), rng.uniform(0, width)
        points = int(rng.integers(3, 9))
        angles = np.sort(rng.uniform(0, 2 * np.pi, points))
        radius = rng.uniform(3, max(height, width) * 0.6, points)
        xs, ys = cx + radius * np.cos(angles), cy + radius * np.sin(angles)
        out.append([round(float(v), 2) for pair in zip(xs, ys) for v in pair])
    return out


def make_instances(path: Path, seed: int = 0) -> dict:
    """A small instances file with what the real ones hold: overlapping polygons (also several
    parts), compressed and uncompressed RLE, crowds, COCO's 80 category ids with their gaps,
    images without annotations or with crowds only, annotations of images interleaved and
    not in id order, an annotation of an image the file does not list."""
    rng = np.random.default_rng(seed)
    categories = [{"id": cid, "name": name, "supercategory": "x"} for cid, name in zip(COCO_CATEGORY_IDS, COCO_CLASSES[1:])]
    rng.shuffle(categories)  # the file's order of categories must not matter
    sizes = {57870: (40, 52), 9: (36, 30), 123456: (20, 24), 25: (28, 33), 30: (45, 41), 4: (6, 7)}
    images = [{"id": i, "file_name": f"COCO_train2014_{i:012d}.jpg", "height": h, "width": w}
              for i, (h, w) in sizes.items()]
    annotations = []
    next_id = [900000]

    def add(image_id, category, segmentation, crowd=0):
        next_id[0] -= int(rng.integers(1, 50))  # ids fall while the file goes on: order is the file's
        annotations.append({"id": next_id[0], "image_id": image_id, "category_id": category, "iscrowd": crowd,
                            "segmentation": segmentation, "area": 1.0, "bbox": [0, 0, 1, 1]})

    # overlapping polygons, high category ids on the far side of the gaps
    for category, parts in ((1, 1), (90, 2), (13, 1), (84, 3), (1, 1)):
        add(57870, category, _polygon(rng, *sizes[57870], parts))
    # RLE of both kinds, and a crowd over them that must not be drawn
    h, w = sizes[9]
    box = np.zeros((h, w), bool)
    box[5:30, 4:20] = True
    ring = np.zeros((h, w), bool)
    ring[10:25, 10:28] = True
    add(9, 84, _uncompressed(box))
    add(57870, 44, _polygon(rng, *sizes[57870]))  # interleaved with another image's annotations
    add(9, 44, _rle_text(ring))
    crowd = np.zeros((h, w), bool)
    crowd[:, :15] = True
    add(9, 1, _uncompressed(crowd), crowd=1)
    # crowd only: all background
    add(25, 18, _uncompressed(np.ones(sizes[25], bool)), crowd=1)
    for category in (67, 70, 82, 1, 65, 27, 46):
        add(30, category, _polygon(rng, *sizes[30], int(rng.integers(1, 3))))
    # a tiny image: a 2x2 block of class 3 (car), then class 2 over its lower right pixel
    small = np.zeros(sizes[4], bool)
    small[1:3, 1:3] = True
    corner = np.zeros(sizes[4], bool)
    corner[2, 2] = True
    add(4, 3, _rle_text(small))
    add(4, 2, _uncompressed(corner))
    add(777, 5, _polygon(rng, 10, 10))  # its image is not in the file
    rng.shuffle(images)
    data = {"info": {}, "licenses": [], "images": images, "annotations": annotations, "categories": categories}
    path.write_text(json.dumps(data))
    return data


def restated_conversion(path: Path) -> dict:
    """{str(image_id): label}: CLIMS's conversion, restated (module docstring)."""
    data = json.loads(path.read_text())
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints while indexing
        coco = COCO(str(path))
    order = sorted(category["id"] for category in data["categories"])
    value = {category: index for index, category in enumerate(order, 1)}
    labels = {}
    for image in data["images"]:
        label = np.zeros((image["height"], image["width"]), np.uint8)
        for annotation in data["annotations"]:  # the file's order
            if annotation["image_id"] == image["id"] and not annotation["iscrowd"]:
                label[coco.annToMask(annotation) == 1] = value[annotation["category_id"]]
        labels[str(image["id"])] = label
    return labels


@pytest.fixture
def instances(tmp_path):
    path = tmp_path / "annotations" / "instances_train2014.json"
    path.parent.mkdir()
    make_instances(path)
    return path


def _errors(stderr: str) -> list:
    """The error lines (log lines such as 'reading FILE' may come before)."""
    return [line for line in stderr.splitlines() if "error:" in line]


def _labels(folder: Path) -> dict:
    out = {}
    for png in sorted(folder.glob("*.png")):
        with Image.open(png) as image:
            assert image.mode == "L", f"{png}: {image.mode}"  # what imageio-based readers need
            out[png.stem] = np.array(image)
    return out


def test_category_map_is_the_repositories(instances):
    """1..90 with COCO's 10 gaps -> 1..80 ascending, as CLIMS hard-codes it."""
    assert len(COCO_CATEGORY_IDS) == 80 and COCO_CATEGORY_IDS[-1] == 90
    assert not set(COCO_CATEGORY_IDS) & {12, 26, 29, 30, 45, 66, 68, 69, 71, 83}
    loaded = coco_gt.load_instances(instances)
    mapping = {category: value for value, (category, _) in enumerate(loaded.categories, 1)}
    for category, value in CLIMS_MAP_SAMPLES.items():
        assert mapping[category] == value
    assert [name for _, name in loaded.categories] == list(COCO_CLASSES[1:])


def test_labels_are_bit_equal_to_the_restated_conversion(instances, tmp_path, capsys):
    out = tmp_path / "gt"
    assert main(["coco-gt", "--instances", str(instances), "--out", str(out), "--names", "id", "--no-progress"]) == 0
    expected = restated_conversion(instances)
    got = _labels(out)
    assert sorted(got) == sorted(expected) == sorted(["57870", "9", "123456", "25", "30", "4"])
    for name, label in expected.items():
        assert got[name].dtype == np.uint8 and got[name].shape == label.shape
        assert np.array_equal(got[name], label), name
    # the fixture exercises what it claims to
    assert len(np.unique(expected["57870"])) >= 4, "overlapping polygons of several classes"
    assert not expected["123456"].any() and not expected["25"].any(), "no annotation / crowds only: background"
    assert (expected["9"][:, :15] == 0).any(), "the crowd over the left half is not drawn"
    assert set(np.unique(expected["30"])) >= {0, 61}, "category 67 (after the gaps) becomes 61"
    # later over earlier, checked by hand on the tiny image: car (3) block, bicycle (2) over one pixel
    assert got["4"].tolist() == [[0] * 7, [0, 3, 3, 0, 0, 0, 0], [0, 3, 2, 0, 0, 0, 0]] + [[0] * 7] * 3
    assert "6 written" in capsys.readouterr().err


def test_namings_are_what_the_evaluators_read(instances, tmp_path):
    """coco: ToCo/CLIP-ES/MCTformer's COCO_train2014_000000057870; padded: AMN's 000000057870."""
    reference = restated_conversion(instances)
    for naming, name_of in (("coco", lambda i: f"COCO_train2014_{i:012d}"), ("padded", lambda i: f"{i:012d}")):
        out = tmp_path / naming
        assert main(["coco-gt", "--instances", str(instances), "--out", str(out), "--names", naming,
                     "--no-progress"]) == 0
        got = _labels(out)
        assert sorted(got) == sorted(name_of(int(i)) for i in reference)
        for image_id, label in reference.items():
            assert np.array_equal(got[name_of(int(image_id))], label)


def test_default_naming_is_the_image_stem(instances, tmp_path):
    out = tmp_path / "gt"
    assert main(["coco-gt", "--instances", str(instances), "--out", str(out), "--no-progress"]) == 0
    assert (out / "COCO_train2014_000000057870.png").is_file()


def test_list_restricts_the_images_in_any_naming(instances, tmp_path, capsys):
    names = tmp_path / "train.txt"
    # AMN's padded id, ToCo's stem with .jpg, CLIMS's id, CLIP-ES's "NAME class class" line
    names.write_text("000000057870\nCOCO_train2014_000000000009.jpg\n25\nCOCO_train2014_000000000004 3 2\n")
    out = tmp_path / "gt"
    assert main(["coco-gt", "--instances", str(instances), "--out", str(out), "--names", "id", "--list", str(names),
                 "--no-progress"]) == 0
    assert sorted(p.stem for p in out.glob("*.png")) == ["25", "4", "57870", "9"]
    record = json.loads((out / "samcam.json").read_text())
    assert record["runs"][0]["list"] == str(names.resolve()) and record["runs"][0]["names"] == 4
    capsys.readouterr()
    names.write_text("000000057870\nCOCO_val2014_000000000042\n")
    assert main(["coco-gt", "--instances", str(instances), "--out", str(tmp_path / "other"), "--list", str(names),
                 "--no-progress"]) == 2
    error, = _errors(capsys.readouterr().err)
    assert "COCO_val2014_000000000042" in error and "another split" in error


def test_resume_record_and_refusal_of_other_settings(instances, tmp_path, capsys):
    out = tmp_path / "gt"
    command = ["coco-gt", "--instances", str(instances), "--out", str(out), "--names", "padded", "--no-progress"]
    assert main(command) == 0
    record = json.loads((out / "samcam.json").read_text())
    settings = record["settings"]
    assert settings["tool"] == "coco-gt" and settings["names"] == "padded"
    assert settings["instances"] == {"file": "instances_train2014.json", "bytes": instances.stat().st_size, "images": 6}
    assert settings["categories"][0] == [1, 1, "person"] and settings["categories"][-1] == [90, 80, "toothbrush"]
    assert record["runs"][0]["instances"] == str(instances.resolve())
    kept = out / "000000000009.png"
    before = kept.stat().st_mtime_ns
    (out / "000000057870.png").unlink()
    capsys.readouterr()
    assert main(command) == 0
    assert "1 written, 5 already done (skipped)" in capsys.readouterr().err
    assert kept.stat().st_mtime_ns == before
    assert len(json.loads((out / "samcam.json").read_text())["runs"]) == 2
    # the same folder with other names would mix two settings: refused before writing
    assert main(command[:-3] + ["--names", "id", "--no-progress"]) == 2
    assert "refusing to mix" in capsys.readouterr().err
    assert not (out / "9.png").exists()


def test_workers_give_the_same_labels(instances, tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    assert main(["coco-gt", "--instances", str(instances), "--out", str(one), "--no-progress"]) == 0
    assert main(["coco-gt", "--instances", str(instances), "--out", str(two), "--workers", "2", "--no-progress"]) == 0
    first, second = _labels(one), _labels(two)
    assert sorted(first) == sorted(second) and len(first) == 6
    assert all(np.array_equal(first[name], second[name]) for name in first)


def test_one_bad_annotation_fails_only_its_image(instances, tmp_path, capsys):
    data = json.loads(instances.read_text())
    bad = next(a for a in data["annotations"] if a["image_id"] == 30)
    bad["segmentation"] = [[1.0, 2.0]]  # one point: pycocotools cannot decode it
    instances.write_text(json.dumps(data))
    out = tmp_path / "gt"
    assert main(["coco-gt", "--instances", str(instances), "--out", str(out), "--names", "id", "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert f"annotation {bad['id']}" in err and "cannot be decoded" in err
    assert sorted(p.stem for p in out.glob("*.png")) == ["123456", "25", "4", "57870", "9"]


@pytest.mark.parametrize("content, expected", [
    (None, "does not exist"),
    ("{not json", "not a JSON file"),
    ("[1, 2]", "not an object"),
    (json.dumps({"images": [], "categories": [{"id": 1, "name": "person"}]}), "no 'annotations' list"),
    (json.dumps({"images": [{"id": 1, "height": 2, "width": 2, "file_name": "a.jpg"}],
                 "annotations": [{"id": 1, "image_id": 1, "caption": "a cat"}], "categories": [{"id": 1}]}),
     "has no 'category_id'"),
    (json.dumps({"images": [], "annotations": [], "categories": []}), "'categories' is empty"),
])
def test_bad_instances_file_is_one_line_exit_2(tmp_path, capsys, content, expected):
    path = tmp_path / "instances.json"
    if content is not None:
        path.write_text(content)
    assert main(["coco-gt", "--instances", str(path), "--out", str(tmp_path / "gt"), "--no-progress"]) == 2
    error, = _errors(capsys.readouterr().err)
    assert str(path) in error and expected in error, error
    assert not (tmp_path / "gt").exists()


def test_duplicate_ids_and_unknown_categories_are_refused(instances, tmp_path, capsys):
    data = json.loads(instances.read_text())
    data["annotations"][3]["id"] = data["annotations"][1]["id"]
    instances.write_text(json.dumps(data))
    assert main(["coco-gt", "--instances", str(instances), "--out", str(tmp_path / "a"), "--no-progress"]) == 2
    assert "appears twice" in capsys.readouterr().err
    data = json.loads(instances.read_text())
    data["annotations"][3]["id"] = 1
    data["annotations"][2].update(category_id=12, iscrowd=0)  # one of COCO's unused ids
    instances.write_text(json.dumps(data))
    assert main(["coco-gt", "--instances", str(instances), "--out", str(tmp_path / "b"), "--no-progress"]) == 2
    assert "category_id 12" in capsys.readouterr().err


def test_without_pycocotools_it_says_what_to_install(instances, tmp_path, capsys, monkeypatch):
    for module in [m for m in sys.modules if m == "pycocotools" or m.startswith("pycocotools.")]:
        monkeypatch.setitem(sys.modules, module, None)
    monkeypatch.setitem(sys.modules, "pycocotools", None)
    assert main(["coco-gt", "--instances", str(instances), "--out", str(tmp_path / "gt")]) == 2
    error, = _errors(capsys.readouterr().err)
    assert 'pip install "samcam[coco]"' in error
    assert not (tmp_path / "gt").exists()

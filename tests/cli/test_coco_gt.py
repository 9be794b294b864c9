"""``samcam coco-gt`` (samcam.cli.coco_gt): the command reports its batch and says where the
labels are and how they are named; a resume skips them and says it again. (The conversion
itself is in tests/datasets/test_coco.py.)"""
from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("pycocotools", reason='coco-gt needs pycocotools: pip install "samcam[coco]"')

from samcam.cli import main  # noqa: E402
from samcam.datasets.coco import NAMINGS  # noqa: E402
from samcam.images import read_label_png  # noqa: E402


def _instances(path):
    """Two images: 7 has a person (category 1, label 1) in its top left 2×3 pixels as
    uncompressed RLE (column-major runs), 9 has no annotation (all background)."""
    images = [{"id": 7, "file_name": "COCO_val2014_000000000007.jpg", "height": 4, "width": 5},
              {"id": 9, "file_name": "COCO_val2014_000000000009.jpg", "height": 3, "width": 3}]
    person = {"id": 1, "image_id": 7, "category_id": 1, "iscrowd": 0,
              "segmentation": {"size": [4, 5], "counts": [0, 2, 2, 2, 2, 2, 10]}}
    path.write_text(json.dumps({"images": images, "annotations": [person],
                                "categories": [{"id": 1, "name": "person"}, {"id": 3, "name": "car"}]}))
    return path


@pytest.mark.parametrize("naming, stems", [("coco", ["COCO_val2014_000000000007", "COCO_val2014_000000000009"]),
                                           ("id", ["7", "9"]), ("padded", ["000000000007", "000000000009"])])
def test_the_command_says_where_the_labels_are_and_their_naming(tmp_path, capsys, naming, stems):
    instances, out = _instances(tmp_path / "instances_val2014.json"), tmp_path / "gt"
    argv = ["coco-gt", "--instances", str(instances), "--out", str(out), "--names", naming, "--no-progress"]
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert "samcam coco-gt: 2 written, 0 already done (skipped), 0 failed" in err
    assert f"samcam coco-gt: labels in {out} named {NAMINGS[naming]}" in err
    assert sorted(p.stem for p in out.glob("*.png")) == stems
    person = np.zeros((4, 5), np.uint8)
    person[:2, :3] = 1
    np.testing.assert_array_equal(read_label_png(out / f"{stems[0]}.png"), person)
    assert not read_label_png(out / f"{stems[1]}.png").any()
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert "0 written, 2 already done" in err and f"labels in {out} named" in err

"""samcam.inputs: what a folder holds, sorted into kinds, from one listing."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from samcam import inputs
from samcam.io import write_label_png


def test_survey_sorts_every_kind_of_entry(tmp_path):
    for name in ("a", "b"):
        write_label_png(tmp_path / f"{name}.png", np.arange(12, dtype=np.uint8).reshape(3, 4) % 3)
    Image.new("RGB", (4, 3)).save(tmp_path / "c.JPG")
    Image.new("RGB", (4, 3)).save(tmp_path / "d.jpeg")
    for name in ("e.masks.npz", "f.json", "g.npy", "h.txt", ".hidden.png", "samcam.json"):
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "amg").mkdir()
    (tmp_path / "amg" / "metadata.csv").write_text("id\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "folder.png").mkdir()  # a folder, whatever its name says
    contents = inputs.survey(tmp_path)
    assert contents.provenance
    assert dict(contents.counts) == {inputs.LABELS: 2, inputs.JPEGS: 2, inputs.STORES: 1, inputs.RLE: 1,
                                     inputs.NPY: 1, inputs.OTHER: 1, inputs.AMG: 1, inputs.FOLDERS: 2}
    assert contents.names[inputs.LABELS] == ["a", "b"] and contents.names[inputs.JPEGS] == ["c", "d"]
    assert contents.names[inputs.STORES] == ["e"] and contents.names[inputs.RLE] == ["f"]
    assert contents.names[inputs.NPY] == ["g"] and contents.names[inputs.OTHER] == ["h.txt"]
    assert contents.names[inputs.FOLDERS] == ["folder.png", "sub"] and contents.names[inputs.AMG] == ["amg"]
    assert contents.examples[inputs.JPEGS] == "c.JPG"
    assert contents.main_kind() == inputs.LABELS
    assert contents.describe().startswith("2 label PNGs (one channel of class indices) (e.g. a.png), 2 JPEG images")
    assert contents.describe().endswith("a samcam.json")


def test_survey_tells_label_pngs_from_images(tmp_path):
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (16, 16), dtype=np.uint8)).save(tmp_path / "grey.png")  # 256 values
    assert dict(inputs.survey(tmp_path).counts) == {inputs.GREY_IMAGES: 1}
    (tmp_path / "grey.png").unlink()
    Image.new("RGB", (4, 3)).save(tmp_path / "rgb.png")
    assert dict(inputs.survey(tmp_path).counts) == {inputs.PNG_IMAGES: 1}
    (tmp_path / "rgb.png").write_bytes(b"\x89PNG broken")
    assert dict(inputs.survey(tmp_path).counts) == {inputs.UNREADABLE_PNGS: 1}
    with pytest.raises(FileNotFoundError, match=r"--labels .*nope: folder does not exist"):
        inputs.survey(tmp_path / "nope", "--labels")

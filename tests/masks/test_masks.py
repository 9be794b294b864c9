"""Finding and loading any mask file (samcam.masks: find, load): each form detected, and bad
or truncated files named in the error."""
import json

import numpy as np
import pytest
from mask_samples import random_masks, write_amg_folder, write_amg_json

from samcam import masks as store


def test_find_auto_detects_each_form(tmp_path):
    rng = np.random.default_rng(2)
    masks = random_masks(rng)
    store.write(tmp_path / "x", masks)
    write_amg_folder(tmp_path / "y", masks, [0.9] * len(masks))
    write_amg_json(tmp_path / "z.json", masks, [0.9] * len(masks))
    for name in "xyz":
        assert np.array_equal(store.read(store.find(tmp_path, name)), masks)
    assert store.names_in(tmp_path) == ["x", "y", "z"]
    with pytest.raises(FileNotFoundError, match="no masks for 'w'"):
        store.find(tmp_path, "w")


@pytest.mark.parametrize("make_bad, message", [
    (lambda p: (p / "bad.masks.npz").write_bytes(b"not a zip"), "corrupt or truncated"),
    (lambda p: (p / "bad.json").write_text("{nope"), "cannot read RLE JSON"),
    (lambda p: (p / "bad.json").write_text(json.dumps([{"segmentation": {"size": [2, 2], "counts": [1]}}])),
     "annotation 0"),
])
def test_bad_mask_files_name_the_file(tmp_path, make_bad, message):
    make_bad(tmp_path)
    path = next(tmp_path.iterdir())
    with pytest.raises(ValueError, match=message) as info:
        store.load(path)
    assert str(path) in str(info.value)


def test_truncated_store_and_bad_png_are_reported(tmp_path):
    written = store.write(tmp_path / "t", random_masks(np.random.default_rng(4)))
    payload = written.read_bytes()
    written.write_bytes(payload[: len(payload) // 2])
    with pytest.raises(ValueError, match="t.masks.npz"):
        store.load(written)
    folder = tmp_path / "f"
    folder.mkdir()
    (folder / "0.png").write_bytes(b"\x89PNG garbage")
    with pytest.raises(ValueError, match="0.png"):
        store.load(folder)


"""SAM's scripts/amg.py outputs (samcam.masks.amg): PNG folders with metadata.csv and RLE JSON,
read as SAM wrote them, and bounded before parsing."""
import json
import os

import hostile
import numpy as np
import pytest
from mask_samples import random_masks, write_amg_folder, write_amg_json

from samcam import masks as store


def test_amg_png_folder_and_rle_json_read_like_sam_wrote_them(tmp_path):
    rng = np.random.default_rng(1)
    masks = random_masks(rng, count=12)
    scores = [round(float(v), 4) for v in rng.random(12)]
    write_amg_folder(tmp_path / "a", masks, scores)
    write_amg_json(tmp_path / "b.json", masks, scores)
    from_folder = store.load(tmp_path / "a")
    from_json = store.load(tmp_path / "b.json")
    assert np.array_equal(store.read(tmp_path / "b"), masks)  # an RLE JSON named without .json
    # 10.png must come after 9.png, not after 1.png
    assert np.array_equal(from_folder.dense, masks)
    assert np.array_equal(from_json.dense, masks)
    assert np.allclose(from_folder.scores["predicted_iou"], scores)
    assert np.allclose(from_json.scores["predicted_iou"], scores)
    assert from_json.scores["point_coords"].shape == (12, 2)
    listdir_order = [int(f[:-4]) for f in os.listdir(tmp_path / "a") if f.endswith(".png")]
    assert np.array_equal(store.load(tmp_path / "a", png_order="listdir").dense, masks[listdir_order])


def test_amg_png_masks_of_0_1_read_like_0_255(tmp_path):
    """amg.py writes cv2.imwrite(mask * 255) (scripts/amg.py:158); cv2.imwrite(mask.astype(np.uint8))
    writes 0/1, which the old `> 127` test read as empty masks. Any nonzero pixel is inside."""
    cv2 = pytest.importorskip("cv2", reason="opencv-python writes amg.py's PNGs: pip install 'samcam[dev]'")
    rng = np.random.default_rng(5)
    masks = random_masks(rng, count=4)
    scores = [0.9, 0.8, 0.7, 0.6]
    write_amg_folder(tmp_path / "pil", masks, scores)  # PIL, 0/255
    for folder, scale in (("amg", 255), ("ones", 1)):
        (tmp_path / folder).mkdir()
        for index, mask in enumerate(masks):
            assert cv2.imwrite(str(tmp_path / folder / f"{index}.png"), mask.astype(np.uint8) * scale)
        (tmp_path / folder / "metadata.csv").write_bytes((tmp_path / "pil" / "metadata.csv").read_bytes())
    assert np.unique(cv2.imread(str(tmp_path / "ones" / "0.png"), cv2.IMREAD_UNCHANGED)).tolist() == [0, 1]
    reference = store.load(tmp_path / "pil")
    assert np.array_equal(reference.dense, masks)
    for folder in ("amg", "ones"):
        loaded = store.load(tmp_path / folder)
        assert np.array_equal(loaded.packed, reference.packed), folder
        assert np.allclose(loaded.scores["predicted_iou"], scores)


@pytest.mark.slow
def test_rle_json_of_millions_of_lists_is_refused_before_parsing(tmp_path):
    """60 MB of [[],[],...] were 20 million lists (1.4 GB, 22 s) before the mask count was
    checked. Now the lists and objects are counted in the bytes first."""
    data = hostile.json_of_empty_lists(12_000_000)
    with hostile.traced_peak() as peak:  # control: what parsing it would cost
        json.loads(hostile.json_of_empty_lists(1_200_000))
    assert peak.bytes > 20 * 1_200_000
    path = tmp_path / "2007_000032.json"
    path.write_bytes(data)
    with hostile.traced_peak() as peak, pytest.raises(ValueError) as caught:
        store.load(path)
    assert str(caught.value) == (f"{path}: 4,000,002 JSON lists and objects, more than amg.py annotations of 10,000 "
                                 "masks hold (at most 16 per mask; raise SAMCAM_MAX_MASKS if the file is genuine)")
    assert peak.bytes < 2.5 * len(data), peak.bytes  # the file's bytes and a copy without strings


def test_rle_json_brackets_inside_strings_are_not_counted(tmp_path, monkeypatch):
    """Compressed RLE counts use '[' and ']' as characters: only brackets outside strings count."""
    monkeypatch.setenv("SAMCAM_MAX_MASKS", "3")  # 64 lists and objects allowed
    masks = random_masks(np.random.default_rng(6), count=3)
    write_amg_json(tmp_path / "a.json", masks, [0.9, 0.8, 0.7])
    annotations = json.loads((tmp_path / "a.json").read_text())
    for annotation in annotations:
        annotation["note"] = '[{"\\' * 40  # brackets, braces, quotes and backslashes inside a string
    (tmp_path / "a.json").write_text(json.dumps(annotations))
    assert (tmp_path / "a.json").read_bytes().count(b"[") > 64
    assert np.array_equal(store.load(tmp_path / "a.json").dense, masks)
    annotations[0]["bbox"] = [[]] * 60  # 60 more lists outside strings
    (tmp_path / "a.json").write_text(json.dumps(annotations))
    with pytest.raises(ValueError, match=r"a\.json: 8\d JSON lists and objects, more than amg\.py annotations of 3 "):
        store.load(tmp_path / "a.json")


def test_amg_metadata_csv_is_bounded_by_the_pngs_present(tmp_path):
    """62 MB of metadata.csv rows were read in full (1.3 GB, exit 0) for one mask PNG. The
    file may hold 4 KiB per PNG present, and no line longer than 4 KiB."""
    masks = random_masks(np.random.default_rng(7), count=2)
    write_amg_folder(tmp_path / "a", masks, [0.9, 0.8])
    metadata = tmp_path / "a" / "metadata.csv"
    metadata.write_text(hostile.amg_metadata_rows(300_000))  # 12 MB: ids 0..299999
    with hostile.traced_peak() as peak, pytest.raises(ValueError) as caught:
        store.load(tmp_path / "a")
    assert str(caught.value).startswith(f"{metadata}: {metadata.stat().st_size:,} bytes of amg.py metadata for 2 mask "
                                        "PNG(s); amg.py writes one row of about 150 bytes per mask")
    assert peak.bytes < 2**20, peak.bytes
    metadata.write_text(hostile.AMG_METADATA_HEADER + "\n" + "0" + "," * 5000 + "\n")  # 5 KB: within 12 KiB
    with pytest.raises(ValueError, match=r"metadata\.csv: line 2 has 5,002 characters; amg\.py's rows have about 150"):
        store.load(tmp_path / "a")
    # rows of PNGs removed from the folder are read past, as before
    metadata.write_text(hostile.amg_metadata_rows(20, width=23, height=17))
    loaded = store.load(tmp_path / "a")
    assert np.array_equal(loaded.dense, masks) and loaded.scores["area"].tolist() == [1, 2]


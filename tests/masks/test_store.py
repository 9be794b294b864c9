"""The mask store (samcam.masks.store): round trips, and files declaring more than they hold
refused before allocating."""
from __future__ import annotations

import lzma

import numpy as np
import pytest
from hostile import (
    npy_raw,
    npz_bytes,
    npz_compressed_bytes,
    traced_peak,
    zip_bytes,
)
from mask_samples import random_masks

from samcam import masks as store


def test_4_store_declaring_a_million_spans_is_refused_before_allocating(tmp_path):
    spans = np.zeros((10**6, 2), np.int64)
    path = tmp_path / "x.masks.npz"
    path.write_bytes(npz_compressed_bytes(format=np.array("samcam-masks/1"), image_shape=np.array([500, 500]),
                                          spans=spans, words_lzma=np.frombuffer(lzma.compress(b""), np.uint8)))
    assert path.stat().st_size < 40_000
    with traced_peak() as peak, \
            pytest.raises(ValueError, match=r"x\.masks\.npz: 1,000,000 masks, more than the limit of 10,000"):
        store.load(path)
    assert peak.bytes < 64 * 2**20, peak.bytes  # the spans themselves (16 MB), not K x width words (31 GB)


@pytest.mark.slow
def test_4_lzma_payload_is_decompressed_no_further_than_the_spans(tmp_path):
    bomb = lzma.compress(b"\x00" * (64 * 2**20), preset=1)
    path = tmp_path / "x.masks.npz"
    path.write_bytes(npz_bytes(format=np.array("samcam-masks/1"), image_shape=np.array([8, 8]),
                               spans=np.array([[0, 1]]), words_lzma=np.frombuffer(bomb, np.uint8)))
    with traced_peak() as peak, \
            pytest.raises(ValueError, match=r"x\.masks\.npz: .*hold more than the 1 words their spans declare"):
        store.load(path)
    assert peak.bytes < 4 * 2**20, peak.bytes


def test_4_store_members_declaring_more_than_they_hold(tmp_path):
    members = {"format.npy": npy_raw((), "<U14", "samcam-masks/1".encode("utf-32-le")),
               "image_shape.npy": npy_raw((2,), "<i8", np.array([8, 8], "<i8").tobytes()),
               "words_lzma.npy": npy_raw((len(lzma.compress(b"")),), "|u1", lzma.compress(b""))}
    path = tmp_path / "x.masks.npz"
    path.write_bytes(zip_bytes({**members, "spans.npy": npy_raw((0, 2), "<i8", b"")}))
    assert len(store.load(path)) == 0
    # the spans member's header claims (10^10, 2): numpy would allocate that before reading
    path.write_bytes(zip_bytes({**members, "spans.npy": npy_raw((10**10, 2), "<i8", b"\x00" * 16)}))
    with traced_peak() as peak, \
            pytest.raises(ValueError, match=r"x\.masks\.npz: .*member 'spans.npy' declares \(10000000000, 2\)"):
        store.load(path)
    assert peak.bytes < 2**20


def test_5_store_with_a_one_value_image_shape(tmp_path):
    path = tmp_path / "x.masks.npz"
    path.write_bytes(npz_bytes(format=np.array("samcam-masks/1"), image_shape=np.array([8]),
                               spans=np.zeros((0, 2), np.int64), words_lzma=np.frombuffer(lzma.compress(b""), np.uint8)))
    with pytest.raises(ValueError, match=r"x\.masks\.npz: .*image_shape must be two positive integers"):
        store.load(path)


def test_store_round_trip_keeps_order_and_scores(tmp_path):
    rng = np.random.default_rng(0)
    masks = random_masks(rng)
    iou = rng.random(len(masks))
    written = store.write(tmp_path / "img", masks, {"predicted_iou": iou, "bbox": rng.random((len(masks), 4))})
    assert written.name == "img.masks.npz"
    loaded = store.load(written)
    assert np.array_equal(loaded.dense, masks)
    assert np.allclose(loaded.scores["predicted_iou"], iou)
    assert loaded.areas.tolist() == masks.reshape(len(masks), -1).sum(1).tolist()
    assert np.array_equal(store.read(written), masks)
    # the stem write() was given reads the same file
    assert np.array_equal(store.read(tmp_path / "img"), masks)
    assert store.resolve(tmp_path / "img") == written
    with pytest.raises(FileNotFoundError, match="looked for nope, nope.masks.npz, nope.json"):
        store.load(tmp_path / "nope")
    assert not list(tmp_path.glob("*.tmp"))


def test_store_round_trip_of_empty_masks_and_empty_sets(tmp_path):
    masks = np.zeros((3, 9, 13), bool)
    masks[1, 8, 12] = True   # the very last pixel: ends inside the padded last word
    masks[2, 0, 0] = True
    assert np.array_equal(store.read(store.write(tmp_path / "a", masks)), masks)
    none = store.load(store.write(tmp_path / "b", np.zeros((0, 9, 13), bool)))
    assert len(none) == 0 and none.image_shape == (9, 13)


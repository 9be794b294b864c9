"""COCO RLE (samcam.masks.rle): the codec matches pycocotools."""
import numpy as np
from mask_samples import uncompressed_rle as _uncompressed
from pycocotools import mask as coco_mask

from samcam import masks as store


def test_coco_rle_codec_matches_pycocotools():
    rng = np.random.default_rng(3)
    for _ in range(30):
        mask = rng.random((int(rng.integers(1, 30)), int(rng.integers(1, 30)))) < rng.random()
        ours = store.encode_coco_rle(mask)
        theirs = coco_mask.encode(np.asfortranarray(mask.astype(np.uint8)))
        assert ours["counts"] == theirs["counts"].decode()
        assert np.array_equal(store.decode_coco_rle(theirs), mask)
        assert np.array_equal(store.decode_coco_rle({"size": list(mask.shape),
                                                     "counts": _uncompressed(mask)}), mask)


""".npy headers (samcam.npy): a header declaring more than the file is refused without reading it."""
from __future__ import annotations

import pytest
from hostile import (
    npy_raw,
    traced_peak,
)

from samcam.safe_pickle import load_npy


def test_1_npy_header_declaring_more_than_the_file(tmp_path):
    path = tmp_path / "big.npy"
    path.write_bytes(npy_raw((10**11,), "<f8", b"\x00" * 32))
    with traced_peak() as peak, \
            pytest.raises(ValueError, match=r"big\.npy: truncated \.npy: its header declares \(100000000000,\)"):
        load_npy(path)
    assert peak.bytes < 2**20


"""Comparing mask sources (samcam.sam.compare): the numbers per source against a direct
computation."""
from __future__ import annotations

import numpy as np
import pytest
from compare_data import SHAPE
from compare_data import mask_sources_dataset as _dataset

from samcam import masks as mask_store
from samcam.evaluate import evaluate_arrays
from samcam.refine import refine
from samcam.sam.compare import AREA_EDGES, compare_mask_sources, format_comparison


def test_numbers_per_source_match_a_direct_computation(tmp_path):
    names = _dataset(tmp_path)
    result = compare_mask_sources({"good": tmp_path / "good", "coarse": tmp_path / "coarse"},
                                  pseudo_dir=tmp_path / "pseudo", gt_dir=tmp_path / "gt")
    assert result["names"] == names and result["failed"] == []
    from samcam.io import read_label_png

    gts = [read_label_png(tmp_path / "gt" / f"{n}.png") for n in names]
    pseudos = [read_label_png(tmp_path / "pseudo" / f"{n}.png") for n in names]
    assert result["pseudo"]["miou"] == pytest.approx(evaluate_arrays(gts=gts, preds=pseudos)["miou"])
    for source in ("good", "coarse"):
        sets = [mask_store.load(tmp_path / source / n) for n in names]
        counts = [len(s) for s in sets]
        stats = result["sources"][source]
        assert stats["counts"] == counts and stats["masks_per_image"]["mean"] == pytest.approx(np.mean(counts))
        fractions = np.concatenate([s.areas / (SHAPE[0] * SHAPE[1]) for s in sets])
        assert stats["area"]["p50"] == pytest.approx(np.median(fractions), rel=1e-6)
        assert sum(stats["area_histogram"]) == len(fractions) and len(stats["area_histogram"]) == len(AREA_EDGES) - 1
        refined = [refine(p, s) for p, s in zip(pseudos, sets)]
        assert stats["refined"]["miou"] == pytest.approx(evaluate_arrays(gts=gts, preds=refined)["miou"])
    assert result["sources"]["good"]["coverage"] == pytest.approx(1.0)
    assert result["sources"]["good"]["refined"]["miou"] > result["pseudo"]["miou"]
    text = format_comparison(result)
    assert "refined mIoU" in text and "good" in text and "5 images compared" in text
    other = next(name for name in result["sources"] if name != "good")
    row = next(line for line in format_comparison(result, baseline=other).splitlines() if f"Δ vs {other}" in line)
    gain = 100 * (result["sources"]["good"]["refined"]["miou"] - result["sources"][other]["refined"]["miou"])
    assert f"{gain:+.2f}" in row and "–" in row


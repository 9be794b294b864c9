"""The report's charts (samcam.vis.charts): PNGs sized by what they show, each label set and
mask source in its colour; the per-class chart draws without pyplot.

(The mask source chart does not: matplotlib's boxplot reads every rcParam, and reading
``backend`` imports pyplot to resolve it. samcam itself never imports pyplot.)"""
from __future__ import annotations

import io
import math
import sys

import numpy as np
import pytest
from compare_data import mask_sources_dataset
from PIL import Image

from samcam.sam.compare import compare_mask_sources
from samcam.vis.charts import SET_COLOURS, plot_mask_sources, plot_per_class_iou


def _decode(png: bytes) -> np.ndarray:
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    with Image.open(io.BytesIO(png)) as image:
        return np.array(image.convert("RGB"))


def _has_colour(pixels: np.ndarray, colour: str) -> bool:
    rgb = [int(colour[i:i + 2], 16) for i in (1, 3, 5)]
    return bool((pixels == rgb).all(axis=-1).sum() > 50)


@pytest.fixture
def no_pyplot(monkeypatch):
    """Importing matplotlib.pyplot fails: the charts must not need it."""
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)


def test_per_class_bars_are_sized_by_the_classes_and_coloured_by_set(no_pyplot):
    names = [f"class {c}" for c in range(21)]
    iou = [0.5 + 0.02 * c for c in range(21)]
    iou[4] = math.nan  # a class absent from the images: no bar, still a tick
    sets = {"cam": {"iou": iou, "miou": 0.6}, "refined": {"iou": [v + 0.1 for v in iou], "miou": 0.7}}
    pixels = _decode(plot_per_class_iou(sets, names))
    assert pixels.shape == (420, 1200, 3)  # 0.5 inch per class + 1.5, 4.2 inches, 100 dpi
    assert _has_colour(pixels, SET_COLOURS[0]) and _has_colour(pixels, SET_COLOURS[1])
    assert not _has_colour(pixels, SET_COLOURS[2])
    few = _decode(plot_per_class_iou({"only": {"iou": [0.3, 0.9], "miou": 0.6}}, ["a", "b"], {"only": "#ff0000"}))
    assert few.shape == (420, 600, 3)  # at least 6 inches wide
    assert _has_colour(few, "#ff0000") and not _has_colour(few, SET_COLOURS[0])


def test_mask_sources_have_a_panel_for_refined_labels_only_when_scored(tmp_path):
    mask_sources_dataset(tmp_path)
    sources = {"good": tmp_path / "good", "coarse": tmp_path / "coarse"}
    scored = compare_mask_sources(sources, pseudo_dir=tmp_path / "pseudo", gt_dir=tmp_path / "gt")
    unscored = compare_mask_sources(sources)
    assert unscored.get("pseudo") is None
    with_refined, without = _decode(plot_mask_sources(scored)), _decode(plot_mask_sources(unscored))
    assert with_refined.shape == (380, 1380, 3) and without.shape == (380, 920, 3)  # 4.6 inches a panel
    for pixels in (with_refined, without):  # the sources take the set colours after the first
        assert _has_colour(pixels, SET_COLOURS[1]) and _has_colour(pixels, SET_COLOURS[2])

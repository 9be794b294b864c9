"""CAMs to labels (samcam.cams): the background plane in the maps' precision, labels as the
methods' own code makes them (restated below, not from samcam), class scores whose argmax is
that label, and label_from_cams reachable after ``import samcam`` with its example."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import samcam
from samcam.cams import background_plane, label_from_cams, scores_from_cams

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_label_from_cams_is_reachable_and_its_example_runs():
    """samcam.cams.label_from_cams after `import samcam` alone, and its docstring's example as written."""
    import doctest

    code = "import samcam; print(samcam.cams.label_from_cams.__name__)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["label_from_cams"]
    doc = samcam.cams.label_from_cams.__doc__
    assert all(word in doc for word in ("(K,)", "(K, H, W)", "(H, W) uint8", "float32", "Example"))
    finder = doctest.DocTestFinder()
    tests = [t for t in finder.find(samcam.cams.label_from_cams, "label_from_cams") if t.examples]
    assert tests and len(tests[0].examples) >= 6
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    for test in tests:
        runner.run(test)
    assert runner.summarize(verbose=False).failed == 0



def _irn_label(keys, cams, threshold):
    """IRN step/eval_cam.py:13-18: pad the maps with the threshold, argmax, keys + 1."""
    padded = np.pad(cams, ((1, 0), (0, 0), (0, 0)), mode="constant", constant_values=threshold)
    return np.pad(keys + 1, (1, 0), mode="constant")[np.argmax(padded, axis=0)].astype(np.uint8)


def _maps(seed, count=3, shape=(9, 11), dtype=np.float32):
    rng = np.random.default_rng(seed)
    return rng.random((count,) + shape).astype(dtype)


def test_labels_are_the_methods_own_threshold_then_argmax():
    keys = np.array([2, 7, 14])
    for seed, threshold in ((0, 0.15), (1, 0.5), (2, 0.95)):
        cams = _maps(seed)
        np.testing.assert_array_equal(label_from_cams(keys + 1, cams, threshold), _irn_label(keys, cams, threshold))
    cams = np.zeros((2, 2, 2), np.float32)
    cams[:, 0, 0] = 0.6  # a tie of two classes goes to the first map, as np.argmax does
    assert label_from_cams(np.array([9, 4]), cams, 0.5)[0, 0] == 9
    assert not label_from_cams(np.array([], np.int64), np.zeros((0, 4, 5), np.float32), 0.1).any()
    assert label_from_cams(np.array([], np.int64), np.zeros((0, 4, 5), np.float32), 0.1).shape == (4, 5)


def test_a_map_of_background_scores_is_compared_pixel_by_pixel():
    cams = _maps(3, count=2, shape=(4, 6))
    plane = np.linspace(0, 1, 24, dtype=np.float32).reshape(4, 6)
    expected = np.pad(np.array([5, 11]), (1, 0))[np.argmax(np.concatenate([plane[None], cams]), axis=0)]
    np.testing.assert_array_equal(label_from_cams(np.array([5, 11]), cams, plane), expected)


def test_the_background_plane_is_computed_in_the_maps_precision():
    assert background_plane(None, 0.15) == float(np.float32(0.15))
    assert background_plane(None, 0.15, dtype=np.float16) == float(np.float16(0.15)) != float(np.float32(0.15))
    maps = _maps(4, dtype=np.float16)
    plane = background_plane(maps, 2.0, "power", dtype=np.float16)
    # CLIP-ES eval_cam.py:57-62: np.power(1 - np.max(cams, axis=0), t) on the stored float16 maps
    expected = np.power(1 - np.max(maps, axis=0), np.float16(2.0))
    assert plane.dtype == np.float32 and np.array_equal(plane, expected.astype(np.float32))
    assert not np.array_equal(plane, np.power(1 - np.max(maps.astype(np.float32), axis=0), np.float32(2.0)))
    assert (background_plane(np.zeros((0, 3, 4)), 2.0, "power") == 1).all()  # nothing competes with background
    for args, message in (((maps, 2.0, "square"), "unknown background rule"),
                          ((maps[0], 2.0, "power"), "K×H×W"),
                          ((maps, 2.0, "power", np.int32), "float dtype")):
        with pytest.raises(ValueError, match=message):
            background_plane(*args)


def test_scores_rebuild_the_label_with_absent_classes_empty():
    keys = np.array([3, 17])
    cams = _maps(5, count=2) - 0.2  # some negative values (TransCAM stores them at each map's minimum)
    scores = scores_from_cams(keys, cams, 0.4, num_classes=21)
    assert scores.shape == (21, 9, 11) and scores.dtype == np.float32
    assert (scores[0] == np.float32(0.4)).all()
    np.testing.assert_array_equal(scores[keys], np.maximum(cams, 0))
    assert not np.delete(scores, np.concatenate([[0], keys]), axis=0).any()
    np.testing.assert_array_equal(np.argmax(scores, axis=0), label_from_cams(keys, cams, 0.4))

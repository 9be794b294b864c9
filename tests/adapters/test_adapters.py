"""The method registry (samcam.adapters: available, get) and every method's declared thresholds,
against each method's own code (tests/support/cam_files.py restates them)."""
from __future__ import annotations

import pytest
from cam_files import OWN_COCO_THRESHOLD, OWN_THRESHOLD

from samcam.adapters import available, clims, get, irn


def test_registry_lists_the_seven_methods():
    assert available() == ["amn", "clims", "clip-es", "irn", "mctformer", "toco", "transcam"]
    assert get("irn") is irn.ADAPTER
    with pytest.raises(ValueError, match="choose one of: amn, clims"):
        get("psa")


def test_declared_thresholds_are_the_methods_own():
    """The declarations against the thresholds restated above from each method's code."""
    for method in ("irn", "amn", "clims", "mctformer", "toco", "clip-es", "transcam"):
        fmt = get(method).cam_formats[0]
        assert fmt.threshold == OWN_THRESHOLD[method], method
        assert fmt.coco_threshold == OWN_COCO_THRESHOLD[method], method
    assert [fmt.layout for fmt in clims.ADAPTER.cam_formats] == ["cam", "hr_cam", "rw"]
    assert clims.ADAPTER.cam_formats[1].threshold is None  # previous_version/evaluate.py:13 sweeps
    assert clims.ADAPTER.cam_formats[2].threshold == OWN_THRESHOLD["clims_rw"]


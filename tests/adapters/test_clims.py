"""CLIMS (samcam.adapters.clims): its previous_version hr_cam files need a threshold, its
random-walk dicts are read with make_pseudo_labels.py's."""
from __future__ import annotations

import numpy as np
import pytest
from cam_files import adapt, build_dataset, make_scene, own_label, rw_maps

from samcam.adapters import clims


def test_clims_previous_hr_cam_needs_a_threshold(tmp_path, capsys):
    """previous_version/evaluate.py:13 has no default and sweeps: samcam does not invent one."""
    cams, mask_dir, _ = build_dataset(tmp_path, "clims_previous")
    assert adapt("--method", "clims", "--cams", cams, "--masks", mask_dir, "--out", tmp_path / "o") == 2
    err = capsys.readouterr().err
    assert "no background threshold of its own" in err and "evaluate.py" in err and "--threshold" in err
    assert not (tmp_path / "o").exists()


def test_clims_rw_dicts_are_read_with_make_pseudo_labels_threshold():
    keys, high_res, _ = make_scene(8)
    rw = {"keys": np.pad(keys + 1, (1, 0), mode="constant"), "rw": rw_maps(high_res)}
    np.testing.assert_array_equal(clims.cam_to_label(rw), own_label("clims_rw", keys, high_res, 0.25))
    np.testing.assert_array_equal(clims.cam_to_label(rw, layout="rw"), own_label("clims_rw", keys, high_res, 0.25))
    with pytest.raises(ValueError, match="not a CLIMS"):
        clims.cam_to_label(rw, layout="hr_cam")


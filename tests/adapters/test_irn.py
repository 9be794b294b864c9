"""IRN (samcam.adapters.irn): stripped IRN files are still IRN's, ToCo files are refused."""
from __future__ import annotations

import numpy as np
import pytest
from cam_files import adapt, build_dataset, make_scene, own_label

from samcam.adapters import irn, toco
from samcam.adapters.base import AdapterSetupError


@pytest.mark.parametrize("method", ["irn", "clims"])
def test_toco_file_given_to_the_irn_family_is_refused(tmp_path, capsys, method):
    cams, mask_dir, _ = build_dataset(tmp_path, "toco")
    assert adapt("--method", method, "--cams", cams, "--masks", mask_dir, "--out", tmp_path / "o") == 2
    err = capsys.readouterr().err
    assert "has no 'cam'" in err and "--method toco" in err
    assert not (tmp_path / "o").exists()


def test_irn_file_without_cam_whose_maps_overlap_is_still_irn():
    """Scores summing above 1 cannot be ToCo's softmax: a stripped IRN file is read as IRN."""
    keys, high_res, _ = make_scene(4)
    high_res[:, :5, :5] = 0.9  # both classes high at once
    stripped = {"keys": keys, "high_res": high_res}
    np.testing.assert_array_equal(irn.cam_to_label(stripped), own_label("irn", keys, high_res, 0.15))
    with pytest.raises(AdapterSetupError, match="sums to 1.8"):
        toco.cam_to_label(stripped)


"""ToCo (samcam.adapters.toco): IRN files given to ToCo are refused, and the origin checks only
guard the method's own threshold."""
from __future__ import annotations

import numpy as np
import pytest
from cam_files import VOC_NAMES, adapt, build_dataset, make_scene, own_label, read_png, toco_scores

import samcam
from samcam.adapters import irn
from samcam.adapters.base import AdapterSetupError


def test_irn_file_given_to_toco_is_refused_before_any_image(tmp_path, capsys):
    """Both are keys + high_res; IRN's file has 'cam' (make_cam.py:56), ToCo's never (infer_seg_as_cam.py:82)."""
    cams, mask_dir, scenes = build_dataset(tmp_path, "irn")
    out = tmp_path / "out"
    assert adapt("--method", "toco", "--cams", cams, "--masks", mask_dir, "--out", out) == 2
    err = capsys.readouterr().err
    assert "has 'cam'" in err and "--method irn" in err and f"{VOC_NAMES[0]}.npy" in err
    assert not out.exists()
    # an explicit threshold makes the method's own irrelevant: the labels are IRN's rule at it
    assert adapt("--method", "toco", "--cams", cams, "--masks", mask_dir, "--out", out, "--threshold", "0.15") == 0
    keys, high_res, masks = scenes[VOC_NAMES[0]]
    np.testing.assert_array_equal(read_png(out / f"{VOC_NAMES[0]}.png")[1],
                                  samcam.refine(own_label("irn", keys, high_res, 0.15), masks))


def test_origin_checks_only_guard_the_methods_own_threshold():
    keys, high_res, _ = make_scene(6)
    toco_dict = {"keys": keys, "high_res": toco_scores(high_res)}
    with pytest.raises(AdapterSetupError, match="looks like a toco"):
        irn.cam_to_label(toco_dict)
    np.testing.assert_array_equal(irn.cam_to_label(toco_dict, threshold=0.5), own_label("toco", keys, high_res, 0.5))


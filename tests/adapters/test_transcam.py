"""TransCAM (samcam.adapters.transcam): its own threshold, and MCTformer's files (maps and CRF
dicts) refused with the method that reads them."""
from __future__ import annotations

import numpy as np
import pytest
from cam_files import VOC_NAMES, adapt, build_dataset, crf_dict, make_scene, transcam_stored

from samcam.adapters import mctformer, transcam
from samcam.adapters.base import AdapterSetupError


def test_crf_dict_given_to_transcam_names_mctformers_crf_layout():
    """TransCAM has no crf layout: the refusal names the method and layout that read the file."""
    keys, high_res, _ = make_scene(3)
    with pytest.raises(AdapterSetupError, match="--method mctformer --layout crf"):
        transcam.cam_to_label(crf_dict(keys, high_res))


def test_transcam_own_threshold_is_infer_aff_bkg_not_mctformers():
    """The same layout as MCTformer's maps, thresholds 0.42 vs 0.39: TransCAM's maps all dip
    below 0 (the -1e-5 offset after zeroing, infer_TransCAM.py:73-74), MCTformer's never
    (x - x.min(), engine.py:221), so each refuses the other's file for its own threshold."""
    keys, high_res, _ = make_scene(9)
    stored = transcam_stored(keys, high_res)
    first = next(iter(stored))
    stored[first][:4, :4] = 0.40  # between the two thresholds
    label = transcam.cam_to_label(stored)
    assert (label[:4, :4] == 0).all()
    assert all(float(v.min()) < 0 for v in stored.values())
    with pytest.raises(AdapterSetupError, match="looks like a transcam CAM file"):
        mctformer.cam_to_label(stored)
    assert (mctformer.cam_to_label(stored, threshold=0.39)[:4, :4] == first + 1).all()
    mct_dict = {int(key): high_res[index] for index, key in enumerate(keys)}
    mct_dict[int(keys[0])] = (mct_dict[int(keys[0])] - mct_dict[int(keys[0])].min()) / np.float32(2)  # min exactly 0
    with pytest.raises(AdapterSetupError, match="looks like a mctformer CAM file"):
        transcam.cam_to_label(mct_dict)
    np.testing.assert_array_equal(transcam.cam_to_label(mct_dict, threshold=0.42), mctformer.cam_to_label(mct_dict, 0.42))


@pytest.mark.parametrize("fixture,method,right", [("transcam", "mctformer", "transcam"),
                                                  ("mctformer", "transcam", "mctformer")])
def test_mctformer_and_transcam_files_are_refused_by_the_other(tmp_path, capsys, fixture, method, right):
    cams, mask_dir, _ = build_dataset(tmp_path, fixture)
    out = tmp_path / "out"
    assert adapt("--method", method, "--cams", cams, "--masks", mask_dir, "--out", out) == 2
    err = capsys.readouterr().err
    assert f"--method {right}" in err and f"{VOC_NAMES[0]}.npy" in err
    assert not out.exists()
    assert adapt("--method", right, "--cams", cams, "--masks", mask_dir, "--out", out) == 0


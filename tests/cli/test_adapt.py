"""``samcam adapt``'s flags (samcam.cli.adapt): rule flags reach refine as ``samcam refine``'s do,
and flag combinations that cannot work are usage errors."""
from __future__ import annotations

import numpy as np
from cam_files import OWN_THRESHOLD, VOC_NAMES, adapt, build_dataset, own_label, read_png

import samcam


def test_rule_parameters_reach_refine_like_samcam_refine(tmp_path):
    cams, mask_dir, scenes = build_dataset(tmp_path, "irn")
    out = tmp_path / "out"
    assert adapt("--method", "irn", "--cams", cams, "--masks", mask_dir, "--out", out,
                 "--keep-unclaimed", "--conflict", "ratio", "--ratio-thresh", "0.6") == 0
    differs = 0
    for name, (keys, high_res, masks) in scenes.items():
        pseudo = own_label("irn", keys, high_res, OWN_THRESHOLD["irn"])
        expected = samcam.refine(pseudo, masks, unclaimed_background=False, conflict="ratio", ratio_thresh=0.6)
        np.testing.assert_array_equal(read_png(out / f"{name}.png")[1], expected)
        differs += int(not np.array_equal(expected, samcam.refine(pseudo, masks)))
    assert differs, "the flags should change some labels, or this test proves little"


def test_bad_flag_combinations(tmp_path, capsys):
    cams, mask_dir, _ = build_dataset(tmp_path, "irn", names=VOC_NAMES[:1])
    common = ["--method", "irn", "--masks", mask_dir, "--out", tmp_path / "o"]
    assert adapt(*common) == 2  # no --cams
    assert adapt(*common, "--source", "png") == 2  # no --labels
    assert adapt(*common, "--source", "png", "--labels", cams, "--threshold", "0.2") == 2
    assert adapt(*common, "--cams", cams, "--rule", "official", "--use-scores") == 2
    assert adapt(*common, "--cams", cams, "--layout", "crf") == 2  # IRN has no crf layout
    err = capsys.readouterr().err
    assert "needs --cams" in err and "needs --labels" in err and "--threshold applies" in err and "hard label" in err
    assert "has no layout 'crf'" in err and "its layouts: cam" in err


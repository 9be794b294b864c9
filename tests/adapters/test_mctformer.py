"""MCTformer (samcam.adapters.mctformer): palette output and the samcam-adapt entry point, its
psa threshold, and the CRF dicts of --layout crf."""
from __future__ import annotations

import numpy as np
import pytest
from cam_files import adapt, build_dataset, crf_dict, make_scene, own_label, read_png, write_mctformer
from PIL import Image

import samcam
from samcam.adapters import mctformer
from samcam.adapters.base import AdapterSetupError
from samcam.cli import adapt_main


def test_mctformer_palette_and_entry_point(tmp_path, capsys):
    cams, mask_dir, scenes = build_dataset(tmp_path, "mctformer")
    out = tmp_path / "out"
    assert adapt_main(["--method", "mctformer", "--cams", str(cams), "--masks", str(mask_dir),
                       "--out", str(out), "--palette", "--no-progress"]) == 0
    for name, (keys, high_res, masks) in scenes.items():
        with Image.open(out / f"{name}.png") as image:
            assert image.mode == "P"
            assert image.getpalette()[3:6] == [128, 0, 0]  # VOC colour of class 1
            written = np.array(image)
        np.testing.assert_array_equal(written, samcam.refine(own_label("mctformer", keys, high_res, 0.39), masks))
    assert "--seg_pgt_path" in capsys.readouterr().out


def test_mctformer_threshold_is_psa_bg_thr_not_0_4(tmp_path):
    """0.39 (psa/infer_aff.py:73) and 0.4 give different labels on some pixel of this scene."""
    keys, high_res, _ = make_scene(2)
    high_res[0, :3, :3] = 0.395
    write_mctformer(tmp_path / "x.npy", keys, high_res)
    label = mctformer.cam_to_label(mctformer.load_cam(tmp_path / "x.npy"))
    np.testing.assert_array_equal(label, own_label("mctformer", keys, high_res, 0.39))
    assert not np.array_equal(label, own_label("mctformer", keys, high_res, 0.4))


def test_crf_dict_is_not_read_as_a_0_based_cam_dict(tmp_path, capsys):
    cams, mask_dir, scenes = build_dataset(tmp_path, "mctformer_crf")
    out = tmp_path / "out"
    assert adapt("--method", "mctformer", "--cams", cams, "--masks", mask_dir, "--out", out) == 2
    assert "--layout crf" in capsys.readouterr().err
    assert not out.exists()
    # --layout crf: the key of the winning map, no threshold
    assert adapt("--method", "mctformer", "--cams", cams, "--masks", mask_dir, "--out", out, "--layout", "crf",
                 "--rule", "official") == 0
    for name, (keys, high_res, masks) in scenes.items():
        pseudo = own_label("mctformer_crf", keys, high_res)
        assert set(np.unique(pseudo)) - {0} <= set((keys + 1).tolist())  # label values are the classes, not k+2
        np.testing.assert_array_equal(read_png(out / f"{name}.png")[1], samcam.refine(pseudo, masks, rule="official"))
    assert adapt("--method", "mctformer", "--cams", cams, "--masks", mask_dir, "--out", tmp_path / "o2",
                 "--layout", "crf", "--threshold", "0.3") == 2
    assert "does not apply" in capsys.readouterr().err


def test_layout_crf_refuses_a_cam_dict(tmp_path, capsys):
    cams, mask_dir, _ = build_dataset(tmp_path, "mctformer")
    assert adapt("--method", "mctformer", "--cams", cams, "--masks", mask_dir, "--out", tmp_path / "o",
                 "--layout", "crf") == 2
    assert "drop --layout crf" in capsys.readouterr().err
    keys, high_res, _ = make_scene(1)
    with pytest.raises(AdapterSetupError, match="do not sum to 1"):
        mctformer.cam_to_label({0: high_res[0], 3: high_res[1]}, layout="crf")


def test_crf_scores_carry_the_stored_background():
    keys, high_res, masks = make_scene(5)
    stored = crf_dict(keys, high_res)
    scores = mctformer.cam_scores(stored, layout="crf")
    np.testing.assert_array_equal(scores[0], stored[0])
    np.testing.assert_array_equal(scores[keys + 1], np.stack([stored[k + 1] for k in keys]))
    label = mctformer.cam_to_label(stored, layout="crf")
    np.testing.assert_array_equal(np.argmax(scores, axis=0), label)
    np.testing.assert_array_equal(mctformer.refine_cam(stored, masks, layout="crf", use_scores=True),
                                  samcam.refine(label, masks, scores=scores))


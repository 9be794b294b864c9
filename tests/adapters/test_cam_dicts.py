"""Reading CAM dicts (samcam.adapters.cam_dicts): labels and scores per method, COCO
thresholds, images without classes, bad dicts, and the CAM size checked against the masks."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from cam_files import (
    OWN_COCO_THRESHOLD,
    WRITERS,
    H,
    W,
    adapt,
    build_dataset,
    make_scene,
    need_torch,
    own_label,
    read_png,
    rw_maps,
    toco_scores,
    transcam_stored,
)
from refine_data import write_list as _list

import samcam
from samcam import masks as samcam_masks
from samcam import masks as store
from samcam.adapters import amn, clims, irn, mctformer, toco, transcam
from samcam.cli import main
from samcam.safe_pickle import load_npy


@pytest.mark.parametrize("method,fixture", [("amn", "amn"), ("toco", "toco"), ("clims", "clims"),
                                            ("clip-es", "clip_es")])
def test_coco_uses_the_methods_own_coco_threshold(tmp_path, method, fixture):
    name = "COCO_train2014_000000000025"
    cams, mask_dir, scenes = build_dataset(tmp_path, fixture, names=[name], num_classes=81)
    keys, high_res, masks = scenes[name]
    keys[:] = [3, 79]  # a class beyond VOC's range
    WRITERS[fixture](cams / f"{name}.npy", keys, high_res)
    out = tmp_path / "out"
    # 21 classes (VOC settings) on COCO CAMs: refused before anything is written
    assert adapt("--method", method, "--cams", cams, "--masks", mask_dir, "--out", out) == 2
    assert not out.exists()
    assert adapt("--method", method, "--cams", cams, "--masks", mask_dir, "--out", out, "--num-classes", "81",
                 "--rule", "official") == 0
    pseudo = own_label(fixture, keys, high_res, OWN_COCO_THRESHOLD[method], num_classes=81)
    assert 80 in pseudo
    if method == "toco":  # 0.4 (eval_cam_coco.py:18), not the VOC 0.5, makes a difference here
        assert not np.array_equal(pseudo, own_label(fixture, keys, high_res, 0.5, num_classes=81))
    written = read_png(out / f"{name}.png")[1]
    np.testing.assert_array_equal(written, samcam.refine(pseudo, masks, rule="official", num_classes=81))


@pytest.mark.parametrize("method,fixture", [("irn", "irn"), ("mctformer", "mctformer"), ("transcam", "transcam")])
def test_coco_without_a_threshold_of_the_methods_own_needs_one(tmp_path, capsys, method, fixture):
    name = "COCO_train2014_000000000025"
    cams, mask_dir, scenes = build_dataset(tmp_path, fixture, names=[name], num_classes=81)
    out = tmp_path / "out"
    assert adapt("--method", method, "--cams", cams, "--masks", mask_dir, "--out", out, "--num-classes", "81") == 2
    assert "no background threshold of its own" in capsys.readouterr().err
    assert not out.exists()
    assert adapt("--method", method, "--cams", cams, "--masks", mask_dir, "--out", out, "--num-classes", "81",
                 "--threshold", "0.2") == 0
    keys, high_res, masks = scenes[name]
    np.testing.assert_array_equal(read_png(out / f"{name}.png")[1],
                                  samcam.refine(own_label(fixture, keys, high_res, 0.2, num_classes=81), masks,
                                                num_classes=81))


def write_empty(fixture: str, path: Path, height: int = H, width: int = W):
    """An image without classes, as each COCO CAM stage saves it."""
    torch = need_torch() if fixture != "toco" else None
    if fixture == "amn_coco":  # AMN coco14 step/make_amn_cam_coco.py:58-63: {"keys": valid_cat} alone
        np.save(path, {"keys": torch.nonzero(torch.zeros(80))[:, 0]})
    elif fixture == "irn_coco":  # AMN coco14 step/make_cam_coco.py:52-57 (IRN layout)
        np.save(path, {"keys": torch.nonzero(torch.zeros(80))[:, 0]})
    elif fixture == "clims_coco":  # CLIMS step_coco/make_clims.py:100-131: 0 channels
        valid_cat = torch.nonzero(torch.zeros(80))[:, 0]
        np.save(path, {"keys": valid_cat, "cam": torch.zeros(80, math.ceil(height / 4), math.ceil(width / 4))[valid_cat],
                       "high_res": np.zeros((80, height, width), np.float32)[valid_cat.numpy()]})
    elif fixture == "toco":  # ToCo infer_seg_as_cam_coco.py:78-83 with no class
        np.save(path, {"keys": np.zeros(0, np.int64), "high_res": np.zeros((0, height, width), np.float32)})


@pytest.mark.parametrize("method,fixture,threshold", [("amn", "amn_coco", ()), ("irn", "irn_coco", ("--threshold", "0.25")),
                                                      ("clims", "clims_coco", ()), ("toco", "toco", ())])
def test_coco_image_without_classes_is_all_background(tmp_path, method, fixture, threshold):
    """AMN's COCO evaluation and label stages treat {"keys"}-only files as all background
    (eval_amn_cam_coco.py:20-23, make_sem_seg_labels_coco.py:59-63): so does samcam."""
    cams, mask_dir = tmp_path / "cams", tmp_path / "masks"
    cams.mkdir(), mask_dir.mkdir()
    write_empty(fixture, cams / "000000000030.npy")
    _, _, masks = make_scene(0)
    samcam_masks.write(mask_dir / "COCO_train2014_000000000030", masks)
    out = tmp_path / "out"
    assert adapt("--method", method, "--cams", cams, "--masks", mask_dir, "--out", out, "--num-classes", "81",
                 *threshold) == 0
    mode, written = read_png(out / "000000000030.png")
    assert mode == "L" and written.shape == (H, W) and not written.any()


@pytest.mark.parametrize(
    "module,fixture,threshold",
    [(irn, "irn", 0.15), (amn, "amn", 0.25), (clims, "clims", 0.15), (clims, "clims_rw", 0.25),
     (mctformer, "mctformer", 0.39), (toco, "toco", 0.5), (transcam, "transcam", 0.42)],
)
def test_cam_to_label_and_scores_per_method(tmp_path, module, fixture, threshold):
    keys, high_res, masks = make_scene(5)
    WRITERS[fixture](tmp_path / "x.npy", keys, high_res)
    cam_dict = module.load_cam(tmp_path / "x.npy")
    label = module.cam_to_label(cam_dict)
    np.testing.assert_array_equal(label, own_label(fixture, keys, high_res, threshold))
    np.testing.assert_array_equal(module.cam_to_label(cam_dict, threshold=0.05), own_label(fixture, keys, high_res, 0.05))
    scores = module.cam_scores(cam_dict)
    assert scores.shape == (21, H, W) and scores.dtype == np.float32
    assert np.all(scores[0] == np.float32(threshold))
    stored = {"toco": toco_scores(high_res), "clims_rw": rw_maps(high_res),
              "transcam": np.stack(list(transcam_stored(keys, high_res).values()))}.get(fixture, high_res)
    np.testing.assert_allclose(scores[keys + 1], np.maximum(stored, 0))  # negatives: no evidence
    absent = np.setdiff1d(np.arange(1, 21), keys + 1)
    assert not scores[absent].any()
    np.testing.assert_array_equal(np.argmax(scores, axis=0), label)  # scores rebuild the method's label
    with_scores = module.refine_cam(cam_dict, masks, use_scores=True)
    np.testing.assert_array_equal(with_scores, samcam.refine(label, masks, scores=scores))


def test_image_without_classes(tmp_path):
    torch = need_torch()
    empty_irn = {"keys": torch.zeros(0, dtype=torch.int64), "cam": torch.zeros(0, 10, 12),
                 "high_res": np.zeros((0, H, W), np.float32)}
    masks = np.ones((1, H, W), bool)
    assert not irn.refine_cam(empty_irn, masks).any()
    assert not mctformer.refine_cam({}, masks).any()  # size taken from the masks
    assert not amn.refine_cam({"keys": torch.zeros(0, dtype=torch.int64)}, masks, num_classes=81).any()
    with pytest.raises(ValueError, match="image size is unknown"):
        mctformer.cam_to_label({})
    with pytest.raises(ValueError, match="image size is unknown"):
        amn.cam_to_label({"keys": torch.zeros(0, dtype=torch.int64)})


def test_bad_cam_dicts_give_clear_errors():
    keys, high_res, _ = make_scene(1)
    with pytest.raises(ValueError, match="channels but 1 classes"):
        irn.cam_to_label({"keys": keys[:1], "high_res": high_res})
    with pytest.raises(ValueError, match="outside 0..19"):
        toco.cam_to_label({"keys": np.array([3, 20]), "high_res": toco_scores(high_res)})
    with pytest.raises(ValueError, match="NaN"):
        toco.cam_to_label({"keys": keys, "high_res": np.full_like(high_res, np.nan)})
    with pytest.raises(ValueError, match="not a ToCo"):
        toco.cam_to_label({"cam": high_res})
    with pytest.raises(ValueError, match="one size"):
        mctformer.cam_to_label({0: np.zeros((3, 3), np.float32), 1: np.zeros((4, 3), np.float32)})


def test_3_cam_size_is_checked_against_the_masks_before_conversion(tmp_path, monkeypatch, capsys):
    (tmp_path / "cams").mkdir()
    np.save(tmp_path / "cams" / "a.npy", {"keys": np.array([0, 3]), "high_res": np.full((2, 40, 30), 0.4)})
    np.save(tmp_path / "cams" / "b.npy", {0: np.ones((8, 6), np.float32)})  # MCTformer layout
    store.write(tmp_path / "masks" / "a", np.zeros((1, 8, 6), bool))
    store.write(tmp_path / "masks" / "b", np.zeros((1, 8, 6), bool))
    adapter = samcam.adapters.get("toco")
    cam = load_npy(tmp_path / "cams" / "a.npy")
    with pytest.raises(ValueError, match="'high_res' is 40×30 but the image .* is 8×6"):
        adapter.cam_to_label(cam, image_shape=(8, 6))
    code = main(["adapt", "--method", "toco", "--cams", str(tmp_path / "cams"), "--masks", str(tmp_path / "masks"),
                 "--out", str(tmp_path / "out"), "--no-progress", "--list", str(_list(tmp_path, ["a"]))])
    assert code == 1 and "a.npy: 'high_res' is 40×30" in capsys.readouterr().err
    # the absolute cap, configurable
    monkeypatch.setenv("SAMCAM_MAX_PIXELS", "40")
    with pytest.raises(ValueError, match="more than the limit of 40 pixels .*SAMCAM_MAX_PIXELS"):
        samcam.adapters.get("mctformer").cam_to_label(load_npy(tmp_path / "cams" / "b.npy"))


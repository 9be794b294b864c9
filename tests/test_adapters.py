"""samcam-adapt and the drop-in adapter API, on fixtures written exactly in each method's format.

Each fixture writer below mirrors the ``np.save`` call of the method's CAM stage
(shapes, key types, torch vs numpy, background channel); each ``own_label`` mirrors
the method's own evaluation code (pad a background plane, argmax, look up the keys),
written independently of samcam so that the adapters are checked against it.
"""
from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import samcam
from samcam import masks as samcam_masks
from samcam.adapters import amn, available, clims, get, irn, mctformer, toco
from samcam.cli import adapt_main, main

H, W = 37, 45  # odd sizes: the stride-4 maps are ceil(H/4) x ceil(W/4)
VOC_NAMES = ["2007_000032", "2007_000039", "2008_000123"]
OWN_THRESHOLD = {"irn": 0.15, "amn": 0.25, "clims": 0.15, "mctformer": 0.4, "toco": 0.5}


# ----------------------------------------------------------------------------- scenes

def make_scene(seed: int, height: int = H, width: int = W, num_classes: int = 21):
    """Foreground CAMs of 2 classes (0-based keys), plus SAM-like masks of the objects."""
    rng = np.random.default_rng(seed)
    keys = np.sort(rng.choice(num_classes - 1, size=2, replace=False)).astype(np.int64)
    yy, xx = np.mgrid[0:height, 0:width]
    high_res = np.zeros((2, height, width), np.float32)
    masks = []
    for index in range(2):
        cy, cx = rng.integers(8, height - 8), rng.integers(8, width - 8)
        radius = rng.integers(5, 9)
        dist = np.sqrt((yy - cy) ** 2 + (xx - cx) ** 2)
        # CAM peaks off-centre and covers only part of the object (partial activation)
        high_res[index] = np.clip(1.0 - dist / (radius * 1.2), 0, None) + rng.random((height, width)) * 0.05
        masks.append(dist <= radius)
    high_res /= high_res.max(axis=(1, 2), keepdims=True) + 1e-5
    masks.append((yy < height // 3))  # a "sky" mask, mostly background
    masks.append(np.zeros((height, width), bool))  # empty mask: must not break anything
    masks.append(np.ones((height, width), bool))  # whole-image mask
    return keys, high_res.astype(np.float32), np.stack(masks)


def need_torch():
    """torch, or skip: IRN, AMN and CLIMS pickle torch tensors into their CAM files."""
    return pytest.importorskip("torch", reason="IRN-family CAM files hold torch tensors: pip install 'samcam[sam]'")


def stride4(array: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(array[:, ::4, ::4])


# --------------------------------------------------------------- fixture writers
# One per method, as its CAM stage calls np.save.

def write_irn(path, keys, high_res):
    """IRN step/make_cam.py (CLIMS make_clims.py is the same)."""
    torch = need_torch()
    cam = torch.from_numpy(stride4(high_res))
    assert cam.shape[1:] == (math.ceil(high_res.shape[1] / 4), math.ceil(high_res.shape[2] / 4))
    np.save(path, {"keys": torch.tensor(keys, dtype=torch.int64), "cam": cam, "high_res": high_res})


def write_amn(path, keys, high_res):
    """AMN step/make_amn_cam.py: channel 0 background, keys 0-based foreground."""
    torch = need_torch()
    background = 1.0 - high_res.max(axis=0, keepdims=True)
    with_bg = np.concatenate([background, high_res]).astype(np.float32)
    np.save(path, {"keys": torch.tensor(keys, dtype=torch.int64), "cam": torch.tensor(stride4(with_bg)), "high_res": with_bg})


def write_clims_previous(path, keys, high_res):
    """CLIMS previous_version/inference_cam.py: keys background-padded, scores in hr_cam."""
    torch = need_torch()
    padded = np.pad(keys + 1, (1, 0), mode="constant")
    np.save(path, {"keys": padded, "cam": torch.from_numpy(stride4(high_res)), "hr_cam": high_res})


def write_mctformer(path, keys, high_res):
    """MCTformer main.py --gen_attention_maps: {int cls (0-based): (H, W) float32}."""
    np.save(path, {int(key): high_res[index] for index, key in enumerate(keys)})


def write_toco(path, keys, high_res):
    """ToCo tools/infer_seg_as_cam.py: numpy keys and high_res."""
    np.save(path, {"keys": keys.astype(np.int64), "high_res": high_res})


WRITERS = {
    "irn": write_irn,
    "amn": write_amn,
    "clims": write_irn,
    "clims_previous": write_clims_previous,
    "mctformer": write_mctformer,
    "toco": write_toco,
}


def own_label(method: str, keys, high_res, threshold: float, num_classes: int = 21) -> np.ndarray:
    """The method's own evaluation code, restated (not samcam's)."""
    if method == "mctformer":  # evaluation.py --type npy
        tensor = np.zeros((num_classes,) + high_res.shape[1:], np.float32)
        for index, key in enumerate(keys):
            tensor[key + 1] = high_res[index]
        tensor[0] = threshold
        return np.argmax(tensor, axis=0).astype(np.uint8)
    if method == "clims_previous":  # previous_version/evaluate.py
        padded_keys = np.pad(keys + 1, (1, 0), mode="constant")
        cams = np.pad(high_res, ((1, 0), (0, 0), (0, 0)), mode="constant", constant_values=threshold)
        return padded_keys[np.argmax(cams, axis=0)].astype(np.uint8)
    # IRN eval_cam.py, AMN eval_amn_cam.py (after dropping channel 0), ToCo eval_cam.py
    cams = np.pad(high_res, ((1, 0), (0, 0), (0, 0)), mode="constant", constant_values=threshold)
    lookup = np.pad(keys + 1, (1, 0), mode="constant")
    return lookup[np.argmax(cams, axis=0)].astype(np.uint8)


def build_dataset(tmp_path: Path, fixture: str, names=VOC_NAMES, num_classes: int = 21):
    """cams/{name}.npy in the method's format and masks/{name}.masks.npz; returns the scenes."""
    cams, mask_dir = tmp_path / "cams", tmp_path / "masks"
    cams.mkdir(), mask_dir.mkdir()
    scenes = {}
    for seed, name in enumerate(names):
        keys, high_res, masks = make_scene(seed, num_classes=num_classes)
        WRITERS[fixture](cams / f"{name}.npy", keys, high_res)
        samcam_masks.write(mask_dir / name, masks)
        scenes[name] = (keys, high_res, masks)
    return cams, mask_dir, scenes


def adapt(*argv) -> int:
    return main(["adapt", "--no-progress", *map(str, argv)])


def read_png(path):
    with Image.open(path) as image:
        return image.mode, np.array(image)


METHOD_FIXTURES = [("irn", "irn"), ("amn", "amn"), ("clims", "clims"), ("clims", "clims_previous"),
                   ("mctformer", "mctformer"), ("toco", "toco")]


# ------------------------------------------------------------------------------ tests

def test_registry_lists_the_five_methods():
    assert available() == ["amn", "clims", "irn", "mctformer", "toco"]
    assert get("irn") is irn.ADAPTER
    with pytest.raises(ValueError, match="known methods"):
        get("psa")


@pytest.mark.parametrize("method,fixture", METHOD_FIXTURES)
@pytest.mark.parametrize("rule", ["samcam", "official"])
def test_cli_refines_each_method_like_thresholding_then_refine(tmp_path, capsys, method, fixture, rule):
    cams, mask_dir, scenes = build_dataset(tmp_path, fixture)
    out = tmp_path / "out"
    assert adapt("--method", method, "--cams", cams, "--masks", mask_dir, "--out", out, "--rule", rule) == 0
    assert sorted(path.name for path in out.iterdir()) == sorted([f"{name}.png" for name in VOC_NAMES] + ["samcam.json"])
    threshold = 0.25 if fixture == "clims_previous" else OWN_THRESHOLD[method]
    changed = 0
    for name, (keys, high_res, masks) in scenes.items():
        mode, written = read_png(out / f"{name}.png")
        assert mode == "L"  # IRN/AMN/CLIMS/ToCo read with imageio; L is the default for all
        assert written.dtype == np.uint8 and written.shape == (H, W)
        assert set(np.unique(written)) <= {0, 255} | set((keys + 1).tolist())
        pseudo = own_label(fixture, keys, high_res, threshold)
        assert set(np.unique(pseudo)) - {0}, "fixture should have foreground"
        expected = samcam.refine(pseudo, masks, rule=rule)
        np.testing.assert_array_equal(written, expected)
        changed += int(not np.array_equal(expected, pseudo))
    assert changed, "the masks should change some pseudo labels, or this test proves little"
    captured = capsys.readouterr()
    assert "3 written" in captured.err
    assert str(out) in captured.out  # the next-stage hint names the folder


def test_hints_name_the_next_stage_flag(tmp_path, capsys):
    expected = {"irn": "--sem_seg_out_dir", "amn": "--sem_seg_out_dir", "clims": "LABEL_DIR",
                "mctformer": "--seg_pgt_path", "toco": "seg_map_path"}
    for method, flag in expected.items():
        hint = get(method).hint(tmp_path / "refined")
        assert f"{flag} {tmp_path / 'refined'}" in hint or f"{flag}='{tmp_path / 'refined'}'" in hint or \
            f"{flag}: {tmp_path / 'refined'}" in hint, hint
        assert "seg_map_path" in hint  # mmseg, for every method


def test_threshold_flag_overrides_the_methods_own(tmp_path):
    cams, mask_dir, scenes = build_dataset(tmp_path, "irn", names=VOC_NAMES[:1])
    out = tmp_path / "out"
    assert adapt("--method", "irn", "--cams", cams, "--masks", mask_dir, "--out", out,
                 "--threshold", "0.6", "--rule", "official") == 0
    keys, high_res, masks = scenes[VOC_NAMES[0]]
    expected = samcam.refine(own_label("irn", keys, high_res, 0.6), masks, rule="official")
    assert not np.array_equal(own_label("irn", keys, high_res, 0.6), own_label("irn", keys, high_res, 0.15))
    np.testing.assert_array_equal(read_png(out / f"{VOC_NAMES[0]}.png")[1], expected)


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
        np.testing.assert_array_equal(written, samcam.refine(own_label("mctformer", keys, high_res, 0.4), masks))
    assert "--seg_pgt_path" in capsys.readouterr().out


@pytest.mark.parametrize("method", ["irn", "amn", "clims", "toco"])
def test_palette_refused_for_imageio_readers(tmp_path, capsys, method):
    cams, mask_dir, _ = build_dataset(tmp_path, method if method != "clims" else "irn", names=VOC_NAMES[:1])
    assert adapt("--method", method, "--cams", cams, "--masks", mask_dir, "--out", tmp_path / "o", "--palette") == 2
    assert "imageio" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_size_mismatch_is_reported_and_others_finish(tmp_path, capsys):
    cams, mask_dir, scenes = build_dataset(tmp_path, "irn")
    bad = VOC_NAMES[1]
    samcam_masks.write(mask_dir / bad, np.zeros((2, H + 3, W), bool))
    out = tmp_path / "out"
    assert adapt("--method", "irn", "--cams", cams, "--masks", mask_dir, "--out", out) == 1
    assert sorted(p.stem for p in out.glob("*.png")) == sorted(set(VOC_NAMES) - {bad})
    err = capsys.readouterr().err
    assert "1 failed" in err and bad in err and f"{H}×{W}" in err and f"{H + 3}×{W}" in err


def test_names_without_masks_are_reported_not_dropped(tmp_path, capsys):
    cams, mask_dir, _ = build_dataset(tmp_path, "toco")
    missing = VOC_NAMES[2]
    os.remove(mask_dir / f"{missing}.masks.npz")
    out = tmp_path / "out"
    assert adapt("--method", "toco", "--cams", cams, "--masks", mask_dir, "--out", out) == 1
    err = capsys.readouterr().err
    assert "2 written" in err and "1 failed" in err and f"no masks for '{missing}'" in err


def test_list_with_a_name_without_cam_is_reported(tmp_path, capsys):
    cams, mask_dir, _ = build_dataset(tmp_path, "irn", names=VOC_NAMES[:2])
    listing = tmp_path / "train.txt"
    listing.write_text(f"{VOC_NAMES[0]}\n\n{VOC_NAMES[1]}\n2099_999999\n")
    samcam_masks.write(mask_dir / "2099_999999", np.zeros((1, H, W), bool))
    out = tmp_path / "out"
    assert adapt("--method", "irn", "--cams", cams, "--masks", mask_dir, "--out", out, "--list", listing) == 1
    err = capsys.readouterr().err
    assert "2099_999999" in err and "CAM file does not exist" in err
    assert sorted(p.stem for p in out.glob("*.png")) == VOC_NAMES[:2]


def test_resume_skips_and_overwrite_redoes(tmp_path, capsys):
    cams, mask_dir, _ = build_dataset(tmp_path, "amn")
    out = tmp_path / "out"
    argv = ["--method", "amn", "--cams", cams, "--masks", mask_dir, "--out", out]
    assert adapt(*argv) == 0
    target = out / f"{VOC_NAMES[0]}.png"
    before = target.read_bytes()
    target.write_bytes(b"sentinel")  # a skipped file is left as it is
    capsys.readouterr()
    assert adapt(*argv) == 0
    assert "0 written, 3 already done" in capsys.readouterr().err
    assert target.read_bytes() == b"sentinel"
    assert adapt(*argv, "--overwrite") == 0
    assert "3 written" in capsys.readouterr().err
    assert target.read_bytes() == before
    assert not [p for p in out.iterdir() if ".tmp" in p.name]


def test_source_png_keeps_ignore_as_the_rule_says(tmp_path, capsys):
    labels, mask_dir = tmp_path / "sem_seg", tmp_path / "masks"
    labels.mkdir(), mask_dir.mkdir()
    expected = {}
    for seed, name in enumerate(VOC_NAMES):
        keys, high_res, masks = make_scene(seed)
        pseudo = own_label("irn", keys, high_res, 0.3)
        pseudo[-4:, -4:] = 255  # unsure corner (as ir_label / CRF outputs have)
        Image.fromarray(pseudo, mode="L").save(labels / f"{name}.png")
        # only object masks: the corner is covered by no mask, so "keep" keeps 255 there
        samcam_masks.write(mask_dir / name, masks[:2])
        expected[name] = pseudo, masks[:2]
    out = tmp_path / "out"
    assert adapt("--method", "irn", "--source", "png", "--labels", labels, "--masks", mask_dir, "--out", out) == 0
    for name, (pseudo, masks) in expected.items():
        written = read_png(out / f"{name}.png")[1]
        assert (written[-4:, -4:] == 255).all()
        np.testing.assert_array_equal(written, samcam.refine(pseudo, masks))
    out_official = tmp_path / "official"
    assert adapt("--method", "irn", "--source", "png", "--labels", labels, "--masks", mask_dir,
                 "--out", out_official, "--rule", "official") == 0
    for name, (pseudo, masks) in expected.items():
        written = read_png(out_official / f"{name}.png")[1]
        assert 255 not in written  # the reference rule turns ignore into background
        np.testing.assert_array_equal(written, samcam.refine(pseudo, masks, rule="official"))


def test_source_png_reads_palette_pngs_and_amg_mask_folders(tmp_path):
    """MCTformer's PSA writes VOC-palette PNGs; SAM's amg.py writes one folder of PNGs per image."""
    labels, mask_dir = tmp_path / "out_rw", tmp_path / "sam"
    labels.mkdir(), mask_dir.mkdir()
    keys, high_res, masks = make_scene(3)
    pseudo = own_label("mctformer", keys, high_res, 0.39)
    image = Image.fromarray(pseudo, mode="P")
    image.putpalette(samcam.io.voc_palette())
    image.save(labels / "2007_000032.png")
    folder = mask_dir / "2007_000032"
    folder.mkdir()
    for index, mask in enumerate(masks):
        Image.fromarray(mask.astype(np.uint8) * 255).save(folder / f"{index}.png")
    out = tmp_path / "refined"
    assert adapt("--method", "mctformer", "--source", "png", "--labels", labels, "--masks", mask_dir,
                 "--out", out, "--palette") == 0
    np.testing.assert_array_equal(read_png(out / "2007_000032.png")[1], samcam.refine(pseudo, masks))


@pytest.mark.parametrize("coco_name", ["000000000009", "COCO_train2014_000000000025"])
def test_coco_81_classes(tmp_path, coco_name):
    cams, mask_dir, scenes = build_dataset(tmp_path, "amn", names=[coco_name], num_classes=81)
    keys = scenes[coco_name][0]
    keys[:] = [3, 79]  # a class beyond VOC's range
    keys_high_res, masks = scenes[coco_name][1], scenes[coco_name][2]
    write_amn(cams / f"{coco_name}.npy", keys, keys_high_res)
    out = tmp_path / "out"
    assert adapt("--method", "amn", "--cams", cams, "--masks", mask_dir, "--out", out) == 1  # 21 classes: refused
    assert adapt("--method", "amn", "--cams", cams, "--masks", mask_dir, "--out", out, "--num-classes", "81",
                 "--rule", "official") == 0
    written = read_png(out / f"{coco_name}.png")[1]
    # AMN's COCO branch evaluates with background 0.22
    pseudo = own_label("amn", keys, keys_high_res, 0.22)
    assert 80 in pseudo
    np.testing.assert_array_equal(written, samcam.refine(pseudo, masks, rule="official", num_classes=81))


def test_workers_give_the_same_result(tmp_path):
    cams, mask_dir, _ = build_dataset(tmp_path, "clims")
    assert adapt("--method", "clims", "--cams", cams, "--masks", mask_dir, "--out", tmp_path / "a") == 0
    assert adapt("--method", "clims", "--cams", cams, "--masks", mask_dir, "--out", tmp_path / "b", "--workers", "2") == 0
    for name in VOC_NAMES:
        assert (tmp_path / "a" / f"{name}.png").read_bytes() == (tmp_path / "b" / f"{name}.png").read_bytes()


def test_out_inside_an_input_folder_is_refused(tmp_path, capsys):
    cams, mask_dir, _ = build_dataset(tmp_path, "irn", names=VOC_NAMES[:1])
    assert adapt("--method", "irn", "--cams", cams, "--masks", mask_dir, "--out", cams / "refined") == 2
    assert "inside the input folder" in capsys.readouterr().err
    assert not (cams / "refined").exists()
    assert sorted(p.name for p in cams.iterdir()) == [f"{VOC_NAMES[0]}.npy"]


def test_bad_flag_combinations(tmp_path, capsys):
    cams, mask_dir, _ = build_dataset(tmp_path, "irn", names=VOC_NAMES[:1])
    common = ["--method", "irn", "--masks", mask_dir, "--out", tmp_path / "o"]
    assert adapt(*common) == 2  # no --cams
    assert adapt(*common, "--source", "png") == 2  # no --labels
    assert adapt(*common, "--source", "png", "--labels", cams, "--threshold", "0.2") == 2
    assert adapt(*common, "--cams", cams, "--rule", "official", "--use-scores") == 2
    err = capsys.readouterr().err
    assert "needs --cams" in err and "needs --labels" in err and "--threshold applies" in err and "hard label" in err


def test_wrong_method_for_the_files_names_the_file(tmp_path, capsys):
    cams, mask_dir, _ = build_dataset(tmp_path, "irn", names=VOC_NAMES[:1])
    assert adapt("--method", "amn", "--cams", cams, "--masks", mask_dir, "--out", tmp_path / "o") == 1
    err = capsys.readouterr().err
    assert f"{VOC_NAMES[0]}.npy" in err and "channel 0 should be background" in err
    assert adapt("--method", "mctformer", "--cams", cams, "--masks", mask_dir, "--out", tmp_path / "o") == 1
    assert "not a MCTformer" in capsys.readouterr().err


def test_malicious_cam_file_is_refused_in_the_batch(tmp_path, capsys):
    cams, mask_dir, _ = build_dataset(tmp_path, "irn", names=VOC_NAMES[:2])
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    np.save(cams / f"{VOC_NAMES[0]}.npy", np.array({"keys": Payload()}, dtype=object), allow_pickle=True)
    out = tmp_path / "out"
    assert adapt("--method", "irn", "--cams", cams, "--masks", mask_dir, "--out", out) == 1
    err = capsys.readouterr().err
    assert "refused to load" in err and "open" in err and VOC_NAMES[0] in err
    assert not marker.exists()
    assert [p.stem for p in out.glob("*.png")] == [VOC_NAMES[1]]


# ------------------------------------------------------------------ drop-in API

def test_drop_in_refine_cam_matches_the_cli(tmp_path):
    """irn.refine_cam on the dict IRN holds in memory (torch keys/cam, numpy high_res)."""
    torch = need_torch()
    keys, high_res, masks = make_scene(0)
    in_memory = {"keys": torch.tensor(keys), "cam": torch.from_numpy(stride4(high_res)), "high_res": high_res}
    refined = irn.refine_cam(in_memory, masks)
    assert refined.dtype == np.uint8 and refined.shape == (H, W)
    np.testing.assert_array_equal(refined, samcam.refine(own_label("irn", keys, high_res, 0.15), masks))
    # masks as a MaskSet, a list, or a path all work
    store = samcam_masks.write(tmp_path / "m", masks)
    np.testing.assert_array_equal(irn.refine_cam(in_memory, store), refined)
    np.testing.assert_array_equal(irn.refine_cam(in_memory, list(masks)), refined)
    official = irn.refine_cam(in_memory, masks, rule="official", threshold=0.3)
    np.testing.assert_array_equal(official, samcam.refine(own_label("irn", keys, high_res, 0.3), masks, rule="official"))


@pytest.mark.parametrize(
    "module,fixture",
    [(irn, "irn"), (amn, "amn"), (clims, "clims"), (clims, "clims_previous"), (mctformer, "mctformer"), (toco, "toco")],
)
def test_cam_to_label_and_scores_per_method(tmp_path, module, fixture):
    keys, high_res, masks = make_scene(5)
    WRITERS[fixture](tmp_path / "x.npy", keys, high_res)
    cam_dict = module.load_cam(tmp_path / "x.npy")
    threshold = 0.25 if fixture == "clims_previous" else OWN_THRESHOLD[module.ADAPTER.name]
    label = module.cam_to_label(cam_dict)
    np.testing.assert_array_equal(label, own_label(fixture, keys, high_res, threshold))
    np.testing.assert_array_equal(module.cam_to_label(cam_dict, threshold=0.05), own_label(fixture, keys, high_res, 0.05))
    scores = module.cam_scores(cam_dict)
    assert scores.shape == (21, H, W) and scores.dtype == np.float32
    assert np.all(scores[0] == np.float32(threshold))
    np.testing.assert_allclose(scores[keys + 1], high_res)
    absent = np.setdiff1d(np.arange(1, 21), keys + 1)
    assert not scores[absent].any()
    np.testing.assert_array_equal(np.argmax(scores, axis=0), label)  # scores rebuild the method's label
    with_scores = module.refine_cam(cam_dict, masks, use_scores=True)
    np.testing.assert_array_equal(with_scores, samcam.refine(label, masks, scores=scores))


def test_image_without_classes(tmp_path):
    torch = need_torch()
    empty_irn = {"keys": torch.zeros(0, dtype=torch.int64), "cam": torch.zeros(0, 10, 12), "high_res": np.zeros((0, H, W), np.float32)}
    masks = np.ones((1, H, W), bool)
    assert not irn.refine_cam(empty_irn, masks).any()
    assert not mctformer.refine_cam({}, masks).any()  # size taken from the masks
    with pytest.raises(ValueError, match="image size is unknown"):
        mctformer.cam_to_label({})


def test_bad_cam_dicts_give_clear_errors():
    keys, high_res, _ = make_scene(1)
    with pytest.raises(ValueError, match="channels but 1 classes"):
        irn.cam_to_label({"keys": keys[:1], "high_res": high_res})
    with pytest.raises(ValueError, match="outside 0..19"):
        toco.cam_to_label({"keys": np.array([3, 20]), "high_res": high_res})
    with pytest.raises(ValueError, match="NaN"):
        toco.cam_to_label({"keys": keys, "high_res": np.full_like(high_res, np.nan)})
    with pytest.raises(ValueError, match="not a ToCo"):
        toco.cam_to_label({"cam": high_res})
    with pytest.raises(ValueError, match="one size"):
        mctformer.cam_to_label({0: np.zeros((3, 3), np.float32), 1: np.zeros((4, 3), np.float32)})

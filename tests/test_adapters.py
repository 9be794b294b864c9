"""samcam-adapt and the drop-in adapter API, on fixtures written exactly in each method's format.

Each fixture writer below mirrors the ``np.save`` call of the method's CAM stage
(shapes, key types, torch vs numpy, background channel, COCO variants, images without
classes); each ``own_label`` mirrors the method's own label code (pad a background
plane, argmax, look up the keys), written independently of samcam so that the
adapters are checked against it. Upstream references are to the snapshots named in
the adapters' docstrings (file:line).
"""
from __future__ import annotations

import io
import math
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import samcam
from samcam import masks as samcam_masks
from samcam.adapters import amn, available, clims, clip_es, get, irn, mctformer, toco, transcam
from samcam.adapters.base import AdapterSetupError
from samcam.cli import adapt_main, main

H, W = 37, 45  # odd sizes: the stride-4 maps are ceil(H/4) x ceil(W/4)
VOC_NAMES = ["2007_000032", "2007_000039", "2008_000123"]
# Each method's own VOC threshold, from its code (not from samcam):
OWN_THRESHOLD = {
    "irn": 0.15,  # irn run_sample.py:30 --cam_eval_thres
    "amn": 0.25,  # AMN voc12 run_sample.py:40 --cam_eval_thres
    "clims": 0.15,  # CLIMS run_sample.py:59 --cam_eval_thres
    "clims_rw": 0.25,  # CLIMS previous_version/make_pseudo_labels.py:55 --threshold
    "mctformer": 0.39,  # MCTformer psa/infer_aff.py:73 --bg_thr
    "toco": 0.5,  # ToCo tools/eval_cam.py:19 --bkg_thre
    "clip-es": 2.0,  # CLIP-ES eval_cam.py:83 --cam_eval_thres (t >= 1: exponent of (1 - max)^t, :57-62)
    "transcam": 0.42,  # TransCAM infer_aff.py:62 --bkg
}
# ... and COCO threshold (None: the method has none)
OWN_COCO_THRESHOLD = {
    "irn": None,  # IRN has no COCO code
    "amn": 0.25,  # AMN coco14 run_sample_coco.py:43 --cam_eval_thres (0.22 at :75 is the random walk's)
    "clims": 0.15,  # CLIMS README.md:86 passes --cam_eval_thres 0.15 (parser default 0.1, run_sample_coco.py:53)
    "mctformer": None,  # no COCO threshold in MCTformer
    "toco": 0.4,  # ToCo tools/eval_cam_coco.py:18 --bkg_thre
    "clip-es": 2.0,  # CLIP-ES eval_cam.py:83, one script for VOC and COCO
    "transcam": None,  # TransCAM has no COCO code
}


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


def toco_scores(high_res: np.ndarray) -> np.ndarray:
    """Softmax probabilities without background, as ToCo's segmentation head gives them:
    softmax over [background, classes] (infer_seg_as_cam.py:71), background dropped (:73)."""
    logits = np.concatenate([np.full((1,) + high_res.shape[1:], 4.0, np.float32), 8.0 * high_res])
    exp = np.exp(logits - logits.max(axis=0, keepdims=True))
    return (exp / exp.sum(axis=0, keepdims=True))[1:].astype(np.float32)


def crf_dict(keys, high_res, alpha: int = 12) -> dict:
    """MCTformer engine.py _crf_with_alpha (branch MCTformerPlus, engine.py:224-237): background
    ``(1 - max)^alpha`` in front, CRF marginals, ``{0: bg, key + 1: ...}``. The dense CRF itself is
    replaced by a normalisation to probabilities: same keys, dtype, shapes, sum 1 per pixel."""
    bg = np.power(1 - np.max(high_res, axis=0, keepdims=True), alpha)
    scores = np.concatenate([bg, high_res]).astype(np.float64)
    probs = (scores / scores.sum(axis=0, keepdims=True)).astype(np.float32)
    out = {0: probs[0]}
    for index, key in enumerate(int(k) for k in keys):
        out[key + 1] = probs[index + 1]
    return out


# --------------------------------------------------------------- fixture writers
# One per method and layout, as its CAM stage calls np.save.

def write_irn(path, keys, high_res):
    """IRN step/make_cam.py:46-56 (CLIMS step/make_clims.py:90-121 is the same)."""
    torch = need_torch()
    cam = torch.from_numpy(stride4(high_res))
    assert cam.shape[1:] == (math.ceil(high_res.shape[1] / 4), math.ceil(high_res.shape[2] / 4))
    valid_cat = torch.tensor(keys, dtype=torch.int64)
    np.save(path, {"keys": valid_cat, "cam": cam, "high_res": high_res})


def write_amn(path, keys, high_res):
    """AMN step/make_amn_cam.py:54-77: channel 0 background, keys 0-based foreground (not padded)."""
    torch = need_torch()
    background = 1.0 - high_res.max(axis=0, keepdims=True)
    with_bg = np.concatenate([background, high_res]).astype(np.float32)
    np.save(path, {"keys": torch.tensor(keys, dtype=torch.int64), "cam": torch.tensor(stride4(with_bg)),
                   "high_res": with_bg})


def write_clims_previous(path, keys, high_res):
    """CLIMS previous_version/inference_cam.py:196-228: keys background-padded by np.pad on a
    torch tensor (-> numpy int64), scores in hr_cam."""
    torch = need_torch()
    padded = np.pad(torch.tensor(keys, dtype=torch.int64) + 1, (1, 0), mode="constant")
    assert isinstance(padded, np.ndarray) and padded.dtype == np.int64
    np.save(path, {"keys": padded, "cam": torch.from_numpy(stride4(high_res)), "hr_cam": high_res})


def rw_maps(high_res):
    """previous_version/inference_rw.py:177: one global max over all classes."""
    rw = high_res * np.linspace(0.6, 1.0, high_res.shape[0], dtype=np.float32)[:, None, None]
    return (rw / rw.max()).astype(np.float32)


def write_clims_rw(path, keys, high_res):
    """CLIMS previous_version/inference_rw.py:199: {"keys": the CAM file's padded keys, "rw": numpy}."""
    padded = np.pad(keys + 1, (1, 0), mode="constant")
    np.save(path, {"keys": padded, "rw": rw_maps(high_res)})


def write_mctformer(path, keys, high_res):
    """MCTformer engine.py:213-232 --gen_attention_maps: {python int cls (0-based): (H, W) float32}."""
    np.save(path, {int(key): high_res[index] for index, key in enumerate(keys)})


def write_mctformer_crf(path, keys, high_res):
    """MCTformer (branch MCTformerPlus) engine.py:210-217 --out-crf: {0: bg, k+1: class k}."""
    np.save(path, crf_dict(keys, high_res))


def write_toco(path, keys, high_res):
    """ToCo tools/infer_seg_as_cam.py:77-82: numpy keys, softmax high_res, no 'cam'."""
    np.save(path, {"keys": keys.astype(np.int64), "high_res": toco_scores(high_res)})


def clip_es_stored(keys, high_res):
    """What CLIP-ES stores for a scene: keys in the order the classes first appear among the
    image's XML objects (generate_cams_voc12.py:113-119, 146-147), here the reverse of the sorted
    scene keys, and each map min-max normalised by scale_cam_image (pytorch_grad_cam/utils/
    image.py:51-61) then cast to float16 (generate_cams_voc12.py:213)."""
    order = np.arange(len(keys))[::-1]
    maps = []
    for index in order:
        cam = high_res[index] - np.min(high_res[index])
        maps.append(cam / (1e-7 + np.max(cam)))
    return np.asarray([int(keys[i]) for i in order], dtype=np.int64), np.float32(maps).astype(np.float16)


def write_clip_es(path, keys, high_res):
    """CLIP-ES generate_cams_voc12.py:199-214 (COCO generate_cams_coco14.py:189-203):
    keys = torch.tensor(list of python ints).numpy() (int64), attn_highres float16 (K, H, W)."""
    stored_keys, maps = clip_es_stored(keys, high_res)
    np.save(path, {"keys": stored_keys, "attn_highres": maps})


def transcam_stored(keys, high_res, num_classes: int = 21):
    """TransCAM infer_TransCAM.py:69-79: the summed CAMs of the 20 classes (absent classes are
    zeroed by the label, :64), negatives to 0, min-max per class with the -1e-5 offset after
    zeroing, and only the image's classes kept, under python int keys."""
    num_classes = max(num_classes, int(np.max(keys)) + 2)  # TransCAM has 20 (:77); more only for COCO-sized tests
    sum_cam = np.zeros((num_classes - 1,) + high_res.shape[1:], np.float32)
    sum_cam[keys] = high_res * 3.0 - 0.2  # three scales' sum, some of it negative
    sum_cam[sum_cam < 0] = 0
    cam_max = np.max(sum_cam, (1, 2), keepdims=True)
    cam_min = np.min(sum_cam, (1, 2), keepdims=True)
    sum_cam[sum_cam < cam_min + 1e-5] = 0
    norm_cam = (sum_cam - cam_min - 1e-5) / (cam_max - cam_min + 1e-5)
    label = np.zeros(num_classes - 1, np.float32)
    label[keys] = 1
    return {i: norm_cam[i] for i in range(num_classes - 1) if label[i] > 1e-5}


def write_transcam(path, keys, high_res):
    """TransCAM infer_TransCAM.py:76-82: np.save of {int class 0-based: float32 (H, W)}."""
    np.save(path, transcam_stored(keys, high_res))


WRITERS = {
    "irn": write_irn,
    "amn": write_amn,
    "clims": write_irn,
    "clims_previous": write_clims_previous,
    "clims_rw": write_clims_rw,
    "mctformer": write_mctformer,
    "mctformer_crf": write_mctformer_crf,
    "toco": write_toco,
    "clip_es": write_clip_es,
    "transcam": write_transcam,
}


def own_label(fixture: str, keys, high_res, threshold=None, num_classes: int = 21) -> np.ndarray:
    """The method's own label code, restated (not samcam's)."""
    if fixture == "clip_es":  # CLIP-ES eval_cam.py:56-65, on the stored float16 maps
        stored_keys, cams = clip_es_stored(keys, high_res)
        if threshold < 1:
            cams = np.pad(cams, ((1, 0), (0, 0), (0, 0)), mode="constant", constant_values=threshold)
        else:
            bg_score = np.power(1 - np.max(cams, axis=0, keepdims=True), threshold)
            cams = np.concatenate((bg_score, cams), axis=0)
        padded_keys = np.pad(stored_keys + 1, (1, 0), mode="constant")
        return padded_keys[np.argmax(cams, axis=0)].astype(np.uint8)
    if fixture == "transcam":  # TransCAM evaluation.py:27-33 (infer_aff.py:100-104 puts the same planes)
        stored = transcam_stored(keys, high_res, num_classes)
        h, w = list(stored.values())[0].shape
        tensor = np.zeros((num_classes, h, w), np.float32)
        for key in stored.keys():
            tensor[key + 1] = stored[key]
        tensor[0, :, :] = threshold
        return np.argmax(tensor, axis=0).astype(np.uint8)
    if fixture == "mctformer":  # evaluation.py:31-36 --type npy (infer_aff.py:112-116 puts the same planes)
        tensor = np.zeros((num_classes,) + high_res.shape[1:], np.float32)
        for index, key in enumerate(keys):
            tensor[key + 1] = high_res[index]
        tensor[0] = threshold
        return np.argmax(tensor, axis=0).astype(np.uint8)
    if fixture == "mctformer_crf":  # one CRF dict: the key of the winning map (psa/voc12/data.py:205-225 per dict)
        stored = crf_dict(keys, high_res)
        order = list(stored.keys())
        return np.asarray(order)[np.argmax(np.array(list(stored.values())), axis=0)].astype(np.uint8)
    if fixture in ("clims_previous", "clims_rw"):  # evaluate.py:66-75 / make_pseudo_labels.py:98-108
        padded_keys = np.pad(keys + 1, (1, 0), mode="constant")
        maps = high_res if fixture == "clims_previous" else rw_maps(high_res)
        cams = np.pad(maps, ((1, 0), (0, 0), (0, 0)), mode="constant", constant_values=threshold)
        return padded_keys[np.argmax(cams, axis=0)].astype(np.uint8)
    if fixture == "toco":
        high_res = toco_scores(high_res)
    # IRN eval_cam.py:14-18, AMN eval_amn_cam.py:17-22 (after dropping channel 0), ToCo eval_cam.py:45-50
    cams = np.pad(high_res, ((1, 0), (0, 0), (0, 0)), mode="constant", constant_values=threshold)
    lookup = np.pad(keys + 1, (1, 0), mode="constant")
    return lookup[np.argmax(cams, axis=0)].astype(np.uint8)


def build_dataset(tmp_path: Path, fixture: str, names=VOC_NAMES, num_classes: int = 21, mask_names=None):
    """cams/{name}.npy in the method's format and masks/{mask name}.masks.npz; returns the scenes."""
    cams, mask_dir = tmp_path / "cams", tmp_path / "masks"
    cams.mkdir(exist_ok=True), mask_dir.mkdir(exist_ok=True)
    scenes = {}
    for seed, name in enumerate(names):
        keys, high_res, masks = make_scene(seed, num_classes=num_classes)
        WRITERS[fixture](cams / f"{name}.npy", keys, high_res)
        samcam_masks.write(mask_dir / (mask_names or {}).get(name, name), masks)
        scenes[name] = (keys, high_res, masks)
    return cams, mask_dir, scenes


def adapt(*argv) -> int:
    return main(["adapt", "--no-progress", *map(str, argv)])


def read_png(path):
    with Image.open(path) as image:
        return image.mode, np.array(image)


# (method, fixture, extra flags, own threshold)
METHOD_FIXTURES = [
    ("irn", "irn", (), OWN_THRESHOLD["irn"]),
    ("amn", "amn", (), OWN_THRESHOLD["amn"]),
    ("clims", "clims", (), OWN_THRESHOLD["clims"]),
    ("clims", "clims_rw", (), OWN_THRESHOLD["clims_rw"]),
    ("clims", "clims_previous", ("--threshold", "0.3"), 0.3),  # evaluate.py has no default: given
    ("mctformer", "mctformer", (), OWN_THRESHOLD["mctformer"]),
    ("mctformer", "mctformer_crf", ("--layout", "crf"), None),
    ("toco", "toco", (), OWN_THRESHOLD["toco"]),
    ("clip-es", "clip_es", (), OWN_THRESHOLD["clip-es"]),
    ("clip-es", "clip_es", ("--threshold", "1"), 1.0),  # eval_cam_with_crf.py:111's exponent
    ("clip-es", "clip_es", ("--threshold", "0.3"), 0.3),  # t < 1: a constant plane
    ("transcam", "transcam", (), OWN_THRESHOLD["transcam"]),
]


# ------------------------------------------------------------------------------ tests

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


@pytest.mark.parametrize("method,fixture,flags,threshold", METHOD_FIXTURES)
@pytest.mark.parametrize("rule", ["samcam", "official"])
def test_cli_refines_each_method_like_its_own_label_then_refine(tmp_path, capsys, method, fixture, flags, threshold,
                                                                rule):
    cams, mask_dir, scenes = build_dataset(tmp_path, fixture)
    out = tmp_path / "out"
    assert adapt("--method", method, "--cams", cams, "--masks", mask_dir, "--out", out, "--rule", rule, *flags) == 0
    assert sorted(path.name for path in out.iterdir()) == sorted([f"{name}.png" for name in VOC_NAMES] + ["samcam.json"])
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
    assert str(out) in captured.out  # the continuation names the folder


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


@pytest.mark.parametrize("method", ["irn", "amn", "clims", "toco"])
def test_palette_refused_for_imageio_readers(tmp_path, capsys, method):
    cams, mask_dir, _ = build_dataset(tmp_path, method, names=VOC_NAMES[:1])
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
    labels, mask_dir = tmp_path / "sem_seg_in", tmp_path / "masks"
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
    assert adapt(*common, "--cams", cams, "--layout", "crf") == 2  # IRN has no crf layout
    err = capsys.readouterr().err
    assert "needs --cams" in err and "needs --labels" in err and "--threshold applies" in err and "hard label" in err
    assert "has no layout 'crf'" in err and "its layouts: cam" in err


def test_the_wrong_method_stops_before_any_image_and_names_the_right_one(tmp_path, capsys):
    """IRN files given to AMN (a background channel short) or MCTformer (another layout): every
    file fails the same way, so the method is wrong, not the files: exit 2, naming the methods
    that read them, instead of one identical failure per image."""
    cams, mask_dir, _ = build_dataset(tmp_path, "irn", names=VOC_NAMES[:3])
    assert adapt("--method", "amn", "--cams", cams, "--masks", mask_dir, "--out", tmp_path / "o") == 2
    err = capsys.readouterr().err
    assert f"{VOC_NAMES[0]}.npy" in err and "channel 0 should be background" in err
    assert "use --method clims or irn" in err and "samcam adapt: error:" in err
    assert adapt("--method", "mctformer", "--cams", cams, "--masks", mask_dir, "--out", tmp_path / "o") == 2
    err = capsys.readouterr().err
    assert "not a MCTformer" in err and "use --method clims or irn" in err
    assert not (tmp_path / "o").exists()  # refused before samcam.json or any label


def test_a_file_of_no_layout_of_the_method_fails_per_image(tmp_path, capsys):
    """One IRN file among MCTformer's: that image fails, the others are written."""
    cams, mask_dir, _ = build_dataset(tmp_path, "mctformer", names=VOC_NAMES[:2])
    (tmp_path / "irn").mkdir()
    irn_cams, _, _ = build_dataset(tmp_path / "irn", "irn", names=VOC_NAMES[2:3])
    (irn_cams / f"{VOC_NAMES[2]}.npy").rename(cams / f"{VOC_NAMES[2]}.npy")
    (tmp_path / "irn" / "masks" / f"{VOC_NAMES[2]}.masks.npz").rename(mask_dir / f"{VOC_NAMES[2]}.masks.npz")
    assert adapt("--method", "mctformer", "--cams", cams, "--masks", mask_dir, "--out", tmp_path / "o") == 1
    err = capsys.readouterr().err
    assert f"{VOC_NAMES[2]}: " in err and "not a MCTformer" in err and "2 written" in err


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


# ------------------------------------------------------- point 10: whose file is it?

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


def test_origin_checks_only_guard_the_methods_own_threshold():
    keys, high_res, _ = make_scene(6)
    toco_dict = {"keys": keys, "high_res": toco_scores(high_res)}
    with pytest.raises(AdapterSetupError, match="looks like a toco"):
        irn.cam_to_label(toco_dict)
    np.testing.assert_array_equal(irn.cam_to_label(toco_dict, threshold=0.5), own_label("toco", keys, high_res, 0.5))


# ------------------------------------------------------------- COCO (points 2, 3, 6, 7)

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


def test_amn_coco_threshold_is_cam_eval_thres_not_the_random_walks():
    """0.25 (run_sample_coco.py:43), not 0.22 (:75, sem_seg_bg_thres): they differ on this scene."""
    need_torch()
    keys, high_res, _ = make_scene(7, num_classes=81)
    high_res[0, :3, :3] = 0.23
    buffer = io.BytesIO()
    write_amn(buffer, keys, high_res)
    buffer.seek(0)
    cam_dict = np.load(buffer, allow_pickle=True).item()
    label = amn.cam_to_label(cam_dict, num_classes=81)
    np.testing.assert_array_equal(label, own_label("amn", keys, high_res, 0.25, num_classes=81))
    assert not np.array_equal(label, own_label("amn", keys, high_res, 0.22, num_classes=81))


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


def test_keys_only_dict_with_classes_is_refused():
    need_torch()
    import torch

    with pytest.raises(ValueError, match="not a AMN"):
        amn.cam_to_label({"keys": torch.tensor([3])}, num_classes=81, image_shape=(4, 4))


def test_amn_coco_ids_find_their_image_named_masks_and_keep_the_id(tmp_path, capsys):
    """AMN names CAMs 000000057870 (coco14/train14.txt); images, and so masks, are
    COCO_train2014_000000057870 (coco14/dataloader.py:42-45). AMN's COCO readers want
    {id}.png (eval_sem_seg_coco.py:20)."""
    ids = ["000000057870", "000000384029"]
    mask_names = {ids[0]: f"COCO_train2014_{ids[0]}", ids[1]: f"COCO_val2014_{ids[1]}"}
    cams, mask_dir, scenes = build_dataset(tmp_path, "amn", names=ids, num_classes=81, mask_names=mask_names)
    out = tmp_path / "out"
    assert adapt("--method", "amn", "--cams", cams, "--masks", mask_dir, "--out", out, "--num-classes", "81") == 0
    assert sorted(p.name for p in out.glob("*.png")) == [f"{i}.png" for i in ids]
    for name, (keys, high_res, masks) in scenes.items():
        expected = samcam.refine(own_label("amn", keys, high_res, 0.25, num_classes=81), masks, num_classes=81)
        np.testing.assert_array_equal(read_png(out / f"{name}.png")[1], expected)
    # masks under two names for one id: ambiguous, reported
    samcam_masks.write(mask_dir / f"COCO_val2014_{ids[0]}", scenes[ids[0]][2])
    assert adapt("--method", "amn", "--cams", cams, "--masks", mask_dir, "--out", tmp_path / "o2",
                 "--num-classes", "81") == 1
    assert "under several names" in capsys.readouterr().err
    # none for one id: its error lists every name tried, the other is written
    (mask_dir / f"COCO_val2014_{ids[0]}.masks.npz").unlink()
    (mask_dir / f"COCO_val2014_{ids[1]}.masks.npz").unlink()
    assert adapt("--method", "amn", "--cams", cams, "--masks", mask_dir, "--out", tmp_path / "o3",
                 "--num-classes", "81") == 1
    err = capsys.readouterr().err
    assert f"COCO_train2014_{ids[1]}" in err and f"COCO_val2014_{ids[1]}" in err and "1 written" in err
    # none at all: an empty mask folder is one configuration error
    for path in mask_dir.iterdir():
        path.unlink()
    assert adapt("--method", "amn", "--cams", cams, "--masks", mask_dir, "--out", tmp_path / "o4",
                 "--num-classes", "81") == 2
    assert "expected masks per image" in capsys.readouterr().err and not (tmp_path / "o4").exists()


def test_only_bare_coco_ids_get_the_image_prefixes():
    assert irn.ADAPTER.mask_names("2007_000032") == ["2007_000032"]
    assert irn.ADAPTER.mask_names("COCO_train2014_000000000009") == ["COCO_train2014_000000000009"]
    assert amn.ADAPTER.mask_names("000000000009") == [
        "000000000009", "COCO_train2014_000000000009", "COCO_val2014_000000000009"]


# ------------------------------------------------------ MCTformer CRF dicts (point 5)

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


def test_crf_dict_given_to_transcam_names_mctformers_crf_layout():
    """TransCAM has no crf layout: the refusal names the method and layout that read the file."""
    keys, high_res, _ = make_scene(3)
    with pytest.raises(AdapterSetupError, match="--method mctformer --layout crf"):
        transcam.cam_to_label(crf_dict(keys, high_res))


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


# ----------------------------------------------- CLIMS previous_version (point 9)

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


# ------------------------------------------------------- the method-folder guard

GUARDED = [
    ("irn", "result/sem_seg"), ("irn", "result/ir_label"), ("irn", "result/ins_seg"),
    ("amn", "result/amn_ir_label"), ("amn", "result/sem_seg_coco"),
    ("clims", "clims_voc12/sem_seg"), ("clims", "any_work_space/ir_label"),
    ("clims", "experiments/predictions/AffinityNet@ResNet50@train@beta=10@exp_times=8@rw@crf=1"),
    ("mctformer", "MCTformer_results/MCTformer_v2/pgt-psa-rw"),
    ("mctformer", "MCTformer_results/attn-patchrefine-npy-crf_12"),
    ("toco", "work_dir/2023/cam_label_crf2/train/pred"),
    ("toco", "VOC2012/SegmentationClassAug"), ("irn", "VOC2012/SegmentationClass"),
    ("clip-es", "output/voc12/cams"), ("clip-es", "output/coco14/pseudo_masks"), ("clip-es", "final/ablation/baseline"),
    ("transcam", "data/transcam/out_rw"), ("transcam", "data/transcam/out_crf_0.25"), ("transcam", "data/out_rw"),
    ("transcam", "VOCdevkit/VOC2012/SegmentationClass"),
]


@pytest.mark.parametrize("method,folder", GUARDED)
def test_out_that_is_a_method_folder_is_refused(tmp_path, capsys, method, folder):
    fixture = {"irn": "irn", "amn": "amn", "clims": "clims", "mctformer": "mctformer", "toco": "toco",
               "clip-es": "clip_es", "transcam": "transcam"}[method]
    cams, mask_dir, _ = build_dataset(tmp_path, fixture, names=VOC_NAMES[:1])
    out = tmp_path / folder
    assert adapt("--method", method, "--cams", cams, "--masks", mask_dir, "--out", out) == 2
    err = capsys.readouterr().err
    assert "own stages write" in err and "--overwrite-method-folder" in err
    assert not out.exists()
    assert adapt("--method", method, "--cams", cams, "--masks", mask_dir, "--out", out,
                 "--overwrite-method-folder") == 0
    assert (out / f"{VOC_NAMES[0]}.png").exists()


def test_guard_matches_by_path_suffix_only():
    guard = irn.ADAPTER.method_folder
    assert guard("result/sem_seg") is not None
    assert guard("/data/irn/result/sem_seg/") is not None
    assert guard("result/sem_seg_samcam") is None
    assert guard("sem_seg") is None  # IRN's folders live under result/
    assert guard("result/sem_seg/refined") is None  # a new folder inside is not IRN's own
    assert clims.ADAPTER.method_folder("clims_voc12/sem_seg_samcam") is None


def test_guard_sees_through_symlinks(tmp_path):
    (tmp_path / "result" / "sem_seg").mkdir(parents=True)
    (tmp_path / "link").symlink_to(tmp_path / "result" / "sem_seg")
    assert irn.ADAPTER.method_folder(tmp_path / "link") is not None


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


# ------------------------------------------------------------- CLIP-ES and TransCAM

def _float16_flips(threshold: float, rule: str) -> np.ndarray:
    """float16 values m where CLIP-ES's float16 plane and a float32 one disagree on whether m,
    the top class score, beats background: proof that the precision matters."""
    m16 = np.arange(1, 0x3C00, dtype=np.uint16).view(np.float16)  # every float16 in (0, 1)
    if rule == "power":
        wins16 = m16 > np.power(1 - m16, threshold)  # eval_cam.py:61, all float16
        wins32 = m16.astype(np.float32) > np.power(1 - m16.astype(np.float32), np.float32(threshold))
    else:
        wins16 = m16 > np.float16(threshold)  # np.pad(float16, constant_values=t), eval_cam.py:59
        wins32 = m16.astype(np.float32) > np.float32(threshold)
    return m16[wins16 != wins32]


@pytest.mark.parametrize("threshold,rule", [(2.0, "power"), (0.15, "constant")])
def test_clip_es_thresholds_in_float16_as_its_eval_cam_does(threshold, rule):
    flips = _float16_flips(threshold, rule)
    assert flips.size, "no value where float16 and float32 disagree: the test would prove nothing"
    # one image whose single class map holds exactly those values, next to a clear object
    maps = np.zeros((1, 2, max(flips.size, 2)), np.float16)
    maps[0, 0, :flips.size] = flips
    maps[0, 1, :] = 1
    cam_dict = {"keys": np.array([6], np.int64), "attn_highres": maps}
    label = clip_es.cam_to_label(cam_dict, threshold=None if threshold == 2.0 else threshold)
    if rule == "power":
        bg = np.power(1 - np.max(maps, axis=0, keepdims=True), threshold)
        cams = np.concatenate((bg, maps), axis=0)
    else:
        cams = np.pad(maps, ((1, 0), (0, 0), (0, 0)), mode="constant", constant_values=threshold)
    expected = np.pad(cam_dict["keys"] + 1, (1, 0), mode="constant")[np.argmax(cams, axis=0)].astype(np.uint8)
    np.testing.assert_array_equal(label, expected)
    assert (label[1] == 7).all()


def test_clip_es_keys_keep_their_stored_unsorted_order():
    keys, high_res, masks = make_scene(3)
    stored_keys, maps = clip_es_stored(keys, high_res)
    assert stored_keys.tolist() == sorted(stored_keys.tolist(), reverse=True)  # not ascending
    cam_dict = {"keys": stored_keys, "attn_highres": maps}
    label = clip_es.cam_to_label(cam_dict)
    np.testing.assert_array_equal(label, own_label("clip_es", keys, high_res, 2.0))
    # a tie between two classes goes to the map stored first, as np.argmax over the stored order does
    tied = {"keys": np.array([9, 2], np.int64), "attn_highres": np.full((2, 3, 3), 0.75, np.float16)}
    assert (clip_es.cam_to_label(tied) == 10).all()


def test_clip_es_scores_carry_the_power_plane():
    keys, high_res, masks = make_scene(4)
    stored_keys, maps = clip_es_stored(keys, high_res)
    cam_dict = {"keys": stored_keys, "attn_highres": maps}
    scores = clip_es.cam_scores(cam_dict)
    expected_bg = np.power(1 - np.max(maps, axis=0), np.float16(2.0)).astype(np.float32)
    np.testing.assert_array_equal(scores[0], expected_bg)
    in_float32 = np.power(1 - np.max(maps.astype(np.float32), axis=0), np.float32(2.0))
    assert not np.array_equal(scores[0], in_float32)  # the plane is CLIP-ES's float16 one
    np.testing.assert_array_equal(scores[stored_keys + 1], maps.astype(np.float32))
    label = clip_es.cam_to_label(cam_dict)
    np.testing.assert_array_equal(np.argmax(scores, axis=0), label)
    np.testing.assert_array_equal(clip_es.refine_cam(cam_dict, masks, use_scores=True),
                                  samcam.refine(label, masks, scores=scores))


def test_clip_es_and_transcam_files_are_not_each_others():
    keys, high_res, _ = make_scene(2)
    clip_dict = {"keys": clip_es_stored(keys, high_res)[0], "attn_highres": clip_es_stored(keys, high_res)[1]}
    with pytest.raises(ValueError, match="not a TransCAM"):
        transcam.cam_to_label(clip_dict)
    with pytest.raises(ValueError, match="not a CLIP-ES"):
        clip_es.cam_to_label(transcam_stored(keys, high_res))
    with pytest.raises(ValueError, match="not a CLIP-ES"):
        clip_es.cam_to_label({"keys": keys, "high_res": high_res})  # an IRN-family file


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

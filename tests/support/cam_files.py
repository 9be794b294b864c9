"""CAM files written exactly in each method's format, and each method's own label code restated.

Shared by the adapter tests (tests/adapters/) and the tests that need a method's CAM folder.
Each fixture writer mirrors the ``np.save`` call of the method's CAM stage (shapes, key
types, torch vs numpy, background channel, COCO variants, images without classes); each
``own_label`` mirrors the method's own label code (pad a background plane, argmax, look up
the keys), written independently of samcam so that the adapters are checked against it.
Upstream references are to the snapshots named in the adapters' docstrings (file:line).
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from samcam import masks as samcam_masks
from samcam.cli import main

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

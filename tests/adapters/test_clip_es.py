"""CLIP-ES (samcam.adapters.clip_es): float16 thresholds as its eval_cam.py computes them, keys
in their stored order, the power background plane, and files that are TransCAM's."""
from __future__ import annotations

import numpy as np
import pytest
from cam_files import clip_es_stored, make_scene, own_label, transcam_stored

import samcam
from samcam.adapters import clip_es, transcam


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


"""AMN (samcam.adapters.amn): its COCO threshold, keys-only COCO files and COCO ids whose masks
are named after their images."""
from __future__ import annotations

import io

import numpy as np
import pytest
from cam_files import adapt, build_dataset, make_scene, need_torch, own_label, read_png, write_amn

import samcam
from samcam import masks as samcam_masks
from samcam.adapters import amn


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


"""The method adapter (samcam.adapters.base.MethodAdapter): the drop-in refine_cam API, the
mask names of COCO ids, and the guard that keeps --out off the folders a method's own
stages write."""
from __future__ import annotations

import numpy as np
import pytest
from cam_files import VOC_NAMES, H, W, adapt, build_dataset, make_scene, need_torch, own_label, stride4

import samcam
from samcam import masks as samcam_masks
from samcam.adapters import amn, clims, irn


def test_only_bare_coco_ids_get_the_image_prefixes():
    assert irn.ADAPTER.mask_names("2007_000032") == ["2007_000032"]
    assert irn.ADAPTER.mask_names("COCO_train2014_000000000009") == ["COCO_train2014_000000000009"]
    assert amn.ADAPTER.mask_names("000000000009") == [
        "000000000009", "COCO_train2014_000000000009", "COCO_val2014_000000000009"]


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


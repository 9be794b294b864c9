"""CLIMS (CVI-SZU/CLIMS, IRN code base): CAMs from ``step/make_clims.py``, and the
camera-ready ``previous_version/`` CAM and random-walk files.

Facts (CVI-SZU/CLIMS master @ f9546d3):

- CAMs: ``{work_space}/cam_mask/{name}.npy`` in IRN's format (``keys`` torch int64
  0-based, ``cam`` torch stride 4, ``high_res`` numpy (K, H, W), each class divided by
  its max + 1e-5; step/make_clims.py:90-97, 120-121). VOC threshold ``--cam_eval_thres``
  0.15 (run_sample.py:59; step/eval_cam.py:25-30). COCO (step_coco/make_clims.py:100-131)
  writes the same layout, with 0 channels for an image without classes; its
  ``--cam_eval_thres`` defaults to 0.1 (run_sample_coco.py:53) but the README's COCO
  command passes 0.15 (README.md:86), the value behind its results: samcam uses 0.15.
  COCO names are the image stems ``COCO_train2014_...`` (mscoco/dataloader.py:118).
- Every output path is joined to ``--work_space`` (run_sample.py:117-124), so an
  absolute path escapes it: continuations use absolute paths. Stage flags:
  ``str2bool``, default False, ``if args.X is True`` (run_sample.py:25-33, 104-186).
  ``make_sem_seg`` reads the CAMs of ``{work_space}/{--cam_out_dir}`` (default
  ``cam_mask``, run_sample.py:97, 120; step/make_sem_seg_labels.py:40; COCO
  run_sample_coco.py:118, step_coco/make_sem_seg_labels.py:36), whatever was refined:
  the continuation that runs it passes ``--cam_out_dir`` = the refined ``--cams``
  (absolute), and a ``--cams`` named ``cam_mask`` (CLIMS's own layout) gives the work
  space, its parent. Refined PNG labels (no ``--cams``) leave ``--work_space`` to fill in.
- ``previous_version/`` (camera-ready): ``inference_cam.py`` writes ``{"keys": numpy
  int64 [0, k1+1, ...], "cam": torch (K, h/4, w/4), "hr_cam": numpy (K, H, W)}``
  (inference_cam.py:227-228). Its ``evaluate.py`` has **no** threshold default: it
  sweeps 0.05..0.75 (evaluate.py:13, 214-229), so samcam needs ``--threshold``.
  ``inference_rw.py`` writes ``{"keys": same padded keys, "rw": numpy (K, H, W)}``
  (inference_rw.py:199), the random-walk maps that ``make_pseudo_labels.py`` turns
  into the final pseudo labels with background 0.25 (make_pseudo_labels.py:55,
  98-109; ``keys[argmax]``, with its default ``--crf_iteration 0``).
- DeepLabV2 (segmentation/deeplabv2) trains on ``DATASET.LABEL_DIR/{id}.png`` read with
  PIL (configs/voc12_imagenet_pretrained.yaml:8, main_v2.py:134, libs/datasets/voc.py:162).
"""
import os
import shlex
from typing import Dict

from .base import CamFormat, Continuation, LabelSet, MethodAdapter, MethodFolder, Note, RunFolders

_DRIVER = "run_sample.py"  # the stage driver every path below is joined in
# the --work_space of CLIMS's README commands (README.md:48, 52, 86), left to fill in where samcam cannot tell
_OWN_WORK_SPACE = {"voc": "clims_voc12", "coco": "clims_coco"}


def _work_space(run: RunFolders) -> Dict[str, str]:
    """``--work_space`` and ``--cam_out_dir`` of the continuations, from the CAMs refined.

    make_sem_seg reads ``{work_space}/{cam_out_dir}`` (run_sample.py:120); an absolute
    ``--cam_out_dir`` is kept by ``os.path.join``, so it reads the refined ``--cams``.
    """
    own = _OWN_WORK_SPACE.get(run.dataset or "voc", "clims_voc12")
    if run.cams is None:
        return {"work_space": own, "cam_out_dir": "",
                "cams_read": f"CLIMS's CAMs in {own}/cam_mask (--work_space must be the one you ran CLIMS with)"}
    work_space = os.path.dirname(run.cams) if os.path.basename(run.cams) == "cam_mask" else own
    return {"work_space": shlex.quote(work_space), "cam_out_dir": f" --cam_out_dir {shlex.quote(run.cams)}",
            "cams_read": "the CAMs you refined (--cams)"}


ADAPTER = MethodAdapter(
    name="clims",
    title="CLIMS (CVI-SZU/CLIMS)",
    cam_dir="clims_voc12/cam_mask",
    cam_formats=(
        CamFormat(
            "cam", "step/make_clims.py:120-121", "high_res",
            threshold=0.15, threshold_source="run_sample.py:59 (--cam_eval_thres), used by step/eval_cam.py:27",
            coco_threshold=0.15,
            coco_source="README.md:86 passes --cam_eval_thres 0.15 to run_sample_coco.py (its parser "
                        "default is 0.1, run_sample_coco.py:53)",
            required_key="cam", other_method="toco",
        ),
        CamFormat(
            "hr_cam", "previous_version/inference_cam.py:227-228", "hr_cam",
            threshold=None, keys_include_background=True,
            no_threshold="previous_version/evaluate.py:13 has --threshold default None and sweeps "
                         "0.05..0.75 (evaluate.py:214-229); pass its best Th",
            coco_source="previous_version has no COCO code",
        ),
        CamFormat(
            "rw", "previous_version/inference_rw.py:199", "rw",
            threshold=0.25, threshold_source="previous_version/make_pseudo_labels.py:55 (--threshold), "
                                             "used at make_pseudo_labels.py:101",
            coco_source="previous_version has no COCO code",
            keys_include_background=True,
        ),
    ),
    label_sets=(
        LabelSet("clims_voc12/sem_seg", "final pseudo labels after the random walk (bg 0.2), 0..20"),
        LabelSet("clims_voc12/ir_label", "IR labels from CAM + CRF (fg 0.3 / bg 0.1), 255 unsure"),
        LabelSet("previous_version/experiments/predictions/AffinityNet@ResNet50@train@beta=10@exp_times=8@rw@crf=1",
                 "previous_version make_pseudo_labels.py output (rw with bg 0.25, CRF), 0..20"),
    ),
    method_folders=(
        # joined to any --work_space (run_sample.py:117-124): matched by their own name
        MethodFolder("cam_mask", f"step/make_clims.py ({_DRIVER} make_clims_pass, --cam_out_dir)"),
        MethodFolder("ir_label", f"step/cam_to_ir_label.py ({_DRIVER} cam_to_ir_label_pass, --ir_label_out_dir)"),
        MethodFolder("sem_seg", f"step/make_sem_seg_labels.py ({_DRIVER} make_sem_seg_pass, --sem_seg_out_dir)"),
        MethodFolder("ins_seg", f"{_DRIVER} (--ins_seg_out_dir)"),
        # previous_version writes every result to experiments/predictions/{experiment}@...
        MethodFolder("experiments/predictions/*@*",
                     "previous_version inference_cam.py / inference_rw.py / make_pseudo_labels.py"),
    ),
    palette_allowed=False,
    run_from="the CLIMS repository root; VOC2012 / COCO = your dataset folders; a relative --work_space "
             "(clims_voc12 / clims_coco) = the one you ran CLIMS with, where logs and new weights go",
    template_values=_work_space,
    continuations=(
        Continuation(
            "evaluate them with CLIMS's eval_sem_seg on VOC train (only stages named True run)",
            "python run_sample.py --voc12_root VOC2012 --work_space {work_space} --sem_seg_out_dir {out} "
            "--eval_sem_seg_pass True --log_name eval_samcam",
        ),
        Continuation(
            "or train IRN on them as CLIMS's IR labels (needs all train_aug names), then random-walk new "
            "labels from {cams_read} into {out}_rw and evaluate those",
            "python run_sample.py --voc12_root VOC2012 --work_space {work_space}{cam_out_dir} --ir_label_out_dir "
            "{out} --train_irn_pass True --irn_weights_name res50_irn_samcam.pth --make_sem_seg_pass True "
            "--sem_seg_out_dir {out}_rw --eval_sem_seg_pass True --log_name irn_samcam",
        ),
        Continuation(
            "or train CLIMS's DeepLabV2: in segmentation/deeplabv2/configs/voc12_imagenet_pretrained.yaml set "
            "DATASET.LABEL_DIR: {out} (and DATASET.ROOT), then in segmentation/deeplabv2 run (its "
            "run_voc12_imagenet_pretrained.sh pins CUDA_VISIBLE_DEVICES=7)",
            "python main_v2.py train --config-path configs/voc12_imagenet_pretrained.yaml",
        ),
        Continuation(
            "evaluate them with CLIMS's COCO eval_sem_seg (it does not map 255 to background)",
            "python run_sample_coco.py --mscoco_root COCO --work_space {work_space} --sem_seg_out_dir {out} "
            "--eval_sem_seg_pass True --log_name eval_samcam",
            datasets=("coco",),
        ),
    ),
    notes=(
        Note("previous_version's own evaluate.py and make_pseudo_labels.py run only on the authors' hosts "
             "(get_host_ip check, evaluate.py:26-40); evaluate its labels with the commands above.", ("voc",)),
        Note("CLIMS's COCO threshold: samcam's default with --num-classes 81 is 0.15, what CLIMS's README passes "
             "to run_sample_coco.py (README.md:86); run_sample_coco.py's own default is 0.1 (:53): pass "
             "--threshold 0.1 for that.", ("coco",)),
    ),
)

load_cam = ADAPTER.load_cam
cam_to_label = ADAPTER.cam_to_label
cam_scores = ADAPTER.cam_scores
refine_cam = ADAPTER.refine_cam

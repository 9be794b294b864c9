"""IRN (jiwoon-ahn/irn): CAMs from ``step/make_cam.py``, labels for IRN or DeepLab.

Facts (jiwoon-ahn/irn @ a2ece00):

- CAMs: ``result/cam/{name}.npy`` = ``{"keys": torch.int64 (K,) 0-based,
  "cam": torch.float32 (K, ceil(H/4), ceil(W/4)), "high_res": numpy float32 (K, H, W)}``,
  each class divided by its max + 1e-5 (step/make_cam.py:46-56).
- Own pseudo label (step/eval_cam.py:13-18): background plane ``--cam_eval_thres``
  0.15 (run_sample.py:30), argmax, keys + 1. IRN has no COCO code. AMN's repository
  writes the same CAMs to ``result/cam`` and scores them at 0.25 (AMN voc12
  run_sample.py:40, step/eval_cam.py:15): ``--threshold 0.25`` to match AMN's baseline.
- Stage flags (run_sample.py:64-72) have no ``type`` and default ``True``; each stage
  runs ``if args.X is True`` (85-133). Passing *any* value, ``True`` included, gives
  the string and SKIPS the stage; every stage not named runs. So a continuation names
  every stage it does not want (``--train_cam_pass 0``) and leaves unnamed only the
  ones it wants.
- Writers: make_cam -> ``--cam_out_dir`` (make_cam.py:55), cam_to_ir_label ->
  ``--ir_label_out_dir`` (cam_to_ir_label.py:42), make_ins_seg -> ``--ins_seg_out_dir``
  (make_ins_seg_labels.py:152), make_sem_seg -> ``--sem_seg_out_dir``
  (make_sem_seg_labels.py:51); train_irn writes ``--irn_weights_name`` (train_irn.py:110)
  and reads ``--ir_label_out_dir`` (train_irn.py:17-18); eval_sem_seg reads
  ``--sem_seg_out_dir`` with imageio, 255 -> 0 (eval_sem_seg.py:14-15). All label
  readers use imageio, so refined labels are plain 8-bit ``L`` PNGs. The log opens
  with mode "w" (misc/pyutils.py:9): continuations use their own ``--log_name``.
"""
from .base import CamFormat, Continuation, LabelSet, MethodAdapter, MethodFolder

# every IRN stage, in run_sample.py's order; a continuation names all it does not run
_STAGES = ("train_cam", "make_cam", "eval_cam", "cam_to_ir_label", "train_irn",
           "make_ins_seg", "eval_ins_seg", "make_sem_seg", "eval_sem_seg")


def _skip(*run: str) -> str:
    """IRN flags that skip every stage but ``run`` (any value given skips a stage)."""
    return " ".join(f"--{stage}_pass 0" for stage in _STAGES if stage not in run)


ADAPTER = MethodAdapter(
    name="irn",
    title="IRN (jiwoon-ahn/irn)",
    cam_dir="result/cam",
    cam_formats=(
        CamFormat(
            "cam", "step/make_cam.py:55-56", "high_res",
            threshold=0.15, threshold_source="run_sample.py:30 (--cam_eval_thres), used by step/eval_cam.py:15 "
                                             "(AMN's repository scores its IRN result/cam at 0.25: AMN voc12 "
                                             "run_sample.py:40, step/eval_cam.py:15)",
            coco_source="IRN has no COCO code; for AMN's coco14 IRN-format result/cam_coco files its "
                        "run_sample_coco.py:43 uses 0.25",
            required_key="cam", other_method="toco",
        ),
    ),
    label_sets=(
        LabelSet("result/sem_seg", "final pseudo labels after the random walk (bg 0.25), 0..20"),
        LabelSet("result/ir_label", "IR labels from CAM + CRF (fg 0.30 / bg 0.05), 255 unsure; read by train_irn"),
    ),
    method_folders=(
        MethodFolder("result/cam", "step/make_cam.py (make_cam_pass, --cam_out_dir)"),
        MethodFolder("result/ir_label", "step/cam_to_ir_label.py (cam_to_ir_label_pass, --ir_label_out_dir)"),
        MethodFolder("result/sem_seg", "step/make_sem_seg_labels.py (make_sem_seg_pass, --sem_seg_out_dir)"),
        MethodFolder("result/ins_seg", "step/make_ins_seg_labels.py (make_ins_seg_pass, --ins_seg_out_dir)"),
    ),
    palette_allowed=False,
    run_from="the IRN repository root; VOC2012 = your VOC devkit's VOC2012 folder",
    continuations=(
        Continuation(
            "evaluate them with IRN's eval_sem_seg on VOC train (every other stage is named, so none runs)",
            "python run_sample.py --voc12_root VOC2012 --sem_seg_out_dir {out} --log_name eval_samcam "
            + _skip("eval_sem_seg"),
        ),
        Continuation(
            "or train IRN on them as its IR labels (needs all train_aug names), then random-walk new "
            "labels into {out}_rw and evaluate those",
            "python run_sample.py --voc12_root VOC2012 --ir_label_out_dir {out} "
            "--irn_weights_name sess/res50_irn_samcam.pth --sem_seg_out_dir {out}_rw --log_name irn_samcam "
            + _skip("train_irn", "make_sem_seg", "eval_sem_seg"),
        ),
        Continuation(
            "or train DeepLab on them with mmsegmentation",
            "samcam mmseg-config --labels {out} --data-root VOC2012 --out {out}_mmseg.py",
        ),
    ),
)

load_cam = ADAPTER.load_cam
cam_to_label = ADAPTER.cam_to_label
cam_scores = ADAPTER.cam_scores
refine_cam = ADAPTER.refine_cam

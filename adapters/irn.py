"""IRN (jiwoon-ahn/irn): CAMs from ``step/make_cam.py``, labels for DeepLab or IRN.

- CAMs: ``result/cam/{name}.npy`` = ``{"keys": torch.int64 (K,) 0-based,
  "cam": torch.float32 (K, ceil(H/4), ceil(W/4)), "high_res": float32 (K, H, W)}``.
- Own pseudo label (``eval_cam.py``): background plane ``cam_eval_thres`` = 0.15.
- PNGs it already writes: ``result/sem_seg/`` (after random walk) and
  ``result/ir_label/`` (CRF, 255 unsure; read by ``train_irn``), read with imageio, so
  refined labels are written as plain 8-bit ``L`` PNGs.
"""
from .base import CamFormat, LabelSet, MethodAdapter

ADAPTER = MethodAdapter(
    name="irn",
    title="IRN (jiwoon-ahn/irn)",
    cam_dir="result/cam",
    cam_formats=(CamFormat("high_res", threshold=0.15),),
    label_sets=(
        LabelSet("result/sem_seg", "final pseudo labels after the random walk (bg 0.25), 0..20"),
        LabelSet("result/ir_label", "IR labels from CAM + CRF (fg 0.30 / bg 0.05), 255 unsure; read by train_irn"),
    ),
    palette_allowed=False,
    next_stage=(
        "IRN: evaluate them with\n"
        "  python run_sample.py --voc12_root VOC2012 --sem_seg_out_dir {out} --eval_sem_seg_pass True\n"
        "(refined ir_label PNGs feed IRN's own training instead: --ir_label_out_dir {out} --train_irn_pass True)"
    ),
)

load_cam = ADAPTER.load_cam
cam_to_label = ADAPTER.cam_to_label
cam_scores = ADAPTER.cam_scores
refine_cam = ADAPTER.refine_cam

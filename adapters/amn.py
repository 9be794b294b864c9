"""AMN (gaviotas/AMN, an IRN fork): CAMs from ``step/make_amn_cam.py``.

- CAMs: ``result/amn_cam/{name}.npy`` = ``{"keys": torch.int64 (K,) 0-based,
  "cam": torch (K+1, h/4, w/4), "high_res": float32 (K+1, H, W)}`` with **channel 0
  background** (softmax over 21 classes); ``eval_amn_cam.py`` drops it and pads a
  background plane of ``cam_eval_thres`` = 0.25 (AMN's default; 0.22 in its COCO branch).
- PNGs it already writes: ``result/amn_ir_label/`` (fg 0.45 / bg 0.15, CRF) and
  ``result/sem_seg/``; read with imageio, so refined labels are ``L`` PNGs.
"""
from .base import CamFormat, LabelSet, MethodAdapter

ADAPTER = MethodAdapter(
    name="amn",
    title="AMN (gaviotas/AMN)",
    cam_dir="result/amn_cam",
    cam_formats=(CamFormat("high_res", threshold=0.25, coco_threshold=0.22, background_channel=True),),
    label_sets=(
        LabelSet("result/sem_seg", "final pseudo labels after the random walk (bg 0.25), 0..20"),
        LabelSet("result/amn_ir_label", "IR labels from AMN CAMs + CRF (fg 0.45 / bg 0.15), 255 unsure"),
    ),
    palette_allowed=False,
    next_stage=(
        "AMN: evaluate them with\n"
        "  python run_sample.py --voc12_root VOC2012 --sem_seg_out_dir {out} --eval_sem_seg_pass True\n"
        "(refined amn_ir_label PNGs feed IRN training instead: --amn_ir_label_out_dir {out} --train_irn_pass True)"
    ),
)

load_cam = ADAPTER.load_cam
cam_to_label = ADAPTER.cam_to_label
cam_scores = ADAPTER.cam_scores
refine_cam = ADAPTER.refine_cam

"""CLIMS (CVI-SZU/CLIMS, IRN code base): CAMs from ``step/make_clims.py``.

- CAMs: ``{work_space}/cam_mask/{name}.npy`` in IRN's format (``keys`` torch int64
  0-based, ``cam`` stride 4, ``high_res`` (K, H, W), no background); own pseudo label
  with background 0.15 (``cam_eval_thres``).
- The older ``previous_version/`` writes ``{"keys": [0, k1+1, ...], "cam",
  "hr_cam": (K, H, W)}`` and evaluates with background 0.25; read as well.
- PNGs it already writes: ``{work_space}/ir_label/`` and ``{work_space}/sem_seg/``.
  Its DeepLabV2 trainer reads ``LABEL_DIR/{id}.png``.
"""
from .base import CamFormat, LabelSet, MethodAdapter

ADAPTER = MethodAdapter(
    name="clims",
    title="CLIMS (CVI-SZU/CLIMS)",
    cam_dir="clims_voc12/cam_mask",
    cam_formats=(
        CamFormat("high_res", threshold=0.15),
        CamFormat("hr_cam", threshold=0.25, keys_include_background=True),
    ),
    label_sets=(
        LabelSet("clims_voc12/sem_seg", "final pseudo labels after the random walk (bg 0.2), 0..20"),
        LabelSet("clims_voc12/ir_label", "IR labels from CAM + CRF (fg 0.3 / bg 0.1), 255 unsure"),
    ),
    palette_allowed=False,
    next_stage=(
        "CLIMS: in segmentation/deeplabv2/configs/voc12_imagenet_pretrained.yaml set\n"
        "  DATASET:\n    LABEL_DIR: {out}\n"
        "then run `bash run_voc12_imagenet_pretrained.sh` in segmentation/deeplabv2."
    ),
)

load_cam = ADAPTER.load_cam
cam_to_label = ADAPTER.cam_to_label
cam_scores = ADAPTER.cam_scores
refine_cam = ADAPTER.refine_cam

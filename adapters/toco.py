"""ToCo (rulixiang/ToCo, single stage): segmentation-head scores saved as CAMs.

- CAMs: ``tools/infer_seg_as_cam.py`` writes ``{run}/cams/{name}.npy`` =
  ``{"keys": numpy int64 (K,) 0-based, "high_res": float32 (K, H, W)}`` (softmax
  scores, background dropped); ``tools/eval_cam.py`` pads a background plane 0.5.
- PNGs it already writes: ``tools/infer_cam_crf_label.py --save_label`` ->
  ``{run}/cam_label_crf2/{split}/pred/`` (0..20, 255 unsure, CRF).
- No ToCo stage reads pseudo labels back; its dataset code reads
  ``SegmentationClassAug/{name}.png`` with imageio, so labels are ``L`` PNGs.
"""
from .base import CamFormat, LabelSet, MethodAdapter

ADAPTER = MethodAdapter(
    name="toco",
    title="ToCo (rulixiang/ToCo)",
    cam_dir="work_dir/cams",
    cam_formats=(CamFormat("high_res", threshold=0.5),),
    label_sets=(LabelSet("work_dir/cam_label_crf2/train/pred", "CAM + CRF labels (low 0.25 / high 0.7), 255 unsure"),),
    palette_allowed=False,
    next_stage=(
        "ToCo: no ToCo stage reads pseudo labels back; train a segmentation network on {out}/\n"
        "(ToCo's own loader reads SegmentationClassAug/{{name}}.png: point that folder at {out})."
    ),
)

load_cam = ADAPTER.load_cam
cam_to_label = ADAPTER.cam_to_label
cam_scores = ADAPTER.cam_scores
refine_cam = ADAPTER.refine_cam

"""ToCo (rulixiang/ToCo, single stage): segmentation-head scores saved as CAMs.

Facts (rulixiang/ToCo @ e13514d):

- CAMs: ``tools/infer_seg_as_cam.py`` (COCO: ``tools/infer_seg_as_cam_coco.py``) writes
  ``{run}/cams/{name}.npy`` = ``{"keys": numpy int64 (K,) 0-based, "high_res": numpy
  float32 (K, H, W)}`` (infer_seg_as_cam.py:40-42, 71-82): softmax over 21 (81)
  classes with the background dropped, so the scores sum to at most 1 per pixel; there
  is **no** ``cam`` key (IRN-family files have one).
- Own threshold: ``tools/eval_cam.py --bkg_thre`` 0.5 (eval_cam.py:19; padded at 46);
  COCO ``tools/eval_cam_coco.py --bkg_thre`` 0.4 (eval_cam_coco.py:18; padded at 51).
- Its CRF labels: ``tools/infer_cam_crf_label.py --save_label`` ->
  ``{run}/cam_label_crf2/{split}/pred/`` and ``pred_rgb/`` (infer_cam_crf_label.py:40-45,
  112-114).
- No ToCo stage reads pseudo-label files. Its dataset reads
  ``SegmentationClassAug/{name}.png`` (datasets/voc.py:37, 49-57), but training
  discards it (``img_name, image, _ = super().__getitem__(idx)``, voc.py:169) and
  validation uses it as ground truth (voc.py:237-247;
  scripts/dist_train_voc_seg_neg.py:165-172): refined labels never go there. They
  train a separate segmentation network.
"""
from .base import CamFormat, Continuation, LabelSet, MethodAdapter, MethodFolder

ADAPTER = MethodAdapter(
    name="toco",
    title="ToCo (rulixiang/ToCo)",
    cam_dir="work_dir/cams",
    cam_formats=(
        CamFormat(
            "cam", "tools/infer_seg_as_cam.py:82", "high_res",
            threshold=0.5, threshold_source="tools/eval_cam.py:19 (--bkg_thre), used at eval_cam.py:46",
            coco_threshold=0.4, coco_source="tools/eval_cam_coco.py:18 (--bkg_thre), used at eval_cam_coco.py:51",
            forbidden_key="cam", probabilities=True, other_method="irn or --method clims",
        ),
    ),
    label_sets=(LabelSet("work_dir/cam_label_crf2/train/pred", "CAM + CRF labels (low 0.25 / high 0.7), 255 unsure"),),
    method_folders=(
        MethodFolder("cams", "tools/infer_seg_as_cam.py ({run}/cams)"),
        MethodFolder("cam_label_crf2/*/pred", "tools/infer_cam_crf_label.py --save_label"),
        MethodFolder("cam_label_crf2/*/pred_rgb", "tools/infer_cam_crf_label.py --save_label"),
        # ToCo validates against it (datasets/voc.py:37, 237-247)
        MethodFolder("SegmentationClass/*2014", "ToCo's COCO ground truth (tools/eval_cam_coco.py:37-40)"),
    ),
    palette_allowed=False,
    run_from="anywhere: no ToCo stage reads pseudo labels back (ToCo discards SegmentationClassAug in "
             "training and validates against it: leave it untouched); VOC2012 = your VOC devkit's VOC2012 folder",
    continuations=(
        Continuation(
            "train a segmentation network on them, e.g. DeepLab with mmsegmentation",
            "samcam mmseg-config --labels {out} --data-root VOC2012 --out {out}_mmseg.py",
        ),
    ),
)

load_cam = ADAPTER.load_cam
cam_to_label = ADAPTER.cam_to_label
cam_scores = ADAPTER.cam_scores
refine_cam = ADAPTER.refine_cam

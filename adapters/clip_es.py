"""CLIP-ES (linyq2117/CLIP-ES, training-free CLIP CAMs): ``generate_cams_voc12.py`` /
``generate_cams_coco14.py`` files, labels for deeplab-pytorch.

Facts (linyq2117/CLIP-ES @ 3893f81; kazuto1011/deeplab-pytorch @ 4219467):

- CAMs: ``{--cam_out_dir}/{name}.npy`` = ``{"keys": numpy int64 (K,), "attn_highres":
  numpy float16 (K, H, W)}`` (generate_cams_voc12.py:209-214; COCO
  generate_cams_coco14.py:198-203). ``keys`` are 0-based foreground class ids in the
  order the classes first appear among the image's VOC XML objects, **not sorted**
  (generate_cams_voc12.py:113-119, 146-147); COCO takes them from the columns of
  ``coco14/train.txt`` (generate_cams_coco14.py:109-113, 218-221). Each map is the
  attention-refined CAM min-max normalised to [0, 1] (``scale_cam_image``,
  pytorch_grad_cam/utils/image.py:51-61) at image size, cast to float16. Every image
  has classes (VOC: the script stops at one without, :121-123; every coco14/train.txt
  line lists some).
- Own pseudo label, ``eval_cam.py:57-65``: with ``--cam_eval_thres`` t < 1 a constant
  plane t, with t >= 1 the plane ``(1 - max_k cam_k)^t`` (computed in float16, the
  maps' dtype); argmax; ``keys + 1`` padded with 0. Default t = 2 (eval_cam.py:83),
  for VOC and COCO alike (one script). Its main block sweeps t over [1, 2] for
  ``attn`` CAMs and reports the best (:99-117). ``eval_cam_with_crf.py`` makes the
  training masks: exponent 1 (:111; its own ``--cam_eval_thres``, :145, is never used
  there), DenseCRF, 255 where the CRF's confidence is below 0.95 (:118-124), written
  with ``cv2.imwrite`` as 8-bit grayscale. samcam's default is t = 2, the argparse
  default; ``--threshold 1`` (``threshold=1``) is the one setting for the training
  masks' exponent (without their CRF). The hint after a run says so.
- Next stage: DeepLab-v2 with deeplab-pytorch (CLIP-ES README, Step 3). Its ``vocaug``
  dataset (configs/voc12.yaml:5-15) reads ``{DATASET.ROOT}/VOC2012/ImageSets/
  SegmentationAug/{split}.txt``, each line ``/JPEGImages/x.jpg /SegmentationClassAug/
  x.png``, and opens ``os.path.join(root, column[1:])`` with PIL (libs/datasets/voc.py:
  65-86; palette PNGs fine). ``main.py train`` takes only ``--config-path`` and writes
  checkpoints to ``{EXP.OUTPUT_DIR}/models/{EXP.ID}/{MODEL.NAME lower}/{SPLIT.TRAIN}/``
  (main.py:95-106, 196-203, 282); ``main.py test --config-path --model-path`` evaluates
  on ``SPLIT.VAL`` from the same root (main.py:286-321). So the continuation builds a
  symlinked dataset root whose ``SegmentationClassAug`` is the refined folder and a
  config copy pointing at it under a new ``EXP.ID``; testing uses a copy with your root.
"""
from .base import CamFormat, Continuation, LabelSet, MethodAdapter, MethodFolder

ADAPTER = MethodAdapter(
    name="clip-es",
    title="CLIP-ES (linyq2117/CLIP-ES)",
    cam_dir="output/voc12/cams",
    cam_formats=(
        CamFormat(
            "cam", "generate_cams_voc12.py:209-214 (COCO: generate_cams_coco14.py:198-203)", "attn_highres",
            threshold=2.0,
            threshold_source="eval_cam.py:83 (--cam_eval_thres); t >= 1 is the exponent of (1 - max)^t, "
                             "t < 1 a constant plane (eval_cam.py:57-62); its main block reports the better "
                             "of t = 1 and 2 (:99-117) and the training masks use 1 (eval_cam_with_crf.py:111)",
            coco_threshold=2.0, coco_source="eval_cam.py:83, the same script for COCO (eval_cam.py:87-93)",
            power_from=1.0,
        ),
    ),
    label_sets=(
        LabelSet("output/voc12/pseudo_masks",
                 "eval_cam_with_crf.py masks: (1 - max)^1 background + DenseCRF, 255 where the CRF is less "
                 "than 0.95 sure; 8-bit grayscale 0..20, 255"),
    ),
    method_folders=(
        # the folders its README's commands (Step 1, 2) and its scripts' defaults write
        MethodFolder("output/*/cams", "generate_cams_voc12.py / generate_cams_coco14.py --cam_out_dir (README)"),
        MethodFolder("output/*/pseudo_masks", "eval_cam_with_crf.py --pseudo_mask_save_path (README)"),
        MethodFolder("final/ablation/baseline", "generate_cams_voc12.py --cam_out_dir default (:221)"),
        MethodFolder("final/ablation/coco_test", "generate_cams_coco14.py --cam_out_dir default (:210)"),
    ),
    palette_allowed=True,
    run_from="the deeplab-pytorch repository root (CLIP-ES README, Step 3); VOC2012 = your VOC devkit's "
             "VOC2012 folder with ImageSets/SegmentationAug (deeplab-pytorch data/datasets/voc12/README.md), "
             "and configs/voc12.yaml's DATASET.ROOT set to your VOCdevkit",
    continuations=(
        Continuation(
            "a dataset root for deeplab-pytorch whose VOC2012/SegmentationClassAug is the refined folder "
            "(symlinks; your VOC2012 is untouched; the labels must cover every train_aug name)",
            'mkdir -p {out}_root/VOC2012 && ln -sfn "$(realpath VOC2012/JPEGImages)" {out}_root/VOC2012/JPEGImages '
            '&& ln -sfn "$(realpath VOC2012/ImageSets)" {out}_root/VOC2012/ImageSets '
            "&& ln -sfn {out} {out}_root/VOC2012/SegmentationClassAug",
        ),
        Continuation(
            "two copies of configs/voc12.yaml under EXP.ID voc12_samcam: one trains from that root, one tests "
            "with your ground truth",
            "sed 's#^    ID: voc12$#    ID: voc12_samcam#' configs/voc12.yaml > configs/voc12_samcam_test.yaml "
            "&& sed 's#^    ROOT: .*#    ROOT: '{out}'_root#' configs/voc12_samcam_test.yaml > configs/voc12_samcam.yaml",
            # sed's delimiter (also YAML's comment marker) and replacement specials; YAML's
            # mapping marker in the unquoted ROOT value; a line break
            unsafe_in_path=("#", "&", "\\", "\n", ": "),
        ),
        Continuation(
            "train DeepLab-v2 on them (checkpoints in data/models/voc12_samcam/)",
            "python main.py train --config-path configs/voc12_samcam.yaml",
        ),
        Continuation(
            "evaluate it on VOC val against your ground truth",
            "python main.py test --config-path configs/voc12_samcam_test.yaml "
            "--model-path data/models/voc12_samcam/deeplabv2_resnet101_msc/train_aug/checkpoint_final.pth",
        ),
        Continuation(
            "or train DeepLab on them with mmsegmentation",
            "samcam mmseg-config --labels {out} --data-root VOC2012 --out {out}_mmseg.py",
        ),
    ),
    notes=("CLIP-ES's threshold: samcam's default t = 2 is eval_cam.py's --cam_eval_thres default (:83), the "
           "exponent of (1 - max)^t; eval_cam.py itself reports the better of t = 1 and 2 (:99-117), and the masks "
           "CLIP-ES trains DeepLab on use t = 1 before a DenseCRF (eval_cam_with_crf.py:111): pass --threshold 1 "
           "for those.",),
)

load_cam = ADAPTER.load_cam
cam_to_label = ADAPTER.cam_to_label
cam_scores = ADAPTER.cam_scores
refine_cam = ADAPTER.refine_cam

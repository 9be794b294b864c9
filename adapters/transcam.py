"""TransCAM (liruiwen/TransCAM): CAMs from ``infer_TransCAM.py``, labels for its PSA random
walk's evaluation and its DeepLab.

Facts (liruiwen/TransCAM @ 4ffe693):

- CAMs: ``{--out_cam}/{name}.npy`` (default ``data/transcam/out_cam``) = ``{class: numpy
  float32 (H, W)}`` with python int keys 0-based, only the image's classes
  (infer_TransCAM.py:69-82): multi-scale + flip sum, negatives set to 0, min-max
  normalised per class; pixels at the minimum become a tiny negative value (the
  ``- 1e-5`` offset at :74 comes after zeroing at :73), so every map's minimum is below
  0. MCTformer writes the same layout with minima of exactly 0 and threshold 0.39: a
  dict with a map whose minimum is >= 0 is refused as MCTformer's when 0.42 would be used.
- Own threshold: ``infer_aff.py --bkg`` 0.42 (:62), the constant background plane
  put in front of the CAMs (class k at channel k+1) before the random walk (:100-104).
  ``evaluation.py`` has no threshold of its own: ``--curve`` (``type=bool``, default
  True, so always on from the command line) sweeps 0.00..0.59 (:112-130), a constant
  plane ``tensor[0] = t`` in a float32 21-channel tensor (:28-33). No COCO code.
- Its labels: ``infer_TransCAM.py`` writes CRF labels of the 0.60 and 0.25 planes to
  ``{--out_crf}_0.60`` / ``_0.25`` (:89-98), read by ``train_aff.py`` (:29-30);
  ``infer_aff.py`` writes the random-walk + CRF pseudo labels to ``--out_rw``
  (default ``data/transcam/out_rw``, :63, 131-141), 8-bit ``L`` PNGs 0..20. These are
  what the SAM reference code ships as ``pseudo_labels/transcam`` (1,464 VOC train PNGs).
- Next stage: ``train_deeplab.py`` takes no arguments; ``deeplab/config.py`` is a dict
  (``DATA_PSEUDO_GT`` 'data/out_rw' at :26, not where infer_aff.py writes; LOG_DIR
  ``log/{EXP_NAME}`` emptied on start, deeplab/utils/configuration.py:22-26;
  MODEL_SAVE_DIR 'data' at :56, checkpoints named by model and dataset only,
  train_deeplab.py:121-131). ``VOCDataset`` reads ``{DATA_PSEUDO_GT}/{name}.png`` with
  PIL for the train period (deeplab/datasets/VOCDataset.py:35-38, 76-79;
  BaseDataset.py:63-64), 255 ignored (BaseDataset.py:48-51), for every name of
  ``VOCdevkit/VOC2012/ImageSets/Segmentation/trainaug.txt`` (``DATA_AUG`` True,
  deeplab/config.py:16; train_deeplab.py:34 ``period = 'train'``; VOCDataset.py:41-42
  reads ``{period}aug.txt``): all 10,582 train_aug images need a label. The
  continuation sets the dict from ``python -c`` before running train_deeplab.py, so
  config.py stays as it is.
"""
from .base import CamFormat, Continuation, LabelSet, MethodAdapter, MethodFolder, Note

ADAPTER = MethodAdapter(
    name="transcam",
    title="TransCAM (liruiwen/TransCAM)",
    cam_dir="data/transcam/out_cam",
    cam_formats=(
        CamFormat(
            "cam", "infer_TransCAM.py:76-82", None,
            threshold=0.42, threshold_source="infer_aff.py:62 (--bkg), the plane in front of the CAMs at :104; "
                                             "evaluation.py sweeps 0.00..0.59 with no default (:112-130)",
            coco_source="TransCAM has no COCO code",
            class_dict=True, map_minimum="negative", other_method="mctformer",
        ),
    ),
    label_sets=(
        LabelSet("data/transcam/out_rw", "infer_aff.py random walk (bkg 0.42) + CRF, 8-bit grayscale 0..20; the "
                                         "SAM reference code's pseudo_labels/transcam"),
        LabelSet("data/transcam/out_crf_0.25", "infer_TransCAM.py CRF labels of the 0.25 plane (AffinityNet's "
                                               "high-alpha labels), 0..20"),
    ),
    method_folders=(
        MethodFolder("out_cam", "infer_TransCAM.py --out_cam (default data/transcam/out_cam)"),
        MethodFolder("out_crf_*", "infer_TransCAM.py --out_crf + '_0.60' / '_0.25'"),
        MethodFolder("out_rw", "infer_aff.py --out_rw (default data/transcam/out_rw); deeplab/config.py's "
                               "DATA_PSEUDO_GT default data/out_rw"),
    ),
    palette_allowed=True,
    run_from="the TransCAM repository root, with VOCdevkit/VOC2012 inside it as its scripts expect "
             "(--voc12_root default, deeplab/datasets/VOCDataset.py:26)",
    continuations=(
        Continuation(
            "evaluate them on VOC train with TransCAM's evaluation.py (--curve '' is False under its type=bool "
            "parsing: without it the labels are scored 60 times)",
            "python evaluation.py --predict_dir {out} --type png --curve '' --logfile evallog_samcam.txt "
            "--comment samcam",
        ),
        Continuation(
            "train TransCAM's DeepLab on them: DATA_PSEUDO_GT set to them, checkpoints to {out}_deeplab, "
            "TensorBoard log to log/transcam_samcam (deeplab/config.py is not edited); it trains on every "
            "name of VOCdevkit/VOC2012/ImageSets/Segmentation/trainaug.txt (deeplab/datasets/VOCDataset.py:41-42), "
            "so refine all 10,582 train_aug images",
            "python -c \"import os, runpy, sys; from deeplab.config import config_dict as c; "
            "c.update(DATA_PSEUDO_GT=sys.argv[1], EXP_NAME='transcam_samcam', "
            "LOG_DIR=os.path.join(c['ROOT_DIR'], 'log', 'transcam_samcam'), MODEL_SAVE_DIR=sys.argv[1] + '_deeplab'); "
            "runpy.run_path('train_deeplab.py', run_name='__main__')\" {out}",
        ),
        Continuation(
            "or train DeepLab on them with mmsegmentation",
            "samcam mmseg-config --labels {out} --data-root VOCdevkit/VOC2012 --out {out}_mmseg.py",
        ),
    ),
    notes=(Note("test_deeplab.py loads TEST_CKPT (deeplab/config.py:59-60): point it at "
                "the _deeplab folder's deeplabv1_resnet38_VOCDataset_itr20000_all.pth to test that model.", ("voc",)),),
)

load_cam = ADAPTER.load_cam
cam_to_label = ADAPTER.cam_to_label
cam_scores = ADAPTER.cam_scores
refine_cam = ADAPTER.refine_cam

"""MCTformer (xulianuwa/MCTformer): class-token attention maps from ``main.py --gen_attention_maps``.

Facts (xulianuwa/MCTformer main @ 0acc27a = MCTformer+ code; branch MCTformerPlus @
9606597 = v1/v2 code):

- CAMs: ``{--cam-npy-dir}/{name}.npy`` = ``{cls: numpy float32 (H, W)}`` with python
  int keys 0..19 (0-based, present classes only), each min-max normalised, at image
  size (main:engine.py:213-232; MCTformerPlus:engine.py:191-208). An image without
  classes gets no file (``if target[b].sum() > 0``). ``x - x.min()`` (main:engine.py:221)
  leaves no value below 0, while every TransCAM map has one (same dict layout, threshold
  0.42): a dict with negative scores is refused as TransCAM's when 0.39 would be used.
- Own threshold: the one upstream default that turns these maps into labels is PSA's
  ``psa/infer_aff.py --bg_thr`` 0.39, "the optimal one obtained for seeds"
  (infer_aff.py:73): background plane 0.39 in front of ``cam[k]`` at channel k + 1
  (infer_aff.py:112-116), then its random walk and argmax. ``evaluation.py --type npy``
  has no default ``--t`` (evaluation.py:121, 128-129; ``--curve`` sweeps). No COCO
  threshold anywhere.
- ``--out-crf X`` (v1/v2 code, MCTformerPlus:main.py:143-145, engine.py:210-237) also
  writes ``X_1/`` and ``X_12/``: ``{0: background, k+1: class k}`` float32 (H, W) CRF
  marginals (they sum to 1 per pixel), background ``(1 - max_k cam)^alpha``. By keys
  alone they look like a 0-based CAM dict, so they are read only with
  ``layout="crf"`` (``--layout crf``): label = key of the argmax, no threshold. A
  crf-looking dict read as ``cam`` (key 0 present, maps summing to 1 everywhere) is
  refused.
- Next stage: ``seg/train_seg.py --seg_pgt_path DIR`` reads ``{DIR}/{name}.png`` with
  PIL (seg/tool/exutils.py:125; train_seg.py:21-28, 44-47 for its flags), so a palette
  PNG is fine, for every name of ``--list_path`` (train_seg.py:56): the first name
  without a label stops it with FileNotFoundError. ``evaluation.py --type png``
  evaluates a PNG folder (evaluation.py:23-25, 115-134; ``--comment`` required; its log
  is appended to ``--logfile``).
- COCO: ``coco/train_id.txt`` lists all 82,783 train2014 images, about 700 of which
  have no class (ToCo's and CLIP-ES's lists of images with classes have 82,081), so
  they get no CAM file (engine.py:212) and no refined label. The COCO training command
  therefore reads ``{out}/refined_names.txt``, which the adapt job writes for it: the
  names of the labels in the folder. (MCTformer's own COCO CAM step names its files
  from ``coco/train_aug_id.txt``, engine.py:155, which the repository lacks while the
  dataset reads ``coco/train_id.txt``, datasets.py:61: copy the one to the other first.)
"""
from .base import CamFormat, Continuation, LabelSet, MethodAdapter, MethodFolder

ADAPTER = MethodAdapter(
    name="mctformer",
    title="MCTformer (xulianuwa/MCTformer)",
    cam_dir="MCTformer_results/attn-patchrefine-npy",
    cam_formats=(
        CamFormat(
            "cam", "engine.py:232 (main; MCTformerPlus branch engine.py:208)", None,
            threshold=0.39, threshold_source="psa/infer_aff.py:73 (--bg_thr, 'the optimal one obtained for seeds')",
            coco_source="MCTformer has no COCO threshold (evaluation.py --t has no default)",
            class_dict=True, map_minimum="zero", other_method="transcam",
        ),
        CamFormat(
            "crf", "engine.py:210-237 (MCTformerPlus branch, --out-crf)", None,
            threshold=None, no_threshold="CRF dicts carry their own background", class_dict=True,
            background_key=True, auto=False,
        ),
    ),
    label_sets=(LabelSet("pgt-psa-rw", "PSA random-walk labels (infer_aff.py --out_rw), VOC palette, 0..20"),),
    method_folders=(
        # the folders MCTformer's own scripts (run.sh, run_psa.sh) write, and main.py's default
        MethodFolder("cam-npy", "main.py --gen_attention_maps (--cam-npy-dir default)"),
        MethodFolder("attn-patchrefine-npy", "main.py --gen_attention_maps (run_psa.sh --cam-npy-dir)"),
        MethodFolder("attn-patchrefine-npy-crf_*", "main.py --out-crf (run_psa.sh)"),
        MethodFolder("attn-patchrefine", "main.py --attention-dir (run_psa.sh)"),
        MethodFolder("pgt-psa-rw", "psa/infer_aff.py --out_rw (run_psa.sh)"),
    ),
    palette_allowed=True,
    run_from="the MCTformer repository root; VOC2012 = your VOC devkit's VOC2012 folder, res38_cls.pth = "
             "the classification weights its README links",
    continuations=(
        Continuation(
            "evaluate them on VOC train with MCTformer's evaluation.py",
            "python evaluation.py --list voc12/train_id.txt --gt_dir VOC2012/SegmentationClassAug --type png "
            "--predict_dir {out} --logfile evallog_samcam.txt --comment samcam",
        ),
        Continuation(
            "train MCTformer's segmentation network on them (it needs a label for every name of "
            "voc12/train_aug_id.txt: refine all 10,582; checkpoints and log go to {out}_seg)",
            "python seg/train_seg.py --network resnet38_seg --num_epochs 30 --seg_pgt_path {out} "
            "--init_weights res38_cls.pth --save_path {out}_seg --list_path voc12/train_aug_id.txt "
            "--img_path VOC2012/JPEGImages --num_classes 21 --batch_size 4",
        ),
        Continuation(
            "or train DeepLab on them with mmsegmentation",
            "samcam mmseg-config --labels {out} --data-root VOC2012 --out {out}_mmseg.py",
        ),
        Continuation(
            "train MCTformer's segmentation network on the images refined, listed in {names}: "
            "coco/train_id.txt also names the train2014 images without classes, which have no CAM "
            "(engine.py:212) and so no label, and train_seg.py stops at the first name without one "
            "(seg/tool/exutils.py:125); checkpoints and log go to {out}_seg",
            "python seg/train_seg.py --network resnet38_seg --num_epochs 30 --seg_pgt_path {out} "
            "--init_weights res38_cls.pth --save_path {out}_seg --list_path {names} "
            "--img_path COCO/train2014 --num_classes 81 --batch_size 4",
            datasets=("coco",),
        ),
    ),
)

load_cam = ADAPTER.load_cam
cam_to_label = ADAPTER.cam_to_label
cam_scores = ADAPTER.cam_scores
refine_cam = ADAPTER.refine_cam

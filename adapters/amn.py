"""AMN (gaviotas/AMN, an IRN fork): CAMs from ``step/make_amn_cam.py`` (VOC) and
``step/make_amn_cam_coco.py`` (COCO, branch ``coco14``).

Facts (gaviotas/AMN voc12 @ 75c1999, coco14 @ e031f7c):

- CAMs: ``result/amn_cam/{name}.npy`` = ``{"keys": torch.int64 (K,) 0-based,
  "cam": torch (K+1, h/4, w/4), "high_res": numpy float32 (K+1, H, W)}`` with
  **channel 0 background** (softmax over 21 classes; voc12 step/make_amn_cam.py:54-77).
  ``step/eval_amn_cam.py:17-22`` drops channel 0 and pads a background plane of
  ``--cam_eval_thres`` = 0.25 (voc12 run_sample.py:40).
- AMN's first stage writes IRN's CAMs to ``result/cam`` (``--cam_out_dir``, voc12
  run_sample.py:78; step/make_cam.py:55-56, IRN's layout): refine those with
  ``--method irn``, which thresholds them at IRN's 0.15. AMN's own ``step/eval_cam.py``
  scores that IRN baseline with the same ``--cam_eval_thres`` 0.25 (eval_cam.py:15):
  ``--method irn --threshold 0.25`` gives the labels behind AMN's printed baseline.
- COCO (coco14 branch): ``result/amn_cam_coco/{12-digit id}.npy``, same layout
  (make_amn_cam_coco.py:83-84); an image without classes is saved as ``{"keys": <empty
  torch int64>}`` alone (make_amn_cam_coco.py:58-63) and is all background downstream
  (eval_amn_cam_coco.py:20-23, make_sem_seg_labels_coco.py:59-63 write an all-0 PNG).
  ``--cam_eval_thres`` 0.25 (run_sample_coco.py:43, used at eval_amn_cam_coco.py:28);
  0.22 there is ``--sem_seg_bg_thres`` (run_sample_coco.py:75), the random walk's.
  CAMs are named by the id (``000000057870``, coco14/train14.txt) while the images are
  ``COCO_train2014_000000057870.jpg`` (coco14/dataloader.py:27-45); refined labels
  keep the id name, which AMN's COCO readers use (eval_sem_seg_coco.py:20,
  train_irn_coco.py:18 via coco14/dataloader.py).
- Stage flags: ``str2bool``, default False, ``if args.X is True`` (voc12
  run_sample.py:8-16, 86-100, 117-195; coco14 run_sample_coco.py:14-22, 90-104,
  120-202): only the stages named ``True`` run.
- train_irn reads ``--amn_ir_label_out_dir`` (voc12 step/train_irn.py:17-18) and
  writes ``--irn_weights_name``; make_sem_seg reads ``--amn_cam_out_dir`` and writes
  ``--sem_seg_out_dir`` (make_sem_seg_labels.py:35, 53). Readers use imageio, so
  refined labels are ``L`` PNGs.
"""
from .base import CamFormat, Continuation, LabelSet, MethodAdapter, MethodFolder

ADAPTER = MethodAdapter(
    name="amn",
    title="AMN (gaviotas/AMN)",
    cam_dir="result/amn_cam",
    cam_formats=(
        CamFormat(
            "cam", "step/make_amn_cam.py:76-77 (coco14: step/make_amn_cam_coco.py:58-63, 83-84)", "high_res",
            threshold=0.25, threshold_source="voc12 run_sample.py:40 (--cam_eval_thres), used by step/eval_amn_cam.py:19",
            coco_threshold=0.25,
            coco_source="coco14 run_sample_coco.py:43 (--cam_eval_thres), used by step/eval_amn_cam_coco.py:28",
            background_channel=True,
        ),
    ),
    label_sets=(
        LabelSet("result/sem_seg", "final pseudo labels after the random walk (bg 0.25), 0..20"),
        LabelSet("result/amn_ir_label", "IR labels from AMN CAMs + CRF (fg 0.45 / bg 0.15), 255 unsure"),
    ),
    method_folders=tuple(
        MethodFolder(f"result/{folder}{suffix}", f"AMN's run_sample{script} ({stage})")
        for suffix, script in (("", ".py"), ("_coco", "_coco.py"))
        for folder, stage in (
            ("cam", "make_cam_pass"), ("ir_label", "cam_to_ir_label_pass"), ("amn_cam", "make_amn_cam_pass"),
            ("amn_ir_label", "amn_cam_to_ir_label_pass"), ("sem_seg", "make_sem_seg_pass"),
            ("ins_seg", "make_ins_seg_pass"),
        )
    ),
    palette_allowed=False,
    run_from="the AMN repository root (branch voc12 or coco14); VOC2012 / COCO2014 = your dataset folders",
    continuations=(
        Continuation(
            "evaluate them with AMN's eval_sem_seg on VOC train (only stages named True run)",
            "python run_sample.py --voc12_root VOC2012 --sem_seg_out_dir {out} --eval_sem_seg_pass True "
            "--log_name eval_samcam",
        ),
        Continuation(
            "or train IRN on them as AMN's IR labels (needs all train_aug names), then random-walk new "
            "labels into {out}_rw and evaluate those",
            "python run_sample.py --voc12_root VOC2012 --amn_ir_label_out_dir {out} --train_irn_pass True "
            "--irn_weights_name sess/res50_irn_samcam.pth --make_sem_seg_pass True --sem_seg_out_dir {out}_rw "
            "--eval_sem_seg_pass True --log_name irn_samcam",
        ),
        Continuation(
            "or train DeepLab on them with mmsegmentation",
            "samcam mmseg-config --labels {out} --data-root VOC2012 --out {out}_mmseg.py",
        ),
        Continuation(
            "evaluate them with AMN's COCO eval_sem_seg (branch coco14; ground truth hard-coded at "
            "/data/coco_2014/coco_seg_anno, ids from coco14/train14.txt)",
            "python run_sample_coco.py --coco14_root COCO2014 --sem_seg_out_dir {out} --eval_sem_seg_pass True "
            "--log_name eval_samcam_coco",
            datasets=("coco",),
        ),
        Continuation(
            "or train IRN on them as AMN's COCO IR labels, then random-walk new labels into "
            "{out}_rw and evaluate those",
            "python run_sample_coco.py --coco14_root COCO2014 --amn_ir_label_out_dir {out} --train_irn_pass True "
            "--irn_weights_name sess/res50_irn_coco_samcam.pth --make_sem_seg_pass True "
            "--sem_seg_out_dir {out}_rw --eval_sem_seg_pass True --log_name irn_samcam_coco",
            datasets=("coco",),
        ),
    ),
)

load_cam = ADAPTER.load_cam
cam_to_label = ADAPTER.cam_to_label
cam_scores = ADAPTER.cam_scores
refine_cam = ADAPTER.refine_cam

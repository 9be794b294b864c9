# mmsegmentation 1.x config: train on SAM-refined pseudo labels (samcam).
# One GPU:   python tools/train.py THIS_CONFIG
# N GPUs:    bash tools/dist_train.sh THIS_CONFIG N   (the base schedule is 4 GPUs x 4 images)
_base_ = 'mmseg::deeplabv3plus/deeplabv3plus_r101-d8_4xb4-20k_voc12aug-512x512.py'
# samcam.mmseg.checkpoints allow-lists the few numpy and mmengine objects in mmengine's
# checkpoints, so resume, load_from and tools/test.py load them with torch.load's
# weights_only=True (torch>=2.6's default); any other pickled object is still refused.
# Without samcam installed, training runs (mmengine warns) and only those loads fail.
custom_imports = dict(imports=['samcam.mmseg.checkpoints'], allow_failed_imports=True)

data_root = 'data/VOCdevkit/VOC2012'
# Refined pseudo labels {name}.png: 0 background, 1..20 classes, 255 ignored.
refined_labels = 'SegmentationClassSAMCAM'

train_dataloader = dict(
    dataset=dict(
        # mmseg's voc12aug base concatenates SegmentationClass and SegmentationClassAug;
        # pseudo-label training reads one directory with one name list instead.
        _delete_=True,
        type='PascalVOCDataset',
        data_root=data_root,
        data_prefix=dict(img_path='JPEGImages', seg_map_path=refined_labels),
        ann_file='ImageSets/Segmentation/train_aug.txt',
        pipeline={{_base_.train_pipeline}}))
# Validation and test on the real ground truth of the val split.
val_dataloader = dict(
    dataset=dict(
        data_root=data_root,
        data_prefix=dict(img_path='JPEGImages', seg_map_path='SegmentationClass'),
        ann_file='ImageSets/Segmentation/val.txt'))
test_dataloader = val_dataloader

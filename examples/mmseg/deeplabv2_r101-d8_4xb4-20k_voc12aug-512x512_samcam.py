# mmsegmentation 1.x config: train on SAM-refined pseudo labels (samcam).
# One GPU:   python tools/train.py THIS_CONFIG
# N GPUs:    bash tools/dist_train.sh THIS_CONFIG N   (the base schedule is 4 GPUs x 4 images)
_base_ = 'mmseg::deeplabv3/deeplabv3_r101-d8_4xb4-20k_voc12aug-512x512.py'
# samcam.mmseg.checkpoints allow-lists the few numpy and mmengine objects in mmengine's
# checkpoints, so resume, load_from and tools/test.py load them with torch.load's
# weights_only=True (torch>=2.6's default); any other pickled object is still refused.
custom_imports = dict(imports=['samcam.mmseg.checkpoints', 'samcam.mmseg.models'], allow_failed_imports=False)

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

# DeepLabV2 as in the WSSS literature: dilated ResNet-101 (output stride 8) with
# ASPP-L (four 3x3 branches, dilations 6/12/18/24, summed logits), no auxiliary head.
# mmseg has no V2 head; samcam.mmseg.models registers one (see custom_imports above).
model = dict(
    decode_head=dict(
        _delete_=True,
        type='DeepLabV2Head',
        in_channels=2048,
        in_index=3,
        channels=2048,
        dilations=(6, 12, 18, 24),
        num_classes=21,
        align_corners=False,
        loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0)),
    auxiliary_head=None)

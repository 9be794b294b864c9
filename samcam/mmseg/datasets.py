"""COCO 2014's 81-class object dataset for mmsegmentation 1.x (imported by configs, not by samcam).

mmseg ships COCO-Stuff (171 classes), not the 81-class object labels of WSSS (background
and COCO's 80 categories, made by ``samcam coco-gt``). The configs written by
``samcam mmseg-config --dataset coco`` load this module through ``custom_imports``.

Labels are ``{seg_map_path}/{name}.png`` for every name of ``ann_file``; the image is
``{img_path}/{name}.jpg``. Methods that name files by the image id alone (AMN's
``000000057870``, CLIMS's ground truth ``57870``) still find their images: a name of
digits only is the image ``{id_image_prefix}{12-digit id}.jpg``
(``COCO_train2014_000000057870.jpg``).

Importing this module needs mmsegmentation.
"""
from __future__ import annotations

import os.path as osp
from typing import List

from mmseg.datasets.basesegdataset import BaseSegDataset
from mmseg.registry import DATASETS

from ..classes import COCO_CLASSES
from ..io import voc_palette

_PALETTE = voc_palette()
# VOC's colour map continued to 81 entries: background black, as in every label viewer here.
COCO_PALETTE = [_PALETTE[3 * k: 3 * k + 3] for k in range(len(COCO_CLASSES))]


@DATASETS.register_module()
class COCO2014ObjectDataset(BaseSegDataset):
    """COCO 2014 semantic labels: 0 background, 1..80 COCO's categories in ascending id, 255 ignored.

    Args:
        id_image_prefix: for a name of digits only, the image file's prefix
            (``COCO_train2014_`` or ``COCO_val2014_``); "" keeps names as they are.
        Other arguments are those of mmseg's ``BaseSegDataset`` (``.jpg`` images,
        ``.png`` labels, no zero-label reduction by default).
    """

    METAINFO = dict(classes=COCO_CLASSES, palette=COCO_PALETTE)

    def __init__(self, img_suffix: str = ".jpg", seg_map_suffix: str = ".png", reduce_zero_label: bool = False,
                 id_image_prefix: str = "", **kwargs) -> None:
        # set before BaseSegDataset.__init__, which loads the data list
        self.id_image_prefix = id_image_prefix
        super().__init__(img_suffix=img_suffix, seg_map_suffix=seg_map_suffix,
                         reduce_zero_label=reduce_zero_label, **kwargs)

    def load_data_list(self) -> List[dict]:
        """mmseg's list, with the image of a bare-id name renamed to COCO's file name."""
        data_list = super().load_data_list()
        if not self.id_image_prefix:
            return data_list
        for info in data_list:
            folder, name = osp.split(info["img_path"][: -len(self.img_suffix)])
            if name.isdigit():
                info["img_path"] = osp.join(folder, f"{self.id_image_prefix}{int(name):012d}{self.img_suffix}")
        return data_list

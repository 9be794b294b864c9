"""The COCO 2014 dataset class (samcam.mmseg.datasets): bare ids map to their images."""
from __future__ import annotations

from pathlib import Path

import pytest
from mmseg_runs import TRAIN_IDS, make_coco_dataset, needs_mmseg_models

from samcam.classes import COCO_CLASSES


@pytest.fixture
def coco_dataset(tmp_path):
    return make_coco_dataset(tmp_path)


@pytest.mark.slow
@needs_mmseg_models
def test_coco_dataset_maps_bare_ids_to_images(coco_dataset, tmp_path):
    from samcam.mmseg.datasets import COCO2014ObjectDataset

    names = tmp_path / "names.txt"
    names.write_text(f"{TRAIN_IDS[2]:012d}\n{TRAIN_IDS[0]}\nCOCO_train2014_{TRAIN_IDS[1]:012d}\n")
    dataset = COCO2014ObjectDataset(data_root=str(coco_dataset["coco"]), ann_file=str(names),
                                    data_prefix=dict(img_path="train2014", seg_map_path="labels"),
                                    id_image_prefix="COCO_train2014_", pipeline=[])
    paths = [Path(info["img_path"]).name for info in dataset.load_data_list()]
    assert paths == [f"COCO_train2014_{i:012d}.jpg" for i in (TRAIN_IDS[2], TRAIN_IDS[0], TRAIN_IDS[1])]
    assert dataset.metainfo["classes"] == COCO_CLASSES and len(dataset.metainfo["palette"]) == 81
    assert dataset.metainfo["palette"][0] == [0, 0, 0] and dataset.metainfo["palette"][15] == [192, 128, 128]


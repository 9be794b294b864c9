"""Random masks and the files SAM's scripts/amg.py writes for them (a PNG folder with
metadata.csv, or RLE JSON), for the tests of samcam.masks."""
from __future__ import annotations

import json

import numpy as np
from PIL import Image
from pycocotools import mask as coco_mask


def random_masks(rng, count=5, height=17, width=23):
    masks = rng.random((count, height, width)) < 0.3
    masks[0] = False
    masks[0, 2:9, 3:12] = True
    return masks


def write_amg_folder(folder, masks, scores):
    """What segment-anything's scripts/amg.py writes without --convert-to-rle."""
    folder.mkdir(parents=True)
    header = ("id,area,bbox_x0,bbox_y0,bbox_w,bbox_h,point_input_x,point_input_y,predicted_iou,"
              "stability_score,crop_box_x0,crop_box_y0,crop_box_w,crop_box_h")
    rows = [header]
    for index, mask in enumerate(masks):
        Image.fromarray(mask.astype(np.uint8) * 255).save(folder / f"{index}.png")
        rows.append(",".join(str(v) for v in [index, int(mask.sum()), 1, 2, 3, 4, 5.5, 6.5,
                                              scores[index], 0.97, 0, 0, mask.shape[1], mask.shape[0]]))
    (folder / "metadata.csv").write_text("\n".join(rows) + "\n")


def write_amg_json(path, masks, scores):
    """What amg.py --convert-to-rle writes: pycocotools-compressed RLE per annotation."""
    annotations = []
    for index, mask in enumerate(masks):
        rle = coco_mask.encode(np.asfortranarray(mask.astype(np.uint8)))
        rle["counts"] = rle["counts"].decode("utf-8")
        annotations.append({"segmentation": rle, "area": int(mask.sum()), "bbox": [1, 2, 3, 4],
                            "predicted_iou": scores[index], "point_coords": [[5.5, 6.5]],
                            "stability_score": 0.97, "crop_box": [0, 0, mask.shape[1], mask.shape[0]]})
    path.write_text(json.dumps(annotations))


def uncompressed_rle(mask):
    """COCO's uncompressed RLE counts of a mask: column-major runs, starting with zeros."""
    flat = mask.T.reshape(-1)
    runs, value, run = [], False, 0
    for pixel in flat:
        if pixel == value:
            run += 1
        else:
            runs.append(run)
            value, run = pixel, 1
    runs.append(run)
    return runs

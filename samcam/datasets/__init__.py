"""Datasets' own ground truth, made the way the WSSS repositories make it.

* :mod:`.coco` — COCO instance annotations -> semantic label PNGs (``samcam coco-gt``);
  needs pycocotools (``pip install "samcam[coco]"``), imported only when converting.
"""

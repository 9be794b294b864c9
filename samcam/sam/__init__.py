"""Mask sources for ``samcam masks``.

* :mod:`.registry` — the official SAM models (one list: names, checkpoints, encoders);
* :mod:`.checkpoints` — the checkpoint cache and the verified download;
* :mod:`.generate` — loading SAM and the automatic mask generator (torch, lazily);
* :mod:`.proposals` — weight-free region proposals, a weaker substitute for SAM;
* :mod:`.pipeline` — a dataset run: resume, shards, prefetching, one store file per image.

Importing this package never imports torch.
"""

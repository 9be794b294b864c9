"""Mask sources for ``samcam masks``.

* :mod:`.registry` — the mask models (one list: families SAM, SAM 2.1, HQ-SAM,
  MobileSAM; names, checkpoints, hashes and where they are recorded, builders);
* :mod:`.settings` — each family's automatic mask generator settings and defaults;
* :mod:`.shapes` — a checkpoint's family and size, read from its keys and shapes;
* :mod:`.families` — one interface for every family: ``load_generator`` -> a mask
  source with ``prepare(image)`` and ``generate(prepared) -> MaskSet``;
* :mod:`.generate` — SAM: loading and the faster automatic mask generator (also
  MobileSAM's), and the wrapper running a family's own generator (torch, lazily);
* :mod:`.sam2_family`, :mod:`.hq_family`, :mod:`.mobilesam_family` — building those;
* :mod:`.checkpoints` — the checkpoint cache and the verified download;
* :mod:`.proposals` — weight-free region proposals, a weaker substitute for SAM;
* :mod:`.pipeline` — a dataset run: resume, shards, prefetching, one store file per image;
* :mod:`.compare` — several mask sources side by side (``samcam masks --compare``).

Importing this package never imports torch.
"""

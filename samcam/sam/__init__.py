"""Mask sources for ``samcam masks``.

* :mod:`.registry` — the mask models (one list: families SAM, SAM 2.1, HQ-SAM,
  MobileSAM; names, checkpoints, hashes and where they are recorded, builders);
* :mod:`.settings` — each family's automatic mask generator settings and defaults;
* :mod:`.shapes` — a checkpoint's family and size, read from its keys and shapes;
* :mod:`.families` — one interface for every family: ``load_generator`` -> a mask
  source with ``prepare(image)`` and ``generate(prepared) -> MaskSet``;
* :mod:`.generate` — SAM: loading and exact mode's faster automatic mask generator
  (also MobileSAM's), and the wrapper running a family's own generator (torch, lazily);
* :mod:`.fast`, :mod:`.fast_encoder`, :mod:`.device_masks` — fast mode (``--fast``):
  half precision, fused attention with SAM's relative positions, batched and compiled
  networks, post-processing and bit-packing on the GPU;
* :mod:`.sam2_family`, :mod:`.hq_family`, :mod:`.mobilesam_family` — building those;
* :mod:`.checkpoints` — the checkpoint cache and the verified download;
* :mod:`.proposals` — weight-free region proposals, a weaker substitute for SAM;
* :mod:`.pipeline` — a dataset run: resume, shards, prefetching, batches, one store file
  per image written by a background thread;
* :mod:`.compare` — several mask sources side by side (``samcam masks --compare``);
* :mod:`.agreement` — how closely two generators' masks agree (per-mask IoU matching).

Importing this package never imports torch.
"""

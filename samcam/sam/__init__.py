"""Mask sources for ``samcam masks``.

* :mod:`.registry` — the mask models (one list: families SAM, SAM 2.1, HQ-SAM,
  MobileSAM; names, checkpoints, hashes and where they are recorded, builders);
* :mod:`.settings` — each family's automatic mask generator settings and defaults, fast
  mode's options and a run's options: frozen settings objects, checked when built;
* :mod:`.shapes` — a checkpoint's family and size, read from its keys and shapes;
* :mod:`.families` — one interface for every family: ``load_generator`` -> a mask
  source with ``prepare(image)`` and ``generate(prepared) -> MaskSet``;
* :mod:`.packages` — what each family needs installed, and the error saying how to
  install it (``MissingPackages``, raised by ``load_generator`` and ``load_sam`` alike);
* :mod:`.networks` — SAM: reading checkpoints, building and loading the network;
* :mod:`.generate` — exact mode's faster automatic mask generator for SAM (also
  MobileSAM's), same masks as segment-anything's (torch, lazily);
* :mod:`.decoder`, :mod:`.filters` — what exact and fast mode share: the mask decoder
  for many prompts on one image, and the chain after it (segment-anything's filters and
  NMS, in its order; the bit-packed copy to the host, :mod:`.device_masks`);
* :mod:`.official` — the families' own generators behind samcam's interface (SAM 2.1,
  HQ-SAM; segment-anything's, the reference);
* :mod:`.fast`, :mod:`.fast_encoder` — fast mode (``--fast``): half precision, fused
  attention with SAM's relative positions, batched and compiled networks;
* :mod:`.sam2_family`, :mod:`.hq_family`, :mod:`.mobilesam_family` — building those;
* :mod:`.checkpoints` — the checkpoint cache and the verified download;
* :mod:`.proposals` — weight-free region proposals, a weaker substitute for SAM;
* :mod:`.sam3_family` — SAM 3's concept masks through transformers (prompted with class
  names; each mask tagged with its class), :mod:`.concepts` — each image's prompts
  (``--concepts-from``: a label folder, any method's CAM folder, IRN's cls_labels.npy);
* :mod:`.pipeline` — a dataset run: resume, shards, prefetching, batches, one store file
  per image written by a background thread;
* :mod:`.compare` — several mask sources side by side (``samcam compare``);
* :mod:`.agreement` — how closely two generators' masks agree (per-mask IoU matching).

Importing this package never imports torch.
"""

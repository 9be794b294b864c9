"""``samcam masks``: "segment everything" masks (or weight-free proposals) over a dataset.

Inputs: an image folder (``{name}.jpg`` / ``.png``) and optionally a name list.
Output: one mask store file per image, ``{out}/{name}.masks.npz``, holding the masks
in the generator's order with its per-mask ``predicted_iou``, ``stability_score``,
``bbox``, ``area``, ``point_coords`` and ``crop_box`` (see :mod:`samcam.masks`), for
any mask model family (SAM, SAM 2.1, HQ-SAM, MobileSAM: :mod:`.families`). SAM 3
(``model="sam3"``, :mod:`.sam3_family`) is prompted with each image's classes
(``concepts``, :mod:`samcam.concepts`), and its masks carry ``class_index`` and SAM 3's
score as ``predicted_iou``; with ``settings={"everything": True}`` its class-agnostic
masks follow, untagged (or come alone, without concepts: :mod:`.sam3_everything`).

Resumable (finished files are skipped, files appear atomically) and sharded: each
process takes every N-th name from ``--shard I/N`` or, when launched by ``torchrun``
or ``srun``, from ``RANK``/``WORLD_SIZE`` or ``SLURM_PROCID``/``SLURM_NTASKS``, and
picks its GPU from ``LOCAL_RANK``/``SLURM_LOCALID``. While the GPU works on one image
(or batch of images, in fast mode), background threads decode and resize the next
ones and another thread writes the previous ones' files.

This module imports no torch; the family modules do, when a model is used.
"""
from __future__ import annotations

import dataclasses
import functools
import logging
import os
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple

from .. import masks as mask_store
from .. import provenance
from ..batch import BatchResult, run_batch
from ..files import is_output_file
from ..io import IMAGE_SUFFIXES, ensure_not_inside, find_image, list_names, read_image, read_name_list, unique_names
from . import families, proposals, sam3_family
from .families import MissingPackages
from .settings import MaskRunOptions

__all__ = [
    "compute_masks",
    "mask_settings",
    "run_options",
    "parse_shard",
    "shard_from_env",
    "select_shard",
    "image_names",
    "MissingPackages",
    "CONCEPT_MODEL",
]

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- sharding

def parse_shard(spec: str) -> Tuple[int, int]:
    """``"I/N"`` -> ``(I, N)`` with ``0 <= I < N`` (I counts from 0, like RANK)."""
    try:
        index_text, count_text = spec.split("/")
        index, count = int(index_text), int(count_text)
    except ValueError:
        raise ValueError(f"--shard {spec!r}: expected I/N, e.g. 0/4 (I counts from 0)") from None
    if count < 1 or not 0 <= index < count:
        raise ValueError(f"--shard {spec!r}: need 0 <= I < N (I counts from 0, so the shards of 4 are 0/4 .. 3/4)")
    return index, count


def shard_from_env(environ: Optional[Mapping[str, str]] = None) -> Optional[Tuple[int, int]]:
    """``(rank, world_size)`` set by torchrun (``RANK``/``WORLD_SIZE``) or SLURM
    (``SLURM_PROCID``/``SLURM_NTASKS``), torchrun's first; ``None`` when neither is set."""
    environ = os.environ if environ is None else environ
    for rank_key, size_key in (("RANK", "WORLD_SIZE"), ("SLURM_PROCID", "SLURM_NTASKS")):
        if rank_key in environ and size_key in environ:
            try:
                return parse_shard(f"{int(environ[rank_key])}/{int(environ[size_key])}")
            except ValueError as error:
                raise ValueError(f"{rank_key}={environ[rank_key]} {size_key}={environ[size_key]}: {error}") from None
    return None


def select_shard(names: Sequence[str], index: int, count: int) -> List[str]:
    """Every ``count``-th name starting at ``index``: the same list gives the same split
    on every process, the shards are disjoint, cover all names and differ in size by <= 1."""
    return list(names)[index::count]


def image_names(images_dir: os.PathLike, list_file: Optional[os.PathLike] = None) -> List[str]:
    """Names to process: the ``--list`` file's, else every image in ``images_dir`` (sorted)."""
    images_dir = Path(images_dir)
    if not images_dir.is_dir():
        raise FileNotFoundError(f"--images {images_dir}: folder does not exist")
    if list_file is not None:
        names = read_name_list(list_file)
    else:
        names = list_names(images_dir, IMAGE_SUFFIXES)
        if not names:
            raise FileNotFoundError(f"--images {images_dir}: no .jpg or .png images in it")
    return unique_names(names, str(list_file or images_dir))  # a name listed twice is done once


# ------------------------------------------------------------------------ prefetching

class _Prefetcher:
    """Loads items for names in a known order in background threads, ``depth`` ahead.

    ``get(name)`` returns the loaded item (or raises the loader's error for that
    name); a name that was not foreseen is loaded on the spot.
    """

    def __init__(self, names: Sequence[str], load: Callable[[str], object], threads: int, depth: int):
        self._load = load
        self._upcoming: Iterator[str] = iter(names)
        self._futures: Dict[str, Future] = {}
        self._depth = max(1, depth)
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=max(1, threads), thread_name_prefix="samcam-decode")
        self._fill()

    def _fill(self) -> None:
        with self._lock:
            while len(self._futures) < self._depth:
                name = next(self._upcoming, None)
                if name is None:
                    return
                if name not in self._futures:
                    self._futures[name] = self._pool.submit(self._load, name)

    def get(self, name: str):
        with self._lock:
            future = self._futures.pop(name, None)
        self._fill()
        return future.result() if future is not None else self._load(name)

    def close(self) -> None:
        for future in self._futures.values():
            future.cancel()
        self._pool.shutdown(wait=True)


# ------------------------------------------------------------------------------- jobs

# Settings that change speed, not which masks come out (beyond float rounding): they may
# differ between a run and its resume.
_SPEED_ONLY = ("points_per_batch",)


def run_options(options: Optional[MaskRunOptions] = None, changes: Optional[Mapping[str, Any]] = None
                ) -> MaskRunOptions:
    """``options`` (default: the defaults) with ``changes`` (keyword names of
    :class:`~samcam.sam.settings.MaskRunOptions`), checked: a bad value raises
    ValueError naming it, an unknown name TypeError, as a keyword argument would."""
    changes = dict(changes or {})
    if options is None:
        return MaskRunOptions(**changes)
    if not isinstance(options, MaskRunOptions):
        raise TypeError(f"options must be a MaskRunOptions, got {type(options).__name__}")
    return options.replace(**changes) if changes else options


def mask_settings(images_dir: Optional[os.PathLike] = None, options: Optional[MaskRunOptions] = None, *,
                  in_memory: Optional[str] = None, concepts: Any = None, **changes: Any) -> Dict[str, Any]:
    """What decides a mask folder's content, as ``samcam.json`` records and compares it (JSON-ready).

    The model (or checkpoint file: name and size), the generator settings given (the
    rest are the family's defaults of this samcam version), exact or fast mode and the
    dtype; not where the images and checkpoint are (a resume on another machine may
    find them elsewhere; each run's entry records the paths; ``images_dir`` is not
    used), nor the batch sizes, device or compiling, which change speed only.

    Args:
        options, changes: the run's options (see :func:`run_options`): ``source``,
            ``model``, ``checkpoint``, ``config``, ``settings``, ``dtype`` and ``fast`` count.
        in_memory: what the mask source given in memory is (recorded as the model).
        concepts: SAM 3's prompts (see :func:`compute_masks`): their phrases are recorded
            (which images have which classes is the images' data, not a setting).
    """
    options = run_options(options, changes)
    record: Dict[str, Any] = {"tool": "masks", "source": options.source}
    if options.source != "sam":
        return record
    settings = options.settings
    given = dataclasses.asdict(settings) if dataclasses.is_dataclass(settings) else dict(settings or {})
    record.update(_weights(options, in_memory))
    record["settings"] = {k: v for k, v in sorted(given.items()) if k not in _SPEED_ONLY}
    record.update(_mode_record(options))
    if concepts is not None:
        record["concepts"] = concepts.record() if hasattr(concepts, "record") else {"phrases": "given in memory"}
    return record


def _mode_record(options: MaskRunOptions) -> Dict[str, Any]:
    """The record's exact or fast mode and its dtype."""
    return {"mode": "fast" if options.fast else "exact",
            "dtype": options.dtype or ("bfloat16" if options.fast else "float32")}


def _weights(options: MaskRunOptions, in_memory: Optional[str]) -> Dict[str, Any]:
    """The record's model, config and checkpoint (file name and size)."""
    if in_memory is not None:
        return {"model": in_memory}
    weights: Dict[str, Any] = {"model": options.model, "config": options.config, "checkpoint": None}
    if options.checkpoint is not None and options.model == CONCEPT_MODEL:
        weights["checkpoint"] = sam3_family.folder_identity(options.checkpoint)  # a folder, not one file
    elif options.checkpoint is not None:
        path = Path(options.checkpoint)
        weights["checkpoint"] = {"file": path.name, "bytes": path.stat().st_size if path.is_file() else None}
    return weights


def _output_path(out_dir: Path, name: str) -> Path:
    return out_dir / f"{name}{mask_store.STORE_SUFFIX}"


def _proposals_one(name: str, images_dir: str, out_dir: str) -> None:
    image = read_image(find_image(images_dir, name))
    mask_store.write(_output_path(Path(out_dir), name), proposals.generate(image))


class _StoreWriter:
    """Writes mask store files in one background thread, in the order given.

    ``submit`` returns a future that holds the written path or the write's error
    (:class:`~samcam.errors.OutputError` when the folder cannot be written). Each file
    appears atomically (:func:`samcam.masks.write`), so stopping at any moment leaves
    only whole files, and a rerun redoes the rest.
    """

    def __init__(self):
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="samcam-write")

    def submit(self, path: Path, masks) -> Future:
        return self._pool.submit(mask_store.write, path, masks)

    def close(self) -> None:
        """Finish every file already handed over (at most two batches: their masks cost GPU
        time and take milliseconds to write), also on Ctrl-C, so a rerun only redoes the rest."""
        self._pool.shutdown(wait=True)


def _settled(error: BaseException) -> Future:
    future: Future = Future()
    future.set_exception(error)
    return future


class _ModelJob:
    """Images through a mask model, batch by batch, files written in the background.

    :func:`~samcam.batch.run_batch` calls it once per name, in the order of ``todo``.
    The names are cut into batches of the generator's ``images_per_batch`` (1 unless
    it has ``generate_batch``, as fast mode does). A call generates its name's batch if
    not done yet, and also the batch after it, so that the GPU works on one batch while
    the writer thread writes the previous one; it returns when its own file is
    written, or raises that image's error (a bad image, or its failed write).
    """

    def __init__(self, generator, prefetcher: _Prefetcher, out_dir: Path, todo: Sequence[str], writer: _StoreWriter):
        self.generator = generator
        self.prefetcher = prefetcher
        self.out_dir = out_dir
        self.writer = writer
        size = getattr(generator, "images_per_batch", 1) if hasattr(generator, "generate_batch") else 1
        self.batches = [list(todo[i:i + size]) for i in range(0, len(todo), size)]
        self.batch_of = {name: index for index, batch in enumerate(self.batches) for name in batch}
        self.pending: Dict[str, Future] = {}
        self.next_batch = 0

    def __call__(self, name: str) -> None:
        index = self.batch_of.get(name)
        if index is None:  # not planned: alone
            self._run([name])
        else:
            while self.next_batch < min(index + 2, len(self.batches)):
                self._run(self.batches[self.next_batch])
                self.next_batch += 1
        self.pending.pop(name).result()

    def _run(self, names: Sequence[str]) -> None:
        prepared = {}
        for name in names:
            try:
                prepared[name] = self.prefetcher.get(name)
            except Exception as error:  # this image's failure, reported when its turn comes
                self.pending[name] = _settled(error)
        results: Dict[str, Any] = {}
        if len(prepared) > 1:
            try:
                results = dict(zip(prepared, self.generator.generate_batch(list(prepared.values()))))
            except Exception as error:  # e.g. out of memory: each image again alone
                log.warning("a batch of %d images failed (%s); doing them one by one", len(prepared),
                            str(error).splitlines()[0] if str(error) else type(error).__name__)
        for name, item in prepared.items():
            try:
                masks = results[name] if name in results else self.generator.generate(item)
            except Exception as error:
                self.pending[name] = _settled(error)
                continue
            self.pending[name] = self.writer.submit(_output_path(self.out_dir, name), masks)


def compute_masks(images_dir: os.PathLike, out_dir: os.PathLike, names: Sequence[str],
                  options: Optional[MaskRunOptions] = None, *, sam=None, generator=None, concepts: Any = None,
                  **changes: Any) -> BatchResult:
    """Write ``{out_dir}/{name}.masks.npz`` for every name, resumably.

    Args:
        images_dir: folder of ``{name}.jpg``/``.png`` RGB images.
        out_dir: output folder (never inside ``images_dir``).
        names: the names to do (already sharded); finished ones are skipped unless
            ``overwrite``.
        options: the run's :class:`~samcam.sam.settings.MaskRunOptions`; or its fields as
            keywords (``changes``, applied on top of ``options`` when both are given):

            * ``source``: ``"sam"`` (a mask model: any family of :mod:`samcam.sam.families`) or
              ``"proposals"`` (weight-free, :func:`samcam.sam.proposals.generate`);
            * ``model``, ``checkpoint``, ``config``, ``allow_download``: which weights (see
              :func:`samcam.sam.families.load_generator`); ``model="sam3"``: SAM 3 from the
              Hugging Face folder ``checkpoint`` (None: the cache's), downloaded only with
              ``download=True`` (:func:`samcam.sam.families.load_concept_generator`);
            * ``settings``: generator settings: a settings object of the family's class, or a
              mapping of the settings to change from the family's own defaults;
            * ``device``: ``auto``, ``cpu``, ``cuda`` or ``cuda:N``;
            * ``dtype``: exact mode: ``float32`` (default), ``tf32`` or ``bfloat16`` (see
              :class:`samcam.sam.generate.MaskGenerator`); fast mode: ``bfloat16``
              (default), ``float16``, ``float32`` or ``tf32``;
            * ``fast``: fast mode (:class:`samcam.sam.fast.FastMaskGenerator`; SAM and
              MobileSAM): ``True`` or a :class:`~samcam.sam.settings.FastOptions`;
            * ``overwrite``, ``workers`` (processes for ``proposals``; a model runs in this
              process), ``decode_threads`` (background threads decoding and preparing images
              for the model), ``progress``;
            * ``command``, ``list_file``: the command line and name list, recorded in
              ``{out_dir}/samcam.json`` (:mod:`samcam.provenance`); ``record``: write
              ``samcam.json`` (False: only check it; shards after the first).
        sam: an already loaded ``segment_anything`` model to use instead of
            ``model``/``checkpoint`` (e.g. one built in memory for a benchmark).
        generator: an already built mask source of any family (see
            :func:`samcam.sam.families.make_generator`); overrides all model arguments.
        concepts: SAM 3 only (and required there, unless its settings ask for its
            class-agnostic masks alone: ``{"everything": True}``): each image's prompts, a
            :class:`samcam.concepts.Concepts` (:func:`samcam.sam.concepts.open_concepts`)
            or any function ``name -> ((class_index, phrase), ...)``; an image whose
            classes cannot be read fails alone. Every mask then carries ``class_index``.

    Returns:
        The :class:`~samcam.batch.BatchResult`; a bad image is a failure, never an exception.

    Raises:
        ValueError: a bad option; ``out_dir`` holds masks made with other settings (another
            model, settings, exact/fast mode or dtype; see :mod:`samcam.provenance`), unless
            ``overwrite`` redoes them all.
    """
    options = run_options(options, changes)
    _check_concepts(options, generator, concepts)
    out_dir = Path(out_dir)
    names = unique_names(names, "compute_masks")  # plain file names only, each once
    ensure_not_inside(out_dir, [images_dir])
    out_dir.mkdir(parents=True, exist_ok=True)
    _held = _claim(out_dir, images_dir, names, options, _in_memory(generator, sam), concepts)  # the lock  # noqa: F841
    output_path = functools.partial(_output_path, out_dir)
    if options.source == "proposals":
        job = functools.partial(_proposals_one, images_dir=str(images_dir), out_dir=str(out_dir))
        return run_batch(names, job, output_path, workers=options.workers, overwrite=options.overwrite,
                         desc="masks (proposals)", progress=options.progress)
    # Only names that will actually run are prefetched; run_batch repeats this test.
    todo = [n for n in names if options.overwrite or not is_output_file(output_path(n))]
    if not todo:
        return run_batch(names, lambda name: None, output_path, overwrite=False, desc="masks", progress=False)
    if generator is None:
        generator = _generator(options, sam, concepts)
    if concepts is not None and hasattr(concepts, "table"):
        generator.check_phrases(concepts.table())  # a phrase SAM 3 cannot read fails now, not on every image
    log.info("%s on %s, %s%s, %d images to do", generator.description or "a mask model", generator.device,
             generator.dtype, _mode(generator), len(todo))
    return _run_model(generator, images_dir, out_dir, names, todo, options, concepts)


# The --model of SAM 3 (a family of one model, loaded from a folder: not in MASK_MODELS).
CONCEPT_MODEL = "sam3"


def _check_concepts(options: MaskRunOptions, generator, concepts: Any) -> None:
    """SAM 3 needs each image's classes, and only SAM 3 takes them (ValueError otherwise)."""
    concept_model = (getattr(generator, "family", None) == CONCEPT_MODEL if generator is not None
                     else options.source == "sam" and options.model == CONCEPT_MODEL)
    if concept_model and concepts is None and not _everything(options, generator):
        raise ValueError("SAM 3 is prompted with each image's classes: pass concepts= (samcam masks "
                         "--concepts-from: a label folder, a CAM folder or IRN's cls_labels.npy), or ask for its "
                         "class-agnostic masks alone (settings everything=True, --sam3-everything)")
    if not concept_model and concepts is not None:
        raise ValueError("concepts (--concepts-from) are for SAM 3's concept masks (model='sam3', --model sam3)")
    if concepts is not None and not callable(concepts):
        raise ValueError(f"concepts must be a samcam.concepts.Concepts or a function name -> ((class_index, phrase), "
                         f"...), got {type(concepts).__name__}")


def _everything(options: MaskRunOptions, generator) -> bool:
    """Whether the run makes SAM 3's everything masks (its settings say so)."""
    if generator is not None:
        return bool(getattr(getattr(generator, "settings", None), "everything", False))
    settings = options.settings
    return bool(settings.get("everything") if isinstance(settings, Mapping) else getattr(settings, "everything", False))


def _claim(out_dir: Path, images_dir: os.PathLike, names: Sequence[str], options: MaskRunOptions,
           in_memory: Optional[str], concepts: Any = None) -> provenance.Claim:
    """Lock the folder and record the run in ``samcam.json``, or refuse a folder of masks made
    otherwise; the returned claim holds the lock until it is dropped."""
    checkpoint = options.checkpoint
    extra = {"images": str(Path(images_dir).resolve()),
             "checkpoint": str(Path(checkpoint).resolve()) if checkpoint is not None else None}
    if hasattr(concepts, "describe"):
        extra["concepts_from"] = concepts.describe()
    return provenance.claim(
        out_dir, provenance.MASKS, mask_settings(options=options, in_memory=in_memory, concepts=concepts),
        provenance.RunInfo(names, overwrite=options.overwrite, command=options.command, list_file=options.list_file,
                           write=options.record, extra=extra))


def _generator(options: MaskRunOptions, sam, concepts: Any = None):
    """The mask source the options describe (``sam``: a SAM built in memory; ``concepts``:
    SAM 3's prompts, without which only its everything masks are made)."""
    if sam is None and options.model == CONCEPT_MODEL:
        if options.config is not None:
            raise ValueError("--config is for SAM 2 checkpoints, not SAM 3")
        families.check_mode(CONCEPT_MODEL, options.dtype, options.fast)
        return families.load_concept_generator(options.checkpoint, device=options.device, settings=options.settings,
                                               dtype=options.dtype, allow_download=options.download,
                                               progress=options.progress, detector=concepts is not None)
    if sam is None:
        return families.load_generator(options.model, options.checkpoint, options=options)
    families.require_packages("sam")
    return families.make_generator("sam", sam, options.settings, dtype=options.dtype,
                                   description="SAM built in memory", fast=options.fast)


def _in_memory(generator, sam) -> Optional[str]:
    """What ``samcam.json`` records for a mask source given in memory (None: one from weights)."""
    if generator is not None:
        return f"given generator: {getattr(generator, 'description', '') or type(generator).__name__}"
    return "SAM built in memory" if sam is not None else None


def _mode(generator) -> str:
    """How fast mode runs, for the log (empty in exact mode)."""
    if not hasattr(generator, "generate_batch"):
        return ""
    return (f", fast mode ({generator.images_per_batch} images per encoder pass, "
            f"{'compiled' if generator.compiled else 'not compiled'})")


def _run_model(generator, images_dir: os.PathLike, out_dir: Path, names: Sequence[str], todo: Sequence[str],
               options: MaskRunOptions, concepts: Any = None) -> BatchResult:
    """The names through ``generator``: images decoded ahead in background threads, files
    written by another; ``todo``, the names not done yet, in order. ``concepts``: each
    image's prompts, read in the same threads (SAM 3)."""
    def load(name: str):
        image = read_image(find_image(images_dir, name))
        return generator.prepare(image) if concepts is None else generator.prepare(image, concepts(name))

    batch = getattr(generator, "images_per_batch", 1)
    threads = options.decode_threads
    prefetcher = _Prefetcher(todo, load, threads=threads, depth=max(2 * max(1, threads), 2 * batch))
    writer = _StoreWriter()
    try:
        return run_batch(names, _ModelJob(generator, prefetcher, out_dir, todo, writer),
                         functools.partial(_output_path, out_dir), workers=1, overwrite=options.overwrite,
                         desc=f"masks ({generator.device})", progress=options.progress)
    finally:
        writer.close()
        prefetcher.close()

"""``samcam.json``: which rule, parameters and inputs produced a folder of refined labels
(or of masks, or of picture panels).

``samcam refine``, ``samcam adapt`` and their Python forms
(:func:`samcam.folders.refine_dir`, :func:`samcam.adapters.run.adapt_dir`) write
``{out}/samcam.json`` before the first label, atomically, so that a result can be
reproduced and compared later. ``samcam masks`` (:func:`samcam.sam.pipeline.compute_masks`)
writes one into its mask folder the same way (mask source, model, checkpoint, the
settings given, exact or fast mode and its dtype), which ``refine``/``adapt`` then copy
into the labels' record; ``samcam vis`` writes one beside its panels. It holds:

* ``settings``: what decides the outputs' content: the tool, the rule and every one of
  its parameters (defaults included), the input folders, the mask order, the PNG mode,
  and for ``adapt`` the method, the source, the background threshold and whether CAM
  scores were used;
* ``fingerprint``: what the inputs that decide the outputs were when the folder was
  started: for each input folder (the masks of ``refine``/``adapt``; every folder
  ``vis`` draws from), that folder's own ``samcam.json`` settings if it has one, else
  the count, total size, newest modification time and a digest of the names, sizes
  and modification times of its entries (one ``stat`` each);
* ``masks``: the mask folder, the mask format found there, and that folder's own
  ``samcam.json`` if it has one (its first and last run only);
* ``samcam_version``, ``created``, ``updated`` (UTC) and ``runs``: one entry per run
  (date, samcam version, the command line when run from the CLI, the name list file
  if one was given, how many names, whether it overwrote).

A folder holds outputs of one setting, made from one set of inputs, only. A rerun
(resume) with the same settings and inputs appends to ``runs``. A run with different
settings, or after the inputs changed (masks recomputed in place with another source),
into a folder that already has outputs is refused (``ValueError``, exit code 2 on the
command line, listing what changed), and so is a run into a folder of outputs without
``samcam.json`` (made by something else or an older samcam), unless ``overwrite`` is set
**and** the run redoes every output already there; otherwise the folder would mix
outputs of two settings under one description. A different samcam version alone is
logged, not refused. While a run writes a folder it holds the folder's lock
(:mod:`samcam.locks`): a second run into it is refused at once.

A record is read with a size limit (:data:`MAX_RECORD_BYTES`) and checked field by
field: a file that is not one (too large, nested too deep, ``runs`` not a list, ...) is
one error naming it, never a traceback.

Readers list labels as ``*.png``, so ``samcam.json`` is never taken for a label.
Mask folders follow the same rule with one difference: stores already there without
``samcam.json`` (written by an older samcam) are kept and counted in the record as of
unknown settings, with a warning, so that days of GPU work can be resumed.
"""
from __future__ import annotations

import datetime
import hashlib
import json
import logging
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence

from ._version import __version__
from .files import atomic_write_bytes
from .locks import LOCK_FILE, FolderBusy, FolderLock
from .names import list_names
from .outputs import RECORD_NAME

__all__ = ["PROVENANCE_FILE", "FORMAT", "MAX_RECORD_BYTES", "FolderKind", "LABELS", "MASKS", "PANELS", "RunInfo",
           "Claim", "FolderBusy", "read", "claim", "describe_masks", "fingerprint"]

PROVENANCE_FILE = RECORD_NAME
FORMAT = "samcam-provenance/1"
MAX_RECORD_BYTES = 1 << 20  # a record is kilobytes; a larger one is not a record
MAX_DEPTH = 32  # of nested lists and dicts in a record (a real one nests about 6 deep)

log = logging.getLogger(__name__)


# ------------------------------------------------------------------------------ reading

# field -> the JSON types it may hold (None: null); fields not named may hold anything
_SCHEMA = {
    "format": (str,), "what": (str,), "settings": (dict,), "fingerprint": (dict,), "masks": (dict, None),
    "samcam_version": (str,), "created": (str,), "updated": (str,), "runs": (list,), "unrecorded": (int,),
}
_REQUIRED = ("format", "settings", "runs")
_NESTED = {  # (field, key) -> types, for what readers use inside
    ("settings", "refine"): (dict, None), ("settings", "inputs"): (dict, None), ("settings", "tool"): (str, None),
    ("settings", "method"): (str, None), ("masks", "formats"): (list,), ("masks", "provenance"): (dict,),
}
_TYPE_NAMES = {dict: "an object", list: "a list", str: "text", int: "an integer", None: "null"}


def _is(value: Any, types: tuple) -> bool:
    if value is None:
        return None in types
    if isinstance(value, bool):
        return False  # never a count or a name
    return any(t is not None and isinstance(value, t) for t in types)


def _depth(value: Any) -> int:
    """How deeply lists and dicts nest in ``value`` (stops counting past MAX_DEPTH), without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack and deepest <= MAX_DEPTH:
        item, level = stack.pop()
        if isinstance(item, (dict, list)):
            deepest = max(deepest, level)
            stack.extend((child, level + 1) for child in (item.values() if isinstance(item, dict) else item))
    return deepest


def _types(types: tuple) -> str:
    return " or ".join(_TYPE_NAMES[t] for t in types)


def _field_problem(record: Dict[str, Any]) -> Optional[str]:
    """The first field (top level, or one readers use inside) of the wrong JSON type, or None."""
    for key, types in _SCHEMA.items():
        if key in record and not _is(record[key], types):
            return f"{key} must be {_types(types)}, not {type(record[key]).__name__}"
    for (outer, key), types in _NESTED.items():
        inner = record.get(outer) or {}
        if key in inner and not _is(inner[key], types):
            return f"{outer}.{key} must be {_types(types)}, not {type(inner[key]).__name__}"
    return None


def _type_problem(record: Dict[str, Any]) -> Optional[str]:
    """What of the record is of the wrong JSON type, or None."""
    problem = _field_problem(record)
    if problem is None and not all(isinstance(run, dict) for run in record["runs"]):
        problem = "runs must be a list of objects"
    if problem is None and not all(isinstance(name, str) for name in (record.get("masks") or {}).get("formats", [])):
        problem = "masks.formats must be a list of text"
    return problem


def _schema_problem(record: Any) -> Optional[str]:
    """What is wrong with the parsed record's shape, or None."""
    if not isinstance(record, dict) or record.get("format") != FORMAT:
        return f"not a samcam provenance file (format {FORMAT!r} expected)"
    if _depth(record) > MAX_DEPTH:
        return f"nested more than {MAX_DEPTH} deep"
    missing = [key for key in _REQUIRED if key not in record]
    if missing:
        return f"has no {', '.join(missing)}"
    return _type_problem(record)


def _record_text(path: Path) -> str:
    """The file's text, read only when it is within MAX_RECORD_BYTES."""
    with open(path, "rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        if size > MAX_RECORD_BYTES:
            raise ValueError(f"{size:,} bytes, more than a record's {MAX_RECORD_BYTES:,}")
        return handle.read(MAX_RECORD_BYTES + 1).decode("utf-8")


def read(folder: os.PathLike) -> Optional[Dict[str, Any]]:
    """The parsed ``{folder}/samcam.json``, or None if there is none.

    Raises:
        ValueError: the file exists but is not a samcam provenance file (too large,
            not JSON, nested too deep, a field of the wrong type), in one line naming it.
    """
    path = Path(folder) / PROVENANCE_FILE
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            raise ValueError(f"{path}: not a regular file, so not a samcam provenance file")
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as error:
        raise ValueError(f"{path}: unreadable ({error.strerror or error})") from None
    try:
        record = json.loads(_record_text(path))
    except RecursionError:
        raise ValueError(f"{path}: unreadable (nested more than {MAX_DEPTH} deep)") from None
    except (OSError, ValueError) as error:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise ValueError(f"{path}: unreadable ({type(error).__name__}: {str(error)[:200]})") from None
    problem = _schema_problem(record)
    if problem is not None:
        raise ValueError(f"{path}: {problem}")
    return record


def _read_or_none(folder: os.PathLike) -> Optional[Dict[str, Any]]:
    """An input folder's record, None when it has none or a broken one (then it is described by its files)."""
    try:
        return read(folder)
    except ValueError as error:
        log.warning("%s (described by its files instead)", error)
        return None


# ------------------------------------------------------------------------ what the inputs are

def describe_masks(mask_dir: os.PathLike) -> Dict[str, Any]:
    """What is known about a mask folder: its path, the formats found, its own ``samcam.json``."""
    folder = Path(mask_dir)
    formats = set()
    if folder.is_dir():
        for entry in os.scandir(folder):
            formats.add(_mask_format(entry))
            if len(formats - {None}) == 3:
                break
    description: Dict[str, Any] = {"path": str(folder.resolve()), "formats": sorted(formats - {None})}
    upstream = _read_or_none(folder) if folder.is_dir() else None
    if upstream is not None:  # its first and last run: a long history would grow every record made from it
        runs = upstream["runs"]
        description["provenance"] = {**upstream, "runs": runs[:1] + runs[1:][-1:]}
    return description


def _mask_format(entry: os.DirEntry) -> Optional[str]:
    try:
        if entry.is_dir():
            return "amg.py PNG folders"
    except OSError:  # a loop of links: not a mask of anything
        return None
    if entry.name.endswith(".masks.npz"):
        return "samcam mask store (.masks.npz)"
    if entry.name.endswith(".json") and entry.name != PROVENANCE_FILE:
        return "amg.py RLE JSON"
    return None


def _entry_stat(entry: os.DirEntry):
    """(size, mtime_ns) of a folder entry; of ``metadata.csv`` inside an amg.py image folder,
    which amg.py writes last (the folder's own times do not change when its files are rewritten)."""
    try:
        info = entry.stat()
        if stat.S_ISDIR(info.st_mode):
            try:
                info = os.stat(os.path.join(entry.path, "metadata.csv"))
            except OSError:
                pass
        return info.st_size, info.st_mtime_ns
    except OSError:  # a loop of links, a file removed meanwhile
        return -1, -1


def fingerprint(folder: os.PathLike) -> Dict[str, Any]:
    """What an input folder's outputs depend on, to tell later whether it changed.

    Its own ``samcam.json`` (what made it, not when or where) if it has one; else the
    number of entries, their total size, the newest modification time and a digest of
    every entry's name, size and modification time (one ``stat`` per entry, nothing read).
    """
    record = _read_or_none(folder)
    if record is not None:
        return {"record": {key: record.get(key) for key in ("what", "settings", "unrecorded") if key in record}}
    digest, count, total, newest = hashlib.sha256(), 0, 0, 0
    try:
        entries = sorted((e for e in os.scandir(folder) if not _skipped(e.name)), key=lambda e: e.name)
    except OSError:
        return {"entries": None}
    for entry in entries:
        size, mtime = _entry_stat(entry)
        digest.update(os.fsencode(entry.name) + f"\0{size}\0{mtime}\n".encode())
        count, total, newest = count + 1, total + max(size, 0), max(newest, mtime)
    return {"entries": count, "bytes": total, "newest": _date(newest / 1e9) if count else None,
            "sha256": digest.hexdigest()}


def _skipped(name: str) -> bool:
    """Entries that are no input: the record, the lock, temp files of running writers."""
    return name == PROVENANCE_FILE or name.startswith(".")


# ------------------------------------------------------------------------------ claiming

@dataclass(frozen=True)
class FolderKind:
    """What a folder of outputs holds.

    Attributes:
        suffix: the outputs' file suffix (``".png"``).
        noun: one output, in messages (``"label"``).
        what: the record's description of the folder (compared: a folder of labels is
            never taken over by a run writing masks).
        keep_unrecorded: outputs there without ``samcam.json`` are kept (counted in the
            record as ``unrecorded``, with a warning) instead of refused.
        shared: runs with the same settings may write the folder at once (shards).
    """

    suffix: str
    noun: str
    what: str
    keep_unrecorded: bool = False
    shared: bool = False


LABELS = FolderKind(".png", "label",
                    "refined pseudo labels ({name}.png) written by samcam; settings decide their content")
MASKS = FolderKind(".masks.npz", "mask store",
                   "masks ({name}.masks.npz) written by samcam masks; settings decide their content",
                   keep_unrecorded=True, shared=True)
PANELS = FolderKind(".png", "panel",
                    "picture panels ({name}.png) written by samcam vis; settings and inputs decide their content")


@dataclass(frozen=True)
class RunInfo:
    """This run, for its entry in ``runs`` (not compared between runs).

    Attributes:
        names: the image names this run will write.
        overwrite: this run redoes names whose output exists.
        command: the command line, when run from the CLI.
        list_file: the name list the run's names came from, if any.
        write: record the run (False: only check, e.g. every shard but the first of a
            ``torchrun`` job, so that parallel writers do not drop each other's runs).
        extra: more facts of this run, e.g. where the inputs were this time.
    """

    names: Sequence[str]
    overwrite: bool = False
    command: Optional[Sequence[str]] = None
    list_file: Optional[os.PathLike] = None
    write: bool = True
    extra: Mapping[str, Any] = field(default_factory=dict)

    def entry(self, now: str) -> Dict[str, Any]:
        return {"date": now, "samcam_version": __version__,
                "command": list(self.command) if self.command is not None else None,
                "list": str(Path(self.list_file).resolve()) if self.list_file is not None else None,
                "names": len(self.names), "overwrite": bool(self.overwrite), **_normalised(dict(self.extra))}


class Claim:
    """A folder claimed for a run: its record checked and written, its lock held.

    The lock is held until :meth:`release`, the end of a ``with`` block, the end of the
    :func:`~samcam.batch.run_batch` that writes the folder, or when the object is
    dropped, whichever comes first: keep the claim for as long as the run writes the
    folder.
    """

    def __init__(self, path: Path, lock: FolderLock, new_folder: bool = False):
        self.path = path  # the samcam.json
        self._lock = lock
        self.new_folder = new_folder  # the claim created the folder

    def release(self) -> None:
        self._lock.release()

    def undo_if_empty(self) -> bool:
        """Remove the folder again if this claim created it and the run wrote nothing into
        it but the record (every image failed); returns whether it did. Then releases."""
        folder = self.path.parent
        try:
            if self.new_folder and {e.name for e in os.scandir(folder)} <= {PROVENANCE_FILE, LOCK_FILE}:
                self.path.unlink(missing_ok=True)
                self.release()  # removes the lock file
                folder.rmdir()
                return True
        except OSError:  # something else appeared there meanwhile: leave it
            pass
        self.release()
        return False

    def __enter__(self) -> "Claim":
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def _date(seconds: Optional[float] = None) -> str:
    moment = datetime.datetime.now(datetime.timezone.utc) if seconds is None else \
        datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc)
    return moment.isoformat(timespec="seconds")


def _normalised(value: Any) -> Any:
    """As the value reads back from JSON (tuples -> lists, paths -> strings)."""
    return json.loads(json.dumps(value, default=str))


def _differences(old: Mapping[str, Any], new: Mapping[str, Any], prefix: str = "") -> List[str]:
    lines = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key, "(absent)"), new.get(key, "(absent)")
        if isinstance(a, dict) and isinstance(b, dict):
            lines += _differences(a, b, f"{prefix}{key}.")
        elif a != b:
            lines.append(f"{prefix}{key}: {a!r} there, {b!r} now")
    return lines


def _summary(print_: Any) -> str:
    """One input's fingerprint, in words."""
    if not isinstance(print_, dict):
        return "not recorded"
    if "record" in print_:
        return "its samcam.json"
    if print_.get("entries") is None:
        return "no folder"
    return f"{print_['entries']:,} entries, {print_.get('bytes', 0):,} bytes, newest {print_.get('newest')}"


def _input_changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> List[str]:
    """One line per input folder that differs between two fingerprints (see :func:`fingerprint`)."""
    lines = []
    for name in sorted(set(old) | set(new)):
        a, b = old.get(name), new.get(name)
        if a == b:
            continue
        if isinstance(a, dict) and isinstance(b, dict) and "record" in a and "record" in b:
            lines += [f"{name} samcam.json {line}" for line in _differences(a["record"], b["record"])]
        elif _summary(a) == _summary(b):
            lines.append(f"{name}: the same count and size, but files were replaced (modification times differ)")
        else:
            lines.append(f"{name}: {_summary(a)} there, {_summary(b)} now")
    return lines


@dataclass
class _Check:
    """One claim's facts: the folder, its record, what this run brings."""

    out: Path
    kind: FolderKind
    record: Optional[Dict[str, Any]]
    settings: Dict[str, Any]
    prints: Dict[str, Any]
    existing: List[str]

    def why_not_same(self) -> Optional[str]:
        """Why the outputs there cannot be continued by this run, or None when they can."""
        if self.record is None:
            return f"{len(self.existing)} {self.kind.noun}(s) there have no {PROVENANCE_FILE}: their settings are unknown"
        changed = _differences(self.record["settings"], self.settings)
        if changed:
            return "they were made with other settings:\n  " + "\n  ".join(changed)
        old = self.record.get("fingerprint")
        changed = _input_changes(old, self.prints) if old is not None else []
        if changed:
            return "the inputs that decide them changed since:\n  " + "\n  ".join(changed)
        return None


def _check_kind(out: Path, kind: FolderKind, record: Optional[Dict[str, Any]]) -> None:
    if record is None or record.get("what") == kind.what:
        return
    if any(entry.name not in (PROVENANCE_FILE, LOCK_FILE) for entry in os.scandir(out)):
        # e.g. masks written into a folder of refined labels: never replace its record
        raise ValueError(f"{out}: its {PROVENANCE_FILE} describes {record.get('what')!r}, and this run writes "
                         f"{kind.what.split(';')[0]}; choose another output folder")


def _refuse_or_redo(check: _Check, why: str, run: RunInfo) -> None:
    """Outputs there that this run cannot continue: refused, unless ``overwrite`` redoes them all."""
    noun = check.kind.noun
    left = sorted(set(check.existing) - set(run.names))
    refusal = f"{check.out}: refusing to mix {noun}s from two settings in one folder; {why}\n"
    if left:
        raise ValueError(refusal + f"{len(left)} of those {noun}s are not among this run's names (e.g. {left[0]}) "
                         "and would stay: choose another output folder, or empty this one first")
    if not run.overwrite:
        raise ValueError(refusal + "pass --overwrite (overwrite=True) to redo them all with these settings, "
                         "or choose another output folder")
    log.warning("%s: redoing every %s with new settings or inputs (overwrite); %s", check.out, noun,
                why.split(":")[0])


def _updated_record(check: _Check, run: RunInfo, masks: Optional[Dict[str, Any]], same: bool) -> Dict[str, Any]:
    now = _date()
    if same:
        record = dict(check.record)
        record.update(updated=now, runs=list(record["runs"]) + [run.entry(now)], fingerprint=check.prints)
        if masks is not None:
            record["masks"] = masks
        return record
    record = {"format": FORMAT, "what": check.kind.what, "settings": check.settings, "fingerprint": check.prints,
              "masks": masks, "samcam_version": __version__, "created": now, "updated": now, "runs": [run.entry(now)]}
    if check.record is None and check.existing and check.kind.keep_unrecorded:
        record["unrecorded"] = len(check.existing)
    return record


def _settle(check: _Check, run: RunInfo) -> bool:
    """Decide whether this run continues the folder's record (True) or starts a new one."""
    if check.record is None and not check.existing:
        return False  # a new folder
    why = check.why_not_same()
    if why is None:
        if check.record.get("samcam_version") != __version__:
            log.warning("%s: %ss so far were written by samcam %s, this is %s", check.out, check.kind.noun,
                        check.record.get("samcam_version"), __version__)
        return True
    if check.record is None and check.existing and check.kind.keep_unrecorded:
        log.warning("%s: %d %s file(s) there have no %s (an older samcam?): kept, recorded as of unknown settings",
                    check.out, len(check.existing), check.kind.noun, PROVENANCE_FILE)
    elif check.existing:
        _refuse_or_redo(check, why, run)
    return False


def _key(kind: FolderKind, settings: Mapping[str, Any]) -> str:
    """What runs sharing a folder must agree on, as a short digest."""
    return hashlib.sha256(json.dumps([kind.what, settings], sort_keys=True).encode()).hexdigest()[:16]


def claim(out_dir: os.PathLike, kind: FolderKind, settings: Mapping[str, Any], run: RunInfo,
          inputs: Optional[Mapping[str, Optional[os.PathLike]]] = None) -> Claim:
    """Lock ``out_dir``, check its ``samcam.json`` against this run, then record the run.

    Args:
        out_dir: the output folder (created if missing).
        kind: what the folder holds (:data:`LABELS`, :data:`MASKS`, :data:`PANELS`).
        settings: what decides the outputs (JSON-serialisable); compared with the record's.
        run: this run (:class:`RunInfo`).
        inputs: name -> input folder whose content decides the outputs, fingerprinted
            (:func:`fingerprint`) and compared on a resume; ``"masks"`` is also described
            (:func:`describe_masks`).

    Returns:
        The :class:`Claim`, holding the folder's lock: keep it until the run's last
        output is written (``with claim(...):``).

    Raises:
        FolderBusy: another samcam run is writing the folder.
        ValueError: the folder holds outputs made with other settings or from other
            inputs, or outputs without ``samcam.json``, that this run would not all redo
            (see the module docstring), or its ``samcam.json`` is not a record.
    """
    out = Path(out_dir)
    new_folder = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    settings = _normalised(settings)
    lock = FolderLock.acquire(out, _key(kind, settings), shared=kind.shared)
    try:
        path = _claim_locked(out, kind, settings, run, inputs or {})
        lock.share()
    except BaseException:
        lock.release()
        raise
    return Claim(path, lock, new_folder)


def _claim_locked(out: Path, kind: FolderKind, settings: Dict[str, Any], run: RunInfo,
                  inputs: Mapping[str, Optional[os.PathLike]]) -> Path:
    record = read(out)
    _check_kind(out, kind, record)
    prints = {name: fingerprint(folder) for name, folder in inputs.items() if folder is not None}
    check = _Check(out, kind, record, settings, _normalised(prints), list_names(out, (kind.suffix,)))
    same = _settle(check, run)
    if not run.write:
        return out / PROVENANCE_FILE
    masks = _normalised(describe_masks(inputs["masks"])) if inputs.get("masks") is not None else None
    record = _updated_record(check, run, masks, same)
    return atomic_write_bytes(out / PROVENANCE_FILE, (json.dumps(record, indent=1) + "\n").encode())

"""``samcam.json``: which rule, parameters and inputs produced a folder of refined labels
(or of masks).

``samcam refine``, ``samcam adapt`` and their Python forms
(:func:`samcam.folders.refine_dir`, :func:`samcam.adapters.run.adapt_dir`) write
``{out}/samcam.json`` before the first label, atomically, so that a result can be
reproduced and compared later. ``samcam masks`` (:func:`samcam.sam.pipeline.compute_masks`)
writes one into its mask folder the same way (mask source, model, checkpoint, the
settings given, exact or fast mode and its dtype), which ``refine``/``adapt`` then copy
into the labels' record. It holds:

* ``settings``: what decides the labels' content: the tool, the rule and every one of
  its parameters (defaults included), the input folders, the mask order, the PNG mode,
  and for ``adapt`` the method, the source, the background threshold and whether CAM
  scores were used;
* ``masks``: the mask folder, the mask format found there, and that folder's own
  ``samcam.json`` if it has one;
* ``samcam_version``, ``created``, ``updated`` (UTC) and ``runs``: one entry per run
  (date, samcam version, the command line when run from the CLI, the name list file
  if one was given, how many names, whether it overwrote).

A folder holds labels of one setting only. A rerun (resume) with the same settings
appends to ``runs``. A run with different settings into a folder that already has
labels is refused (``ValueError``, exit code 2 on the command line), and so is a run
into a folder of labels without ``samcam.json`` (made by something else or an older
samcam), unless ``overwrite`` is set **and** the run redoes every label already there;
otherwise the folder would mix labels from two rules under one description. A
different samcam version alone is logged, not refused.

Readers list labels as ``*.png``, so ``samcam.json`` is never taken for a label.
Mask folders follow the same rule with one difference: stores already there without
``samcam.json`` (written by an older samcam) are kept and counted in the record as of
unknown settings, with a warning, so that days of GPU work can be resumed.
"""
from __future__ import annotations

import datetime
import json
import logging
import os
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence

from ._version import __version__
from .io import atomic_write_bytes, list_names

__all__ = ["PROVENANCE_FILE", "FORMAT", "read", "claim", "describe_masks"]

PROVENANCE_FILE = "samcam.json"
FORMAT = "samcam-provenance/1"

log = logging.getLogger(__name__)


def read(folder: os.PathLike) -> Optional[Dict[str, Any]]:
    """The parsed ``{folder}/samcam.json``, or None if there is none.

    Raises:
        ValueError: the file exists but is not a samcam provenance file.
    """
    path = Path(folder) / PROVENANCE_FILE
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise ValueError(f"{path}: unreadable ({type(error).__name__}: {error})") from None
    if not isinstance(record, dict) or record.get("format") != FORMAT:
        raise ValueError(f"{path}: not a samcam provenance file (format {FORMAT!r} expected)")
    return record


def describe_masks(mask_dir: os.PathLike) -> Dict[str, Any]:
    """What is known about a mask folder: its path, the formats found, its own ``samcam.json``."""
    folder = Path(mask_dir)
    formats = set()
    if folder.is_dir():
        for entry in os.scandir(folder):
            if entry.is_dir():
                formats.add("amg.py PNG folders")
            elif entry.name.endswith(".masks.npz"):
                formats.add("samcam mask store (.masks.npz)")
            elif entry.name.endswith(".json") and entry.name != PROVENANCE_FILE:
                formats.add("amg.py RLE JSON")
            if len(formats) == 3:
                break
    description: Dict[str, Any] = {"path": str(folder.resolve()), "formats": sorted(formats)}
    try:
        upstream = read(folder)
    except ValueError:
        upstream = None
    if upstream is not None:
        description["provenance"] = upstream
    return description


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


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


def claim(
    out_dir: os.PathLike,
    settings: Mapping[str, Any],
    names: Sequence[str],
    *,
    overwrite: bool = False,
    command: Optional[Sequence[str]] = None,
    list_file: Optional[os.PathLike] = None,
    masks: Optional[Mapping[str, Any]] = None,
    suffix: str = ".png",
    kind: str = "label",
    what: str = "refined pseudo labels ({name}.png) written by samcam; settings decide their content",
    keep_unrecorded: bool = False,
    write: bool = True,
    run_info: Optional[Mapping[str, Any]] = None,
) -> Path:
    """Check ``{out_dir}/samcam.json`` against this run's ``settings``, then record the run.

    Args:
        out_dir: the output folder (created if missing).
        settings: what decides the labels (JSON-serialisable); compared with the file's.
        names: the image names this run will write.
        overwrite: this run redoes names whose label exists.
        command: the command line, when run from the CLI.
        list_file: the name list the run's names came from, if any.
        masks: what is known about the masks (:func:`describe_masks`).
        suffix, kind, what: the files the folder holds (``".png"``, ``"label"``) and the
            record's description of them (``".masks.npz"``, ``"mask store"`` for masks).
        keep_unrecorded: files there without ``samcam.json`` are kept (counted in the
            record as ``unrecorded``, with a warning) instead of refused.
        write: record the run (False: only check, e.g. every shard but the first of a
            ``torchrun`` job, so that parallel writers do not drop each other's runs).
        run_info: more facts of this run for its entry in ``runs`` (not compared), e.g.
            where the inputs were this time.

    Returns:
        The path of ``samcam.json`` (written atomically).

    Raises:
        ValueError: the folder holds labels made with other settings, or labels without
            ``samcam.json``, that this run would not all redo (see the module docstring).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    settings = _normalised(settings)
    record = read(out)
    if record is not None and record.get("what") != what and any(e.name != PROVENANCE_FILE for e in os.scandir(out)):
        # e.g. masks written into a folder of refined labels: never replace its record
        raise ValueError(f"{out}: its {PROVENANCE_FILE} describes {record.get('what')!r}, and this run writes "
                         f"{what.split(';')[0]}; choose another output folder")
    labels = set(list_names(out, (suffix,)))
    same = record is not None and record.get("settings") == settings
    unrecorded = 0
    if record is None and labels and keep_unrecorded:
        unrecorded = len(labels)
        log.warning("%s: %d %s file(s) there have no %s (an older samcam?): kept, recorded as of unknown settings",
                    out, unrecorded, kind, PROVENANCE_FILE)
    elif not same and labels:
        if record is None:
            why = f"{len(labels)} {kind}(s) there have no {PROVENANCE_FILE}: their settings are unknown"
        else:
            why = "they were made with other settings:\n  " + "\n  ".join(
                _differences(record.get("settings", {}), settings))
        left = sorted(labels - set(names))
        refusal = f"{out}: refusing to mix {kind}s from two settings in one folder; {why}\n"
        if left:
            raise ValueError(refusal + f"{len(left)} of those {kind}s are not among this run's names (e.g. {left[0]}) "
                             "and would stay: choose another output folder, or empty this one first")
        if not overwrite:
            raise ValueError(refusal + "pass --overwrite (overwrite=True) to redo them all with these settings, "
                             "or choose another output folder")
        log.warning("%s: redoing every %s with new settings (overwrite); %s", out, kind, why.split(":")[0])
    if same and record.get("samcam_version") != __version__:
        log.warning("%s: %ss so far were written by samcam %s, this is %s", out, kind, record.get("samcam_version"),
                    __version__)
    if not write:
        return out / PROVENANCE_FILE
    rule = settings.get("refine")
    if rule is not None:
        log.info("%s: rule %s (%s); recorded in %s", out, rule.get("rule"),
                 ", ".join(f"{k}={v}" for k, v in rule.items() if k != "rule"), out / PROVENANCE_FILE)
    now = _now()
    run = {"date": now, "samcam_version": __version__, "command": list(command) if command is not None else None,
           "list": str(Path(list_file).resolve()) if list_file is not None else None, "names": len(names),
           "overwrite": bool(overwrite), **_normalised(dict(run_info or {}))}
    if same:
        record["updated"] = now
        record["runs"] = list(record.get("runs", [])) + [run]
        if masks is not None:
            record["masks"] = _normalised(masks)
    else:
        record = {
            "format": FORMAT,
            "what": what,
            "settings": settings,
            "masks": _normalised(masks) if masks is not None else None,
            "samcam_version": __version__,
            "created": now,
            "updated": now,
            "runs": [run],
        }
        if unrecorded:
            record["unrecorded"] = unrecorded
    return atomic_write_bytes(out / PROVENANCE_FILE, (json.dumps(record, indent=1) + "\n").encode())

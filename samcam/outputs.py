"""What a command may write: never over one of its inputs.

Every command that writes calls :func:`check_outputs` with what it reads and what it
will write, before any work. An output may never be:

* an input file (the ``--list`` file, ...), also through a link;
* an existing file inside a folder the command reads (a mask store of ``--masks``, an
  image of ``--images``), at any depth;
* a new file inside such a folder under a name its readers would take for an input
  (``.png``, ``.jpg``, ``.npy``, ``.npz``, ``.json``): the next run would read it;
* a ``samcam.json``: that name is the record samcam keeps of a folder it wrote, and only
  the command that writes the folder writes it (:mod:`samcam.provenance`);
* a folder where a file is wanted, or a file where a folder is wanted;
* for an output folder, an input folder or a folder inside one;
* the same path as another output of the same command.

The errors are :class:`OutputConflict` (a ``ValueError``: exit code 2 on the command
line) and name the flags involved, so a typo is blamed on the flag that holds it.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

__all__ = ["OutputConflict", "check_outputs", "ensure_not_inside", "RECORD_NAME", "INPUT_SUFFIXES"]

RECORD_NAME = "samcam.json"  # samcam.provenance.PROVENANCE_FILE (provenance imports this module)
# What samcam's readers take from a folder: images, labels, CAMs, mask stores, RLE JSON.
INPUT_SUFFIXES = (".png", ".jpg", ".jpeg", ".npy", ".npz", ".json")

PathArg = Union[str, os.PathLike]
Reads = Mapping[str, Union[None, PathArg, Sequence[Optional[PathArg]]]]


class OutputConflict(ValueError):
    """An output that would replace or land among a command's inputs (names the flags)."""


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def _resolved(path: PathArg) -> Path:
    return Path(os.path.abspath(path)).resolve()


def _read_places(reads: Reads) -> Tuple[List[Tuple[str, PathArg, Path]], List[Tuple[str, PathArg, Path]]]:
    """(folders, files) the command reads: (flag, as given, resolved); missing paths are
    left to the command's own checks."""
    folders, files = [], []
    for flag, value in reads.items():
        values = value if isinstance(value, (list, tuple)) else [value]
        for given in values:
            if given is None or given == "":
                continue
            resolved = _resolved(given)
            if resolved.is_dir():
                folders.append((flag, given, resolved))
            elif resolved.exists():
                files.append((flag, given, resolved))
    return folders, files


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a == b or os.path.samefile(a, b)
    except OSError:
        return False


def _check_file(flag: str, given: PathArg, reads: Tuple[list, list]) -> None:
    path = _resolved(given)
    if path.is_dir():
        raise OutputConflict(f"{flag} {given} is a folder; give a file name")
    if path.name == RECORD_NAME:
        raise OutputConflict(f"{flag} {given}: {RECORD_NAME} is the record samcam keeps of a folder it wrote; "
                             "name the file otherwise")
    folders, files = reads
    for read_flag, _, read_path in files:
        if _same_file(path, read_path):
            raise OutputConflict(f"{flag} {given} is the {read_flag} file, an input; write it elsewhere")
    for read_flag, read_given, folder in folders:
        if not _inside(path, folder):
            continue
        if path.exists() or os.path.lexists(given):
            raise OutputConflict(f"{flag} {given} would replace a file inside {read_flag} {read_given}, a folder "
                                 "this command reads; write it elsewhere")
        if path.name.lower().endswith(INPUT_SUFFIXES):
            raise OutputConflict(f"{flag} {given} would add a {path.suffix} file to {read_flag} {read_given}, a "
                                 "folder this command reads, where it would be taken for an input; write it elsewhere")


def _check_folder(flag: str, given: PathArg, reads: Tuple[list, list]) -> None:
    path = _resolved(given)
    if path.exists() and not path.is_dir():
        raise OutputConflict(f"{flag} {given} is a file, not a folder; give a folder")
    folders, _ = reads
    for read_flag, read_given, folder in folders:
        if _inside(path, folder):
            raise OutputConflict(f"{flag} {given} lies inside the input folder {read_flag} {read_given}; samcam "
                                 "never writes into its inputs. Choose a separate output folder.")


def check_outputs(files: Optional[Mapping[str, Optional[PathArg]]] = None,
                  folders: Optional[Mapping[str, Optional[PathArg]]] = None,
                  reads: Optional[Reads] = None) -> None:
    """Refuse, before any work, outputs that would replace or join the command's inputs.

    Args:
        files: flag -> output file (None: not asked for), e.g. ``{"--json": "m.json"}``.
        folders: flag -> output folder, e.g. ``{"--out": "refined"}``.
        reads: flag -> what the command reads under it: a folder, a file, or a list of
            them (``{"--labels": [dir1, dir2], "--list": "train.txt"}``).

    Raises:
        OutputConflict: naming the output's flag (and the input's), see the module docstring.
    """
    places = _read_places(reads or {})
    seen: Dict[Path, str] = {}
    wanted = [(flag, path, _check_file) for flag, path in (files or {}).items() if path]
    wanted += [(flag, path, _check_folder) for flag, path in (folders or {}).items() if path]
    for flag, given, check in wanted:
        resolved = _resolved(given)
        if resolved in seen:
            raise OutputConflict(f"{flag} and {seen[resolved]} are the same file, {given}")
        seen[resolved] = flag
        check(flag, given, places)


def ensure_not_inside(out_dir: PathArg, input_dirs: Iterable[Optional[PathArg]], flag: str = "--out") -> None:
    """Refuse an output folder that is (or lies inside) one of the input folders.

    samcam never writes into a folder it reads from, so a method's own results can
    never be overwritten by a mistyped ``--out``. (The library's form of
    :func:`check_outputs` for one output folder; the command line calls that first,
    with every flag.)
    """
    out = _resolved(out_dir)
    for source in input_dirs:
        if source is not None and _inside(out, _resolved(source)):
            raise OutputConflict(
                f"{flag} {out_dir} lies inside the input folder {source}; samcam never writes "
                "into its inputs. Choose a separate output folder."
            )

"""SAM checkpoints: the official files, a local cache, and a verified download.

``samcam masks`` needs one of SAM's three official checkpoints. Without
``--checkpoint PATH`` it looks in the cache folder (``$SAMCAM_CACHE`` or
``~/.cache/samcam``) and otherwise downloads the file from SAM's official URL,
checks its SHA-256 against the published value and only then moves it into the
cache, so a cached file is always a complete, verified one.

Pure standard library (no torch): loading the weights is :mod:`samcam.generate`'s job.
"""
from __future__ import annotations

import hashlib
import http.client
import os
import socket
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Optional

from tqdm import tqdm

__all__ = [
    "CheckpointError",
    "OfficialCheckpoint",
    "OFFICIAL_CHECKPOINTS",
    "cache_dir",
    "resolve_checkpoint",
    "download",
    "sha256_of",
]


class CheckpointError(RuntimeError):
    """A checkpoint could not be found, downloaded or verified (message meant for the user)."""


@dataclass(frozen=True)
class OfficialCheckpoint:
    """One of SAM's published checkpoints."""

    model: str
    filename: str
    url: str
    sha256: str


_BASE_URL = "https://dl.fbaipublicfiles.com/segment_anything/"
# SHA-256 values as published alongside the checkpoints (and checked by many
# downstream projects); the 6-hex suffix of each name is the start of its MD5.
OFFICIAL_CHECKPOINTS: Dict[str, OfficialCheckpoint] = {
    "vit_h": OfficialCheckpoint(
        "vit_h", "sam_vit_h_4b8939.pth", _BASE_URL + "sam_vit_h_4b8939.pth",
        "a7bf3b02f3ebf1267aba913ff637d9a2d5c33d3173bb679e46d9f338c26f262e",
    ),
    "vit_l": OfficialCheckpoint(
        "vit_l", "sam_vit_l_0b3195.pth", _BASE_URL + "sam_vit_l_0b3195.pth",
        "3adcc4315b642a4d2101128f611684e8734c41232a17c648ed1693702a49a622",
    ),
    "vit_b": OfficialCheckpoint(
        "vit_b", "sam_vit_b_01ec64.pth", _BASE_URL + "sam_vit_b_01ec64.pth",
        "ec2df62732614e57411cdcf32a23ffdf28910380d03139ee0f4fcbe91eb8c912",
    ),
}

_CHUNK = 1 << 20


def cache_dir() -> Path:
    """The checkpoint cache folder: ``$SAMCAM_CACHE`` if set, else ``~/.cache/samcam``."""
    configured = os.environ.get("SAMCAM_CACHE")
    return Path(configured).expanduser() if configured else Path.home() / ".cache" / "samcam"


def sha256_of(path: os.PathLike) -> str:
    """Hex SHA-256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _manual_instructions(info: OfficialCheckpoint, folder: Path) -> str:
    return (
        f"Fetch {info.filename} by hand from {info.url} (SHA-256 {info.sha256}) and put it in "
        f"{folder}/ (the cache folder; set SAMCAM_CACHE to use another one), e.g.\n"
        f"  mkdir -p {folder} && curl -L -o {folder / info.filename} {info.url}\n"
        f"or pass --checkpoint PATH to a copy you already have."
    )


def resolve_checkpoint(
    model: str,
    checkpoint: Optional[os.PathLike] = None,
    *,
    allow_download: bool = True,
    progress: bool = True,
) -> Path:
    """The checkpoint file to load for ``model``.

    Args:
        model: ``"vit_h"``, ``"vit_l"`` or ``"vit_b"``.
        checkpoint: an explicit local file; used as is (it must exist).
        allow_download: download the official file into the cache when it is missing.
        progress: show a tqdm progress bar while downloading.

    Returns:
        Path of an existing checkpoint file.

    Raises:
        FileNotFoundError: ``checkpoint`` was given and does not exist.
        CheckpointError: the official file is not cached and could not be downloaded
            and verified; the message says which file to fetch and where to put it.
    """
    if checkpoint is not None:
        path = Path(checkpoint).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"--checkpoint {checkpoint}: no such file")
        return path
    if model not in OFFICIAL_CHECKPOINTS:
        raise ValueError(f"unknown SAM model {model!r}; choose one of {', '.join(OFFICIAL_CHECKPOINTS)}")
    info = OFFICIAL_CHECKPOINTS[model]
    folder = cache_dir()
    cached = folder / info.filename
    if cached.is_file():
        return cached
    if not allow_download:
        raise CheckpointError(f"{info.filename} is not in {folder}. " + _manual_instructions(info, folder))
    print(f"samcam: {info.filename} is not cached in {folder}; downloading it from {info.url}", file=sys.stderr)
    try:
        return download(info.url, cached, info.sha256, progress=progress)
    except CheckpointError as error:
        raise CheckpointError(f"{error}\n" + _manual_instructions(info, folder)) from error


def download(
    url: str,
    destination: os.PathLike,
    sha256: str,
    *,
    progress: bool = True,
    timeout: float = 60.0,
) -> Path:
    """Download ``url`` to ``destination``, verify its SHA-256, then move it into place.

    The bytes go to ``<destination>.<pid>.part`` next to the destination; the final
    name appears (``os.replace``) only after the whole body arrived, its length matches
    the server's Content-Length and its SHA-256 equals ``sha256``. Any failure removes
    the partial file and raises :class:`CheckpointError` naming the URL and the file.
    """
    destination = Path(destination)
    try:
        destination.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise CheckpointError(f"cannot create the folder {destination.parent} for {destination.name}: {error}") from error
    partial = destination.with_name(f"{destination.name}.{os.getpid()}.part")
    digest = hashlib.sha256()
    received = 0
    try:
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response:
                header = response.headers.get("Content-Length")
                expected = int(header) if header and header.isdigit() else None
                bar = tqdm(
                    total=expected, desc=destination.name, unit="B", unit_scale=True, unit_divisor=1024,
                    disable=not progress, file=sys.stderr,
                )
                with bar, open(partial, "wb") as handle:
                    while True:
                        chunk = response.read(_CHUNK)
                        if not chunk:
                            break
                        handle.write(chunk)
                        digest.update(chunk)
                        received += len(chunk)
                        bar.update(len(chunk))
                    handle.flush()
                    os.fsync(handle.fileno())
        except (urllib.error.URLError, socket.timeout, ConnectionError, http.client.HTTPException, OSError) as error:
            reason = getattr(error, "reason", None) or error
            if isinstance(error, http.client.IncompleteRead):
                reason = f"transfer interrupted after {received + len(error.partial)} bytes"
            raise CheckpointError(f"could not download {destination.name} from {url}: {reason}") from error
        if expected is not None and received != expected:
            raise CheckpointError(
                f"download of {destination.name} from {url} was cut short: got {received} of {expected} bytes"
            )
        actual = digest.hexdigest()
        if actual != sha256.lower():
            raise CheckpointError(
                f"{destination.name} downloaded from {url} has SHA-256 {actual}, expected {sha256}; "
                "the file was discarded (corrupt transfer or a changed file)"
            )
        os.replace(partial, destination)
    finally:
        if partial.exists():
            partial.unlink()
    return destination

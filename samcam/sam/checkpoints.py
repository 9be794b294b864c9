"""Mask model checkpoints: the official files, a local cache, and a verified download.

``samcam masks`` needs one of the official checkpoints of a family (:mod:`.registry`). Without
``--checkpoint PATH`` it looks in the cache folder (``$SAMCAM_CACHE`` or
``~/.cache/samcam``) and otherwise downloads the file from its official URL, checks its
SHA-256 (where a public record of it exists; all of today's models have one) and only
then moves it into the cache, so a cached file is always a complete, verified one.

No torch here: loading the weights is :mod:`.networks`'s job.
"""
from __future__ import annotations

import hashlib
import http.client
import logging
import os
import socket
import urllib.error
import urllib.request
from pathlib import Path
from typing import Optional, Tuple

from ..batch import progress_bar
from .registry import MASK_MODELS, MaskModel

__all__ = [
    "CheckpointError",
    "cache_dir",
    "resolve_checkpoint",
    "download",
]

log = logging.getLogger(__name__)


class CheckpointError(RuntimeError):
    """A checkpoint could not be found, downloaded or verified (message meant for the user)."""


_CHUNK = 1 << 20


def cache_dir() -> Path:
    """The checkpoint cache folder: ``$SAMCAM_CACHE`` if set, else ``~/.cache/samcam``."""
    configured = os.environ.get("SAMCAM_CACHE")
    return Path(configured).expanduser() if configured else Path.home() / ".cache" / "samcam"


def _manual_instructions(info: MaskModel, folder: Path) -> str:
    digest = f"SHA-256 {info.sha256}" if info.sha256 else "no public SHA-256 record"
    return (
        f"Fetch {info.filename} by hand from {info.url} ({digest}) and put it in "
        f"{folder}/ (the cache folder; set SAMCAM_CACHE to use another one), e.g.\n"
        f"  mkdir -p {folder} && curl -L -o {folder / info.filename} {info.url}\n"
        f"or pass --checkpoint PATH to a copy you already have."
    )


def resolve_checkpoint(
    model: str,
    checkpoint: Optional[os.PathLike] = None,
    *,
    allow_download: bool = True,
    progress: bool = False,
) -> Path:
    """The checkpoint file to load for ``model``.

    Args:
        model: an official model name (``"vit_h"``, ``"sam2.1_hiera_large"``, ...:
            :data:`samcam.sam.registry.MODEL_NAMES`).
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
    if model not in MASK_MODELS:
        raise ValueError(f"unknown mask model {model!r}; choose one of {', '.join(MASK_MODELS)}")
    info = MASK_MODELS[model]
    folder = cache_dir()
    cached = folder / info.filename
    if cached.is_file():
        return cached
    if not allow_download:
        raise CheckpointError(f"{info.filename} is not in {folder}. " + _manual_instructions(info, folder))
    log.info("%s is not cached in %s; downloading it from %s", info.filename, folder, info.url)
    try:
        return download(info.url, cached, info.sha256, progress=progress)
    except CheckpointError as error:
        raise CheckpointError(f"{error}\n" + _manual_instructions(info, folder)) from error


def download(
    url: str,
    destination: os.PathLike,
    sha256: Optional[str],
    *,
    progress: bool = False,
    timeout: float = 60.0,
) -> Path:
    """Download ``url`` to ``destination``, verify its SHA-256, then move it into place.

    The bytes go to ``<destination>.<pid>.part`` next to the destination; the final
    name appears (``os.replace``) only after the whole body arrived, its length matches
    the server's Content-Length and its SHA-256 equals ``sha256`` (``None``: no public
    record of the hash exists; completeness is still checked). Any failure removes
    the partial file and raises :class:`CheckpointError` naming the URL and the file.
    """
    destination = Path(destination)
    try:
        destination.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise CheckpointError(f"cannot create the folder {destination.parent} for {destination.name}: {error}") from error
    partial = destination.with_name(f"{destination.name}.{os.getpid()}.part")
    try:
        received, expected, actual = _fetch(url, partial, destination.name, progress=progress, timeout=timeout)
        _verify(url, destination.name, received, expected, actual, sha256)
        os.replace(partial, destination)
    finally:
        if partial.exists():
            partial.unlink()
    return destination


def _fetch(url: str, partial: Path, name: str, *, progress: bool, timeout: float) -> Tuple[int, Optional[int], str]:
    """Stream ``url`` into ``partial`` (flushed to disk) -> (bytes received, the server's
    Content-Length or None, SHA-256 hex of the bytes received)."""
    digest = hashlib.sha256()
    received = 0
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            header = response.headers.get("Content-Length")
            expected = int(header) if header and header.isdigit() else None
            bar = progress_bar(expected, name, progress, unit="B", unit_scale=True, unit_divisor=1024)
            with bar, open(partial, "wb") as handle:
                for chunk in iter(lambda: response.read(_CHUNK), b""):
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
        raise CheckpointError(f"could not download {name} from {url}: {reason}") from error
    return received, expected, digest.hexdigest()


def _verify(url: str, name: str, received: int, expected: Optional[int], actual: str, sha256: Optional[str]) -> None:
    """Raise CheckpointError when the download is short or its SHA-256 is not ``sha256``."""
    if expected is not None and received != expected:
        raise CheckpointError(f"download of {name} from {url} was cut short: got {received} of {expected} bytes")
    if sha256 is None:
        log.warning("%s: no published SHA-256 to check it against; its SHA-256 is %s", name, actual)
    elif actual != sha256.lower():
        raise CheckpointError(
            f"{name} downloaded from {url} has SHA-256 {actual}, expected {sha256}; "
            "the file was discarded (corrupt transfer or a changed file)"
        )

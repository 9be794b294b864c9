"""Files (samcam.files): atomic writes with unique temp names, stale temp files cleaned, the
usual permissions."""
from __future__ import annotations

import os
import subprocess
import sys
import time

from refine_data import debris

from samcam.batch import run_batch
from samcam.io import (
    TEMP_SUFFIX,
    atomic_write_bytes,
    clean_stale_temp_files,
)


def test_8_temp_names_are_unique_and_stale_ones_are_cleaned(tmp_path, monkeypatch):
    import threading

    target = tmp_path / "x.png"
    errors = []

    def write(index):
        try:
            for _ in range(20):
                atomic_write_bytes(target, bytes([index]) * 1000)
        except OSError as error:  # pragma: no cover - the failure this test guards against
            errors.append(error)

    threads = [threading.Thread(target=write, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors and len(set(target.read_bytes())) == 1 and debris(tmp_path) == []

    # debris: a dead process of this machine, this process (alive), another machine (fresh and old)
    import samcam.files as sio

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    owner = sio._owner()
    stale = tmp_path / f".a.png.{owner}.{dead.pid}.0123abcd{TEMP_SUFFIX}"
    alive = tmp_path / f".b.png.{owner}.{os.getpid()}.0123abcd{TEMP_SUFFIX}"
    foreign_fresh = tmp_path / f".c.png.ffffffff.1.0123abcd{TEMP_SUFFIX}"
    foreign_old = tmp_path / f".d.png.ffffffff.1.0123abcd{TEMP_SUFFIX}"
    unrelated = tmp_path / "notes.tmp"
    for path in (stale, alive, foreign_fresh, foreign_old, unrelated):
        path.write_bytes(b"partial")
    old = time.time() - 2 * 24 * 3600
    os.utime(foreign_old, (old, old))
    assert clean_stale_temp_files(tmp_path) == 2
    assert not stale.exists() and not foreign_old.exists()
    assert alive.exists() and foreign_fresh.exists() and unrelated.exists()

    # a batch cleans its output folder on start
    alive.unlink()
    stale.write_bytes(b"partial")
    run_batch(["q"], lambda name: atomic_write_bytes(tmp_path / f"{name}.png", b"ok"), lambda n: tmp_path / f"{n}.png")
    assert not stale.exists() and (tmp_path / "q.png").read_bytes() == b"ok"


def test_8_outputs_keep_the_usual_permissions(tmp_path):
    old = os.umask(0o022)
    try:
        path = atomic_write_bytes(tmp_path / "x.png", b"x")
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o644  # mkstemp would have made it 0o600


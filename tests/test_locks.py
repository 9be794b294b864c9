"""The folder lock (samcam.locks): a second run is kept out at once, shards of one job share it,
a killed holder frees it, no lock file is left."""
from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from cli_calls import TWO_NAMES, four_scene_folder, two_image_folder

from samcam.cli import main
from samcam.folders import refine_dir
from samcam.locks import LOCK_FILE, FolderBusy, FolderLock
from samcam.provenance import LABELS, PROVENANCE_FILE, RunInfo, claim


@pytest.fixture
def dataset(tmp_path):
    return four_scene_folder(tmp_path)


def test_no_lock_file_is_left_after_a_run(dataset):
    tmp_path, names = dataset
    assert refine_dir(tmp_path / "pseudo", tmp_path / "masks", tmp_path / "out", names).ok
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted([f"{n}.png" for n in names] +
                                                                           [PROVENANCE_FILE])


REPO = Path(__file__).resolve().parents[1]


NAMES = TWO_NAMES


@pytest.fixture
def data(tmp_path):
    return two_image_folder(tmp_path)


def _refine(data, out, masks="masks"):
    return ["refine", "--labels", str(data / "labels"), "--masks", str(data / masks), "--out", str(out),
            "--no-progress"]


HOLDER = textwrap.dedent("""
    import sys
    from samcam.locks import FolderLock
    lock = FolderLock.acquire(sys.argv[1], sys.argv[2], shared=sys.argv[3] == "shared")
    lock.share()
    print("held", flush=True)
    sys.stdin.read()
    lock.release()
""")


def _hold(folder: Path, key: str, shared: bool) -> subprocess.Popen:
    """Another process holding ``folder``'s lock until its stdin closes."""
    process = subprocess.Popen([sys.executable, "-c", HOLDER, str(folder), key, "shared" if shared else "alone"],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=REPO)
    assert process.stdout.readline() == b"held\n"
    return process


def _let_go(process: subprocess.Popen) -> None:
    process.stdin.close()
    assert process.wait(timeout=30) == 0
    process.stdout.close()


@pytest.mark.slow
def test_the_lock_keeps_a_second_run_out_and_lets_shards_of_one_job_share(tmp_path):
    alone = _hold(tmp_path, "k1", shared=False)
    try:
        for key, shared in (("k1", False), ("k1", True), ("k2", True)):
            with pytest.raises(FolderBusy, match=rf"another samcam run \(pid {alone.pid}\) is writing"):
                FolderLock.acquire(tmp_path, key, shared=shared)
    finally:
        _let_go(alone)
    assert not (tmp_path / LOCK_FILE).exists()  # the last holder removes it
    shard = _hold(tmp_path, "k1", shared=True)
    try:
        joined = FolderLock.acquire(tmp_path, "k1", shared=True)  # a shard of the same job
        with pytest.raises(FolderBusy, match="with other settings"):
            FolderLock.acquire(tmp_path, "k2", shared=True)
        with pytest.raises(FolderBusy, match=rf"pid {shard.pid}"):
            FolderLock.acquire(tmp_path, "k1", shared=False)
        joined.release()
        assert (tmp_path / LOCK_FILE).exists()  # the other shard still holds it
    finally:
        _let_go(shard)
    assert not (tmp_path / LOCK_FILE).exists()
    FolderLock.acquire(tmp_path, "k3").release()


NAMES_ITSELF_LATE = textwrap.dedent("""
    import fcntl, json, os, sys, time
    fd = os.open(os.path.join(sys.argv[1], sys.argv[2]), os.O_RDWR | os.O_CREAT, 0o666)
    fcntl.flock(fd, fcntl.LOCK_EX)
    print("locked", flush=True)
    time.sleep(0.1)  # a run between taking the lock and writing its pid into the file
    os.pwrite(fd, json.dumps({"pid": os.getpid(), "key": "k", "shared": False}).encode(), 0)
    sys.stdin.read()
""")


@pytest.mark.slow
def test_a_run_refused_in_the_moment_the_holder_starts_still_names_its_pid(tmp_path):
    """The window that once left "(pid N)" out of the refusal: the holder has the lock and has
    not yet written who it is."""
    process = subprocess.Popen([sys.executable, "-c", NAMES_ITSELF_LATE, str(tmp_path), LOCK_FILE],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert process.stdout.readline() == b"locked\n"
        with pytest.raises(FolderBusy, match=rf"another samcam run \(pid {process.pid}\) is writing"):
            FolderLock.acquire(tmp_path, "k")
    finally:
        process.stdin.close()
        process.wait(timeout=30)
        process.stdout.close()


@pytest.mark.slow
def test_a_killed_holder_leaves_the_folder_free(tmp_path):
    holder = _hold(tmp_path, "k1", shared=False)
    holder.kill()
    holder.wait()
    holder.stdout.close()
    holder.stdin.close()
    assert (tmp_path / LOCK_FILE).exists()  # the file stays; the kernel dropped the lock
    FolderLock.acquire(tmp_path, "k2").release()
    assert not (tmp_path / LOCK_FILE).exists()


@pytest.mark.slow
def test_a_refine_into_a_folder_another_run_holds_is_refused_at_once(data, capsys):
    (data / "out").mkdir()
    holder = _hold(data / "out", "whatever", shared=False)
    try:
        assert main(_refine(data, data / "out")) == 2
    finally:
        _let_go(holder)
    err = capsys.readouterr().err
    assert f"another samcam run (pid {holder.pid}) is writing into this folder" in err and err.count("\n") == 1
    assert not (data / "out" / PROVENANCE_FILE).exists()


def _elsewhere(folder: Path) -> str:
    """What another process gets when it tries to lock ``folder``: "busy" or "free"."""
    code = ("import sys\nfrom samcam.locks import FolderBusy, FolderLock\ntry:\n"
            "    FolderLock.acquire(sys.argv[1], 'k').release()\nexcept FolderBusy:\n    sys.exit(7)\n")
    return {7: "busy", 0: "free"}[subprocess.run([sys.executable, "-c", code, str(folder)], cwd=REPO).returncode]


@pytest.mark.slow
def test_one_process_may_go_on_after_a_failed_run_into_the_same_folder(data):
    """A failed run's claim can outlive it (kept by the exception's traceback): the next run
    of the same process takes its lock over instead of being refused."""
    kept = claim(data / "out", LABELS, {"tool": "refine"}, RunInfo(NAMES))
    again = claim(data / "out", LABELS, {"tool": "refine"}, RunInfo(NAMES))
    kept.release()  # lets go of nothing: the lock is the second claim's now
    assert _elsewhere(data / "out") == "busy"
    again.release()
    assert not (data / "out" / LOCK_FILE).exists() and _elsewhere(data / "out") == "free"


@pytest.mark.slow
def test_the_batch_writing_a_folder_ends_its_claim(data):
    """A claim kept alive after its run (a traceback cycle keeps the frame) holds the
    folder no longer than the batch that wrote it."""
    from samcam.batch import run_batch

    kept = claim(data / "out", LABELS, {"tool": "refine"}, RunInfo(NAMES))
    assert _elsewhere(data / "out") == "busy"
    result = run_batch(NAMES, lambda name: (data / "out" / f"{name}.png").write_bytes(b"x"),
                       lambda name: data / "out" / f"{name}.png")
    assert result.ok and _elsewhere(data / "out") == "free" and not (data / "out" / LOCK_FILE).exists()
    kept.release()  # nothing left to let go

"""Hostile ``samcam.json`` records and the folder lock.

A record is read with a size cap and checked field by field wherever samcam reads one
(``refine --out``, the ``--masks`` folder's record, a ``samcam masks`` resume, ``eval
--report``): a record too large, nested 100,000 deep or of the wrong shape gives one line
naming the file (or, for an input folder's record, a warning and the folder described by
its files), never a traceback. The folder lock keeps a second run out at once and lets
the shards of one ``samcam masks`` job share it.
"""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from samcam import masks as store
from samcam.cli import main
from samcam.demo.synthetic import cam_to_label, make_scene
from samcam.images import write_label_png
from samcam.locks import LOCK_FILE, FolderBusy, FolderLock
from samcam.provenance import FORMAT, LABELS, MAX_RECORD_BYTES, PROVENANCE_FILE, RunInfo, claim, read

REPO = Path(__file__).resolve().parents[1]
NAMES = ["a", "b"]
DEEP = '{"format": "%s", "settings": {}, "runs": [], "x": %s}' % (FORMAT, "[" * 100_000 + "]" * 100_000)
HOSTILE = {
    "nested 100,000 deep": (DEEP, "nested more than 32 deep"),
    "runs: 7": ('{"format": "%s", "what": "w", "settings": {}, "runs": 7}' % FORMAT, "runs must be a list"),
    "settings: [1, 2]": ('{"format": "%s", "settings": [1, 2], "runs": []}' % FORMAT, "settings must be an object"),
    'settings: "x"': ('{"format": "%s", "settings": "x", "runs": []}' % FORMAT, "settings must be an object"),
    "runs: [1]": ('{"format": "%s", "settings": {}, "runs": [1]}' % FORMAT, "runs must be a list of objects"),
    "settings.refine: 5": ('{"format": "%s", "settings": {"refine": 5}, "runs": []}' % FORMAT,
                           "settings.refine must be an object or null"),
    "masks.formats: [1]": ('{"format": "%s", "settings": {}, "runs": [], "masks": {"formats": [1]}}' % FORMAT,
                           "masks.formats must be a list of text"),
    "no settings": ('{"format": "%s", "runs": []}' % FORMAT, "has no settings"),
    "too large": ('{"format": "%s", "settings": {}, "runs": [], "pad": "%s"}' % (FORMAT, "x" * (MAX_RECORD_BYTES + 1)),
                  "more than a record's 1,048,576"),
    "not UTF-8": (b'{"format": "\xff"}', "UnicodeDecodeError"),
    "a list": ("[]", "not a samcam provenance file"),
}


@pytest.fixture
def data(tmp_path):
    rng = np.random.default_rng(2)
    for name in NAMES:
        scene = make_scene(rng, 32, 40)
        write_label_png(tmp_path / "labels" / f"{name}.png", cam_to_label(scene.cam))
        write_label_png(tmp_path / "gt" / f"{name}.png", cam_to_label(scene.cam))
        store.write(tmp_path / "masks" / name, scene.masks)
        (tmp_path / "images").mkdir(exist_ok=True)
        Image.fromarray(rng.integers(0, 255, (32, 40, 3), np.uint8)).save(tmp_path / "images" / f"{name}.png")
    return tmp_path


def _write_record(folder: Path, content) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / PROVENANCE_FILE
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return path


def _refine(data, out, masks="masks"):
    return ["refine", "--labels", str(data / "labels"), "--masks", str(data / masks), "--out", str(out),
            "--no-progress"]


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_a_hostile_record_in_the_output_folder_is_one_line(data, capsys, case):
    content, message = HOSTILE[case]
    path = _write_record(data / "out", content)
    assert main(_refine(data, data / "out")) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err[:2000]
    assert f"{path}: " in err and message in err, err[:2000]
    assert not list((data / "out").glob("*.png")) and path.read_bytes() == (
        content if isinstance(content, bytes) else content.encode())
    assert not (data / "out" / LOCK_FILE).exists()  # let go on the way out


def test_a_hostile_record_on_a_masks_resume_is_one_line(data, capsys):
    path = _write_record(data / "m", DEEP)
    assert main(["masks", "--source", "proposals", "--images", str(data / "images"), "--out", str(data / "m"),
                 "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{path}: " in err and "nested more than 32 deep" in err


@pytest.mark.parametrize("case", ["nested 100,000 deep", "runs: 7", "too large"])
def test_a_hostile_record_in_the_masks_folder_is_a_warning_and_the_masks_are_used(data, capsys, case):
    path = _write_record(data / "masks", HOSTILE[case][0])
    assert main(_refine(data, data / "out")) == 0
    err = capsys.readouterr().err
    assert f"{path}: " in err and "described by its files instead" in err and "Traceback" not in err
    assert sorted(p.name for p in (data / "out").glob("*.png")) == ["a.png", "b.png"]
    record = read(data / "out")
    assert "provenance" not in record["masks"] and record["fingerprint"]["masks"]["entries"] == 2


def test_a_hostile_record_of_a_label_set_is_said_on_the_report(data, capsys):
    path = _write_record(data / "labels", DEEP)
    assert main(["eval", "--gt", str(data / "gt"), "--labels", f"cam={data / 'labels'}", "--report",
                 str(data / "report"), "--images", str(data / "images"), "--no-progress"]) == 0
    assert "Traceback" not in capsys.readouterr().err
    page = (data / "report" / "index.html").read_text()
    assert "samcam.json unreadable" in page and "nested more than 32 deep" in page and str(path) in page


def _valid_record():
    return {"format": FORMAT, "what": LABELS.what, "settings": {"tool": "refine", "refine": {"rule": "samcam"},
                                                                "inputs": {"masks": "/m"}},
            "fingerprint": {"masks": {"entries": 2}}, "masks": {"path": "/m", "formats": ["x"]},
            "samcam_version": "1", "created": "d", "updated": "d", "runs": [{"date": "d", "names": 2}]}


_json = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
                     lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
                     max_leaves=12)


@st.composite
def _mutated_records(draw):
    """A valid record with some fields replaced, deleted or deepened, or its bytes edited."""
    record = _valid_record()
    for _ in range(draw(st.integers(1, 4))):
        path = draw(st.sampled_from([("format",), ("settings",), ("runs",), ("masks",), ("fingerprint",),
                                     ("settings", "refine"), ("settings", "inputs"), ("masks", "formats"),
                                     ("runs", 0), ("unrecorded",), ("what",)]))
        parent = record
        for key in path[:-1]:
            parent = parent[key] if isinstance(parent, dict) and key in parent else {}
        if isinstance(parent, dict):
            parent[path[-1]] = draw(_json)
        elif isinstance(parent, list) and parent:
            parent[0] = draw(_json)
    data = json.dumps(record).encode()
    if draw(st.booleans()):
        at = draw(st.integers(0, len(data) - 1))
        data = data[:at] + draw(st.binary(min_size=0, max_size=3)) + data[at + 1:]
    return data


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(content=_mutated_records())
def test_fuzz_records(tmp_path_factory, content):
    """Whatever a record holds: read() returns a record of the right shape or a ValueError naming
    the file, and claiming the folder is a clean refusal or a new record, never another error."""
    folder = tmp_path_factory.mktemp("record")
    path = _write_record(folder, content)
    try:
        record = read(folder)
    except ValueError as error:
        assert str(path) in str(error)
        return
    assert isinstance(record["settings"], dict) and all(isinstance(run, dict) for run in record["runs"])
    try:
        claim(folder, LABELS, {"tool": "refine"}, RunInfo(["a"])).release()
    except ValueError as error:
        assert str(folder) in str(error)


# ---------------------------------------------------------------------------------- the lock

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


def test_a_killed_holder_leaves_the_folder_free(tmp_path):
    holder = _hold(tmp_path, "k1", shared=False)
    holder.kill()
    holder.wait()
    holder.stdout.close()
    holder.stdin.close()
    assert (tmp_path / LOCK_FILE).exists()  # the file stays; the kernel dropped the lock
    FolderLock.acquire(tmp_path, "k2").release()
    assert not (tmp_path / LOCK_FILE).exists()


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


def test_one_process_may_go_on_after_a_failed_run_into_the_same_folder(data):
    """A failed run's claim can outlive it (kept by the exception's traceback): the next run
    of the same process takes its lock over instead of being refused."""
    kept = claim(data / "out", LABELS, {"tool": "refine"}, RunInfo(NAMES))
    again = claim(data / "out", LABELS, {"tool": "refine"}, RunInfo(NAMES))
    kept.release()  # lets go of nothing: the lock is the second claim's now
    assert _elsewhere(data / "out") == "busy"
    again.release()
    assert not (data / "out" / LOCK_FILE).exists() and _elsewhere(data / "out") == "free"


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

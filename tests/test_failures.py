"""Hostile files, dying workers, honest exit codes: one test (or more) per point of issue 11.

Each test first shows the failure the old behaviour had where that can be shown safely
(a control run in a subprocess), then that samcam now gives a clean error naming the
file, or the right result.
"""
from __future__ import annotations

import ctypes
import errno
import faulthandler
import json
import lzma
import os
import pickle
import signal
import subprocess
import sys
import textwrap
import time
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest
from hostile import (
    dict_pickle,
    forged_dtype_pickle,
    npy_from_pickle,
    npy_raw,
    npz_bytes,
    npz_compressed_bytes,
    png_header_only,
    traced_peak,
    zip_bytes,
)
from PIL import Image

import samcam
from samcam import masks as store
from samcam.batch import run_batch
from samcam.cli import main
from samcam.demo.synthetic import cam_to_label, make_scene
from samcam.errors import ImageError
from samcam.folders import refine_dir
from samcam.io import (
    TEMP_SUFFIX,
    atomic_write_bytes,
    clean_stale_temp_files,
    read_image,
    read_label_png,
    read_name_list,
    write_label_png,
)
from samcam.safe_pickle import UnsafePickleError, load_npy, loads

REPO = Path(__file__).resolve().parents[1]
NAMES = [f"2007_{i:06d}" for i in range(6)]


def need_torch():
    return pytest.importorskip("torch", reason="torch tensors in CAM files: pip install 'samcam[sam]'")


@pytest.fixture
def dataset(tmp_path):
    """pseudo/{name}.png + masks/{name}.masks.npz for 6 small scenes; returns (root, labels, masks)."""
    rng = np.random.default_rng(0)
    labels, maskss = {}, {}
    for name in NAMES:
        scene = make_scene(rng, 48, 64)
        labels[name] = cam_to_label(scene.cam)
        maskss[name] = scene.masks
        write_label_png(tmp_path / "pseudo" / f"{name}.png", labels[name])
        store.write(tmp_path / "masks" / name, scene.masks)
    return tmp_path, labels, maskss


def refine_cli(root, *extra, out="out"):
    return main(["refine", "--pseudo", str(root / "pseudo"), "--masks", str(root / "masks"),
                 "--out", str(root / out), "--no-progress", *map(str, extra)])


def debris(folder):
    return sorted(p.name for p in Path(folder).iterdir() if p.name.endswith(TEMP_SUFFIX) or p.name.endswith(".tmp"))


def run_python(code: str, timeout: float = 120):
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, "PYTHONPATH": str(REPO)}, cwd=REPO)


# ----------------------------------------------------------------- 1. forged dtype states

def test_1_forged_dtype_flags_segfault_numpy_but_are_refused(tmp_path, capsys):
    payload = forged_dtype_pickle(b"O8", flags=1, data=b"\x41" * 8)
    # control: the ordinary unpickler builds an object array over a forged pointer and crashes
    control = run_python(f"""
        import pickle
        array = pickle.loads({payload!r})
        print(repr(array))
    """)
    assert control.returncode == -signal.SIGSEGV, (control.returncode, control.stderr[-500:])

    with pytest.raises(UnsafePickleError, match=r"x\.npy: refused to load: dtype state sets flags 0x1 on \|O"):
        loads(payload, source="x.npy")
    # the same state on other kinds, and flags that add object semantics to raw bytes
    for typecode, flags in ((b"V8", 1), (b"V8", 63), (b"u8", 1), (b"O8", 0), (b"O8", 16)):
        with pytest.raises(UnsafePickleError, match="flags"):
            loads(forged_dtype_pickle(typecode, flags), source="x.npy")

    # in a batch: that image fails with its name, the others are written, exit code 1
    mask = np.zeros((1, 4, 4), bool)
    (tmp_path / "cams").mkdir()
    for name in ("a", "b"):
        np.save(tmp_path / "cams" / f"{name}.npy", {"keys": np.array([0]), "high_res": np.ones((1, 4, 4), np.float32)})
        store.write(tmp_path / "masks" / name, mask)
    npy_from_pickle(tmp_path / "cams" / "a.npy", dict_pickle(payload[2:-1]))  # {"high_res": <the forged array>}
    for workers in ("1", "2"):
        code = main(["adapt", "--method", "toco", "--cams", str(tmp_path / "cams"), "--masks", str(tmp_path / "masks"),
                     "--out", str(tmp_path / f"out{workers}"), "--no-progress", "--workers", workers])
        err = capsys.readouterr().err
        assert code == 1, err
        assert "1 written" in err and "1 failed" in err and "a.npy: refused to load" in err
        assert (tmp_path / f"out{workers}" / "b.png").exists() and not debris(tmp_path / f"out{workers}")


def test_1_array_states_are_checked_before_numpy_builds_them():
    def array_pickle(dtype_code: bytes, shape_ops: bytes, data_ops: bytes) -> bytes:
        return (b"\x80\x03cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\nK\x00\x85C\x01b\x87R(K\x01"
                + shape_ops + b"cnumpy\ndtype\nX" + len(dtype_code).to_bytes(4, "little") + dtype_code
                + b"\x89\x88\x87R\x89" + data_ops + b"tb.")

    good = array_pickle(b"u1", b"K\x03\x85", b"C\x03abc")
    assert loads(good).tobytes() == b"abc"
    cases = {
        "needs 300 bytes": array_pickle(b"u1", b"M,\x01\x85", b"C\x03abc"),            # shape 300, 3 bytes
        "list of 1 objects": array_pickle(b"O8", b"K\x01\x85", b"C\x08AAAAAAAA"),     # raw bytes as objects
        "not a shape": array_pickle(b"u1", b"J\xff\xff\xff\xff\x85", b"C\x03abc"),     # negative extent
    }
    for message, payload in cases.items():
        with pytest.raises(UnsafePickleError, match=message):
            loads(payload, source="x.npy")
    # numpy.ndarray itself is never callable from a pickle (it would allocate any shape)
    with pytest.raises(ValueError, match="x.npy"):
        loads(b"\x80\x03cnumpy\nndarray\nJ\x00\xe1\xf5\x05\x85\x85R.", source="x.npy")
    # _reconstruct only as numpy writes it: an empty array
    with pytest.raises(UnsafePickleError, match="not how numpy pickles an array"):
        loads(b"\x80\x03cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\nJ\x00\xe1\xf5\x05\x85C\x01b\x87R.",
              source="x.npy")


def test_1_npy_header_declaring_more_than_the_file(tmp_path):
    path = tmp_path / "big.npy"
    path.write_bytes(npy_raw((10**11,), "<f8", b"\x00" * 32))
    with traced_peak() as peak, \
            pytest.raises(ValueError, match=r"big\.npy: truncated \.npy: its header declares \(100000000000,\)"):
        load_npy(path)
    assert peak.bytes < 2**20


# ------------------------------------------------------------ 2. exact names in the allow-list

def test_2_numpy_dtypes_module_attributes_are_refused():
    for name in ("_add_dtype_helper", "__builtins__", "__loader__", "__getattr__"):
        with pytest.raises(UnsafePickleError, match=f"numpy.dtypes.{name}"):
            loads(f"\x80\x03cnumpy.dtypes\n{name}\n.".encode("latin1"), source="x.npy")
    # a DType class is allowed as a value, but it cannot receive state (BUILD)
    with pytest.raises(UnsafePickleError, match="did not create"):
        loads(b"\x80\x03cnumpy.dtypes\nFloat64DType\nN}X\x04\x00\x00\x00typeK\x01s\x86b.", source="x.npy")
    # nor can a dtype the pickle did not make through numpy.dtype(...)
    with pytest.raises(UnsafePickleError, match="did not create"):
        loads(b"\x80\x03cnumpy.dtypes\nFloat64DType\n)R(K\x03X\x01\x00\x00\x00>NNNJ\xff\xff\xff\xff"
              b"J\xff\xff\xff\xffK\x00tb.", source="x.npy")
    assert np.dtype("f8").byteorder == "=" and np.dtype("f8").str == "<f8"
    assert type(np.dtype("f8")) is np.dtypes.Float64DType


# ----------------------------------------------------------------- 3. torch tensor rebuilds

class _ForgedTensor:
    """Pickles as torch's _rebuild_tensor_v2 over a real 1-element storage with chosen geometry."""

    def __init__(self, offset, size, stride):
        self.args = (offset, size, stride)

    def __reduce__(self):
        torch = need_torch()
        storage = torch.zeros(1).untyped_storage()
        typed = torch.storage.TypedStorage(wrap_storage=storage, dtype=torch.float32, _internal=True)
        offset, size, stride = self.args
        return (torch._utils._rebuild_tensor_v2, (typed, offset, size, stride, False, OrderedDict()))


def test_3_tensor_geometry_is_checked_against_its_storage(tmp_path):
    torch = need_torch()
    bomb = pickle.dumps(_ForgedTensor(0, (1, 100000, 100000), (0, 0, 0)), protocol=3)
    assert len(bomb) < 2000
    control = pickle.loads(bomb)  # loads as a 10^10-element view of one float
    assert control.shape == (1, 100000, 100000) and control.untyped_storage().nbytes() == 4
    with pytest.raises(UnsafePickleError, match="more than its storage"):
        loads(bomb, source="cam.npy")

    outside = pickle.dumps(_ForgedTensor(0, (1000,), (1,)), protocol=3)
    grown = pickle.loads(outside)  # torch silently grows the storage: uninitialised memory
    assert grown.untyped_storage().nbytes() == 4000
    with pytest.raises(UnsafePickleError, match="reaches element 999 of a storage of 1"):
        loads(outside, source="cam.npy")
    with pytest.raises(UnsafePickleError, match="reaches element 5"):
        loads(pickle.dumps(_ForgedTensor(5, (1,), (1,)), protocol=3), source="cam.npy")

    # tensors as methods save them still load, views of a larger storage included
    base = torch.arange(24, dtype=torch.float32).reshape(2, 3, 4)
    for tensor in (base, base[:, 1:, ::2], base.transpose(0, 2), torch.tensor([3, 14])):
        np.save(tmp_path / "t.npy", {"high_res": tensor})
        assert torch.equal(load_npy(tmp_path / "t.npy")["high_res"], tensor)


def test_3_cam_size_is_checked_against_the_masks_before_conversion(tmp_path, monkeypatch, capsys):
    (tmp_path / "cams").mkdir()
    np.save(tmp_path / "cams" / "a.npy", {"keys": np.array([0, 3]), "high_res": np.full((2, 40, 30), 0.4)})
    np.save(tmp_path / "cams" / "b.npy", {0: np.ones((8, 6), np.float32)})  # MCTformer layout
    store.write(tmp_path / "masks" / "a", np.zeros((1, 8, 6), bool))
    store.write(tmp_path / "masks" / "b", np.zeros((1, 8, 6), bool))
    adapter = samcam.adapters.get("toco")
    cam = load_npy(tmp_path / "cams" / "a.npy")
    with pytest.raises(ValueError, match="'high_res' is 40×30 but the image .* is 8×6"):
        adapter.cam_to_label(cam, image_shape=(8, 6))
    code = main(["adapt", "--method", "toco", "--cams", str(tmp_path / "cams"), "--masks", str(tmp_path / "masks"),
                 "--out", str(tmp_path / "out"), "--no-progress", "--list", str(_list(tmp_path, ["a"]))])
    assert code == 1 and "a.npy: 'high_res' is 40×30" in capsys.readouterr().err
    # the absolute cap, configurable
    monkeypatch.setenv("SAMCAM_MAX_PIXELS", "40")
    with pytest.raises(ValueError, match="more than the limit of 40 pixels .*SAMCAM_MAX_PIXELS"):
        samcam.adapters.get("mctformer").cam_to_label(load_npy(tmp_path / "cams" / "b.npy"))


def _list(tmp_path, names):
    path = tmp_path / "list.txt"
    path.write_text("\n".join(names) + "\n")
    return path


# --------------------------------------------------------------------- 4. mask store bombs

def test_4_store_declaring_a_million_spans_is_refused_before_allocating(tmp_path):
    spans = np.zeros((10**6, 2), np.int64)
    path = tmp_path / "x.masks.npz"
    path.write_bytes(npz_compressed_bytes(format=np.array("samcam-masks/1"), image_shape=np.array([500, 500]),
                                          spans=spans, words_lzma=np.frombuffer(lzma.compress(b""), np.uint8)))
    assert path.stat().st_size < 40_000
    with traced_peak() as peak, \
            pytest.raises(ValueError, match=r"x\.masks\.npz: 1,000,000 masks, more than the limit of 10,000"):
        store.load(path)
    assert peak.bytes < 64 * 2**20, peak.bytes  # the spans themselves (16 MB), not K x width words (31 GB)


def test_4_lzma_payload_is_decompressed_no_further_than_the_spans(tmp_path):
    bomb = lzma.compress(b"\x00" * (64 * 2**20), preset=1)
    path = tmp_path / "x.masks.npz"
    path.write_bytes(npz_bytes(format=np.array("samcam-masks/1"), image_shape=np.array([8, 8]),
                               spans=np.array([[0, 1]]), words_lzma=np.frombuffer(bomb, np.uint8)))
    with traced_peak() as peak, \
            pytest.raises(ValueError, match=r"x\.masks\.npz: .*hold more than the 1 words their spans declare"):
        store.load(path)
    assert peak.bytes < 4 * 2**20, peak.bytes


def test_4_store_members_declaring_more_than_they_hold(tmp_path):
    members = {"format.npy": npy_raw((), "<U14", "samcam-masks/1".encode("utf-32-le")),
               "image_shape.npy": npy_raw((2,), "<i8", np.array([8, 8], "<i8").tobytes()),
               "words_lzma.npy": npy_raw((len(lzma.compress(b"")),), "|u1", lzma.compress(b""))}
    path = tmp_path / "x.masks.npz"
    path.write_bytes(zip_bytes({**members, "spans.npy": npy_raw((0, 2), "<i8", b"")}))
    assert len(store.load(path)) == 0
    # the spans member's header claims (10^10, 2): numpy would allocate that before reading
    path.write_bytes(zip_bytes({**members, "spans.npy": npy_raw((10**10, 2), "<i8", b"\x00" * 16)}))
    with traced_peak() as peak, \
            pytest.raises(ValueError, match=r"x\.masks\.npz: .*member 'spans.npy' declares \(10000000000, 2\)"):
        store.load(path)
    assert peak.bytes < 2**20


# ------------------------------------------------------- 5. label bombs, malformed store fields

def test_5_huge_label_png_is_refused_with_its_name(dataset, capsys):
    root, _, _ = dataset
    (root / "pseudo" / f"{NAMES[0]}.png").write_bytes(png_header_only(20000, 20000))
    with pytest.raises(ImageError, match=rf"{NAMES[0]}\.png: label PNG is 20000×20000 \(height×width\) = 400,000,000 pixels, more "
                                         r"than the limit of 67,108,864 \(raise SAMCAM_MAX_PIXELS"):
        read_label_png(root / "pseudo" / f"{NAMES[0]}.png")
    assert refine_cli(root) == 1
    err = capsys.readouterr().err
    assert f"{NAMES[0]}: ImageError: " in err and "unexpected" not in err and "internal error" not in err
    assert "5 written" in err


def test_5_store_with_a_one_value_image_shape(tmp_path):
    path = tmp_path / "x.masks.npz"
    path.write_bytes(npz_bytes(format=np.array("samcam-masks/1"), image_shape=np.array([8]),
                               spans=np.zeros((0, 2), np.int64), words_lzma=np.frombuffer(lzma.compress(b""), np.uint8)))
    with pytest.raises(ValueError, match=r"x\.masks\.npz: .*image_shape must be two positive integers"):
        store.load(path)


# ----------------------------------------------------------------------- 6. dying workers

def _job_that_dies(name):
    if name == "oom":
        os.kill(os.getpid(), signal.SIGKILL)  # what the OOM killer does
    if name == "crash":
        ctypes.string_at(0)  # a segfault in native code
    return name.upper()


def test_6_a_killed_worker_fails_its_image_and_the_batch_goes_on(tmp_path):
    names = [f"n{i}" for i in range(8)] + ["oom"] + [f"m{i}" for i in range(8)] + ["crash"]
    seen = []
    dumping = faulthandler.is_enabled()
    faulthandler.disable()  # forked workers would print pytest's crash dump for the planned segfault
    try:
        result = run_batch(names, _job_that_dies, workers=2, on_result=lambda name, value: seen.append((name, value)))
    finally:
        if dumping:
            faulthandler.enable(file=sys.__stderr__)
    assert sorted(result.done) == sorted(n for n in names if n not in ("oom", "crash"))
    reasons = dict(result.failed)
    assert set(reasons) == {"oom", "crash"}
    assert "killed by SIGKILL" in reasons["oom"] and "out-of-memory" in reasons["oom"]
    assert "crashed on this image (SIGSEGV)" in reasons["crash"]
    assert [n for n, _ in result.internal] == ["crash"] and result.exit_code == 3
    assert seen == [(n, n.upper()) for n in names if n not in ("oom", "crash")]  # in order, once each


def _job_killed_once(name, marker):
    if name == "victim" and not Path(marker).exists():
        Path(marker).write_text("killed once")
        os.kill(os.getpid(), signal.SIGKILL)
    return name


def test_6_an_image_whose_worker_was_killed_by_something_else_is_run_again(tmp_path):
    """A kill from outside (OOM under load, an admin) is not the image's fault: alone, it succeeds."""
    import functools

    names = ["a", "b", "victim", "c", "d"]
    job = functools.partial(_job_killed_once, marker=str(tmp_path / "marker"))
    # the first time "victim" runs it dies; it is then run alone and succeeds
    (tmp_path / "marker").unlink(missing_ok=True)
    result = run_batch(names, job, workers=2)
    assert (tmp_path / "marker").exists()
    assert result.done == names and not result.failed and result.exit_code == 0


# ------------------------------------------------------------------ 8. temp files

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


# ---------------------------------------------------------------------- 9. names

def test_9_name_lists_are_taken_literally(tmp_path, caplog):
    path = tmp_path / "list.txt"
    path.write_text(
        "\ufeffimg.v2\nmy image\n  spaced  \r\n2007_000032.jpg\nCAP.PNG\n# comment\n\n"
        "/JPEGImages/2007_000039.jpg /SegmentationClassAug/2007_000039.png\n"
        "JPEGImages/2008_000001.jpg\nimg.v2\n2007_000032\n",
        encoding="utf-8",
    )
    with caplog.at_level("WARNING", logger="samcam"):
        names = read_name_list(path)
    assert names == ["img.v2", "my image", "spaced", "2007_000032", "CAP", "2007_000039", "2008_000001"]
    assert "2 name(s) appear more than once (img.v2, 2007_000032)" in caplog.text
    for bad, line in (("../outside/victim", 2), ("a/b", 2), ("..", 2), ("/x.jpg /y.png", 2), ("a\\b", 2)):
        path.write_text(f"ok\n{bad}\n")
        with pytest.raises(ValueError, match=rf"list.txt line {line}:"):
            read_name_list(path)


def test_9_names_that_could_leave_a_folder_are_refused_everywhere(dataset, tmp_path, capsys):
    root, _, _ = dataset
    victim = tmp_path / "outside" / "victim.png"
    victim.parent.mkdir()
    victim.write_bytes(b"precious")
    for bad in (["../outside/victim"], ["/etc/passwd"], [""], [".."], ["ok", "a\\b"]):
        with pytest.raises(ValueError, match="not a plain image name"):
            refine_dir(root / "pseudo", root / "masks", root / "out", names=bad)
    with pytest.raises(ValueError, match="not a plain image name"):
        run_batch(["../x"], lambda name: None)
    assert victim.read_bytes() == b"precious"
    assert not (root / "out").exists() or not list((root / "out").iterdir())
    # via the CLI: one clear error, exit 2, nothing written
    assert refine_cli(root, "--list", _list(tmp_path, ["../outside/victim"])) == 2
    assert "line 1" in capsys.readouterr().err


def test_9_duplicates_are_processed_and_counted_once(dataset, tmp_path, capsys):
    root, _, _ = dataset
    assert refine_cli(root, "--list", _list(tmp_path, [NAMES[0], NAMES[1], NAMES[0], NAMES[0]])) == 0
    err = capsys.readouterr().err
    assert "2 written, 0 already done (skipped), 0 failed" in err
    assert "1 name(s) appear more than once" in err
    result = refine_dir(root / "pseudo", root / "masks", root / "out2", names=[NAMES[2], NAMES[2]])
    assert result.done == [NAMES[2]]


# ------------------------------------------------------------------------ 10. not a PNG

def test_10_a_jpeg_named_png_is_not_a_label(dataset, capsys):
    root, labels, _ = dataset
    path = root / "pseudo" / f"{NAMES[1]}.png"
    Image.fromarray(labels[NAMES[1]]).save(path, format="JPEG")
    with pytest.raises(ImageError, match=rf"{NAMES[1]}\.png: label PNG is a JPEG file, not a PNG"):
        read_label_png(path)
    assert refine_cli(root) == 1
    err = capsys.readouterr().err
    assert f"{NAMES[1]}.png: label PNG is a JPEG file, not a PNG" in err and "5 written" in err


# ------------------------------------------------------------- 11. unwritable output folders

def test_11_an_output_folder_that_cannot_be_created_is_one_error(dataset, capsys):
    root, _, _ = dataset
    (root / "file").write_text("not a folder")
    assert refine_cli(root, out="file/out") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("samcam refine: error: ") and "file/out" in err[0], err
    assert "Traceback" not in "\n".join(err)


@pytest.mark.parametrize("workers", ["1", "2"])
@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EACCES, errno.EROFS])
def test_11_disk_full_or_read_only_stops_the_batch_with_one_error(dataset, capsys, monkeypatch, workers, code):
    root, labels, maskss = dataset
    real_fsync = os.fsync

    def labels_fail(fd):  # samcam.json (written first) fits, then the disk is full
        if "samcam.json" not in os.readlink(f"/proc/self/fd/{fd}"):
            raise OSError(code, os.strerror(code))
        return real_fsync(fd)

    monkeypatch.setattr(os, "fsync", labels_fail)
    assert refine_cli(root, "--workers", workers) == 2
    err = capsys.readouterr().err
    assert err.count("error:") == 1, err
    assert f"{root / 'out'}: cannot write outputs there ({os.strerror(code)}" in err
    assert "stopped with 0 image(s) written and 6 not done" in err and "rerun to resume" in err
    assert sorted(p.name for p in (root / "out").iterdir()) == ["samcam.json"]  # no labels, no temp files

    def everything_fails(fd):
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(os, "fsync", everything_fails)
    assert refine_cli(root, "--workers", workers, out="out2") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert [line for line in err if "error:" in line] == [
        f"samcam refine: error: {root / 'out2' / 'samcam.json'}: {os.strerror(code)}"]
    assert not list((root / "out2").iterdir())

    monkeypatch.setattr(os, "fsync", real_fsync)
    assert refine_cli(root, "--workers", workers) == 0
    assert "6 written" in capsys.readouterr().err


def test_11_eval_json_into_an_unwritable_place(dataset, capsys):
    root, _, _ = dataset
    (root / "file").write_text("x")
    code = main(["eval", "--gt", str(root / "pseudo"), "--pred", str(root / "pseudo"), "--no-progress",
                 "--json", str(root / "file" / "m.json")])
    assert code == 2
    err = capsys.readouterr().err
    assert "samcam eval: error:" in err and "m.json" in err and "Traceback" not in err


# -------------------------------------------------------------------------- 12. eval

def test_12_eval_json_is_strict_and_a_missing_gt_folder_is_one_error(tmp_path, capsys):
    write_label_png(tmp_path / "gt" / "a.png", np.full((4, 4), 255, np.uint8))  # all ignore
    write_label_png(tmp_path / "pred" / "a.png", np.zeros((4, 4), np.uint8))
    assert main(["eval", "--gt", str(tmp_path / "gt"), "--pred", str(tmp_path / "pred"), "--no-progress",
                 "--json", str(tmp_path / "m.json")]) == 0
    text = (tmp_path / "m.json").read_text()

    def refuse(constant):
        raise ValueError(f"non-standard JSON constant {constant}")

    metrics = json.loads(text, parse_constant=refuse)
    assert metrics["sets"]["pred"]["miou"] is None and metrics["sets"]["pred"]["iou"][0] is None
    capsys.readouterr()
    assert main(["eval", "--gt", str(tmp_path / "nope"), "--pred", str(tmp_path / "pred"), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"samcam eval: error: ground-truth folder {tmp_path / 'nope'} does not exist"]


# --------------------------------------------------------------------- 13. exit codes

def _bug(*args, **kwargs):
    raise ZeroDivisionError("a bug")


def test_13_exit_codes_of_refine(dataset, tmp_path, capsys, monkeypatch):
    root, _, _ = dataset
    assert refine_cli(root) == 0                                            # 0: all done
    (root / "pseudo" / f"{NAMES[0]}.png").write_bytes(b"junk")
    assert refine_cli(root, "--overwrite") == 1                             # 1: an image failed
    assert refine_cli(root, "--list", tmp_path / "missing.txt") == 2        # 2: configuration
    capsys.readouterr()
    import samcam.folders

    real = samcam.folders.refine_counted
    calls = []

    def sometimes_buggy(label, masks, **params):
        calls.append(1)
        if len(calls) == 2:
            raise ZeroDivisionError("a bug in one image")
        return real(label, masks, **params)

    monkeypatch.setattr(samcam.folders, "refine_counted", sometimes_buggy)
    assert refine_cli(root, "--overwrite") == 3                             # 3: a bug on one image
    err = capsys.readouterr().err
    assert "4 written" in err and "internal error" in err and "Traceback" in err and "ZeroDivisionError" in err
    monkeypatch.setattr(samcam.cli.refine, "refine_dir", _bug)
    assert refine_cli(root) == 3                                            # 3: a bug outside the images
    err = capsys.readouterr().err
    assert "samcam refine: internal error" in err and "Traceback" in err and "ZeroDivisionError: a bug" in err


def test_13_exit_codes_of_the_other_commands(dataset, tmp_path, capsys, monkeypatch):
    root, labels, _ = dataset
    images = tmp_path / "images"
    images.mkdir()
    for name, label in labels.items():
        Image.fromarray(np.stack([label * 10] * 3, axis=-1)).save(images / f"{name}.png")
    gt = ["--gt", str(root / "pseudo")]
    commands = {
        "eval": ["eval", *gt, "--pred", str(root / "pseudo"), "--no-progress"],
        "vis": ["vis", "--images", str(images), "--labels", str(root / "pseudo"), "--out", str(tmp_path / "vis"),
                "--no-progress"],
        "masks": ["masks", "--source", "proposals", "--images", str(images), "--out", str(tmp_path / "m"),
                  "--no-progress"],
    }
    for name, argv in commands.items():
        assert main(argv) == 0, name
    (root / "pseudo" / f"{NAMES[0]}.png").write_bytes(b"junk")
    (images / f"{NAMES[0]}.png").write_bytes(b"junk")
    assert main(commands["eval"]) == 1
    assert main(commands["vis"] + ["--overwrite"]) == 1
    assert main(commands["masks"] + ["--overwrite"]) == 1
    assert main(["eval", "--gt", str(tmp_path / "nope"), "--pred", str(root / "pseudo")]) == 2
    assert main(["mmseg-config", "--labels", str(tmp_path / "nope"), "--data-root", str(tmp_path / "nope"),
                 "--out", str(tmp_path / "c.py")]) == 2
    capsys.readouterr()
    import samcam.evaluate

    monkeypatch.setattr(samcam.evaluate, "confusion_matrix", _bug)
    assert main(commands["eval"]) == 3
    err = capsys.readouterr().err
    assert "internal error" in err and "ZeroDivisionError" in err


def _exit_and_err(argv, capsys):
    """(exit code, stderr) of ``samcam argv``, whether main returns or argparse exits."""
    try:
        code = main(argv)
    except SystemExit as stop:
        code = stop.code
    return code, capsys.readouterr().err


def _one_line(err: str, prefix: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(prefix) and "Traceback" not in err, err
    return lines[0]


def test_13_a_record_nested_too_deep_to_read_is_one_line_exit_2(dataset, capsys):
    """Before: RecursionError, printed as an internal error with its traceback (exit 3)."""
    root, _, _ = dataset
    (root / "out").mkdir()
    (root / "out" / "samcam.json").write_text("[" * 100_000 + "]" * 100_000)
    code, err = _exit_and_err(["refine", "--pseudo", str(root / "pseudo"), "--masks", str(root / "masks"),
                               "--out", str(root / "out"), "--no-progress"], capsys)
    assert code == 2
    _one_line(err, "samcam refine: error: ")
    assert not list((root / "out").glob("*.png"))


def test_13_recursion_and_memory_errors_never_print_a_traceback(dataset, capsys, monkeypatch):
    root, _, _ = dataset
    import samcam.cli.refine

    for error in (RecursionError("maximum recursion depth exceeded while decoding a JSON array"), MemoryError()):
        def raise_it(*args, _error=error, **kwargs):
            raise _error

        monkeypatch.setattr(samcam.cli.refine, "refine_dir", raise_it)
        code, err = _exit_and_err(["refine", "--pseudo", str(root / "pseudo"), "--masks", str(root / "masks"),
                                   "--out", str(root / "out")], capsys)
        assert code == 2, err
        line = _one_line(err, "samcam refine: error: ")
        assert ("nested too deeply" if isinstance(error, RecursionError) else "out of memory") in line


@pytest.mark.parametrize("flags", [("--num-classes", "0"), ("--num-classes", "1"), ("--num-classes", "256"),
                                   ("--num-classes", "300"), ("--num-classes", "x"), ("--workers", "0"),
                                   ("--workers", "-3")])
def test_13_out_of_range_flags_are_one_usage_line_for_every_command(dataset, tmp_path, capsys, flags):
    """Before: --num-classes 300 (or 0 for eval) passed, then failed every image (exit 1)."""
    root, _, _ = dataset
    commands = {
        "refine": ["refine", "--pseudo", str(root / "pseudo"), "--masks", str(root / "masks"), "--out", str(tmp_path / "r")],
        "adapt": ["adapt", "--method", "irn", "--cams", str(root / "pseudo"), "--masks", str(root / "masks"),
                  "--out", str(tmp_path / "a")],
        "eval": ["eval", "--gt", str(root / "pseudo"), "--labels", str(root / "pseudo")],
        "vis": ["vis", "--images", str(root / "pseudo"), "--labels", str(root / "pseudo"), "--out", str(tmp_path / "v")],
    }
    for name, argv in commands.items():
        code, err = _exit_and_err(argv + list(flags), capsys)
        assert code == 2, (name, err)
        line = _one_line(err, f"samcam {name}: error: ")
        assert flags[0] in line, line
    assert not any((tmp_path / out).exists() for out in "rav")


def test_13_num_classes_accepts_2_to_255():
    from samcam.cli import build_parser

    parser = build_parser()
    for value in (2, 21, 81, 255):
        assert parser.parse_args(["eval", "--gt", "g", "--labels", "l", "--num-classes", str(value)]).num_classes == value
        assert parser.parse_args(["refine", "--labels", "l", "--masks", "m", "--out", "o", "--num-classes",
                                  str(value)]).num_classes == value


# ------------------------------------------- docs/failures.md "Size limits": every reader, every variable

def _every_input_kind(root):
    """One small file of each kind samcam reads: {kind: (path, reader)}."""
    masks = np.zeros((3, 8, 10), bool)
    masks[0, :4] = masks[1, 2:6, 3:9] = masks[2] = True
    store.write(root / "store", masks)
    amg = root / "amg"
    amg.mkdir()
    for index, mask in enumerate(masks):
        Image.fromarray(mask.astype(np.uint8) * 255).save(amg / f"{index}.png")
    (amg / "metadata.csv").write_text("id,area,bbox_x0,bbox_y0,bbox_w,bbox_h,point_input_x,point_input_y,"
                                      "predicted_iou,stability_score,crop_box_x0,crop_box_y0,crop_box_w,crop_box_h\n"
                                      + "".join(f"{i},1,0,0,1,1,0,0,0.9,0.9,0,0,10,8\n" for i in range(3)))

    def runs(mask):  # uncompressed COCO RLE: column-major runs, starting with zeros
        flat = mask.T.ravel().astype(np.int8)
        edges = np.flatnonzero(np.diff(np.concatenate([[0], flat, [1 - flat[-1]]])))
        return np.diff(np.concatenate([[0], edges])).tolist()

    (root / "rle.json").write_text(json.dumps([{"segmentation": {"size": [8, 10], "counts": runs(m)}} for m in masks]))
    Image.fromarray(np.full((8, 10, 3), 90, np.uint8)).save(root / "image.jpg")
    write_label_png(root / "label.png", np.arange(80, dtype=np.uint8).reshape(8, 10) % 21)
    np.save(root / "cam.npy", {"keys": np.array([1]), "high_res": np.ones((1, 8, 10), np.float32)})
    return {"mask store": (root / "store.masks.npz", store.load), "amg.py folder": (amg, store.load),
            "RLE JSON": (root / "rle.json", store.load), "JPEG image": (root / "image.jpg", read_image),
            "label PNG": (root / "label.png", read_label_png), "CAM .npy": (root / "cam.npy", load_npy)}


def test_size_limits_apply_to_every_reader_and_name_their_variable(tmp_path, monkeypatch):
    kinds = _every_input_kind(tmp_path)
    for path, read in kinds.values():
        read(path)  # within the default limits: read
    loaded = store.load(kinds["RLE JSON"][0])
    assert len(loaded) == 3 and np.array_equal(loaded.dense, store.load(kinds["mask store"][0]).dense)
    monkeypatch.setenv("SAMCAM_MAX_FILE_BYTES", "40")
    for kind, (path, read) in kinds.items():
        with pytest.raises(ValueError, match=r"more than the limit of 40 \(raise SAMCAM_MAX_FILE_BYTES") as info:
            read(path)
        assert str(path) in str(info.value), kind
    monkeypatch.delenv("SAMCAM_MAX_FILE_BYTES")
    for variable, value, message in (("SAMCAM_MAX_MASKS", "2", "3 masks, more than the limit of 2"),
                                     ("SAMCAM_MAX_MASK_BYTES", "16", "more than the limit of 16"),
                                     ("SAMCAM_MAX_PIXELS", "79", "more than the limit of 79")):
        monkeypatch.setenv(variable, value)
        for kind in ("mask store", "amg.py folder", "RLE JSON"):
            path, read = kinds[kind]
            with pytest.raises(ValueError, match=rf"{message}.*{variable}") as info:
                read(path)
            assert str(path) in str(info.value), (variable, kind)
        monkeypatch.delenv(variable)
    monkeypatch.setenv("SAMCAM_MAX_PIXELS", "79")
    for kind in ("JPEG image", "label PNG"):
        path, read = kinds[kind]
        with pytest.raises(ValueError, match=rf"{path.name}.*more than the limit of 79 \(raise SAMCAM_MAX_PIXELS"):
            read(path)


# ------------------------------------------------------------ issue 21: out of memory while reading

def test_running_out_of_memory_reading_one_image_fails_that_image_with_its_file(tmp_path):
    """A mask store whose masks fit the limits but not the memory at hand (2 GB of masks
    under a 1 GiB address-space cap): MemoryError was an internal error (exit 3) naming no
    file. Now that image fails with its file named, and the other is written (exit 1)."""
    write_label_png(tmp_path / "pseudo" / "a.png", np.zeros((8, 10), np.uint8))
    store.write(tmp_path / "masks" / "a", np.ones((1, 8, 10), bool))
    write_label_png(tmp_path / "pseudo" / "b.png", np.zeros((2000, 2000), np.uint8))
    big = tmp_path / "masks" / "b.masks.npz"  # 4,000 empty masks of 2000×2000: 2.0 GB bit-packed, 2 GiB allowed
    big.write_bytes(npz_bytes(format=np.array("samcam-masks/1"), image_shape=np.array([2000, 2000]),
                              spans=np.zeros((4000, 2), np.int64), words_lzma=np.frombuffer(lzma.compress(b""), np.uint8)))
    result = run_python(f"""
        import re, resource, sys
        from samcam.cli import main
        with open("/proc/self/status") as handle:
            size = int(re.search(r"VmSize:\\s+(\\d+)", handle.read()).group(1)) * 1024
        resource.setrlimit(resource.RLIMIT_AS, (size + 2**30, size + 2**30))
        sys.exit(main(["refine", "--pseudo", {str(tmp_path / "pseudo")!r}, "--masks", {str(tmp_path / "masks")!r},
                       "--out", {str(tmp_path / "out")!r}, "--no-progress"]))
    """)
    assert result.returncode == 1, (result.returncode, result.stderr[-2000:])
    assert f"{big}: out of memory while reading this mask store file" in result.stderr
    assert "internal error" not in result.stderr and "Traceback" not in result.stderr
    assert sorted(p.name for p in (tmp_path / "out").glob("*.png")) == ["a.png"]

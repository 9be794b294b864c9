"""The allow-listed unpickler for CAM .npy files (samcam.safe_pickle): plain data loads,
anything else is refused unexecuted."""
from __future__ import annotations

import os
import pickle
import struct
import subprocess
import sys
import textwrap

import hostile
import numpy as np
import numpy.lib.format as npy_format
import pytest

from samcam import safe_pickle
from samcam.safe_pickle import UnsafePickleError, load_npy, loads


def need_torch():
    """torch, or skip: these files pickle torch tensors, as IRN-family CAM files do."""
    return pytest.importorskip("torch", reason="torch tensors in CAM files: pip install 'samcam[sam]'")


def npy_from_pickle(path, payload: bytes) -> None:
    """An object-dtype .npy whose body is ``payload`` (what np.save writes for a dict)."""
    with open(path, "wb") as handle:
        npy_format.write_array_header_1_0(handle, {"descr": "|O", "fortran_order": False, "shape": ()})
        handle.write(payload)


class WriteMarker:
    """Unpickling this creates a file: the harmless stand-in for arbitrary code."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


class SystemCall:
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_irn_style_dict_with_torch_tensors_round_trips(tmp_path):
    torch = need_torch()
    keys = torch.tensor([4, 14], dtype=torch.int64)
    cam = torch.rand(2, 10, 12)
    high_res = np.random.default_rng(0).random((2, 37, 45), dtype=np.float32)
    np.save(tmp_path / "cam.npy", {"keys": keys, "cam": cam, "high_res": high_res})
    loaded = load_npy(tmp_path / "cam.npy")
    assert isinstance(loaded["keys"], torch.Tensor) and loaded["keys"].dtype == torch.int64
    assert torch.equal(loaded["keys"], keys) and torch.equal(loaded["cam"], cam)
    assert isinstance(loaded["high_res"], np.ndarray) and loaded["high_res"].dtype == np.float32
    np.testing.assert_array_equal(loaded["high_res"], high_res)


def test_numpy_containers_and_scalars(tmp_path):
    data = {
        0: np.ones((3, 4), np.float32),
        np.int64(7): np.zeros((3, 4), np.float16),
        "names": ["a", "b"],
        "pair": (1, 2.5),
        "nested": {"x": np.arange(3), "set": {1, 2}},
        "scalar": np.float32(0.25),
        "text": "2007_000032",
    }
    np.save(tmp_path / "d.npy", data)
    loaded = load_npy(tmp_path / "d.npy")
    assert set(loaded) == set(data)
    assert loaded[7].dtype == np.float16 and loaded["nested"]["set"] == {1, 2}
    assert loaded["scalar"] == np.float32(0.25) and loaded["pair"] == (1, 2.5)
    np.save(tmp_path / "plain.npy", np.arange(6).reshape(2, 3))
    np.testing.assert_array_equal(load_npy(tmp_path / "plain.npy"), np.arange(6).reshape(2, 3))
    assert load_npy(tmp_path / "d.npy", item=False).shape == ()


def test_numpy_1x_module_names_load(tmp_path):
    """Files written by numpy 1.x name numpy.core.multiarray, which numpy 2 renamed."""
    array = np.array({"high_res": np.arange(4, dtype=np.float32)}, dtype=object)
    payload = pickle.dumps(array, protocol=2)  # text GLOBAL opcodes: easy to rename
    assert b"numpy._core.multiarray\n" in payload or b"numpy.core.multiarray\n" in payload
    payload = payload.replace(b"numpy._core.multiarray\n", b"numpy.core.multiarray\n")
    npy_from_pickle(tmp_path / "old.npy", payload)
    np.testing.assert_array_equal(load_npy(tmp_path / "old.npy")["high_res"], np.arange(4, dtype=np.float32))


@pytest.mark.parametrize("payload_class,global_name", [(WriteMarker, "open"), (SystemCall, "system")])
def test_malicious_file_is_refused_and_not_executed(tmp_path, payload_class, global_name):
    # control: the same bytes, read the usual way, do run the payload
    control_marker = tmp_path / "control"
    control = tmp_path / "control.npy"
    np.save(control, np.array({"keys": payload_class(control_marker)}, dtype=object), allow_pickle=True)
    np.load(control, allow_pickle=True)
    assert control_marker.exists(), "the fixture must really be malicious"

    marker = tmp_path / "marker"
    path = tmp_path / "2007_000032.npy"
    np.save(path, np.array({"keys": payload_class(marker)}, dtype=object), allow_pickle=True)
    with pytest.raises(UnsafePickleError) as caught:
        load_npy(path)
    message = str(caught.value)
    assert str(path) in message and global_name in message and "refused" in message
    assert not marker.exists()


def test_payload_hidden_in_a_torch_storage_is_refused(tmp_path):
    """torch.storage._load_from_bytes would torch.load(weights_only=False) its bytes; we never do."""
    torch = need_torch()
    marker = tmp_path / "marker"

    class StorageBomb:
        def __reduce__(self):
            return (torch.storage._load_from_bytes, (pickle.dumps(WriteMarker(marker), protocol=2),))

    path = tmp_path / "cam.npy"
    np.save(path, np.array({"cam": StorageBomb()}, dtype=object), allow_pickle=True)
    with pytest.raises(UnsafePickleError, match="torch storage"):
        load_npy(path)
    assert not marker.exists()
    # the unrestricted loader would have run it: proves the test file is a real attack
    with pytest.raises(RuntimeError):  # torch complains only after running the payload
        np.load(path, allow_pickle=True)
    assert marker.exists()


def test_other_globals_and_tricks_are_refused():
    for payload in (
        b"cbuiltins\neval\n(S'1+1'\ntR.",  # protocol 0 GLOBAL + REDUCE
        b"csubprocess\nPopen\n(S'true'\ntR.",
        b"cnumpy\nload\n(S'x'\ntR.",  # numpy itself, but not a data constructor
        b"ctorch\nload\n(S'x'\ntR.",  # torch.load is not a dtype
    ):
        with pytest.raises(UnsafePickleError, match="refused"):
            loads(payload, source="evil.npy")
    with pytest.raises(UnsafePickleError, match="persistent id"):
        loads(b"\x80\x02X\x03\x00\x00\x00abcQ.", source="p.npy")


def test_broken_files_name_the_file(tmp_path):
    truncated = tmp_path / "truncated.npy"
    np.save(truncated, {"high_res": np.zeros((2, 8, 8), np.float32)})
    truncated.write_bytes(truncated.read_bytes()[:-40])
    with pytest.raises(ValueError, match="truncated.npy"):
        load_npy(truncated)
    not_npy = tmp_path / "image.npy"
    not_npy.write_bytes(b"\x89PNG not an array")
    with pytest.raises(ValueError, match="image.npy: not a .npy file"):
        load_npy(not_npy)
    with pytest.raises(FileNotFoundError, match="missing.npy"):
        load_npy(tmp_path / "missing.npy")
    odd = tmp_path / "odd.npy"
    npy_from_pickle(odd, pickle.dumps({"not": "an array"}, protocol=3))
    with pytest.raises(ValueError, match="does not hold an array"):
        load_npy(odd)


@pytest.mark.slow
def test_works_without_torch_for_numpy_files(tmp_path):
    """numpy-only files load when torch cannot be imported; torch files say to install it."""
    torch = need_torch()
    np.save(tmp_path / "toco.npy", {"keys": np.array([1, 5]), "high_res": np.ones((2, 4, 4), np.float32)})
    np.save(tmp_path / "irn.npy", {"keys": torch.tensor([1, 5]), "high_res": np.ones((2, 4, 4), np.float32)})
    script = textwrap.dedent(
        f"""
        import sys
        sys.modules["torch"] = None  # import torch now raises ImportError
        from samcam.safe_pickle import load_npy
        loaded = load_npy({str(tmp_path / "toco.npy")!r})
        assert loaded["keys"].tolist() == [1, 5], loaded
        try:
            load_npy({str(tmp_path / "irn.npy")!r})
        except ValueError as error:
            print("ERROR:", error)
        else:
            raise SystemExit("torch file loaded without torch?")
        assert "torch" not in sys.modules or sys.modules["torch"] is None
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "irn.npy" in result.stdout and "install torch" in result.stdout


# ------------------------------------------------------------------ memory budget (issue 21)

@pytest.mark.slow
def test_a_pickle_of_millions_of_small_objects_is_refused(tmp_path, monkeypatch):
    """30 MB of EMPTY_LIST opcodes were 30 million lists: 2.1 GB and 37 s. Now refused once
    the budget is spent (benchmarks/bench_reader_bombs.py, default budget: 165 MB, 3 s; the
    bound on memory is checked opcode by opcode below). A smaller floor keeps this quick."""
    monkeypatch.setattr(safe_pickle, "BUDGET_FLOOR", 8 * 2**20)
    path = hostile.npy_from_pickle(tmp_path / "2007_000032.npy", hostile.empty_lists_pickle(2_000_000))
    size = path.stat().st_size
    with pytest.raises(UnsafePickleError) as caught:
        load_npy(path)
    message = str(caught.value)
    budget = 8 * 2**20 + safe_pickle.BUDGET_PER_FILE_BYTE * size
    assert message.startswith(f"{path}: refused to load: the pickle builds more than {budget:,} bytes of objects, "
                              f"the budget for a file of {size:,} bytes (2 per byte + 8 MiB)") and "\n" not in message
    # control: the unrestricted unpickler reads it, at 64 bytes of memory per byte of file
    with hostile.traced_peak() as peak:
        assert len(pickle.loads(hostile.empty_lists_pickle(300_000)).item()["high_res"]) == 300_000
    assert peak.bytes > 60 * 300_000


def _ints(count):
    return b"".join(b"J" + struct.pack("<i", i) for i in range(count))


# Opcode streams that build much more than their size (bytes per byte of file, measured on CPython 3.11).
_BOMBS = {
    "empty lists (64)": b"(" + b"]" * 150_000 + b"l.",
    "empty dicts (72)": b"(" + b"}" * 150_000 + b"l.",
    "empty sets (224)": b"\x80\x04(" + b"\x8f" * 150_000 + b"l.",
    "marks (64)": b"(" * 150_000 + b"N.",
    "memo entries (103)": b"\x80\x04N" + b"\x94" * 150_000 + b".",
    "frozensets of marks (112)": b"\x80\x04(" + b"(\x91" * 75_000 + b"l.",
    "set items (21)": b"\x80\x04\x8f(" + _ints(40_000) + b"\x90.",
    "dict items (15)": b"}(" + b"".join(b"J" + struct.pack("<i", i) + b"N" for i in range(40_000)) + b"u.",
    "tuples (28)": b"(" + b")\x85" * 75_000 + b"l.",
    # an allowed global called again and again on one memoised argument: a few bytes of opcodes each
    "set() of a memoised list": b"\x80\x04(" + _ints(2_000) + b"l\x94(" + b"cbuiltins\nset\nh\x00\x85R" * 200 + b"l.",
    "encode() of a memoised text": b"\x80\x04\x8c\xff" + b"a" * 255 + b"\x94("
                                   + b"c_codecs\nencode\nh\x00X\x06\x00\x00\x00latin1\x86R" * 10_000 + b"l.",
    "a framed stream": b"\x80\x04\x95" + struct.pack("<Q", 150_003) + b"(" + b"]" * 150_000 + b"l.",
}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(_BOMBS))
def test_every_kind_of_object_counts_against_the_budget(name, monkeypatch):
    """Each opcode is charged at least what it builds: with a 256 KiB floor every such stream
    is refused before it has built more than its budget (and loads in full without one)."""
    payload = _BOMBS[name]
    monkeypatch.setattr(safe_pickle, "BUDGET_FLOOR", 2**18)
    budget = 2**18 + safe_pickle.BUDGET_PER_FILE_BYTE * len(payload)
    with hostile.traced_peak() as peak, pytest.raises(UnsafePickleError, match=r"^x\.npy: refused to load: the pickle "
                                                                                r"builds more than"):
        loads(payload, source="x.npy")
    assert peak.bytes < budget + 2 * len(payload), (peak.bytes, budget)  # the budget, a frame and a stream
    with hostile.traced_peak() as peak:
        pickle.loads(payload)  # control: the unrestricted unpickler builds it all
    assert peak.bytes > budget + 2 * len(payload)


@pytest.mark.slow
def test_genuine_files_load_within_the_budget(tmp_path):
    """CAM files of real sizes, torch tensors and tens of thousands of small objects load untouched."""
    rng = np.random.default_rng(0)
    high_res = rng.random((20, 500, 500), dtype=np.float32)  # 20 MB, a COCO image's CAMs
    np.save(tmp_path / "toco.npy", {"keys": np.arange(20), "high_res": high_res})
    np.testing.assert_array_equal(load_npy(tmp_path / "toco.npy")["high_res"], high_res)
    names = [f"2007_{i:06d}" for i in range(50_000)]  # CAM files hold a few objects; the floor allows many
    np.save(tmp_path / "names.npy", {"names": names, "scores": np.array(names, dtype=object)})
    loaded = load_npy(tmp_path / "names.npy")
    assert loaded["names"] == names and loaded["scores"].tolist() == names
    torch = need_torch()
    cam = torch.rand(20, 500, 500)  # torch copies a storage's bytes: charged twice
    np.save(tmp_path / "irn.npy", {"keys": torch.arange(20), "cam": cam, "high_res": high_res})
    loaded = load_npy(tmp_path / "irn.npy")
    assert torch.equal(loaded["cam"], cam) and np.array_equal(loaded["high_res"], high_res)


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

"""The checks of pickled arrays and tensors (samcam.pickle_checks): forged dtype states, array
states and tensor geometry refused before numpy or torch builds them."""
from __future__ import annotations

import pickle
import signal
from collections import OrderedDict

import numpy as np
import pytest
from hostile import (
    dict_pickle,
    forged_dtype_pickle,
    npy_from_pickle,
)
from refine_data import debris, run_python

from samcam import masks as store
from samcam.cli import main
from samcam.safe_pickle import UnsafePickleError, load_npy, loads


def need_torch():
    return pytest.importorskip("torch", reason="torch tensors in CAM files: pip install 'samcam[sam]'")


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


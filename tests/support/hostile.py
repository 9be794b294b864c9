"""Builders of broken and hostile input files, shared by the failure tests and the fuzz runner,
and the traced-peak helper of the memory-bound tests."""
from __future__ import annotations

import contextlib
import io
import struct
import tracemalloc
import zipfile
import zlib
from pathlib import Path

import numpy as np
import numpy.lib.format as npy_format


class _Peak:
    bytes = 0


@contextlib.contextmanager
def traced_peak():
    """The peak of Python-tracked allocations (``.bytes``) while the block runs."""
    peak = _Peak()
    tracemalloc.start()
    try:
        yield peak
    finally:
        peak.bytes = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()


AMG_METADATA_HEADER = ("id,area,bbox_x0,bbox_y0,bbox_w,bbox_h,point_input_x,point_input_y,predicted_iou,"
                       "stability_score,crop_box_x0,crop_box_y0,crop_box_w,crop_box_h")


def amg_metadata_rows(count: int, width: int = 10, height: int = 8) -> str:
    """``count`` rows of amg.py's metadata.csv (ids 0..count-1), header first, as amg.py joins them."""
    rows = [AMG_METADATA_HEADER] + [f"{i},{i + 1},0,0,1,1,0.5,0.5,0.9,0.95,0,0,{width},{height}" for i in range(count)]
    return "\n".join(rows)


def empty_lists_pickle(count: int) -> bytes:
    """np.save's pickle of ``{"high_res": [[], [], ...]}`` with ``count`` empty lists: one byte of file each."""
    return dict_pickle(b"(" + b"]" * count + b"l")


def json_of_empty_lists(size: int) -> bytes:
    """About ``size`` bytes of ``[[],[],...]``: 20 million lists in 60 MB."""
    return b"[" + b"[]," * (size // 3) + b"[]]"


def npy_from_pickle(path, payload: bytes) -> Path:
    """An object-dtype .npy whose body is ``payload`` (what np.save writes for a dict)."""
    buffer = io.BytesIO()
    npy_format.write_array_header_1_0(buffer, {"descr": "|O", "fortran_order": False, "shape": ()})
    Path(path).write_bytes(buffer.getvalue() + payload)
    return Path(path)


def forged_dtype_pickle(typecode: bytes = b"O8", flags: int = 1, data: bytes = b"\x41" * 8) -> bytes:
    """A protocol-3 pickle of a one-element array whose dtype state carries ``flags``.

    With ``typecode=b"O8", flags=1`` (REFCOUNT without LIST_PICKLE) numpy takes ``data`` as
    an object pointer: ``pickle.loads`` of it segfaults the process. Only allow-listed
    globals are used (numpy.core.multiarray._reconstruct, numpy.ndarray, numpy.dtype).
    """
    return (
        b"\x80\x03cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\nK\x00\x85C\x01b\x87R("
        b"K\x01K\x01\x85cnumpy\ndtype\nX" + struct.pack("<I", len(typecode)) + typecode
        + b"\x89\x88\x87R(K\x03X\x01\x00\x00\x00|NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK" + bytes([flags])
        + b"tb\x89C" + bytes([len(data)]) + data + b"tb."
    )


def dict_pickle(payload_for_value: bytes, key: bytes = b"high_res") -> bytes:
    """A protocol-3 pickle of the 0-d object array np.save writes around ``{key: <value>}``;
    ``payload_for_value`` are the opcodes that push the value (no PROTO, no STOP)."""
    return (
        b"\x80\x03cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\nK\x00\x85C\x01b\x87R("
        b"K\x01)cnumpy\ndtype\nX\x02\x00\x00\x00O8\x89\x88\x87R(K\x03X\x01\x00\x00\x00|NNN"
        b"J\xff\xff\xff\xffJ\xff\xff\xff\xffK?tb\x89]}X" + struct.pack("<I", len(key)) + key
        + payload_for_value + b"satb."
    )


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_header_only(width: int, height: int) -> bytes:
    """A PNG signature, an 8-bit grayscale IHDR of ``width``×``height``, and no pixel data:
    what a decompression bomb looks like before it is decoded."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + _chunk(b"IEND", b"")


def npz_bytes(**arrays) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def npz_compressed_bytes(**arrays) -> bytes:
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    return buffer.getvalue()


def npy_raw(shape, descr: str, data: bytes) -> bytes:
    """A .npy file whose header says ``shape`` and ``descr``, followed by ``data`` as given."""
    buffer = io.BytesIO()
    npy_format.write_array_header_1_0(buffer, {"descr": descr, "fortran_order": False, "shape": tuple(shape)})
    return buffer.getvalue() + data


def zip_bytes(members) -> bytes:
    """An uncompressed zip of ``{name: bytes}`` (an npz when the members are .npy files)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()

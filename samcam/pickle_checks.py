"""What each allow-listed global of :mod:`samcam.safe_pickle` may be given.

numpy and torch trust the pickles they read: a dtype's state can set object flags on
raw bytes (numpy then follows forged pointers), an array's state can declare more
bytes than it brings, a tensor's geometry can reach past its storage. Each function
here checks the arguments one allowed global would receive, before it is called, and
raises :class:`UnsafePickleError` naming ``source`` (the file) otherwise.
"""
from __future__ import annotations

import math
from collections import OrderedDict
from typing import Any, Tuple

import numpy as np

__all__ = [
    "UnsafePickleError", "refuse", "is_int", "check_shape", "check_plain_dtype", "check_dtype_spec",
    "check_dtype_state", "array_state_fields", "check_array_data", "check_scalar", "check_frombuffer",
    "tensor_argument_count", "tensor_layout", "check_tensor_geometry", "check_tensor_extras",
]


class UnsafePickleError(ValueError):
    """A pickle asked for a global that is not on the allow-list, or gave one arguments
    that are not plain data; nothing from it was executed."""


MAX_NDIM = 32
# dtype kinds that hold plain values; "O" (object) is allowed only as numpy's own
# object dtype, for the dict np.save wraps in a 0-d array and for lists of strings.
_PLAIN_KINDS = frozenset("biufcSUVmM")
_OBJECT_DTYPE = np.dtype("O")
# torch's _rebuild_tensor variants: (fewest, most) arguments
_TENSOR_ARGUMENTS = {"_rebuild_tensor": (4, 4), "_rebuild_tensor_v2": (6, 7), "_rebuild_tensor_v3": (7, 8)}


def refuse(source: str, what: str) -> UnsafePickleError:
    """The error for ``source`` (the file) refusing ``what``."""
    return UnsafePickleError(f"{source}: refused to load: {what}. Nothing was executed.")


def is_int(value: Any) -> bool:
    """A Python int that is not a bool."""
    return isinstance(value, int) and not isinstance(value, bool)


def check_shape(value: Any, source: str, what: str) -> Tuple[int, ...]:
    """``value`` as a shape: a tuple or list of up to 32 ints >= 0."""
    if not isinstance(value, (tuple, list)) or len(value) > MAX_NDIM or not all(is_int(v) and v >= 0 for v in value):
        raise refuse(source, f"{what} {value!r:.80} is not a shape (a tuple of up to {MAX_NDIM} ints >= 0)")
    return tuple(value)


# ---------------------------------------------------------------------------- dtypes

def check_plain_dtype(dtype: Any, source: str, what: str = "dtype") -> np.dtype:
    """``dtype`` if it is a simple dtype whose flags are numpy's own for its kind."""
    if not isinstance(dtype, np.dtype):
        raise refuse(source, f"{what} is {type(dtype).__name__}, not a numpy dtype")
    if dtype.fields is not None or dtype.subdtype is not None:
        raise refuse(source, f"{what} {dtype} is structured; CAM files hold simple arrays only")
    if dtype.metadata is not None:
        raise refuse(source, f"{what} carries metadata")
    canonical = _canonical(dtype, source, what)
    if dtype.flags != canonical.flags or dtype.itemsize != canonical.itemsize:
        raise refuse(source, f"{what} {dtype.str} has flags {dtype.flags:#x} and item size {dtype.itemsize}, numpy's "
                             f"own are {canonical.flags:#x} and {canonical.itemsize} (a forged dtype)")
    return dtype


def _canonical(dtype: np.dtype, source: str, what: str) -> np.dtype:
    """numpy's own dtype of ``dtype``'s kind and size (what its flags must match)."""
    if dtype.kind == "O":
        return _OBJECT_DTYPE
    if dtype.kind in _PLAIN_KINDS and not dtype.hasobject:
        return np.dtype(dtype.str)
    raise refuse(source, f"{what} of kind {dtype.kind!r} is not plain data")


def check_dtype_spec(spec: Any, rest: tuple, source: str) -> str:
    """The arguments of ``numpy.dtype(spec, align, copy)``: a short type code and nothing more."""
    if rest or not isinstance(spec, str) or len(spec) > 40:
        raise refuse(source, f"numpy.dtype({spec!r:.60}, ...): only simple dtype codes such as 'f4'")
    return spec


def check_dtype_state(dtype: np.dtype, state: Any, source: str) -> None:
    """The state BUILD gives a dtype: numpy's own (version 3 or 4), changing nothing numpy computed."""
    if not isinstance(state, tuple) or len(state) not in (8, 9) or state[0] not in (3, 4):
        raise refuse(source, f"dtype state {state!r:.80} is not numpy's (version 3 or 4, 8-9 fields)")
    _, endian, subarray, names, fields, elsize, alignment, flags = state[:8]
    if endian not in ("<", ">", "|", "="):
        raise refuse(source, f"dtype byte order {endian!r:.20}")
    if subarray is not None or names is not None or fields is not None:
        raise refuse(source, "structured or sub-array dtype; CAM files hold simple arrays only")
    _check_dtype_layout(dtype, elsize, alignment, flags, source)
    if len(state) == 9 and not _is_datetime_info(dtype, state[8]):
        raise refuse(source, "dtype state carries metadata")


def _check_dtype_layout(dtype: np.dtype, elsize: Any, alignment: Any, flags: Any, source: str) -> None:
    if not (is_int(elsize) and is_int(alignment) and is_int(flags)):
        raise refuse(source, "dtype state with non-integer size, alignment or flags")
    if flags != dtype.flags:
        raise refuse(source, f"dtype state sets flags {flags:#x} on {dtype.str}, whose flags are {dtype.flags:#x} "
                             "(an object/refcount flag on raw bytes would make numpy follow forged pointers)")
    if elsize not in (-1, dtype.itemsize) or alignment not in (-1, dtype.alignment):
        raise refuse(source, f"dtype state sets item size {elsize} / alignment {alignment} on {dtype.str}")


def _is_datetime_info(dtype: np.dtype, extra: Any) -> bool:
    """The 9th field of a datetime dtype's state: ``(None, (unit, num, den, events))``."""
    if dtype.kind not in "mM" or not (isinstance(extra, tuple) and len(extra) == 2 and extra[0] is None):
        return False
    info = extra[1]
    return (isinstance(info, tuple) and len(info) == 4 and isinstance(info[0], (bytes, str))
            and all(is_int(v) for v in info[1:]))


# ---------------------------------------------------------------------------- arrays

def array_state_fields(state: Any, source: str) -> Tuple[Any, Any, Any, Any]:
    """``(shape, dtype, fortran, data)`` of an array's BUILD state (4 fields, or 5 with version 1)."""
    if not isinstance(state, tuple) or len(state) not in (4, 5):
        raise refuse(source, "array state is not numpy's (version, shape, dtype, fortran, data)")
    if len(state) == 5:
        if state[0] != 1:
            raise refuse(source, f"array state version {state[0]!r:.20}")
        return state[1:]
    return state


def check_array_data(shape: Tuple[int, ...], dtype: np.dtype, data: Any, source: str) -> None:
    """The data of an array's state must be exactly what its shape and dtype need."""
    count = math.prod(shape)
    if dtype.kind == "O":
        if not isinstance(data, list) or len(data) != count:
            raise refuse(source, f"object array of shape {shape} must be given a list of {count} objects")
        return
    if not isinstance(data, (bytes, bytearray, str)):
        raise refuse(source, f"array data is {type(data).__name__}, not bytes")
    if dtype.itemsize == 0 and count:
        raise refuse(source, f"array of {count} elements of zero size ({dtype.str})")
    if len(data) != count * dtype.itemsize:
        raise refuse(source, f"array of shape {shape} and dtype {dtype.str} needs {count * dtype.itemsize} bytes, "
                             f"the file gives {len(data)}")


def check_scalar(dtype: np.dtype, value: Any, rest: tuple, source: str) -> None:
    """``numpy.core.multiarray.scalar(dtype, value)``: exactly one item's bytes."""
    if rest:
        raise refuse(source, "numpy scalar with extra arguments")
    if dtype.kind != "O" and (not isinstance(value, (bytes, str)) or len(value) != dtype.itemsize
                              or dtype.itemsize == 0):
        raise refuse(source, f"numpy scalar of {dtype.str} must be given {dtype.itemsize} bytes")


def check_frombuffer(buffer: Any, dtype: np.dtype, shape: Tuple[int, ...], order: Any, rest: tuple,
                     source: str) -> None:
    """``numpy.core.numeric._frombuffer(buffer, dtype, shape, order)``: bytes that fill the shape exactly."""
    if rest or dtype.kind == "O" or not isinstance(buffer, (bytes, bytearray)) or order not in ("C", "F"):
        raise refuse(source, "_frombuffer with arguments numpy never writes")
    if dtype.itemsize == 0 or len(buffer) != math.prod(shape) * dtype.itemsize:
        raise refuse(source, f"array of shape {shape} and dtype {dtype.str} does not match its {len(buffer)} bytes")


# ---------------------------------------------------------------------------- torch

def tensor_argument_count(name: str, args: tuple, source: str) -> None:
    """``name`` (a ``_rebuild_tensor`` variant) given as many arguments as torch writes."""
    low, high = _TENSOR_ARGUMENTS[name]
    if not low <= len(args) <= high:
        raise refuse(source, f"{name} with {len(args)} arguments")


def tensor_layout(args: tuple, source: str) -> Tuple[int, Tuple[int, ...], Tuple[int, ...]]:
    """``(offset, size, stride)`` of ``_rebuild_tensor*(storage, offset, size, stride, ...)``, checked."""
    offset, size, stride = args[1:4]
    if not is_int(offset) or offset < 0:
        raise refuse(source, f"tensor storage offset {offset!r:.40}")
    size = check_shape(size, source, "tensor size")
    stride = check_shape(stride, source, "tensor stride")
    if len(size) != len(stride):
        raise refuse(source, f"tensor size {size} and stride {stride} differ in length")
    return offset, size, stride


def check_tensor_geometry(size: Tuple[int, ...], stride: Tuple[int, ...], offset: int, available: int,
                          source: str) -> None:
    """A tensor's elements lie inside its storage of ``available`` elements, and are no more than it holds."""
    count = math.prod(size)
    if count:
        last = offset + sum((n - 1) * s for n, s in zip(size, stride))
        if last >= available:
            raise refuse(source, f"tensor of size {size}, stride {stride} at offset {offset} reaches element {last} "
                                 f"of a storage of {available} (torch would silently grow the storage)")
    if count > available:
        raise refuse(source, f"tensor of size {size} has {count} elements, more than its storage's {available} "
                             "(a broadcast view; saved CAMs never are)")


def check_tensor_extras(name: str, args: tuple, source: str) -> None:
    """requires_grad, backward hooks and metadata of a tensor: a bool, none and none."""
    if len(args) <= 4:
        return
    requires_grad, hooks = args[4], args[5]
    if not isinstance(requires_grad, bool):
        raise refuse(source, "tensor requires_grad is not a bool")
    if not isinstance(hooks, (dict, OrderedDict)) or hooks:
        raise refuse(source, "tensor with backward hooks")
    metadata = None
    if name == "_rebuild_tensor_v3" and len(args) == 8:
        metadata = args[7]
    elif name == "_rebuild_tensor_v2" and len(args) == 7:
        metadata = args[6]
    if metadata not in (None, {}):
        raise refuse(source, "tensor with metadata")

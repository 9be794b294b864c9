"""Load pickled CAM ``.npy`` files without running code from them, and without trusting them.

WSSS methods save CAMs with ``np.save(path, dict)``, which pickles the dict; reading
them back with ``np.load(path, allow_pickle=True)`` executes whatever callables the
pickle names, so a CAM file downloaded from someone else could run any code. This
module reads the same files with an allow-listed unpickler: only the globals that
plain data needs (numpy arrays, dtypes and scalars, ``OrderedDict``, torch tensors and
their storages) may be referenced; any other global is refused with
:class:`UnsafePickleError` before anything is called.

Allowed globals are not handed out as they are: each is wrapped so that its arguments
are checked first, because numpy and torch trust the pickles they read:

* a dtype's ``__setstate__`` state may not change what numpy computed for that dtype
  (no object/refcount flags on raw bytes: a forged pointer would crash the process);
  only simple dtypes (numbers, strings, bytes, datetimes, ``object``) are built;
* an array's state is checked before numpy sees it: its byte count must match its
  shape and dtype, and an object array must be given a list of objects;
* a torch tensor's size, stride and offset must lie inside its storage, and a tensor
  may not hold more elements than its storage (a zero-stride view of 10⁵×10⁵
  elements would be materialised later as gigabytes);
* only arrays and dtypes this load created may receive state (BUILD), once.

So what a file can make us allocate is bounded by the file's own size (at most
``SAMCAM_MAX_FILE_BYTES``, see :mod:`samcam.limits`).

torch is needed only for files that hold torch tensors (IRN, AMN, CLIMS). A torch
storage inside a plain pickle is stored as bytes for ``torch.storage._load_from_bytes``,
which would hand them to ``torch.load(weights_only=False)`` — a second, unrestricted
unpickler. We never call it: those bytes go to ``torch.load(weights_only=True)``,
torch's own allow-listed loader.
"""
from __future__ import annotations

import importlib
import io
import math
import os
import pickle
import re
import stat
import struct
from collections import OrderedDict
from pathlib import Path
from typing import Any, Callable, Dict, Tuple

import numpy as np
import numpy.lib.format as npy_format

from .io import read_npy_header
from .limits import limits

__all__ = ["UnsafePickleError", "load_npy", "loads", "ALLOWED_GLOBALS"]


class UnsafePickleError(ValueError):
    """A pickle asked for a global that is not on the allow-list, or gave one arguments
    that are not plain data; nothing from it was executed."""


def _numpy_core(submodule: str) -> Callable[[str], Any]:
    """Resolver for ``numpy.core.<sub>.X`` / ``numpy._core.<sub>.X`` in any numpy version.

    numpy 1.x writes ``numpy.core.multiarray._reconstruct``; numpy 2.x writes
    ``numpy._core.multiarray._reconstruct``. Both name the same function, and files of
    either kind must load under either numpy.
    """

    def resolve(name: str) -> Any:
        for package in ("numpy._core", "numpy.core"):
            try:
                module = importlib.import_module(f"{package}.{submodule}")
            except ImportError:
                continue
            if hasattr(module, name):
                return getattr(module, name)
        raise AttributeError(f"numpy has no {submodule}.{name}")

    return resolve


def _from_module(module_name: str) -> Callable[[str], Any]:
    def resolve(name: str) -> Any:
        return getattr(importlib.import_module(module_name), name)

    return resolve


def _torch() -> Any:
    try:
        import torch
    except ImportError as error:  # pragma: no cover - exercised in a subprocess test
        raise ImportError("torch is not installed") from error
    return torch


def _storage_loader(source: str) -> Callable[[bytes], Any]:
    """Stand-in for ``torch.storage._load_from_bytes`` that cannot run code.

    The payload is a legacy ``torch.save`` of one storage; ``weights_only=True`` reads
    it with torch's allow-listed unpickler, on the CPU.
    """
    torch = _torch()

    def load_storage(payload: bytes) -> Any:
        if not isinstance(payload, bytes):
            raise UnsafePickleError(f"{source}: refused to load: torch storage payload is {type(payload).__name__}, not bytes")
        try:
            return torch.load(io.BytesIO(payload), weights_only=True, map_location="cpu")
        except Exception as error:  # torch raises UnpicklingError/RuntimeError for refused globals
            # torch's message is long; its "Unsupported global" line is the useful part
            lines = [re.sub(r"\x1b\[[0-9;]*m", "", line).strip() for line in str(error).splitlines()]
            lines = [line for line in lines if line] or [type(error).__name__]
            first_line = next((line for line in lines if "Unsupported" in line or "Unpickler error" in line), lines[0])
            first_line = first_line.split(". Please use")[0]  # torch's allow-list advice does not apply here
            raise UnsafePickleError(
                f"{source}: refused to load: a torch storage inside the file is not plain tensor data "
                f"(torch.load(weights_only=True) says: {first_line}). Nothing was executed."
            ) from error

    return load_storage


def _torch_attr(module_name: str) -> Callable[[str], Any]:
    def resolve(name: str) -> Any:
        _torch()
        return getattr(importlib.import_module(module_name), name)

    return resolve


def _torch_dtype(name: str) -> Any:
    value = getattr(_torch(), name, None)
    if value is None or type(value).__name__ != "dtype":
        raise AttributeError(f"torch.{name} is not a dtype")
    return value


# (module, name) -> resolver(name); exact names only.
# Everything here builds plain data from plain data; none can reach the file system,
# a shell or an import of the file's choosing.
ALLOWED_GLOBALS: Dict[Tuple[str, str], Callable[[str], Any]] = {}
for _package in ("numpy.core", "numpy._core"):
    ALLOWED_GLOBALS[(f"{_package}.multiarray", "_reconstruct")] = _numpy_core("multiarray")
    ALLOWED_GLOBALS[(f"{_package}.multiarray", "scalar")] = _numpy_core("multiarray")
    ALLOWED_GLOBALS[(f"{_package}.numeric", "_frombuffer")] = _numpy_core("numeric")
ALLOWED_GLOBALS.update(
    {
        ("numpy", "ndarray"): _from_module("numpy"),
        ("numpy", "dtype"): _from_module("numpy"),
        ("collections", "OrderedDict"): _from_module("collections"),
        ("builtins", "set"): _from_module("builtins"),
        ("builtins", "frozenset"): _from_module("builtins"),
        ("builtins", "complex"): _from_module("builtins"),
        ("__builtin__", "set"): _from_module("builtins"),
        ("__builtin__", "frozenset"): _from_module("builtins"),
        ("__builtin__", "complex"): _from_module("builtins"),
        # protocol-2 pickles spell bytes as _codecs.encode(text, "latin1")
        ("_codecs", "encode"): _from_module("_codecs"),
        ("torch._utils", "_rebuild_tensor"): _torch_attr("torch._utils"),
        ("torch._utils", "_rebuild_tensor_v2"): _torch_attr("torch._utils"),
        ("torch._utils", "_rebuild_tensor_v3"): _torch_attr("torch._utils"),
        # resolved in find_class: the loader needs the file name for its errors
        ("torch.storage", "_load_from_bytes"): lambda name: _storage_loader("<bytes>"),
    }
)
# torch dtypes a tensor pickle names (torch.float32, ...), by exact name: torch.load and
# friends are never reachable, whether or not torch is installed.
_TORCH_DTYPES = (
    "float16", "float32", "float64", "bfloat16", "half", "float", "double",
    "uint8", "int8", "int16", "int32", "int64", "short", "int", "long", "bool",
    "complex64", "complex128", "cfloat", "cdouble",
)
ALLOWED_GLOBALS.update({("torch", name): _torch_dtype for name in _TORCH_DTYPES})
# numpy >= 1.25 DType classes, by exact name (a wildcard would hand out the module's
# other attributes); object and variable-width string dtypes hold Python objects.
_NUMPY_DTYPE_CLASSES = (
    "BoolDType", "Int8DType", "UInt8DType", "Int16DType", "UInt16DType", "Int32DType", "UInt32DType",
    "Int64DType", "UInt64DType", "ByteDType", "UByteDType", "ShortDType", "UShortDType", "IntDType",
    "UIntDType", "LongDType", "ULongDType", "LongLongDType", "ULongLongDType", "Float16DType",
    "Float32DType", "Float64DType", "LongDoubleDType", "Complex64DType", "Complex128DType",
    "CLongDoubleDType", "BytesDType", "StrDType", "VoidDType", "DateTime64DType", "TimeDelta64DType",
)
ALLOWED_GLOBALS.update({("numpy.dtypes", name): _from_module("numpy.dtypes") for name in _NUMPY_DTYPE_CLASSES})
_TORCH_PREFIX = "torch"


_MAX_NDIM = 32
# dtype kinds that hold plain values; "O" (object) is allowed only as numpy's own
# object dtype, for the dict np.save wraps in a 0-d array and for lists of strings.
_PLAIN_KINDS = frozenset("biufcSUVmM")
_OBJECT_DTYPE = np.dtype("O")


class _NdarrayClass:
    """Stand-in for ``numpy.ndarray`` in a pickle: only ``_reconstruct`` accepts it.

    The class itself would let a pickle call ``ndarray(shape)`` and allocate any size.
    """

    def __repr__(self) -> str:
        return "<numpy.ndarray (only for _reconstruct)>"


_NDARRAY = _NdarrayClass()


def _refuse(source: str, what: str) -> UnsafePickleError:
    return UnsafePickleError(f"{source}: refused to load: {what}. Nothing was executed.")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _shape(value: Any, source: str, what: str) -> Tuple[int, ...]:
    if not isinstance(value, (tuple, list)) or len(value) > _MAX_NDIM or not all(
        _is_int(v) and v >= 0 for v in value
    ):
        raise _refuse(source, f"{what} {value!r:.80} is not a shape (a tuple of up to {_MAX_NDIM} ints >= 0)")
    return tuple(value)


def _latin1_encode(obj: Any, encoding: str = "utf-8", errors: str = "strict") -> bytes:
    # Protocol-2 pickles spell bytes as _codecs.encode(text, "latin1"); nothing else is needed.
    if not isinstance(obj, str) or not isinstance(encoding, str) or encoding.lower().replace("-", "") not in (
        "latin1", "iso88591"
    ):
        raise UnsafePickleError("refused to load: _codecs.encode is allowed only for text -> latin1 bytes")
    return obj.encode("latin1")


class _AllowListUnpickler(pickle._Unpickler):
    """The pure-Python ``pickle`` unpickler, restricted.

    ``find_class`` returns only allow-listed globals, wrapped so their arguments are
    checked (every way a pickle reaches a callable — GLOBAL, STACK_GLOBAL, INST, OBJ,
    EXT* — goes through it), and BUILD (``__setstate__``) is accepted only for the
    dtypes and arrays this load created, after checking the state. The pure-Python
    unpickler is used because the C one offers no hook for BUILD; CAM pickles hold a
    few large byte strings, so its speed does not matter.
    """

    dispatch = dict(pickle._Unpickler.dispatch)

    def __init__(self, stream, source: str):
        super().__init__(stream, encoding="latin1")
        self.source = source
        # objects this load made that may receive state (kept alive: ids stay unique)
        self._fresh: Dict[int, Any] = {}
        self._storages: Dict[int, Any] = {}

    # ------------------------------------------------------------------ globals
    def find_class(self, module: str, name: str) -> Any:
        resolver = ALLOWED_GLOBALS.get((module, name))
        if resolver is None:
            raise UnsafePickleError(
                f"{self.source}: refused to load: the pickle asks for the global "
                f"'{module}.{name}', which is not plain data (samcam only allows numpy "
                "arrays, dicts, lists, numbers, strings and torch tensors). Nothing was "
                "executed. If you trust this file, convert it yourself with "
                "np.load(path, allow_pickle=True); otherwise regenerate it."
            )
        try:
            if (module, name) == ("torch.storage", "_load_from_bytes"):
                return self._load_storage_with(_storage_loader(self.source))
            real = resolver(name)
        except ImportError as error:
            if module.split(".")[0] == _TORCH_PREFIX:
                raise ValueError(
                    f"{self.source}: this file holds torch tensors (it references "
                    f"'{module}.{name}'); install torch to read it (pip install torch)"
                ) from error
            raise ValueError(f"{self.source}: cannot import '{module}.{name}' ({error})") from error
        except AttributeError as error:
            raise UnsafePickleError(f"{self.source}: refused to load: '{module}.{name}' ({error})") from error
        return self._guard(module, name, real)

    def _guard(self, module: str, name: str, real: Any) -> Any:
        if (module, name) == ("numpy", "ndarray"):
            return _NDARRAY
        if (module, name) == ("numpy", "dtype"):
            return self._new_dtype
        if name == "_reconstruct":
            return lambda *args: self._reconstruct(real, *args)
        if name == "scalar":
            return lambda *args: self._scalar(real, *args)
        if name == "_frombuffer":
            return lambda *args: self._frombuffer(real, *args)
        if (module, name) == ("_codecs", "encode"):
            return _latin1_encode
        if module == "torch._utils" and name.startswith("_rebuild_tensor"):
            return lambda *args: self._rebuild_tensor(real, name, *args)
        return real  # classes of plain containers, torch dtypes, numpy DType classes

    def persistent_load(self, pid: Any) -> Any:
        # np.save never writes persistent ids; torch.save files are not CAM .npy files.
        raise UnsafePickleError(
            f"{self.source}: refused to load: the pickle uses persistent id {pid!r:.80} "
            "(a torch.save file, not an np.save .npy?)"
        )

    # ------------------------------------------------------------------ numpy
    def _check_plain_dtype(self, dtype: Any, what: str = "dtype") -> np.dtype:
        """``dtype`` if it is a simple dtype whose flags are numpy's own for its kind."""
        if not isinstance(dtype, np.dtype):
            raise _refuse(self.source, f"{what} is {type(dtype).__name__}, not a numpy dtype")
        if dtype.fields is not None or dtype.subdtype is not None:
            raise _refuse(self.source, f"{what} {dtype} is structured; CAM files hold simple arrays only")
        if dtype.metadata is not None:
            raise _refuse(self.source, f"{what} carries metadata")
        if dtype.kind == "O":
            canonical = _OBJECT_DTYPE
        elif dtype.kind in _PLAIN_KINDS and not dtype.hasobject:
            canonical = np.dtype(dtype.str)
        else:
            raise _refuse(self.source, f"{what} of kind {dtype.kind!r} is not plain data")
        if dtype.flags != canonical.flags or dtype.itemsize != canonical.itemsize:
            raise _refuse(
                self.source,
                f"{what} {dtype.str} has flags {dtype.flags:#x} and item size {dtype.itemsize}, numpy's own are "
                f"{canonical.flags:#x} and {canonical.itemsize} (a forged dtype)",
            )
        return dtype

    def _new_dtype(self, spec: Any = None, align: Any = False, copy: Any = False, *rest: Any) -> np.dtype:
        if rest or not isinstance(spec, str) or len(spec) > 40:
            raise _refuse(self.source, f"numpy.dtype({spec!r:.60}, ...): only simple dtype codes such as 'f4'")
        # Always a new dtype object: a later BUILD can never alter numpy's shared ones.
        dtype = np.dtype(spec, bool(align), True)
        self._check_plain_dtype(dtype)
        self._fresh[id(dtype)] = dtype
        return dtype

    def _build_dtype(self, dtype: np.dtype, state: Any) -> None:
        if not isinstance(state, tuple) or len(state) not in (8, 9) or state[0] not in (3, 4):
            raise _refuse(self.source, f"dtype state {state!r:.80} is not numpy's (version 3 or 4, 8-9 fields)")
        _, endian, subarray, names, fields, elsize, alignment, flags = state[:8]
        if endian not in ("<", ">", "|", "="):
            raise _refuse(self.source, f"dtype byte order {endian!r:.20}")
        if subarray is not None or names is not None or fields is not None:
            raise _refuse(self.source, "structured or sub-array dtype; CAM files hold simple arrays only")
        if not (_is_int(elsize) and _is_int(alignment) and _is_int(flags)):
            raise _refuse(self.source, "dtype state with non-integer size, alignment or flags")
        if flags != dtype.flags:
            raise _refuse(
                self.source,
                f"dtype state sets flags {flags:#x} on {dtype.str}, whose flags are {dtype.flags:#x} "
                "(an object/refcount flag on raw bytes would make numpy follow forged pointers)",
            )
        if elsize not in (-1, dtype.itemsize) or alignment not in (-1, dtype.alignment):
            raise _refuse(self.source, f"dtype state sets item size {elsize} / alignment {alignment} on {dtype.str}")
        if len(state) == 9:
            extra = state[8]
            datetime_info = (
                dtype.kind in "mM" and isinstance(extra, tuple) and len(extra) == 2 and extra[0] is None
                and isinstance(extra[1], tuple) and len(extra[1]) == 4
                and isinstance(extra[1][0], (bytes, str)) and all(_is_int(v) for v in extra[1][1:])
            )
            if not datetime_info:
                raise _refuse(self.source, "dtype state carries metadata")
        dtype.__setstate__(state)
        self._check_plain_dtype(dtype)

    def _reconstruct(self, real: Callable, subtype: Any = None, shape: Any = None, typecode: Any = None, *rest) -> Any:
        # np.ndarray.__reduce__ always writes _reconstruct(ndarray, (0,), b"b"): an empty array
        # that BUILD then fills; anything else would allocate what the file asks for.
        if rest or subtype is not _NDARRAY or tuple(shape or ()) != (0,) or typecode not in (b"b", "b"):
            raise _refuse(self.source, f"_reconstruct({subtype!r:.40}, {shape!r:.40}, {typecode!r:.20}) is not "
                                       "how numpy pickles an array")
        array = real(np.ndarray, (0,), b"b")
        self._fresh[id(array)] = array
        return array

    def _build_array(self, array: np.ndarray, state: Any) -> None:
        if not isinstance(state, tuple) or len(state) not in (4, 5):
            raise _refuse(self.source, "array state is not numpy's (version, shape, dtype, fortran, data)")
        if len(state) == 5:
            if state[0] != 1:
                raise _refuse(self.source, f"array state version {state[0]!r:.20}")
            shape, dtype, fortran, data = state[1:]
        else:
            shape, dtype, fortran, data = state
        shape = _shape(shape, self.source, "array shape")
        dtype = self._check_plain_dtype(dtype, "array dtype")
        if not isinstance(fortran, (bool, int)):
            raise _refuse(self.source, "array order flag is not a bool")
        count = math.prod(shape)
        if dtype.kind == "O":
            if not isinstance(data, list) or len(data) != count:
                raise _refuse(self.source, f"object array of shape {shape} must be given a list of {count} objects")
        else:
            if not isinstance(data, (bytes, bytearray, str)):
                raise _refuse(self.source, f"array data is {type(data).__name__}, not bytes")
            if dtype.itemsize == 0 and count:
                raise _refuse(self.source, f"array of {count} elements of zero size ({dtype.str})")
            if len(data) != count * dtype.itemsize:
                raise _refuse(
                    self.source,
                    f"array of shape {shape} and dtype {dtype.str} needs {count * dtype.itemsize} bytes, "
                    f"the file gives {len(data)}",
                )
        array.__setstate__(state)

    def _scalar(self, real: Callable, dtype: Any = None, value: Any = None, *rest) -> Any:
        dtype = self._check_plain_dtype(dtype, "scalar dtype")
        if rest:
            raise _refuse(self.source, "numpy scalar with extra arguments")
        if dtype.kind != "O" and (not isinstance(value, (bytes, str)) or len(value) != dtype.itemsize
                                  or dtype.itemsize == 0):
            raise _refuse(self.source, f"numpy scalar of {dtype.str} must be given {dtype.itemsize} bytes")
        return real(dtype, value)

    def _frombuffer(self, real: Callable, buffer: Any = None, dtype: Any = None, shape: Any = None,
                    order: Any = "C", *rest) -> Any:
        dtype = self._check_plain_dtype(dtype, "array dtype")
        shape = _shape(shape, self.source, "array shape")
        if rest or dtype.kind == "O" or not isinstance(buffer, (bytes, bytearray)) or order not in ("C", "F"):
            raise _refuse(self.source, "_frombuffer with arguments numpy never writes")
        if dtype.itemsize == 0 or len(buffer) != math.prod(shape) * dtype.itemsize:
            raise _refuse(self.source, f"array of shape {shape} and dtype {dtype.str} does not match "
                                       f"its {len(buffer)} bytes")
        return real(buffer, dtype, shape, order)

    # ------------------------------------------------------------------ torch
    def _load_storage_with(self, loader: Callable[[bytes], Any]) -> Callable[[bytes], Any]:
        def load_storage(payload: bytes) -> Any:
            storage = loader(payload)
            torch = _torch()
            if not isinstance(storage, torch.storage.TypedStorage):
                raise _refuse(self.source, f"a torch storage payload holds {type(storage).__name__}, not a storage")
            self._storages[id(storage)] = storage
            return storage

        return load_storage

    def _rebuild_tensor(self, real: Callable, name: str, *args: Any) -> Any:
        torch = _torch()
        counts = {"_rebuild_tensor": (4, 4), "_rebuild_tensor_v2": (6, 7), "_rebuild_tensor_v3": (7, 8)}
        low, high = counts[name]
        if not low <= len(args) <= high:
            raise _refuse(self.source, f"{name} with {len(args)} arguments")
        storage, offset, size, stride = args[:4]
        if self._storages.get(id(storage)) is not storage:
            raise _refuse(self.source, "a tensor whose storage did not come from the file's storage bytes")
        if not _is_int(offset) or offset < 0:
            raise _refuse(self.source, f"tensor storage offset {offset!r:.40}")
        size = _shape(size, self.source, "tensor size")
        stride = _shape(stride, self.source, "tensor stride")
        if len(size) != len(stride):
            raise _refuse(self.source, f"tensor size {size} and stride {stride} differ in length")
        if name == "_rebuild_tensor_v3":
            dtype = args[6]
            if not isinstance(dtype, torch.dtype):
                raise _refuse(self.source, "tensor dtype is not a torch dtype")
        else:
            dtype = storage.dtype
        # counted from the untyped bytes: TypedStorage.size() warns that it is deprecated
        available = storage._untyped_storage.nbytes() // torch._utils._element_size(dtype)
        count = math.prod(size)
        if count:
            last = offset + sum((n - 1) * s for n, s in zip(size, stride))
            if last >= available:
                raise _refuse(
                    self.source,
                    f"tensor of size {size}, stride {stride} at offset {offset} reaches element {last} of a "
                    f"storage of {available} (torch would silently grow the storage)",
                )
        if count > available:
            raise _refuse(
                self.source,
                f"tensor of size {size} has {count} elements, more than its storage's {available} "
                "(a broadcast view; saved CAMs never are)",
            )
        if len(args) > 4:
            requires_grad, hooks = args[4], args[5]
            if not isinstance(requires_grad, bool):
                raise _refuse(self.source, "tensor requires_grad is not a bool")
            if not isinstance(hooks, (dict, OrderedDict)) or hooks:
                raise _refuse(self.source, "tensor with backward hooks")
            metadata = args[7] if name == "_rebuild_tensor_v3" and len(args) == 8 else (
                args[6] if name == "_rebuild_tensor_v2" and len(args) == 7 else None)
            if metadata not in (None, {}):
                raise _refuse(self.source, "tensor with metadata")
        return real(*args)

    # ------------------------------------------------------------------ BUILD
    def load_build(self) -> None:
        state = self.stack.pop()
        target = self.stack[-1]
        if self._fresh.pop(id(target), None) is not target:
            raise _refuse(self.source, f"the pickle sets the state of a {type(target).__name__} it did not create "
                                       "(or sets it twice)")
        if isinstance(target, np.dtype):
            self._build_dtype(target, state)
        elif type(target) is np.ndarray:
            self._build_array(target, state)
        else:  # pragma: no cover - only dtypes and arrays are ever fresh
            raise _refuse(self.source, f"state for a {type(target).__name__}")

    dispatch[pickle.BUILD[0]] = load_build

    def load_bytearray8(self) -> None:
        # pickle's own BYTEARRAY8 allocates the length the stream declares before reading
        # it; read what is there instead, so a short stream cannot ask for gigabytes.
        (length,) = struct.unpack("<Q", self.read(8))
        data = self.read(length)
        if len(data) != length:
            raise pickle.UnpicklingError(f"BYTEARRAY8 declares {length} bytes, the stream holds {len(data)}")
        self.append(bytearray(data))

    dispatch[pickle.BYTEARRAY8[0]] = load_bytearray8


def loads(payload: bytes, source: str = "<bytes>") -> Any:
    """Unpickle ``payload`` with the allow-list. ``source`` names it in errors."""
    return _load_stream(io.BytesIO(payload), source)


def _load_stream(stream, source: str) -> Any:
    try:
        return _AllowListUnpickler(stream, source).load()
    except UnsafePickleError as error:
        if str(error).startswith(source):
            raise
        raise UnsafePickleError(f"{source}: {error}") from None
    except MemoryError:
        raise
    except ValueError as error:
        if str(error).startswith(source):
            raise
        raise ValueError(f"{source}: cannot unpickle ({error})") from error
    except Exception as error:  # whatever the pure-Python unpickler or numpy/torch raise on a bad stream
        raise ValueError(f"{source}: corrupt or truncated pickle ({type(error).__name__}: {error})") from error


def load_npy(path: os.PathLike, item: bool = True) -> Any:
    """Read an ``np.save`` file safely; the safe twin of ``np.load(path, allow_pickle=True)``.

    Args:
        path: a ``.npy`` file. Numeric arrays are read directly; object arrays (e.g. a
            saved dict of CAMs) go through the allow-listed unpickler.
        item: for a 0-d object array (what ``np.save(path, some_dict)`` writes), return
            the object inside, like ``.item()``.

    Returns:
        the array, or the stored object when ``item`` and the array is 0-d object.

    Raises:
        UnsafePickleError: the file references a global outside the allow-list
            (nothing from it was executed).
        ValueError: not a ``.npy`` file, truncated, or holds torch tensors while torch
            is not installed; the message names the file.
    """
    path = Path(path)
    source = str(path)
    try:
        info = os.stat(path)
    except FileNotFoundError as error:
        raise FileNotFoundError(f"{source}: file does not exist") from error
    if not stat.S_ISREG(info.st_mode):
        raise ValueError(f"{source}: not a regular file")
    limit = limits().max_file_bytes
    if info.st_size > limit:
        raise ValueError(f"{source}: {info.st_size:,} bytes, more than the limit of {limit:,} "
                         "(raise SAMCAM_MAX_FILE_BYTES if the file is genuine)")
    with open(path, "rb") as handle:
        try:
            shape, _, dtype = read_npy_header(handle)
        except MemoryError:
            raise
        except Exception as error:  # numpy raises ValueError, or whatever literal_eval does on junk
            raise ValueError(f"{source}: not a .npy file ({type(error).__name__}: {error})") from error
        if not dtype.hasobject:
            # numpy would allocate what the header declares before reading: check it first
            needed = math.prod(shape) * dtype.itemsize
            available = info.st_size - handle.tell()
            if dtype.itemsize == 0 and math.prod(shape):
                raise ValueError(f"{source}: .npy of {shape} elements of zero size ({dtype})")
            if needed > available:
                raise ValueError(f"{source}: truncated .npy: its header declares {shape} {dtype} "
                                 f"({needed:,} bytes), the file holds {available:,}")
            handle.seek(0)
            try:
                return npy_format.read_array(handle, allow_pickle=False)
            except MemoryError:
                raise
            except Exception as error:
                raise ValueError(f"{source}: corrupt .npy ({type(error).__name__}: {error})") from error
        # In memory (the file is within SAMCAM_MAX_FILE_BYTES): a length field in the pickle
        # then cannot make the reader allocate more than the file holds.
        array = _load_stream(io.BytesIO(handle.read()), source)
    if not isinstance(array, np.ndarray):
        # np.save always pickles an ndarray; anything else is not what it claims to be.
        raise ValueError(f"{source}: object .npy does not hold an array (got {type(array).__name__})")
    if item and array.shape == ():
        return array.item()
    return array

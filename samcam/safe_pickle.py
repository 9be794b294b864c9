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
* only arrays and dtypes this load created may receive state (BUILD), once;
* every object the pickle builds is charged its size against a budget of twice the
  file's size plus 64 MiB, and the file is refused when the budget is spent: a pickle
  of millions of empty lists (one byte of file each, 64 bytes of memory) fails after
  using a few times its size, instead of 64 times it.

So what a file can make us allocate is bounded in proportion to the file's own size
(at most ``SAMCAM_MAX_FILE_BYTES``, see :mod:`samcam.limits`). These checks are in
:mod:`samcam.pickle_checks`.

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
import struct
import sys
from pathlib import Path
from typing import Any, Callable, Dict, Tuple

import numpy as np
import numpy.lib.format as npy_format

from .io import check_input_file, read_npy_header
from .limits import on_memory_error
from .pickle_checks import (
    UnsafePickleError,
    array_state_fields,
    check_array_data,
    check_dtype_spec,
    check_dtype_state,
    check_frombuffer,
    check_plain_dtype,
    check_scalar,
    check_shape,
    check_tensor_extras,
    check_tensor_geometry,
    tensor_argument_count,
    tensor_layout,
)
from .pickle_checks import refuse as _refuse

__all__ = ["UnsafePickleError", "load_npy", "loads", "ALLOWED_GLOBALS", "BUDGET_PER_FILE_BYTE", "BUDGET_FLOOR"]


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


class _NdarrayClass:
    """Stand-in for ``numpy.ndarray`` in a pickle: only ``_reconstruct`` accepts it.

    The class itself would let a pickle call ``ndarray(shape)`` and allocate any size.
    """

    def __repr__(self) -> str:
        return "<numpy.ndarray (only for _reconstruct)>"


_NDARRAY = _NdarrayClass()


def _latin1_encode(obj: Any, encoding: str = "utf-8", errors: str = "strict") -> bytes:
    # Protocol-2 pickles spell bytes as _codecs.encode(text, "latin1"); nothing else is needed.
    if not isinstance(obj, str) or not isinstance(encoding, str) or encoding.lower().replace("-", "") not in (
        "latin1", "iso88591"
    ):
        raise UnsafePickleError("refused to load: _codecs.encode is allowed only for text -> latin1 bytes")
    return obj.encode("latin1")


# ------------------------------------------------------------------------ memory budget
# What one load may build, in bytes: BUDGET_PER_FILE_BYTE per byte of the pickle plus
# BUDGET_FLOOR. A CAM pickle is a few arrays whose data are byte strings of the file
# (numpy's arrays keep those strings, torch copies them once into its storages): about
# one to two bytes built per byte of file. A hostile one builds many small objects per
# byte instead: 30 MB of EMPTY_LIST opcodes are 30 million lists, 2 GB of memory.
BUDGET_PER_FILE_BYTE = 2
BUDGET_FLOOR = 64 * 2**20
# What each opcode is charged, in bytes: the object it makes and its slot on the stack
# or in the memo (measured with tracemalloc on CPython 3.11, plus a tenth). Opcodes not
# listed make at most an empty dict (72 bytes with its slot).
_OPCODE_COST = [80] * 256
for _code in (pickle.EMPTY_SET, pickle.FROZENSET):
    _OPCODE_COST[_code[0]] = 248  # an empty set is 216 bytes
for _code in (pickle.PUT, pickle.BINPUT, pickle.LONG_BINPUT, pickle.MEMOIZE):
    _OPCODE_COST[_code[0]] = 120  # a memo entry: its key and its share of the memo dict (103)
# Opcodes that take the items above the last MARK into a container, each item charged
# its slot there (a set's or dict's entry, measured up to 72 bytes).
_PER_ITEM_COST = 72
_TAKES_ITEMS = frozenset(code[0] for code in (
    pickle.APPENDS, pickle.SETITEMS, pickle.ADDITEMS, pickle.LIST, pickle.TUPLE, pickle.DICT, pickle.FROZENSET,
    pickle.OBJ, pickle.INST, pickle.APPEND, pickle.SETITEM))
# Opcodes whose result is charged its size as well: the byte strings, numbers and text
# read from the file, and what an allowed global returns (a set of a memoised list,
# text encoded to bytes, ...), which can be any size for a few bytes of opcodes.
_SIZED_RESULTS = frozenset(code[0] for code in (
    pickle.REDUCE, pickle.NEWOBJ, pickle.NEWOBJ_EX, pickle.OBJ, pickle.INST,
    pickle.BINBYTES, pickle.SHORT_BINBYTES, pickle.BINBYTES8, pickle.BYTEARRAY8, pickle.BINUNICODE,
    pickle.SHORT_BINUNICODE, pickle.BINUNICODE8, pickle.BINSTRING, pickle.SHORT_BINSTRING, pickle.STRING,
    pickle.UNICODE, pickle.LONG, pickle.LONG1, pickle.LONG4, pickle.INT, pickle.FLOAT))


def _charged(opcode: int, function: Callable) -> Callable:
    """``function`` (the unpickler's handler of ``opcode``), charging what it builds to the budget."""
    cost = _OPCODE_COST[opcode]
    takes_items, sized = opcode in _TAKES_ITEMS, opcode in _SIZED_RESULTS

    def run(self) -> None:
        self.spend(cost + (_PER_ITEM_COST * len(self.stack) if takes_items else 0))
        function(self)
        if sized and self.stack:
            self.spend(_size_of(self.stack[-1]))

    return run


def _size_of(obj: Any) -> int:
    # torch's objects are charged where their data is made (a storage, when it is loaded;
    # a tensor is a view of one), and asking a TypedStorage its size warns that it is deprecated
    if type(obj).__module__.startswith(_TORCH_PREFIX):
        return 0
    return sys.getsizeof(obj)


class _AllowListUnpickler(pickle._Unpickler):
    """The pure-Python ``pickle`` unpickler, restricted.

    ``find_class`` returns only allow-listed globals, wrapped so their arguments are
    checked (every way a pickle reaches a callable — GLOBAL, STACK_GLOBAL, INST, OBJ,
    EXT* — goes through it), and BUILD (``__setstate__``) is accepted only for the
    dtypes and arrays this load created, after checking the state. Every opcode is
    charged what it builds against a memory budget in proportion to the file's size
    (:func:`_charged`). The pure-Python unpickler is used because the C one offers no
    hook for BUILD or for the budget; CAM pickles hold a few large byte strings, so its
    speed does not matter.
    """

    dispatch = dict(pickle._Unpickler.dispatch)

    def __init__(self, stream, source: str, size: int):
        super().__init__(stream, encoding="latin1")
        self.source = source
        # objects this load made that may receive state (kept alive: ids stay unique)
        self._fresh: Dict[int, Any] = {}
        self._storages: Dict[int, Any] = {}
        self.size = size
        self.budget = BUDGET_FLOOR + BUDGET_PER_FILE_BYTE * size
        self.left = self.budget

    def spend(self, amount: int) -> None:
        """Charge ``amount`` bytes to the budget; refuse the file once it is spent."""
        self.left -= amount
        if self.left < 0:
            raise _refuse(
                self.source,
                f"the pickle builds more than {self.budget:,} bytes of objects, the budget for a file of "
                f"{self.size:,} bytes ({BUDGET_PER_FILE_BYTE} per byte + {BUDGET_FLOOR // 2**20} MiB); a CAM file "
                "holds arrays, not millions of small objects",
            )

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
        guards = {
            ("numpy", "ndarray"): lambda: _NDARRAY,
            ("numpy", "dtype"): lambda: self._new_dtype,
            ("_codecs", "encode"): lambda: _latin1_encode,
        }
        if (module, name) in guards:
            return guards[(module, name)]()
        checked = {"_reconstruct": self._reconstruct, "scalar": self._scalar, "_frombuffer": self._frombuffer}
        if name in checked:
            return lambda *args: checked[name](real, *args)
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
    def _new_dtype(self, spec: Any = None, align: Any = False, copy: Any = False, *rest: Any) -> np.dtype:
        check_dtype_spec(spec, rest, self.source)
        # Always a new dtype object: a later BUILD can never alter numpy's shared ones.
        dtype = np.dtype(spec, bool(align), True)
        check_plain_dtype(dtype, self.source)
        self._fresh[id(dtype)] = dtype
        return dtype

    def _build_dtype(self, dtype: np.dtype, state: Any) -> None:
        check_dtype_state(dtype, state, self.source)
        dtype.__setstate__(state)
        check_plain_dtype(dtype, self.source)

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
        shape, dtype, fortran, data = array_state_fields(state, self.source)
        shape = check_shape(shape, self.source, "array shape")
        dtype = check_plain_dtype(dtype, self.source, "array dtype")
        if not isinstance(fortran, (bool, int)):
            raise _refuse(self.source, "array order flag is not a bool")
        check_array_data(shape, dtype, data, self.source)
        array.__setstate__(state)

    def _scalar(self, real: Callable, dtype: Any = None, value: Any = None, *rest) -> Any:
        dtype = check_plain_dtype(dtype, self.source, "scalar dtype")
        check_scalar(dtype, value, rest, self.source)
        return real(dtype, value)

    def _frombuffer(self, real: Callable, buffer: Any = None, dtype: Any = None, shape: Any = None,
                    order: Any = "C", *rest) -> Any:
        dtype = check_plain_dtype(dtype, self.source, "array dtype")
        shape = check_shape(shape, self.source, "array shape")
        check_frombuffer(buffer, dtype, shape, order, rest, self.source)
        return real(buffer, dtype, shape, order)

    # ------------------------------------------------------------------ torch
    def _load_storage_with(self, loader: Callable[[bytes], Any]) -> Callable[[bytes], Any]:
        def load_storage(payload: bytes) -> Any:
            storage = loader(payload)
            torch = _torch()
            if not isinstance(storage, torch.storage.TypedStorage):
                raise _refuse(self.source, f"a torch storage payload holds {type(storage).__name__}, not a storage")
            self.spend(storage._untyped_storage.nbytes())  # torch copied the payload
            self._storages[id(storage)] = storage
            return storage

        return load_storage

    def _rebuild_tensor(self, real: Callable, name: str, *args: Any) -> Any:
        torch = _torch()
        tensor_argument_count(name, args, self.source)
        storage = args[0]
        if self._storages.get(id(storage)) is not storage:
            raise _refuse(self.source, "a tensor whose storage did not come from the file's storage bytes")
        offset, size, stride = tensor_layout(args, self.source)
        dtype = storage.dtype
        if name == "_rebuild_tensor_v3":
            dtype = args[6]
            if not isinstance(dtype, torch.dtype):
                raise _refuse(self.source, "tensor dtype is not a torch dtype")
        # counted from the untyped bytes: TypedStorage.size() warns that it is deprecated
        available = storage._untyped_storage.nbytes() // torch._utils._element_size(dtype)
        check_tensor_geometry(size, stride, offset, available, self.source)
        check_tensor_extras(name, args, self.source)
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
    dispatch = {opcode: _charged(opcode, function) for opcode, function in dispatch.items()}


def loads(payload: bytes, source: str = "<bytes>") -> Any:
    """Unpickle ``payload`` with the allow-list. ``source`` names it in errors.

    What the pickle may build is bounded by ``len(payload)`` (see :data:`BUDGET_PER_FILE_BYTE`).
    """
    return _load_stream(io.BytesIO(payload), source, len(payload))


def _load_stream(stream, source: str, size: int) -> Any:
    try:
        return _AllowListUnpickler(stream, source, size).load()
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
            saved dict of CAMs) go through the allow-listed unpickler, whose memory is
            bounded in proportion to the file's size.
        item: for a 0-d object array (what ``np.save(path, some_dict)`` writes), return
            the object inside, like ``.item()``.

    Returns:
        the array, or the stored object when ``item`` and the array is 0-d object.

    Raises:
        UnsafePickleError: the file references a global outside the allow-list, or
            builds more than its budget (nothing from it was executed).
        ImageError: the file is not a regular file, is above ``SAMCAM_MAX_FILE_BYTES``,
            or memory ran out while reading it (a ValueError).
        ValueError: not a ``.npy`` file, truncated, or holds torch tensors while torch
            is not installed; the message names the file.
    """
    path = Path(path)
    size = check_input_file(path, ".npy file")
    with on_memory_error(path, ".npy file"):
        return _load_npy(path, size, item)


def _load_npy(path: Path, size: int, item: bool) -> Any:
    source = str(path)
    with open(path, "rb") as handle:
        shape, dtype = _npy_header(handle, source)
        if not dtype.hasobject:
            return _read_numeric_npy(handle, source, shape, dtype, size)
        # In memory (the file is within SAMCAM_MAX_FILE_BYTES): a length field in the pickle
        # then cannot make the reader allocate more than the file holds.
        array = _load_stream(io.BytesIO(handle.read()), source, size)
    if not isinstance(array, np.ndarray):
        # np.save always pickles an ndarray; anything else is not what it claims to be.
        raise ValueError(f"{source}: object .npy does not hold an array (got {type(array).__name__})")
    if item and array.shape == ():
        return array.item()
    return array


def _npy_header(handle, source: str) -> Tuple[Tuple[int, ...], np.dtype]:
    try:
        shape, _, dtype = read_npy_header(handle)
    except MemoryError:
        raise
    except Exception as error:  # numpy raises ValueError, or whatever literal_eval does on junk
        raise ValueError(f"{source}: not a .npy file ({type(error).__name__}: {error})") from error
    return shape, dtype


def _read_numeric_npy(handle, source: str, shape: Tuple[int, ...], dtype: np.dtype, size: int) -> np.ndarray:
    # numpy would allocate what the header declares before reading: check it first
    needed = math.prod(shape) * dtype.itemsize
    available = size - handle.tell()
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

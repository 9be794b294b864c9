"""Load pickled CAM ``.npy`` files without running code from them.

WSSS methods save CAMs with ``np.save(path, dict)``, which pickles the dict; reading
them back with ``np.load(path, allow_pickle=True)`` executes whatever callables the
pickle names, so a CAM file downloaded from someone else could run any code. This
module reads the same files with an allow-listed unpickler: only the globals that
plain data needs (numpy arrays, dtypes and scalars, ``OrderedDict``, torch tensors and
their storages) may be referenced; any other global is refused with
:class:`UnsafePickleError` before anything is called.

torch is needed only for files that hold torch tensors (IRN, AMN, CLIMS). A torch
storage inside a plain pickle is stored as bytes for ``torch.storage._load_from_bytes``,
which would hand them to ``torch.load(weights_only=False)`` — a second, unrestricted
unpickler. We never call it: those bytes go to ``torch.load(weights_only=True)``,
torch's own allow-listed loader.
"""
from __future__ import annotations

import importlib
import io
import os
import pickle
import re
from pathlib import Path
from typing import Any, Callable, Dict, Tuple

import numpy as np
import numpy.lib.format as npy_format

__all__ = ["UnsafePickleError", "load_npy", "loads", "ALLOWED_GLOBALS"]


class UnsafePickleError(ValueError):
    """A pickle asked for a global that is not on the allow-list; nothing was executed."""


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


class _AllowListUnpickler(pickle.Unpickler):
    """``pickle.Unpickler`` whose ``find_class`` only returns allow-listed globals.

    Every way a pickle can reach a callable (GLOBAL, STACK_GLOBAL, INST, OBJ, EXT*)
    goes through ``find_class``, so refusing there refuses before any call.
    """

    def __init__(self, stream, source: str):
        super().__init__(stream, encoding="latin1")
        self.source = source

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
                return _storage_loader(self.source)
            return resolver(name)
        except ImportError as error:
            if module.split(".")[0] == _TORCH_PREFIX:
                raise ValueError(
                    f"{self.source}: this file holds torch tensors (it references "
                    f"'{module}.{name}'); install torch to read it (pip install torch)"
                ) from error
            raise ValueError(f"{self.source}: cannot import '{module}.{name}' ({error})") from error
        except AttributeError as error:
            raise UnsafePickleError(f"{self.source}: refused to load: '{module}.{name}' ({error})") from error

    def persistent_load(self, pid: Any) -> Any:
        # np.save never writes persistent ids; torch.save files are not CAM .npy files.
        raise UnsafePickleError(
            f"{self.source}: refused to load: the pickle uses persistent id {pid!r} "
            "(a torch.save file, not an np.save .npy?)"
        )


def loads(payload: bytes, source: str = "<bytes>") -> Any:
    """Unpickle ``payload`` with the allow-list. ``source`` names it in errors."""
    return _load_stream(io.BytesIO(payload), source)


def _load_stream(stream, source: str) -> Any:
    try:
        return _AllowListUnpickler(stream, source).load()
    except UnsafePickleError:
        raise
    except ValueError as error:
        if str(error).startswith(source):
            raise
        raise ValueError(f"{source}: cannot unpickle ({error})") from error
    except (pickle.UnpicklingError, EOFError, TypeError, AttributeError, IndexError, KeyError, RuntimeError) as error:
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
        with open(path, "rb") as handle:
            try:
                version = npy_format.read_magic(handle)
                if hasattr(npy_format, "_read_array_header"):  # knows every version (3.0: utf-8 header)
                    _, _, dtype = npy_format._read_array_header(handle, version)
                elif version == (1, 0):
                    _, _, dtype = npy_format.read_array_header_1_0(handle)
                else:
                    _, _, dtype = npy_format.read_array_header_2_0(handle)
            except ValueError as error:
                raise ValueError(f"{source}: not a .npy file ({error})") from error
            if not dtype.hasobject:
                handle.seek(0)
                return npy_format.read_array(handle, allow_pickle=False)
            array = _load_stream(handle, source)
    except FileNotFoundError as error:
        raise FileNotFoundError(f"{source}: file does not exist") from error
    if not isinstance(array, np.ndarray):
        # np.save always pickles an ndarray; anything else is not what it claims to be.
        raise ValueError(f"{source}: object .npy does not hold an array (got {type(array).__name__})")
    if item and array.shape == ():
        return array.item()
    return array

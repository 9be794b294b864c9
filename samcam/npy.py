"""The header of a ``.npy`` stream, read without trusting it (samcam's readers check the
shape and dtype it declares against their limits before reading any data)."""
from __future__ import annotations

import numpy.lib.format as npy_format

__all__ = ["read_npy_header"]


def read_npy_header(handle) -> tuple:
    """``(shape, fortran_order, dtype)`` from the header of the ``.npy`` stream ``handle``.

    Leaves ``handle`` at the start of the data. Versions 1.0 and 2.0 (what ``np.save``
    writes for anything but unicode field names); ``ValueError`` for anything else.
    """
    version = npy_format.read_magic(handle)
    if version not in ((1, 0), (2, 0)):
        raise ValueError(f".npy format version {version[0]}.{version[1]} is not supported")
    try:
        if version == (1, 0):
            return npy_format.read_array_header_1_0(handle)
        return npy_format.read_array_header_2_0(handle)
    except (MemoryError, ValueError):
        raise
    except Exception as error:  # numpy lets tokenizer and literal_eval errors of a junk header through
        raise ValueError(f"corrupt .npy header ({type(error).__name__}: {error})") from error

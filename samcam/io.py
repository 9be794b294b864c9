"""The file helpers' former home, kept so that ``from samcam.io import read_label_png`` works.

Each helper lives in the module named for what it does:

* :mod:`samcam.files`: atomic writes, the temp files killed runs leave, input file checks;
* :mod:`samcam.images`: label PNGs, RGB images, the VOC palette, pixel limits;
* :mod:`samcam.names`: image names, list files, folder listings, names in messages;
* :mod:`samcam.npy`: ``.npy`` headers;
* :mod:`samcam.outputs`: the guard that keeps every output off the inputs.
"""
from __future__ import annotations

from .files import TEMP_SUFFIX, atomic_write_bytes, check_input_file, clean_stale_temp_files
from .images import (
    IMAGE_FORMATS,
    IMAGE_SUFFIXES,
    PNG_SIGNATURE,
    check_pixels,
    encode_label_png,
    find_image,
    open_png,
    read_image,
    read_label_png,
    voc_palette,
    write_label_png,
)
from .names import check_name, list_names, read_name_list, unique_names
from .npy import read_npy_header
from .outputs import ensure_not_inside

__all__ = [
    "atomic_write_bytes",
    "clean_stale_temp_files",
    "TEMP_SUFFIX",
    "encode_label_png",
    "write_label_png",
    "read_label_png",
    "open_png",
    "check_input_file",
    "check_pixels",
    "read_name_list",
    "check_name",
    "unique_names",
    "list_names",
    "voc_palette",
    "ensure_not_inside",
    "IMAGE_SUFFIXES",
    "IMAGE_FORMATS",
    "PNG_SIGNATURE",
    "find_image",
    "read_image",
    "read_npy_header",
]

"""User-facing errors (samcam.errors): a per-image ImageError, and the write errors that stop a
batch (``OutputError.fatal``) rather than fail every remaining image alike."""
from __future__ import annotations

import errno
import os

import pytest

from samcam.errors import FATAL_WRITE_ERRNOS, ImageError, OutputError


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EROFS, errno.EACCES, errno.EPERM, errno.EIO, errno.ENOENT,
                                  errno.ENOTDIR])
def test_errors_of_the_whole_folder_are_fatal(code):
    error = OutputError(code, os.strerror(code), "out/a.png")
    assert error.fatal and code in FATAL_WRITE_ERRNOS
    assert error.filename == "out/a.png" and isinstance(error, OSError)


@pytest.mark.parametrize("code", [errno.EINVAL, errno.ENAMETOOLONG, errno.EEXIST, None])
def test_errors_of_one_file_are_not_fatal(code):
    error = OutputError(code, "x", "out/a.png") if code is not None else OutputError("no errno")
    assert not error.fatal


def test_an_image_error_is_a_value_error():
    with pytest.raises(ValueError, match="a.png: bad"):
        raise ImageError("a.png: bad")

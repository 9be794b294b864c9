"""``samcam`` with each image slowed down, so that the chaos tests can kill it mid-batch.

    python tests/support/chaos_driver.py refine --pseudo ... --out ... --workers 2

Each image's refinement sleeps SAMCAM_CHAOS_DELAY seconds (default 0.03) and each
output write SAMCAM_CHAOS_WRITE_DELAY seconds between writing its temp file and moving
it into place, so a kill often lands mid-write. Worker processes inherit the patches
(they fork from this process). Nothing else differs from ``samcam``.
"""
from __future__ import annotations

import os
import sys
import time

import samcam.adapters.run
import samcam.folders
from samcam.cli import main

DELAY = float(os.environ.get("SAMCAM_CHAOS_DELAY", "0.03"))
WRITE_DELAY = float(os.environ.get("SAMCAM_CHAOS_WRITE_DELAY", "0.01"))


def _slowed(function, delay):
    def slow(*args, **kwargs):
        time.sleep(delay)
        return function(*args, **kwargs)

    return slow


samcam.folders.refine_counted = _slowed(samcam.folders.refine_counted, DELAY)
samcam.adapters.run.refine_counted = _slowed(samcam.adapters.run.refine_counted, DELAY)
os.fsync = _slowed(os.fsync, WRITE_DELAY)  # the temp file exists, the output does not yet

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

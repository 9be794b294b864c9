"""What the readers cost on the three small-file memory bombs of issue 21: peak memory
and time of reading each, in a fresh subprocess per file (clean peak numbers).

* ``cam_pickle``: a 30 MB CAM ``.npy`` whose pickle holds 30 million empty lists
  (one byte of file each);
* ``rle_json``: 60 MB of ``[[],[],...]`` given as an amg.py RLE JSON;
* ``metadata_csv``: an amg.py folder of one mask PNG whose ``metadata.csv`` has 62 MB
  of rows (distinct ids).

Each is read the way a batch reads it (``samcam.safe_pickle.load_npy``,
``samcam.masks.load``), with the default limits. Printed per bomb: file size, peak
resident memory of the reading process (VmHWM) above what it held after its imports, wall
time, and the outcome (the error's first 110 characters, or what was read). The
subprocess's address space is capped (``--cap-gb``, default 6) so a reader without a
budget fails with MemoryError instead of exhausting the machine.

    python benchmarks/bench_reader_bombs.py                 # all three, full size
    python benchmarks/bench_reader_bombs.py --scale 0.1     # a tenth of the size
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
import hostile  # noqa: E402  (the bombs' builders, shared with the tests)

CHILD = textwrap.dedent(r"""
    import json, re, resource, sys, time
    kind, path, cap = sys.argv[1], sys.argv[2], int(sys.argv[3])
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    from samcam import masks
    from samcam.safe_pickle import load_npy

    def status(field):
        with open("/proc/self/status") as handle:
            return int(re.search(field + r":\s+(\d+)", handle.read()).group(1))

    with open("/proc/self/clear_refs", "w") as handle:
        handle.write("5")  # resets the peak (VmHWM) to what is resident now
    base = status("VmRSS")
    start = time.perf_counter()
    try:
        value = load_npy(path) if kind == "cam_pickle" else masks.load(path)
        outcome = f"read: {type(value).__name__}"
    except BaseException as error:
        outcome = f"{type(error).__name__}: {str(error).replace(path, '<file>')}"
    elapsed = time.perf_counter() - start
    peak = status("VmHWM")
    print(json.dumps({"seconds": elapsed, "peak_mb": (peak - base) / 1024, "outcome": outcome}))
""")


def make_cam_pickle(folder: Path, size: int) -> Path:
    """np.save's 0-d object array around {"high_res": [[], [], ...]}: ``size`` empty lists."""
    return hostile.npy_from_pickle(folder / "bomb.npy", hostile.empty_lists_pickle(size))


def make_rle_json(folder: Path, size: int) -> Path:
    path = folder / "bomb.json"
    path.write_bytes(hostile.json_of_empty_lists(size))
    return path


def make_metadata_csv(folder: Path, size: int) -> Path:
    amg = folder / "bomb"
    amg.mkdir()
    Image.fromarray(np.zeros((8, 10), np.uint8)).save(amg / "0.png")
    # distinct ids, as amg.py writes them; a row of 6- and 7-digit ids is about 50 bytes
    (amg / "metadata.csv").write_text(hostile.amg_metadata_rows(size // 50))
    return amg


BOMBS = {"cam_pickle": (make_cam_pickle, 30_000_000), "rle_json": (make_rle_json, 60_000_000),
         "metadata_csv": (make_metadata_csv, 62_000_000)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of the full bomb sizes")
    parser.add_argument("--cap-gb", type=float, default=6.0, help="address-space cap of each reading process")
    parser.add_argument("--only", nargs="*", choices=sorted(BOMBS), help="bombs to run (default: all)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for kind in args.only or BOMBS:
            make, size = BOMBS[kind]
            path = make(Path(tmp), int(size * args.scale))
            on_disk = sum(p.stat().st_size for p in ([path] if path.is_file() else path.iterdir()))
            result = subprocess.run([sys.executable, "-c", CHILD, kind, str(path), str(int(args.cap_gb * 2**30))],
                                    capture_output=True, text=True, env={"PYTHONPATH": str(REPO)}, cwd=REPO)
            if result.returncode:
                print(f"{kind}: the reading process failed ({result.returncode}): {result.stderr[-300:]}")
                continue
            numbers = json.loads(result.stdout.strip().splitlines()[-1])
            print(f"{kind:13s} {on_disk / 1e6:6.1f} MB on disk  peak +{numbers['peak_mb']:7.0f} MB  "
                  f"{numbers['seconds']:6.2f} s  {numbers['outcome'][:110]}")


if __name__ == "__main__":
    main()

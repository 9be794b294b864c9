"""Memory and speed of ``samcam coco-gt`` on a COCO-shaped instances file (prints numbers, not a test).

The file is synthetic, with train2014's counts (82,783 images, 604,907 annotations, 80
categories) and polygons written as the real file writes them (2 decimals, ``--coords``
numbers per polygon); 1% of the annotations are crowds with uncompressed RLE. Each step
runs in a fresh process so that its peak resident memory (``ru_maxrss``) is its own:

* loading: :func:`samcam.datasets.coco.load_instances` (the file read whole and indexed);
* converting ``--convert`` images with ``--workers`` processes: images/s, the parent's
  peak and the largest worker's peak.

Run: ``python benchmarks/bench_coco_gt.py [--images 82783] [--annotations 604907] [--coords 40]
[--convert 2000] [--workers 2]``.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np

COCO_IDS = [i for i in range(1, 91) if i not in (12, 26, 29, 30, 45, 66, 68, 69, 71, 83)]


def write_instances(path: Path, images: int, annotations: int, coords: int, seed: int = 0) -> None:
    """Stream a COCO-shaped instances file to ``path`` (never the whole thing in memory)."""
    rng = np.random.default_rng(seed)
    heights = rng.integers(240, 641, images)
    widths = rng.integers(240, 641, images)
    owners = np.sort(rng.integers(0, images, annotations))  # annotations grouped by image, as COCO's are
    with open(path, "w", encoding="utf-8") as handle:
        handle.write('{"info": {}, "licenses": [], "images": [')
        handle.write(", ".join(json.dumps({"license": 1, "file_name": f"COCO_train2014_{i + 1:012d}.jpg",
                                           "height": int(heights[i]), "width": int(widths[i]), "id": i + 1})
                               for i in range(images)))
        handle.write('], "annotations": [')
        for index, owner in enumerate(owners):
            height, width = int(heights[owner]), int(widths[owner])
            crowd = rng.random() < 0.01
            if crowd:
                runs = rng.integers(1, 400, 60)
                runs[-1] += height * width - int(runs.sum())
                segmentation = {"counts": [int(r) for r in runs] if runs[-1] > 0 else [height * width],
                                "size": [height, width]}
            else:
                cy, cx, radius = rng.uniform(0, height), rng.uniform(0, width), rng.uniform(5, 120)
                angles = np.sort(rng.uniform(0, 2 * np.pi, coords // 2))
                xy = np.stack([cx + radius * np.cos(angles), cy + radius * np.sin(angles)], 1).ravel()
                segmentation = [[round(float(v), 2) for v in np.clip(xy, 0, max(height, width))]]
            entry = {"segmentation": segmentation, "area": 1234.5, "iscrowd": int(crowd), "image_id": int(owner) + 1,
                     "bbox": [1.0, 2.0, 3.0, 4.0], "category_id": int(rng.choice(COCO_IDS)), "id": 100000 + index}
            handle.write((", " if index else "") + json.dumps(entry))
        handle.write('], "categories": [')
        handle.write(", ".join(json.dumps({"supercategory": "x", "id": c, "name": f"c{c}"}) for c in COCO_IDS))
        handle.write("]}")


def run_step(code: str) -> dict:
    """Run ``code`` in a fresh Python; it prints one JSON line of results."""
    probe = textwrap.dedent("""
        import json, resource, sys, time
        start = time.perf_counter()
    """) + textwrap.dedent(code) + textwrap.dedent("""
        result["seconds"] = time.perf_counter() - start
        result["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        result["children_peak_mb"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        print(json.dumps(result))
    """)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).resolve().parents[1])] + sys.path)
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=82783)
    parser.add_argument("--annotations", type=int, default=604907)
    parser.add_argument("--coords", type=int, default=40, help="numbers per polygon (x, y pairs)")
    parser.add_argument("--convert", type=int, default=2000, help="images converted in the speed step")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    print(f"python {platform.python_version()}, {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "instances_train2014.json"
        start = time.perf_counter()
        write_instances(path, args.images, args.annotations, args.coords)
        size_mb = path.stat().st_size / 1e6
        print(f"synthetic instances file: {args.images:,} images, {args.annotations:,} annotations, "
              f"{size_mb:.0f} MB ({time.perf_counter() - start:.0f} s to write)")
        baseline = run_step("import samcam.datasets.coco\nresult = {}")
        load = run_step(f"""
            from samcam.datasets.coco import load_instances
            loaded = load_instances({str(path)!r})
            result = {{"annotations": loaded.num_annotations}}
        """)
        print(f"load: {load['seconds']:.1f} s, peak {load['peak_mb']:.0f} MB "
              f"({load['peak_mb'] - baseline['peak_mb']:.0f} MB above a bare import; "
              f"{(load['peak_mb'] - baseline['peak_mb']) / size_mb:.1f}x the file)")
        names = Path(tmp) / "list.txt"
        names.write_text("\n".join(str(i + 1) for i in range(min(args.convert, args.images))) + "\n")
        convert = run_step(f"""
            from samcam.datasets.coco import coco_gt
            t = time.perf_counter()
            res = coco_gt({str(path)!r}, {str(Path(tmp) / 'gt')!r}, naming="id", list_file={str(names)!r},
                          workers={args.workers})
            result = {{"written": len(res.done), "failed": len(res.failed)}}
        """)
        print(f"convert {convert['written']} images (failed {convert['failed']}) with {args.workers} worker(s): "
              f"{convert['seconds']:.1f} s in all (load included), parent peak {convert['peak_mb']:.0f} MB, "
              f"largest worker peak {convert['children_peak_mb']:.0f} MB")
        per_image = (convert["seconds"] - load["seconds"]) / max(convert["written"], 1)
        print(f"about {per_image * 1000:.1f} ms per image after loading ({args.workers} workers): "
              f"{per_image * args.images / 60:.0f} min for {args.images:,} images")
    print(f"peak RSS of the whole benchmark process: "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()

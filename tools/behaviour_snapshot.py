"""Fingerprint what samcam produces, to show a refactor changed no behaviour.

Writes ``OUT/manifest.txt``: one line ``sha256  path`` for every file ``samcam demo``
writes (volatile files, the report's HTML and records holding times and paths, are
normalised first: numbers of seconds and absolute paths are masked), then one line per
rule-benchmark grid cell (every variant on ``--scenes`` scenes of every family: the
per-scene confusion counts). Run it before and after a change and ``diff`` the two
manifests::

    python tools/behaviour_snapshot.py /tmp/before
    python tools/behaviour_snapshot.py /tmp/after
    diff /tmp/before/manifest.txt /tmp/after/manifest.txt && echo identical
"""
from __future__ import annotations

import argparse
import hashlib
import os
import re
import subprocess
import sys
from pathlib import Path

# The scene families and variants moved out of the package into benchmarks/.
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "benchmarks"))

VOLATILE = (".html", ".json", ".csv", ".txt", ".py")


def _normalised(path: Path, root: Path) -> bytes:
    data = path.read_bytes()
    if path.suffix not in VOLATILE:
        return data
    text = data.decode("utf-8", "replace").replace(str(root.resolve()), "<OUT>").replace(str(root), "<OUT>")
    text = re.sub(r'"(started|finished|date|time|created|wall_seconds|seconds|elapsed)[a-z_]*": *[^,}\n]+',
                  r'"\1": <T>', text)
    text = re.sub(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(\.\d+)?([+-]\d\d:\d\d|Z)?", "<DATE>", text)
    text = re.sub(r"\b\d+(\.\d+)? ?(s|ms|seconds)\b", "<SECONDS>", text)
    text = re.sub(r'"(version|samcam|python|numpy|host|user|pid|platform|machine)": *"[^"]*"', r'"\1": <V>', text)
    # samcam.json's fingerprint of an input folder without a record digests its files' modification times
    text = re.sub(r'"sha256": *"[0-9a-f]{64}"', '"sha256": <H>', text)
    return text.encode()


def snapshot_demo(out: Path) -> list:
    demo = out / "demo"
    if demo.exists():  # a second demo run adds to samcam.json's history: the hashes would differ
        sys.exit(f"{demo} exists: give a new folder, not one of an earlier snapshot")
    subprocess.run([sys.executable, "-m", "samcam", "demo", "--out", str(demo), "--no-progress"], check=True,
                   cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    lines = []
    for path in sorted(p for p in demo.rglob("*") if p.is_file()):
        digest = hashlib.sha256(_normalised(path, demo)).hexdigest()
        lines.append(f"{digest}  demo/{path.relative_to(demo).as_posix()}")
    return lines


def snapshot_grid(scenes: int) -> list:
    try:
        from rule_quality import VARIANTS, family_stats
        from scenes import FAMILIES
    except ImportError:  # before the benchmark left the package
        from samcam.demo.quality import VARIANTS, family_stats
        from samcam.demo.scenes import FAMILIES
    lines = []
    for family in sorted(FAMILIES):
        stats = family_stats(family, scenes, VARIANTS, seed=3)
        for position, variant in enumerate(VARIANTS):
            digest = hashlib.sha256(stats[:, position].astype("<i8").tobytes()).hexdigest()
            lines.append(f"{digest}  grid/{family}/{variant.name}")
    return lines + snapshot_concept_grid(scenes)


def snapshot_concept_grid(scenes: int) -> list:
    """The concept rule's grid (SAM 3's masks, the sam3_* families), where the benchmark has it."""
    try:
        from rule_quality import CONCEPT_VARIANTS, family_stats
        from scenes import CONCEPT_FAMILIES
    except ImportError:  # before the concept families
        return []
    lines = []
    for family in sorted(CONCEPT_FAMILIES):
        stats = family_stats(family, scenes, CONCEPT_VARIANTS, seed=3)
        for position, variant in enumerate(CONCEPT_VARIANTS):
            digest = hashlib.sha256(stats[:, position].astype("<i8").tobytes()).hexdigest()
            lines.append(f"{digest}  concept-grid/{family}/{variant.name}")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--scenes", type=int, default=6, help="scenes per family in the grid (default 6)")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    lines = snapshot_demo(args.out) + snapshot_grid(args.scenes)
    (args.out / "manifest.txt").write_text("\n".join(lines) + "\n")
    print(f"{len(lines)} fingerprints in {args.out / 'manifest.txt'}")


if __name__ == "__main__":
    main()

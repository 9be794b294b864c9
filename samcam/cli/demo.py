"""``samcam demo``: the whole pipeline on a small SYNTHETIC dataset (:func:`samcam.demo.run.run_demo`)."""
from __future__ import annotations

import argparse

from ..demo.run import LAYOUT, run_demo
from ..evaluate import format_table
from ..outputs import check_outputs
from .common import positive_int


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "demo", help="run the whole pipeline on a small SYNTHETIC dataset (no download)",
        description="Builds a small synthetic VOC-style dataset (rendered shapes, IRN-style CAMs with partial "
                    "and false activation), makes weight-free mask proposals, refines and prints mIoU "
                    "before/after. The data is synthetic; the numbers say nothing about VOC.",
        epilog="example (what make demo runs; the command lists each folder it wrote and the flag that reads it):\n"
               "  samcam demo --out out/demo")
    parser.add_argument("--out", default="out/demo", metavar="DIR", help="where to build it (default out/demo)")
    parser.add_argument("--num-images", type=positive_int, default=40, metavar="N",
                        help="number of synthetic images (default 40)")
    parser.add_argument("--seed", type=int, default=0, metavar="N", help="random seed (default 0)")
    parser.add_argument("--workers", type=positive_int, default=1, metavar="N", help="worker processes (default 1)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    check_outputs(folders={"--out": args.out})  # a file there is refused before anything is built
    demo = run_demo(args.out, num_images=args.num_images, seed=args.seed, workers=args.workers,
                    progress=not args.no_progress, command=args.command_line)
    print(format_table(demo.results, baseline="cam"))
    print("\n" + demo.summary())
    print("what it wrote there, and what reads it:")
    for path, what in LAYOUT:
        print(f"  {path:<24} {what}")
    print(f"report: {demo.report} (open it in a browser)")
    return 0

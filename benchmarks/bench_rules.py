"""Which refinement rule is better, with intervals (prints numbers, not a test).

Runs every rule variant on ``--scenes`` synthetic scenes of each scene family
(``benchmarks/scenes.py``), one confusion matrix per family, and prints each variant's
mIoU difference to ``official`` with a paired bootstrap 95% interval, per family and
pooled, then the decision rule for the default (docs/rule.md, "Rule quality"):

    ``samcam`` stays the default only if its pooled interval lies above zero and no
    family's interval lies wholly below zero; otherwise ``official`` becomes the default.

Per-scene counts are cached under ``--cache`` (keyed by the variant and a hash of the
code that makes the numbers), so a rerun only computes what changed.

Run: ``python benchmarks/bench_rules.py [--scenes 500] [--seed 1] [--workers 2]``;
``--tried`` runs the rules tried for the default and not kept, on the tuning families
at the tuning seed (0). ``--concepts`` runs the ``concept`` rule on SAM 3's simulated
concept masks (the ``sam3_*`` families) against the rules on SAM's masks
(docs/sam3.md); with ``--tried``, the concept rule's parameters tried.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")  # the workers are the parallelism

import numpy as np

# benchmarks/ is sys.path[0] when this file is run as a script
from rule_quality import (
    CONCEPT_TRIED,
    CONCEPT_TUNED_FAMILIES,
    CONCEPT_VARIANTS,
    TRIED,
    TUNED_FAMILIES,
    VARIANTS,
    compare,
    format_table,
)
from scenes import CONCEPT_FAMILIES, FAMILIES, SAM_FAMILIES

DEFAULT_VARIANT = "samcam (default)"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scenes", type=int, default=500, help="scenes per family (default 500)")
    parser.add_argument("--seed", type=int, default=None,
                        help="scene seed (default 1; the default's parameters were tuned on seed 0)")
    parser.add_argument("--families", nargs="+", choices=sorted(FAMILIES),
                        help="default: every family of the table (--concepts: the sam3_* families)")
    parser.add_argument("--workers", type=int, default=2, help="processes (default 2)")
    parser.add_argument("--resamples", type=int, default=2000, help="bootstrap resamples (default 2000)")
    parser.add_argument("--cache", default="out/bench_rules_cache", help="per-scene count cache folder")
    parser.add_argument("--no-cache", action="store_true", help="compute everything, write no cache")
    parser.add_argument("--tried", action="store_true",
                        help="the rules tried for the default and not kept (tuning families, seed 0)")
    parser.add_argument("--concepts", action="store_true",
                        help="the concept rule on SAM 3's concept masks (the sam3_* families)")
    parser.add_argument("--reference", default="official",
                        help="the variant differences are taken to (default official)")
    parser.add_argument("--json", metavar="FILE", help="also write the numbers as JSON")
    return parser


def _plan(args):
    """(variants, tuning families, families to run) for the chosen table."""
    if args.concepts:
        variants = CONCEPT_TRIED if args.tried else CONCEPT_VARIANTS
        default = CONCEPT_TUNED_FAMILIES if args.tried else CONCEPT_FAMILIES
        return variants, CONCEPT_TUNED_FAMILIES, list(args.families or default)
    variants = TRIED if args.tried else VARIANTS
    default = TUNED_FAMILIES if args.tried else SAM_FAMILIES
    return variants, TUNED_FAMILIES, list(args.families or default)


def _print_decision(comparison) -> None:
    """The decision rule for the default (module docstring), from the comparison to ``official``."""
    _, diff, low, high = comparison.row("pooled", DEFAULT_VARIANT)
    below = [g for g in comparison.groups[:-1] if comparison.row(g, DEFAULT_VARIANT)[3] < 0]
    verdict = "keeps" if comparison.decides_for(DEFAULT_VARIANT) else "FAILS"
    print(f"\ndecision: samcam {verdict} the default: pooled {100 * diff:+.2f} "
          f"[{100 * low:+.2f}, {100 * high:+.2f}] (must lie above 0); "
          f"families wholly below 0: {', '.join(below) or 'none'}")


def _write_json(path: str, comparison, seed: int, wall: float) -> None:
    payload = {"groups": comparison.groups, "variants": comparison.variants, "reference": comparison.reference,
               "miou": comparison.miou.tolist(), "diff": comparison.diff.tolist(),
               "low": comparison.low.tolist(), "high": comparison.high.tolist(),
               "num_scenes": comparison.num_scenes, "seed": seed, "resamples": comparison.resamples,
               "wall_seconds": wall}
    Path(path).write_text(json.dumps(payload, indent=1))


def main() -> None:
    args = _parser().parse_args()
    variants, tuned, families = _plan(args)
    seed = args.seed if args.seed is not None else (0 if args.tried else 1)
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, {args.workers} worker processes, "
          f"Python {platform.python_version()}, numpy {np.__version__}")
    print(f"{args.scenes} scenes per family, seed {seed}, {args.resamples} bootstrap resamples; "
          f"tuned on {', '.join(tuned)} (seed 0)")
    start = time.perf_counter()
    comparison = compare(variants, families, args.scenes, seed=seed, reference=args.reference,
                         resamples=args.resamples,
                         workers=args.workers, cache_dir=None if args.no_cache else Path(args.cache),
                         progress=True)
    wall = time.perf_counter() - start
    print(f"wall time: {wall:.0f} s (cached counts are reused)\n")
    print(f"mIoU points: {args.reference}'s mIoU, and each variant minus {args.reference} "
          "[95% paired bootstrap interval]")
    print(format_table(comparison, tuned))
    if not args.tried and args.reference == "official" and DEFAULT_VARIANT in comparison.variants:
        _print_decision(comparison)
    if args.json:
        _write_json(args.json, comparison, seed, wall)


if __name__ == "__main__":
    main()

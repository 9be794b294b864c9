"""The report's charts, as PNG bytes: per-class IoU bars and the mask source comparison.

They use matplotlib's Agg canvas directly, never pyplot, so they change no global
backend of a caller's session and need no display.
"""
from __future__ import annotations

import io
import math
from typing import Mapping, Optional, Sequence

from .page import percent

__all__ = ["plot_per_class_iou", "plot_mask_sources", "SET_COLOURS"]

# Colours of the label sets in the chart: first (before) grey, second (after) blue, ...
SET_COLOURS = ("#9e9e9e", "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2")


def _figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(figure)
    return figure


def _png(figure) -> bytes:
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def plot_per_class_iou(sets: Mapping[str, Mapping[str, object]], names: Sequence[str],
                       colours: Optional[Mapping[str, str]] = None) -> bytes:
    """PNG bytes of a grouped bar chart: per-class IoU (%) of every label set.

    ``sets`` maps set name -> metrics with ``iou`` (C floats, NaN = class absent) and
    ``miou``; ``colours`` set name -> colour (default: :data:`SET_COLOURS` in order).
    """
    set_names = list(sets)
    count = len(names)
    width = 0.8 / max(1, len(set_names))
    figure = _figure(max(6.0, 0.5 * count + 1.5), 4.2)
    axes = figure.add_subplot(1, 1, 1)
    for index, set_name in enumerate(set_names):
        values = [100 * v if not math.isnan(v) else 0.0 for v in (float(x) for x in sets[set_name]["iou"])]
        positions = [c + (index - (len(set_names) - 1) / 2) * width for c in range(count)]
        miou = float(sets[set_name]["miou"])
        colour = (colours or {}).get(set_name) or SET_COLOURS[index % len(SET_COLOURS)]
        axes.bar(positions, values, width, label=f"{set_name} (mIoU {percent(miou)})", color=colour)
    axes.set_xticks(range(count))
    axes.set_xticklabels(names, rotation=45, ha="right", fontsize=9)
    axes.set_ylabel("IoU (%)")
    axes.set_ylim(0, 100)
    axes.set_xlim(-0.6, count - 0.4)
    axes.grid(axis="y", alpha=0.3)
    # Legend above the axes: inside, it would hide bars near 100%.
    axes.legend(loc="lower center", bbox_to_anchor=(0.5, 1.01), ncol=min(4, len(set_names)), fontsize=9, frameon=False)
    return _png(figure)


def _masks_per_image(axes, sources, names, colours) -> None:
    data = [sources[n]["counts"] or [0] for n in names]
    boxes = axes.boxplot(data, patch_artist=True, widths=0.6, medianprops={"color": "black"})
    for patch, colour in zip(boxes["boxes"], colours):
        patch.set_facecolor(colour)
        patch.set_alpha(0.6)
    axes.set_xticks(range(1, len(names) + 1))
    axes.set_xticklabels(names, rotation=20, ha="right", fontsize=9)
    axes.set_ylabel("masks per image")
    axes.set_title("masks per image", fontsize=10)
    axes.grid(axis="y", alpha=0.3)


def _area_distribution(axes, comparison, names, colours) -> None:
    edges = [100 * e for e in comparison["area_edges"]]
    for name, colour in zip(names, colours):
        counts = [float(c) for c in comparison["sources"][name]["area_histogram"]]
        total = sum(counts) or 1.0
        axes.stairs([100 * c / total for c in counts], edges, label=name, color=colour, linewidth=1.8)
    axes.set_xscale("log")
    axes.set_xlabel("mask area (% of the image)")
    axes.set_ylabel("% of the source's masks")
    axes.set_title("mask area distribution", fontsize=10)
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8, frameon=False)


def _refined_miou(axes, comparison, names, colours) -> None:
    values = [100 * float(comparison["sources"][n]["refined"]["miou"]) for n in names]
    axes.bar(range(len(names)), values, color=colours, width=0.6)
    for index, value in enumerate(values):
        axes.text(index, value + 1, f"{value:.1f}", ha="center", fontsize=9)
    pseudo = 100 * float(comparison["pseudo"]["miou"])
    axes.axhline(pseudo, color=SET_COLOURS[0], linestyle="--", label=f"pseudo labels ({pseudo:.1f})")
    axes.set_xticks(range(len(names)))
    axes.set_xticklabels(names, rotation=20, ha="right", fontsize=9)
    axes.set_ylabel("mIoU of refined labels (%)")
    axes.set_ylim(0, 100)
    axes.set_title("refined pseudo labels", fontsize=10)
    axes.legend(fontsize=8, frameon=False, loc="upper left")
    axes.grid(axis="y", alpha=0.3)


def plot_mask_sources(comparison: Mapping[str, object]) -> bytes:
    """PNG bytes of the mask source comparison (:func:`samcam.sam.compare.compare_mask_sources`).

    Panels: masks per image (box plot per source), the mask area distribution (share
    of each source's masks per area bin, log scale) and, when the comparison scored
    refined labels, their mIoU per source next to the pseudo labels' (dashed line).
    """
    names = list(comparison["sources"])
    colours = [SET_COLOURS[(index + 1) % len(SET_COLOURS)] for index in range(len(names))]
    drawers = [(_masks_per_image, comparison["sources"]), (_area_distribution, comparison)]
    if comparison.get("pseudo") is not None:
        drawers.append((_refined_miou, comparison))
    figure = _figure(4.6 * len(drawers), 3.8)
    for index, (draw, data) in enumerate(drawers):
        draw(figure.add_subplot(1, len(drawers), index + 1), data, names, colours)
    return _png(figure)

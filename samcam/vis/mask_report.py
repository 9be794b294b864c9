"""The "Mask sources" part of a report: a table and a chart comparing mask sources
(:func:`samcam.sam.compare.compare_mask_sources`), alone (``samcam masks --compare
--report``) or as a section of the evaluation report (``samcam demo``)."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, List, Mapping, Optional, Sequence, Tuple

from ..io import atomic_write_bytes, ensure_not_inside
from .charts import plot_mask_sources
from .page import href, number_cell, page, percent, text

__all__ = ["mask_comparison_section", "write_mask_comparison", "SOURCES_CHART_NAME"]

SOURCES_CHART_NAME = "mask_sources.png"

Row = Tuple[str, str]


def _row(label: str, names: Sequence[str], cell: Callable[[str], str]) -> Row:
    return label, "".join(cell(name) for name in names)


def _spread(source: Mapping[str, object]) -> str:
    if not source["num_images"]:
        return "<td>–</td>"
    return f"<td>{source['masks_per_image']['p10']:.0f}–{source['masks_per_image']['p90']:.0f}</td>"


def _mask_rows(sources: Mapping[str, Mapping[str, object]], names: Sequence[str]) -> List[Row]:
    """Rows every comparison has: images, masks per image, mask areas, coverage."""
    return [
        _row("images", names, lambda n: f"<td>{sources[n]['num_images']}</td>"),
        _row("masks per image, mean", names, lambda n: number_cell(sources[n]["masks_per_image"]["mean"], 1, 1)),
        _row("masks per image, median", names, lambda n: number_cell(sources[n]["masks_per_image"]["median"], 1, 1)),
        _row("masks per image, 10th–90th percentile", names, lambda n: _spread(sources[n])),
        _row("mask area % of image, 10th percentile", names, lambda n: number_cell(sources[n]["area"]["p10"], 100, 3)),
        _row("mask area % of image, median", names, lambda n: number_cell(sources[n]["area"]["p50"], 100, 3)),
        _row("mask area % of image, 90th percentile", names, lambda n: number_cell(sources[n]["area"]["p90"], 100, 3)),
        _row("image covered by masks, mean %", names, lambda n: number_cell(sources[n]["coverage"], 100, 1)),
    ]


def _refined_rows(sources: Mapping[str, Mapping[str, object]], names: Sequence[str], pseudo: Mapping[str, object],
                  baseline: str) -> List[Row]:
    """Rows of a comparison that scored refined labels: mIoU, Δ, precision, recall."""

    def refined(name: str, key: str) -> float:
        return sources[name]["refined"][key]

    rows = [
        _row("refined mIoU", names, lambda n: number_cell(refined(n, "miou"))),
        _row("Δ mIoU vs pseudo labels", names, lambda n: number_cell(refined(n, "miou") - pseudo["miou"], signed=True)),
    ]
    if len(names) > 1:
        rows.append(_row(f"Δ mIoU vs {baseline}", names, lambda n: "<td>–</td>" if n == baseline else
                         number_cell(refined(n, "miou") - refined(baseline, "miou"), signed=True)))
    rows += [
        _row("refined precision", names, lambda n: number_cell(refined(n, "mean_precision"))),
        _row("refined recall", names, lambda n: number_cell(refined(n, "mean_recall"))),
    ]
    return rows


def mask_comparison_section(comparison: Mapping[str, object], out_dir: os.PathLike,
                            baseline: Optional[str] = None) -> str:
    """HTML of a mask source comparison (table + chart); writes the chart into ``out_dir``.

    ``baseline``: the source the refined-mIoU deltas are taken against (default: the first).
    """
    atomic_write_bytes(Path(out_dir) / SOURCES_CHART_NAME, plot_mask_sources(comparison))
    sources = comparison["sources"]
    names = list(sources)
    baseline = baseline if baseline is not None else names[0]
    pseudo = comparison.get("pseudo")
    rows = _mask_rows(sources, names)
    if pseudo is not None:
        rows += _refined_rows(sources, names, pseudo, baseline)
    head = "".join(f"<th>{text(n)}</th>" for n in names)
    body = "".join(f"<tr><td>{text(label)}</td>{cells}</tr>" for label, cells in rows)
    note = (f"Pseudo labels without masks: mIoU {percent(pseudo['miou'])}. " if pseudo is not None else
            "No pseudo labels and ground truth given: no refined mIoU. ")
    failed = list(comparison.get("failed") or [])
    left_out = f" {len(failed)} image(s) left out (missing or unreadable in some input)." if failed else ""
    return (
        "<h2>Mask sources</h2>"
        f"<table><thead><tr><th></th>{head}</tr></thead><tbody>{body}</tbody></table>"
        f'<p class="note">{len(comparison["names"])} images, the same for every source. {note}'
        "Refined labels: each source's masks with the same rule and pseudo labels, one confusion matrix over "
        f"all images.{left_out}</p>"
        f'<img src="{href(SOURCES_CHART_NAME)}" alt="mask source comparison chart">'
    )


def write_mask_comparison(comparison: Mapping[str, object], out_dir: os.PathLike,
                          inputs: Sequence[Optional[os.PathLike]] = (), baseline: Optional[str] = None) -> Path:
    """A report page of a mask source comparison alone; returns ``out_dir/index.html``.

    ``inputs``: folders the report must not be written into; ``baseline``: the source
    the deltas are taken against (default: the first).
    """
    out_dir = Path(out_dir)
    ensure_not_inside(out_dir, list(inputs))
    out_dir.mkdir(parents=True, exist_ok=True)
    title = "samcam mask sources: " + " vs ".join(comparison["sources"])
    return atomic_write_bytes(out_dir / "index.html", page(title, mask_comparison_section(comparison, out_dir, baseline)))

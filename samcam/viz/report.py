"""A static HTML evaluation report: ``samcam eval --report DIR`` and the end of ``samcam demo``.

The report folder holds everything it shows (open ``index.html`` from disk, no server)::

    index.html          where the numbers come from, overall table, per-class IoU and
                        support table, chart, pictures
    per_class_iou.png   per-class IoU bars, one colour per label set (matplotlib, Agg)
    mask_sources.png    with a mask source comparison: masks/image, mask areas, refined mIoU
    panels/{name}.png   full ``samcam vis`` panels of the chosen images
    thumbs/{name}.png   page-wide copies of them shown on the page, each linking to its panel

Every number is in % and every delta in percentage points against one label set, the
baseline (default: the first). The chosen images are the ``top`` whose per-image mIoU
rose most and the ``top`` whose per-image mIoU fell most (or rose least) from the
baseline to the compared set (default: the first other set; see
:func:`samcam.evaluate.score_images`); they need ``images_dir``, ``gt_dir`` and two sets.
"""
from __future__ import annotations

import datetime
import html
import io
import math
import os
import shlex
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

from PIL import Image

from .. import provenance
from .._version import __version__
from ..evaluate import class_names, resolve_baseline, score_images, select_changed
from ..files import atomic_write_bytes, clean_stale_temp_files
from ..names import list_names, printable
from ..outputs import ensure_not_inside
from .panels import render_panels

__all__ = ["write_report", "write_mask_comparison", "mask_comparison_section", "plot_per_class_iou",
           "plot_mask_sources", "THUMB_WIDTH"]

# Page-wide: a panel's columns and class legends stay readable (the full panel is a click away).
THUMB_WIDTH = 1400
CHART_NAME = "per_class_iou.png"
SOURCES_CHART_NAME = "mask_sources.png"
# Colours of the label sets in the chart: first (before) grey, second (after) blue, ...
SET_COLOURS = ("#9e9e9e", "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2")

_STYLE = """
body { font-family: sans-serif; margin: 24px; color: #222; max-width: 1440px; }
table { border-collapse: collapse; margin: 8px 0 20px; }
th, td { border: 1px solid #ccc; padding: 3px 10px; text-align: right; }
th:first-child, td:first-child { text-align: left; }
thead th { background: #eef2f7; }
td.up { color: #15803d; } td.down { color: #b91c1c; }
.grid { display: flex; flex-direction: column; gap: 14px; }
img { max-width: 100%; height: auto; }
figure { margin: 0; border: 1px solid #ddd; padding: 6px; background: #fafafa; }
figcaption { font-size: 13px; margin-top: 4px; }
.note { color: #555; font-size: 14px; }
table.source th { text-align: left; background: #f5f5f5; font-weight: normal; white-space: nowrap; vertical-align: top; }
table.source td { text-align: left; font-family: monospace; font-size: 13px; word-break: break-all; }
.grid figure { width: 100%; box-sizing: border-box; }
"""


def _percent(value: float) -> str:
    return "–" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{100 * value:.2f}"


def plot_per_class_iou(sets: Mapping[str, Mapping[str, object]], names: Sequence[str],
                       colours: Optional[Mapping[str, str]] = None) -> bytes:
    """PNG bytes of a grouped bar chart: per-class IoU (%) of every label set.

    ``sets`` maps set name -> metrics with ``iou`` (C floats, NaN = class absent);
    ``colours`` set name -> colour (default: :data:`SET_COLOURS` in order).
    Uses matplotlib's Agg canvas directly, never pyplot, so it changes no global
    backend of a caller's session and needs no display.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    set_names = list(sets)
    count = len(names)
    width = 0.8 / max(1, len(set_names))
    figure = Figure(figsize=(max(6.0, 0.5 * count + 1.5), 4.2), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot(1, 1, 1)
    for index, set_name in enumerate(set_names):
        values = [100 * v if not math.isnan(v) else 0.0 for v in (float(x) for x in sets[set_name]["iou"])]
        positions = [c + (index - (len(set_names) - 1) / 2) * width for c in range(count)]
        miou = float(sets[set_name]["miou"])
        colour = (colours or {}).get(set_name) or SET_COLOURS[index % len(SET_COLOURS)]
        axes.bar(positions, values, width, label=f"{set_name} (mIoU {_percent(miou)})", color=colour)
    axes.set_xticks(range(count))
    axes.set_xticklabels(names, rotation=45, ha="right", fontsize=9)
    axes.set_ylabel("IoU (%)")
    axes.set_ylim(0, 100)
    axes.set_xlim(-0.6, count - 0.4)
    axes.grid(axis="y", alpha=0.3)
    # Legend above the axes: inside, it would hide bars near 100%.
    axes.legend(loc="lower center", bbox_to_anchor=(0.5, 1.01), ncol=min(4, len(set_names)), fontsize=9, frameon=False)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def plot_mask_sources(comparison: Mapping[str, object]) -> bytes:
    """PNG bytes of the mask source comparison (:func:`samcam.sam.compare.compare_mask_sources`).

    Panels: masks per image (box plot per source), the mask area distribution (share
    of each source's masks per area bin, log scale) and, when the comparison scored
    refined labels, their mIoU per source next to the pseudo labels' (dashed line).
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    sources = comparison["sources"]
    names = list(sources)
    colours = [SET_COLOURS[(index + 1) % len(SET_COLOURS)] for index in range(len(names))]
    scored = comparison.get("pseudo") is not None
    panels = 3 if scored else 2
    figure = Figure(figsize=(4.6 * panels, 3.8), dpi=100)
    FigureCanvasAgg(figure)

    axes = figure.add_subplot(1, panels, 1)
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

    axes = figure.add_subplot(1, panels, 2)
    edges = [100 * e for e in comparison["area_edges"]]
    for name, colour in zip(names, colours):
        counts = [float(c) for c in sources[name]["area_histogram"]]
        total = sum(counts) or 1.0
        axes.stairs([100 * c / total for c in counts], edges, label=name, color=colour, linewidth=1.8)
    axes.set_xscale("log")
    axes.set_xlabel("mask area (% of the image)")
    axes.set_ylabel("% of the source's masks")
    axes.set_title("mask area distribution", fontsize=10)
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8, frameon=False)

    if scored:
        axes = figure.add_subplot(1, panels, 3)
        values = [100 * float(sources[n]["refined"]["miou"]) for n in names]
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
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def mask_comparison_section(comparison: Mapping[str, object], out_dir: os.PathLike,
                            baseline: Optional[str] = None) -> str:
    """HTML of a mask source comparison (table + chart); writes the chart into ``out_dir``.

    ``baseline``: the source the refined-mIoU deltas are taken against (default: the first).
    """
    out_dir = Path(out_dir)
    atomic_write_bytes(out_dir / SOURCES_CHART_NAME, plot_mask_sources(comparison))
    sources = comparison["sources"]
    names = list(sources)
    baseline = baseline if baseline is not None else names[0]
    pseudo = comparison.get("pseudo")

    def cell(value, scale=100.0, digits=2, signed=False):
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return "<td>–</td>"
        return f"<td>{scale * value:{'+' if signed else ''}.{digits}f}</td>"

    rows = [
        ("images", "".join(f"<td>{sources[n]['num_images']}</td>" for n in names)),
        ("masks per image, mean", "".join(cell(sources[n]["masks_per_image"]["mean"], 1, 1) for n in names)),
        ("masks per image, median", "".join(cell(sources[n]["masks_per_image"]["median"], 1, 1) for n in names)),
        ("masks per image, 10th–90th percentile", "".join(
            f"<td>{sources[n]['masks_per_image']['p10']:.0f}–{sources[n]['masks_per_image']['p90']:.0f}</td>"
            if sources[n]["num_images"] else "<td>–</td>" for n in names)),
        ("mask area % of image, 10th percentile", "".join(cell(sources[n]["area"]["p10"], 100, 3) for n in names)),
        ("mask area % of image, median", "".join(cell(sources[n]["area"]["p50"], 100, 3) for n in names)),
        ("mask area % of image, 90th percentile", "".join(cell(sources[n]["area"]["p90"], 100, 3) for n in names)),
        ("image covered by masks, mean %", "".join(cell(sources[n]["coverage"], 100, 1) for n in names)),
    ]
    if pseudo is not None:
        rows += [
            ("refined mIoU", "".join(cell(sources[n]["refined"]["miou"]) for n in names)),
            ("Δ mIoU vs pseudo labels", "".join(
                cell(sources[n]["refined"]["miou"] - pseudo["miou"], signed=True) for n in names)),
        ]
        if len(names) > 1:
            rows.append((f"Δ mIoU vs {baseline}", "".join(
                "<td>–</td>" if n == baseline else
                cell(sources[n]["refined"]["miou"] - sources[baseline]["refined"]["miou"], signed=True)
                for n in names)))
        rows += [
            ("refined precision", "".join(cell(sources[n]["refined"]["mean_precision"]) for n in names)),
            ("refined recall", "".join(cell(sources[n]["refined"]["mean_recall"]) for n in names)),
        ]
    head = "".join(f"<th>{html.escape(n)}</th>" for n in names)
    body = "".join(f"<tr><td>{html.escape(label)}</td>{cells}</tr>" for label, cells in rows)
    note = (f"Pseudo labels without masks: mIoU {_percent(pseudo['miou'])}. " if pseudo is not None else
            "No pseudo labels and ground truth given: no refined mIoU. ")
    failed = list(comparison.get("failed") or [])
    left_out = f" {len(failed)} image(s) left out (missing or unreadable in some input)." if failed else ""
    return (
        "<h2>Mask sources</h2>"
        f"<table><thead><tr><th></th>{head}</tr></thead><tbody>{body}</tbody></table>"
        f'<p class="note">{len(comparison["names"])} images, the same for every source. {note}'
        "Refined labels: each source's masks with the same rule and pseudo labels, one confusion matrix over "
        f"all images.{left_out}</p>"
        f'<img src="{SOURCES_CHART_NAME}" alt="mask source comparison chart">'
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
    page = (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f"<style>{_STYLE}</style></head><body><h1>{html.escape(title)}</h1>"
        + mask_comparison_section(comparison, out_dir, baseline)
        + "</body></html>\n"
    )
    return atomic_write_bytes(out_dir / "index.html", printable(page).encode("utf-8"))  # names not UTF-8: escaped


def _set_colours(set_names: Sequence[str], baseline: str) -> Dict[str, str]:
    """The baseline grey, the other sets blue, orange, ... in their order."""
    others = iter(SET_COLOURS[1:] * (1 + len(set_names) // len(SET_COLOURS)))
    return {name: SET_COLOURS[0] if name == baseline else next(others) for name in set_names}


def _delta_cell(delta: float) -> str:
    if math.isnan(delta):
        return "<td>–</td>"
    css = "up" if delta > 0 else "down" if delta < 0 else ""
    return f'<td class="{css}">{100 * delta:+.2f}</td>'


def _overall_table(sets: Mapping[str, Mapping[str, object]], baseline: str) -> str:
    rows = []
    for set_name, metrics in sets.items():
        change = "<td></td>" if set_name == baseline else _delta_cell(float(metrics["miou"]) - float(sets[baseline]["miou"]))
        rows.append(
            f"<tr><td>{html.escape(set_name)}</td><td>{_percent(metrics['miou'])}</td>{change}"
            f"<td>{_percent(metrics.get('mean_precision', float('nan')))}</td>"
            f"<td>{_percent(metrics.get('mean_recall', float('nan')))}</td>"
            f"<td>{_percent(metrics.get('pixel_acc', float('nan')))}</td>"
            f"<td>{_percent(metrics.get('labelled', float('nan')))}</td>"
            f"<td>{metrics.get('num_images', '')}</td></tr>"
        )
    return (
        "<table><thead><tr><th>label set</th><th>mIoU</th><th>Δ mIoU vs "
        f"{html.escape(baseline)}</th><th>precision</th><th>recall</th><th>pixel acc</th>"
        "<th>labelled</th><th>images</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table>"
    )


def _class_table(sets: Mapping[str, Mapping[str, object]], names: Sequence[str], baseline: str,
                 support: Optional[Mapping[str, Sequence[int]]] = None) -> str:
    set_names = list(sets)
    others = [s for s in set_names if s != baseline]
    head = ""
    if support:
        head += '<th title="valid ground-truth pixels of the class">GT pixels</th>' \
                '<th title="images whose ground truth holds the class">GT images</th>'
    head += "".join(f"<th>{html.escape(s)}</th>" for s in set_names)
    head += "".join(f"<th>Δ {html.escape(s)}</th>" for s in others)
    rows = []
    for index, class_name in enumerate(names):
        values = {s: float(sets[s]["iou"][index]) for s in set_names}
        cells = ""
        if support:
            cells += f"<td>{int(support['pixels'][index]):,}</td><td>{int(support['images'][index]):,}</td>"
        cells += "".join(f"<td>{_percent(values[s])}</td>" for s in set_names)
        cells += "".join(_delta_cell(values[s] - values[baseline]) for s in others)
        rows.append(f"<tr><td>{html.escape(class_name)}</td>{cells}</tr>")
    return f"<table><thead><tr><th>class</th>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _describe_labels(folder: os.PathLike) -> List[str]:
    """What a label folder's ``samcam.json`` says made it (tool, method, rule and every parameter, masks)."""
    try:
        record = provenance.read(folder)
    except ValueError as error:
        return [f"samcam.json unreadable: {error}"]
    if record is None:
        return ["no samcam.json: not written by samcam refine / adapt (e.g. the method's own labels)"]
    settings = record.get("settings") or {}
    parts = [f"made by samcam {settings.get('tool', '?')}"]
    if settings.get("method"):
        threshold = settings.get("threshold")
        own = settings.get("method_thresholds")
        parts.append(f"method {settings['method']} (source {settings.get('source')}, background threshold "
                     + (f"{threshold}" if threshold is not None else f"the method's own {own}") + ")")
    rule = dict(settings.get("refine") or {})
    name = rule.pop("rule", "?")
    parts.append(f"rule {name}: " + ", ".join(f"{key}={value}" for key, value in rule.items()))
    for key, value in (settings.get("inputs") or {}).items():
        parts.append(f"{key.replace('_', ' ')} {value}")
    masks = record.get("masks") or {}
    if masks.get("formats"):
        parts.append("mask format " + ", ".join(masks["formats"]))
    parts.append(f"samcam {record.get('samcam_version', '?')}, {record.get('updated') or record.get('created', '?')}")
    return parts


def _source_table(*, gt_dir, pred_dirs, images_dir, masks_dir, list_file, names, command, baseline, compare) -> str:
    """Where the page's numbers come from: folders, list, how each label set was made, samcam, command, date."""

    def where(value) -> str:
        return html.escape(str(Path(value).resolve())) if value else "–"

    rows: List[Tuple[str, str]] = [("ground truth", where(gt_dir))]
    for set_name, folder in (pred_dirs or {}).items():
        role = " (baseline)" if set_name == baseline else " (compared in the pictures)" if set_name == compare else ""
        rows.append((f"label set {html.escape(set_name)}{role}",
                     "<br>".join([where(folder)] + [html.escape(line) for line in _describe_labels(folder)])))
    rows.append(("images (pictures)", where(images_dir)))
    rows.append(("masks (pictures)", where(masks_dir)))
    count = f"{len(names)} names" if names is not None else ""
    if list_file:
        rows.append(("image list", f"{where(list_file)} ({count})"))
    else:
        rows.append(("image list", f"none: every PNG of the first label set ({count})"))
    rows.append(("samcam", html.escape(__version__)))
    rows.append(("command", html.escape(shlex.join(command)) if command else "– (written from Python)"))
    rows.append(("written", datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")))
    body = "".join(f"<tr><th>{label}</th><td>{value}</td></tr>" for label, value in rows)
    return f'<table class="source">{body}</table>'


def _thumbnail(panel_path: Path, thumb_path: Path) -> None:
    with Image.open(panel_path) as panel:
        panel = panel.convert("RGB")
        if panel.width > THUMB_WIDTH:
            height = max(1, round(panel.height * THUMB_WIDTH / panel.width))
            panel = panel.resize((THUMB_WIDTH, height), Image.LANCZOS)
        buffer = io.BytesIO()
        panel.save(buffer, format="PNG")
    atomic_write_bytes(thumb_path, buffer.getvalue())


def _gallery(chosen: Sequence[str], scores: Mapping[str, Tuple[float, float]], out_dir: Path) -> str:
    figures = []
    for name in chosen:
        before, after = scores[name]
        panel = f"panels/{name}.png"
        thumb = f"thumbs/{name}.png"
        if not (out_dir / panel).exists():
            continue
        _thumbnail(out_dir / panel, out_dir / thumb)
        figures.append(
            f'<figure><a href="{html.escape(panel)}" title="full size"><img src="{html.escape(thumb)}" '
            f'alt="{html.escape(name)}"></a>'
            f"<figcaption>{html.escape(name)}: mIoU {_percent(before)} → {_percent(after)} "
            f"({100 * (after - before):+.2f})</figcaption></figure>"
        )
    return '<div class="grid">' + "".join(figures) + "</div>" if figures else '<p class="note">none</p>'


def write_report(
    results: Mapping[str, object],
    out_dir: os.PathLike,
    *,
    images_dir: Optional[os.PathLike] = None,
    pred_dirs: Optional[Mapping[str, os.PathLike]] = None,
    gt_dir: Optional[os.PathLike] = None,
    masks_dir: Optional[os.PathLike] = None,
    names: Optional[Sequence[str]] = None,
    num_classes: int = 21,
    top: int = 4,
    workers: int = 1,
    progress: bool = False,
    baseline: Optional[str] = None,
    compare: Optional[str] = None,
    command: Optional[Sequence[str]] = None,
    list_file: Optional[os.PathLike] = None,
    mask_comparison: Optional[Mapping[str, object]] = None,
) -> Path:
    """Write the HTML report of an evaluation into ``out_dir``; returns ``out_dir/index.html``.

    Args:
        results: what :func:`samcam.evaluate.evaluate_dirs` returns (``sets`` with per-set
            metrics, ``failed``, ``num_classes``, ``class_names``, ``support``).
        out_dir: report folder (created; must not lie inside an input folder).
        images_dir, pred_dirs, gt_dir, names: for the picture panels of the ``top`` images
            that gained most and the ``top`` that lost most (or gained least) from
            ``baseline`` to ``compare``. Without them (or with fewer than two sets) the
            page has tables and the chart only, and says why. ``names`` defaults to every
            PNG of the first label folder.
        masks_dir: adds the mask column to the panels.
        num_classes: classes incl. background (taken from ``results`` when it has it).
        top: images per gallery.
        workers: processes for ranking and drawing.
        baseline: the label set every delta is taken against (default: the first).
        compare: the set whose change against ``baseline`` ranks the pictures (default:
            the first other set).
        command, list_file: the command line and name list, shown with the folders, each
            label folder's ``samcam.json`` (rule and parameters), the samcam version and
            the date in the page's "Where these numbers come from".
        mask_comparison: adds a "Mask sources" section (table and chart) from
            :func:`samcam.sam.compare.compare_mask_sources`.

    Raises:
        ValueError: ``results`` holds no label set, ``baseline``/``compare`` is not one
            of them, or ``out_dir`` is inside an input.
    """
    sets: Dict[str, Mapping[str, object]] = dict(results.get("sets") or {})
    if not sets:
        raise ValueError("the evaluation results hold no label set to report")
    if top < 0:
        raise ValueError(f"top must be >= 0, got {top}")
    set_names = list(sets)
    baseline = resolve_baseline(set_names, baseline)
    others = [name for name in set_names if name != baseline]
    if compare is not None and compare not in others:
        raise ValueError(f"compare={compare!r} must be a label set other than the baseline {baseline!r}: "
                         f"{', '.join(others) or 'there is none'}")
    compare = compare or (others[0] if others else None)
    num_classes = int(results.get("num_classes", num_classes))
    labels = list(results.get("class_names") or class_names(num_classes))
    out_dir = Path(out_dir)
    inputs = [images_dir, gt_dir, masks_dir] + list((pred_dirs or {}).values())
    ensure_not_inside(out_dir, inputs)
    out_dir.mkdir(parents=True, exist_ok=True)
    clean_stale_temp_files(out_dir)
    colours = _set_colours(set_names, baseline)
    atomic_write_bytes(out_dir / CHART_NAME, plot_per_class_iou(sets, labels, colours))
    if names is None and pred_dirs:
        names = list_names(next(iter(pred_dirs.values())), (".png",))

    sections = [
        "<details open><summary><b>Where these numbers come from</b></summary>",
        _source_table(gt_dir=gt_dir, pred_dirs=pred_dirs, images_dir=images_dir, masks_dir=masks_dir,
                      list_file=list_file, names=names, command=command, baseline=baseline, compare=compare),
        "</details>",
        "<h2>Overall</h2>",
        _overall_table(sets, baseline),
        f'<p class="note">Scores in %, from one confusion matrix per label set over all images; Δ in percentage '
        f"points against <b>{html.escape(baseline)}</b>; pixels the labels leave unlabelled (255) count as "
        "misses.</p>",
        "<h2>Per-class IoU</h2>",
        f'<img src="{CHART_NAME}" alt="per-class IoU bar chart">',
        _class_table(sets, labels, baseline, results.get("support")),
    ]
    if results.get("support"):
        sections.append('<p class="note">GT pixels / GT images: the valid ground-truth pixels of each class and '
                        "the images holding it, over the images evaluated: a class seen in few images has a noisy "
                        "IoU.</p>")
    if mask_comparison is not None:
        sections.append(mask_comparison_section(mask_comparison, out_dir))
    failed = list(results.get("failed") or [])
    if failed:
        items = "".join(f"<li>{html.escape(str(n))}: {html.escape(str(r))}</li>" for n, r in failed[:50])
        more = f"<li>… and {len(failed) - 50} more</li>" if len(failed) > 50 else ""
        sections.append(f"<h2>Images left out ({len(failed)})</h2><ul>{items}{more}</ul>")

    sections.append("<h2>Images</h2>")
    pred_list = list((pred_dirs or {}).items())
    missing = [what for what, value in (("the image folder", images_dir), ("the ground truth", gt_dir),
                                        ("the image names", names)) if not value]
    if len(pred_list) < 2:
        missing.append("two prediction folders")
    if missing:
        sections.append(f'<p class="note">No picture panels: the report was not given {", ".join(missing)}.</p>')
    else:
        folders = dict(pred_list)
        scores, problems = score_images(names, folders[baseline], folders[compare], gt_dir, num_classes,
                                        workers=workers)
        best = select_changed(scores, top, "best")
        # "Worst" = least improved even when nothing got worse: those are the images to look at.
        worst = [n for n in select_changed(scores, top, "worst") if n not in best]
        # the panels' columns: the baseline, the compared set, then the others
        columns = [(baseline, folders[baseline]), (compare, folders[compare])]
        columns += [(name, folder) for name, folder in pred_list if name not in (baseline, compare)]
        panel_result = render_panels(
            best + worst,
            images_dir=images_dir,
            label_dirs=columns,
            out_dir=out_dir / "panels",
            masks_dir=masks_dir,
            gt_dir=gt_dir,
            num_classes=num_classes,
            workers=workers,
            overwrite=True,  # a rerun on new labels must not show stale panels
            progress=progress,
        )
        sections.append(
            f'<p class="note">Per-image mIoU (%) of <b>{html.escape(baseline)}</b> → <b>{html.escape(compare)}</b> '
            "against the ground truth, over the classes present in the GT or either label map. "
            "Click a picture for the full-size panel: image | label sets | masks | ground truth.</p>"
        )
        sections.append(f"<h3>Most improved ({len(best)} of {len(scores)} images)</h3>")
        sections.append(_gallery(best, scores, out_dir))
        sections.append(f"<h3>Least improved or worsened ({len(worst)})</h3>")
        sections.append(_gallery(worst, scores, out_dir))
        trouble = problems + panel_result.failed
        if trouble:
            items = "".join(f"<li>{html.escape(n)}: {html.escape(r)}</li>" for n, r in trouble[:20])
            sections.append(f'<p class="note">Not drawn or not ranked ({len(trouble)}):</p><ul>{items}</ul>')

    title = "samcam evaluation: " + " vs ".join(set_names)
    page = (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f"<style>{_STYLE}</style></head><body><h1>{html.escape(title)}</h1>"
        + "\n".join(sections)
        + "</body></html>\n"
    )
    return atomic_write_bytes(out_dir / "index.html", printable(page).encode("utf-8"))  # names not UTF-8: escaped

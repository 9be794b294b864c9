"""A static HTML evaluation report: ``samcam eval --report DIR`` and the end of ``samcam demo``.

The report folder holds everything it shows (open ``index.html`` from disk, no server)::

    index.html          a one-line headline (mIoU before -> after, Δ), where the numbers
                        come from (collapsed), overall table, per-class IoU and support
                        table, chart, pictures
    per_class_iou.png   per-class IoU bars, one colour per label set (matplotlib, Agg)
    mask_sources.png    with a mask source comparison: masks/image, mask areas, refined mIoU
    panels/{name}.png   full ``samcam vis`` panels of the chosen images
    thumbs/{name}.png   page-wide copies of them shown on the page, each linking to its panel

Every number is in % and every delta in percentage points against one label set, the
baseline (default: the first). The chosen images are the ``top`` whose per-image mIoU
rose most and the ``top`` whose per-image mIoU fell most (or rose least) from the
baseline to the compared set (default: the first other set; see
:func:`samcam.evaluate.score_images`); they need ``images_dir``, ``gt_dir`` and two sets.

What a report shows is a :class:`ReportData` (the evaluation and its folders), how it
is made a :class:`ReportOptions`; :func:`write_report` takes both.
"""
from __future__ import annotations

import datetime
import io
import math
import os
import shlex
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

from PIL import Image

from .. import provenance
from .._version import __version__
from ..evaluate import class_names, resolve_baseline, score_images, select_changed
from ..io import atomic_write_bytes, clean_stale_temp_files, ensure_not_inside, list_names
from ..settings import Settings, setting
from .charts import SET_COLOURS, plot_mask_sources, plot_per_class_iou
from .mask_report import mask_comparison_section, write_mask_comparison
from .page import delta_cell, href, page, percent, text
from .panels import PanelSettings, PanelSources, render_panels

__all__ = ["ReportData", "ReportOptions", "write_report", "write_mask_comparison", "mask_comparison_section",
           "plot_per_class_iou", "plot_mask_sources", "THUMB_WIDTH"]

# Page-wide: a panel's columns and class legends stay readable (the full panel is a click away).
THUMB_WIDTH = 1400
CHART_NAME = "per_class_iou.png"


@dataclass(frozen=True)
class ReportData:
    """What a report shows: an evaluation and the folders behind it.

    Attributes:
        results: what :func:`samcam.evaluate.evaluate_dirs` returns (``sets`` with per-set
            metrics, ``failed``, ``num_classes``, ``class_names``, ``support``).
        pred_dirs: label set name -> its folder, as evaluated (for the pictures and for
            what each folder's ``samcam.json`` says made it).
        gt_dir, images_dir: the ground truth and the images, for the pictures. Without
            them (or with fewer than two sets) the page has tables and the chart only,
            and says why.
        masks_dir: adds the mask column to the pictures.
        names: the images ranked for the pictures (default: every PNG of the first set).
        list_file, command: the name list and the command line, shown in "Where these
            numbers come from".
        mask_comparison: adds a "Mask sources" section (table and chart) from
            :func:`samcam.sam.compare.compare_mask_sources`.

    Raises:
        ValueError: ``results`` holds no label set.
    """

    results: Mapping[str, object]
    pred_dirs: Mapping[str, os.PathLike] = field(default_factory=dict)
    gt_dir: Optional[os.PathLike] = None
    images_dir: Optional[os.PathLike] = None
    masks_dir: Optional[os.PathLike] = None
    names: Optional[Sequence[str]] = None
    list_file: Optional[os.PathLike] = None
    command: Optional[Sequence[str]] = None
    mask_comparison: Optional[Mapping[str, object]] = None

    def __post_init__(self) -> None:
        if not self.results.get("sets"):
            raise ValueError("the evaluation results hold no label set to report")
        object.__setattr__(self, "pred_dirs", types.MappingProxyType(dict(self.pred_dirs or {})))
        for name in ("names", "command"):
            if getattr(self, name) is not None:
                object.__setattr__(self, name, tuple(getattr(self, name)))

    @property
    def sets(self) -> Dict[str, Mapping[str, object]]:
        """Set name -> its metrics, in the evaluation's order."""
        return dict(self.results["sets"])

    def inputs(self) -> List[Optional[os.PathLike]]:
        """Every folder the report reads (it must not be written into one)."""
        return [self.images_dir, self.gt_dir, self.masks_dir] + list(self.pred_dirs.values())


@dataclass(frozen=True)
class ReportOptions(Settings):
    """How a report is made."""

    top: int = setting(4, "images per gallery: the N most improved and the N least improved or worsened", low=0)
    baseline: Optional[str] = setting(None, "the label set every delta is taken against (default: the first)")
    compare: Optional[str] = setting(None, "the set whose change from the baseline ranks the pictures "
                                           "(default: the first other set)")
    num_classes: int = setting(21, "classes incl. background, when the results do not say", low=1, high=255)
    workers: int = setting(1, "processes for ranking and drawing", low=1)
    progress: bool = setting(False, "show a progress bar while drawing")


@dataclass(frozen=True)
class _Plan:
    """The report's choices, resolved against the data."""

    baseline: str
    compare: Optional[str]
    num_classes: int
    class_names: Tuple[str, ...]
    names: Optional[Tuple[str, ...]]


def _compared(set_names: Sequence[str], baseline: str, compare: Optional[str]) -> Optional[str]:
    """``compare`` checked to be a set other than the baseline; default the first other set, if any."""
    others = [name for name in set_names if name != baseline]
    if compare is not None and compare not in others:
        raise ValueError(f"compare={compare!r} must be a label set other than the baseline {baseline!r}: "
                         f"{', '.join(others) or 'there is none'}")
    return compare or (others[0] if others else None)


def _plan(data: ReportData, options: ReportOptions) -> _Plan:
    baseline = resolve_baseline(list(data.sets), options.baseline)
    num_classes = int(data.results.get("num_classes", options.num_classes))
    names = data.names
    if names is None and data.pred_dirs:
        names = tuple(list_names(next(iter(data.pred_dirs.values())), (".png",)))
    return _Plan(baseline=baseline, compare=_compared(list(data.sets), baseline, options.compare),
                 num_classes=num_classes, class_names=tuple(data.results.get("class_names") or class_names(num_classes)),
                 names=names)


# ----------------------------------------------------------------------------- sections


def _set_colours(set_names: Sequence[str], baseline: str) -> Dict[str, str]:
    """The baseline grey, the other sets blue, orange, ... in their order."""
    others = iter(SET_COLOURS[1:] * (1 + len(set_names) // len(SET_COLOURS)))
    return {name: SET_COLOURS[0] if name == baseline else next(others) for name in set_names}


def _headline(sets: Mapping[str, Mapping[str, object]], plan: _Plan) -> str:
    """One line: the baseline's mIoU -> the compared set's, and the change."""
    before = float(sets[plan.baseline]["miou"])
    line = f"mIoU <b>{text(plan.baseline)}</b> {percent(before)}"
    if plan.compare is not None:
        after = float(sets[plan.compare]["miou"])
        delta = after - before
        css = "up" if delta > 0 else "down" if delta < 0 else ""
        change = "–" if math.isnan(delta) else f"{100 * delta:+.2f}"
        line += f' → <b>{text(plan.compare)}</b> {percent(after)} <span class="{css}">(Δ {change} points)</span>'

    return f'<p class="headline">{line}</p>'


def _overall_table(sets: Mapping[str, Mapping[str, object]], baseline: str) -> str:
    rows = []
    for set_name, metrics in sets.items():
        change = "<td></td>" if set_name == baseline else delta_cell(float(metrics["miou"]) - float(sets[baseline]["miou"]))
        cells = "".join(f"<td>{percent(metrics.get(key, float('nan')))}</td>"
                        for key in ("mean_precision", "mean_recall", "pixel_acc", "labelled"))
        rows.append(f"<tr><td>{text(set_name)}</td><td>{percent(metrics['miou'])}</td>{change}{cells}"
                    f"<td>{metrics.get('num_images', '')}</td></tr>")
    return (
        "<table><thead><tr><th>label set</th><th>mIoU</th><th>Δ mIoU vs "
        f"{text(baseline)}</th><th>precision</th><th>recall</th><th>pixel acc</th>"
        "<th>labelled</th><th>images</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table>"
    )


def _support_cells(support: Optional[Mapping[str, Sequence[int]]], index: int) -> str:
    if not support:
        return ""
    return f"<td>{int(support['pixels'][index]):,}</td><td>{int(support['images'][index]):,}</td>"


def _class_table(sets: Mapping[str, Mapping[str, object]], plan: _Plan,
                 support: Optional[Mapping[str, Sequence[int]]] = None) -> str:
    set_names = list(sets)
    others = [s for s in set_names if s != plan.baseline]
    head = ('<th title="valid ground-truth pixels of the class">GT pixels</th>'
            '<th title="images whose ground truth holds the class">GT images</th>') if support else ""
    head += "".join(f"<th>{text(s)}</th>" for s in set_names)
    head += "".join(f"<th>Δ {text(s)}</th>" for s in others)
    rows = []
    for index, class_name in enumerate(plan.class_names):
        values = {s: float(sets[s]["iou"][index]) for s in set_names}
        cells = _support_cells(support, index)
        cells += "".join(f"<td>{percent(values[s])}</td>" for s in set_names)
        cells += "".join(delta_cell(values[s] - values[plan.baseline]) for s in others)
        rows.append(f"<tr><td>{text(class_name)}</td>{cells}</tr>")
    return f"<table><thead><tr><th>class</th>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _describe_method(settings: Mapping[str, object]) -> List[str]:
    if not settings.get("method"):
        return []
    threshold = settings.get("threshold")
    own = settings.get("method_thresholds")
    background = f"{threshold}" if threshold is not None else f"the method's own {own}"
    return [f"method {settings['method']} (source {settings.get('source')}, background threshold {background})"]


def _describe_rule(settings: Mapping[str, object]) -> str:
    rule = dict(settings.get("refine") or {})
    name = rule.pop("rule", "?")
    return f"rule {name}: " + ", ".join(f"{key}={value}" for key, value in rule.items())


def _describe_labels(folder: os.PathLike) -> List[str]:
    """What a label folder's ``samcam.json`` says made it (tool, method, rule and every parameter, masks)."""
    try:
        record = provenance.read(folder)
    except ValueError as error:
        return [f"samcam.json unreadable: {error}"]
    if record is None:
        return ["no samcam.json: not written by samcam refine / adapt (e.g. the method's own labels)"]
    settings = record.get("settings") or {}
    parts = [f"made by samcam {settings.get('tool', '?')}"] + _describe_method(settings) + [_describe_rule(settings)]
    parts += [f"{key.replace('_', ' ')} {value}" for key, value in (settings.get("inputs") or {}).items()]
    formats = (record.get("masks") or {}).get("formats")
    if formats:
        parts.append("mask format " + ", ".join(formats))
    parts.append(f"samcam {record.get('samcam_version', '?')}, {record.get('updated') or record.get('created', '?')}")
    return parts


def _where(value: Optional[os.PathLike]) -> str:
    return text(Path(value).resolve()) if value else "–"


def _source_table(data: ReportData, plan: _Plan) -> str:
    """Where the page's numbers come from: folders, list, how each label set was made, samcam, command, date."""
    rows: List[Tuple[str, str]] = [("ground truth", _where(data.gt_dir))]
    for set_name, folder in data.pred_dirs.items():
        role = (" (baseline)" if set_name == plan.baseline else
                " (compared in the pictures)" if set_name == plan.compare else "")
        rows.append((f"label set {text(set_name)}{role}",
                     "<br>".join([_where(folder)] + [text(line) for line in _describe_labels(folder)])))
    rows.append(("images (pictures)", _where(data.images_dir)))
    rows.append(("masks (pictures)", _where(data.masks_dir)))
    count = f"{len(plan.names)} names" if plan.names is not None else ""
    rows.append(("image list", f"{_where(data.list_file)} ({count})" if data.list_file else
                 f"none: every PNG of the first label set ({count})"))
    rows.append(("samcam", text(__version__)))
    rows.append(("command", text(shlex.join(data.command)) if data.command else "– (written from Python)"))
    rows.append(("written", datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")))
    body = "".join(f"<tr><th>{label}</th><td>{value}</td></tr>" for label, value in rows)
    return f'<table class="source">{body}</table>'


def _failed_section(failed: Sequence[Tuple[str, str]]) -> List[str]:
    if not failed:
        return []
    items = "".join(f"<li>{text(n)}: {text(r)}</li>" for n, r in failed[:50])
    more = f"<li>… and {len(failed) - 50} more</li>" if len(failed) > 50 else ""
    return [f"<h2>Images left out ({len(failed)})</h2><ul>{items}{more}</ul>"]


# ----------------------------------------------------------------------------- pictures


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
        panel, thumb = f"panels/{name}.png", f"thumbs/{name}.png"
        if not (out_dir / panel).exists():
            continue
        _thumbnail(out_dir / panel, out_dir / thumb)
        figures.append(
            f'<figure><a href="{href(panel)}" title="full size"><img src="{href(thumb)}" alt="{text(name)}"></a>'
            f"<figcaption>{text(name)}: mIoU {percent(before)} → {percent(after)} "
            f"({100 * (after - before):+.2f})</figcaption></figure>"
        )
    return '<div class="grid">' + "".join(figures) + "</div>" if figures else '<p class="note">none</p>'


def _missing_for_pictures(data: ReportData, plan: _Plan) -> List[str]:
    missing = [what for what, value in (("the image folder", data.images_dir), ("the ground truth", data.gt_dir),
                                        ("the image names", plan.names)) if not value]
    return missing + (["two prediction folders"] if len(data.pred_dirs) < 2 else [])


def _pictures(data: ReportData, plan: _Plan, options: ReportOptions, out_dir: Path) -> List[str]:
    """The "Images" section: the galleries of the most and least improved images."""
    missing = _missing_for_pictures(data, plan)
    if missing:
        return ["<h2>Images</h2>", f'<p class="note">No picture panels: the report was not given {", ".join(missing)}.</p>']
    folders = dict(data.pred_dirs)
    scores, problems = score_images(plan.names, folders[plan.baseline], folders[plan.compare], data.gt_dir,
                                    plan.num_classes, workers=options.workers)
    best = select_changed(scores, options.top, "best")
    # "Worst" = least improved even when nothing got worse: those are the images to look at.
    worst = [n for n in select_changed(scores, options.top, "worst") if n not in best]
    # the panels' columns: the baseline, the compared set, then the others
    order = [plan.baseline, plan.compare] + [name for name in folders if name not in (plan.baseline, plan.compare)]
    sources = PanelSources(images_dir=data.images_dir, label_dirs=tuple((name, folders[name]) for name in order),
                           masks_dir=data.masks_dir, gt_dir=data.gt_dir, baseline=plan.baseline)
    # overwrite: a rerun on new labels must not show stale panels
    drawn = render_panels(best + worst, sources, out_dir / "panels", PanelSettings(num_classes=plan.num_classes),
                          workers=options.workers, overwrite=True, progress=options.progress)
    sections = [
        "<h2>Images</h2>",
        f'<p class="note">Per-image mIoU (%) of <b>{text(plan.baseline)}</b> → <b>{text(plan.compare)}</b> '
        "against the ground truth, over the classes present in the GT or either label map. "
        "Click a picture for the full-size panel: image | label sets | masks | ground truth | what changed "
        "(pixels fixed green, broken red).</p>",
        f"<h3>Most improved ({len(best)} of {len(scores)} images)</h3>",
        _gallery(best, scores, out_dir),
        f"<h3>Least improved or worsened ({len(worst)})</h3>",
        _gallery(worst, scores, out_dir),
    ]
    trouble = problems + drawn.failed
    if trouble:
        items = "".join(f"<li>{text(n)}: {text(r)}</li>" for n, r in trouble[:20])
        sections.append(f'<p class="note">Not drawn or not ranked ({len(trouble)}):</p><ul>{items}</ul>')
    return sections


# ----------------------------------------------------------------------------- the page


def write_report(data: ReportData, out_dir: os.PathLike, options: ReportOptions = ReportOptions()) -> Path:
    """Write the HTML report of an evaluation into ``out_dir``; returns ``out_dir/index.html``.

    Args:
        data: the evaluation and its folders (:class:`ReportData`).
        out_dir: report folder (created; must not lie inside an input folder).
        options: the gallery size, the baseline and compared sets, workers (:class:`ReportOptions`).

    Raises:
        ValueError: ``options.baseline``/``compare`` is not one of the label sets, or
            ``out_dir`` is inside an input.
    """
    plan = _plan(data, options)
    sets = data.sets
    out_dir = Path(out_dir)
    ensure_not_inside(out_dir, data.inputs())
    out_dir.mkdir(parents=True, exist_ok=True)
    clean_stale_temp_files(out_dir)
    atomic_write_bytes(out_dir / CHART_NAME, plot_per_class_iou(sets, plan.class_names,
                                                                _set_colours(list(sets), plan.baseline)))
    support = data.results.get("support")
    sections = [
        _headline(sets, plan),
        "<details><summary><b>Where these numbers come from</b></summary>",
        _source_table(data, plan),
        "</details>",
        "<h2>Overall</h2>",
        _overall_table(sets, plan.baseline),
        f'<p class="note">Scores in %, from one confusion matrix per label set over all images; Δ in percentage '
        f"points against <b>{text(plan.baseline)}</b>; pixels the labels leave unlabelled (255) count as "
        "misses.</p>",
        "<h2>Per-class IoU</h2>",
        f'<img src="{href(CHART_NAME)}" alt="per-class IoU bar chart">',
        _class_table(sets, plan, support),
    ]
    if support:
        sections.append('<p class="note">GT pixels / GT images: the valid ground-truth pixels of each class and '
                        "the images holding it, over the images evaluated: a class seen in few images has a noisy "
                        "IoU.</p>")
    if data.mask_comparison is not None:
        sections.append(mask_comparison_section(data.mask_comparison, out_dir))
    sections += _failed_section(list(data.results.get("failed") or []))
    sections += _pictures(data, plan, options, out_dir)
    title = "samcam evaluation: " + " vs ".join(sets)
    return atomic_write_bytes(out_dir / "index.html", page(title, "\n".join(sections)))

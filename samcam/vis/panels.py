"""Picture panels of pseudo labels: ``samcam vis``.

One PNG per image, columns side by side::

    image | label set 1 | label set 2 | ... | SAM masks | ground truth | difference map

Label maps are drawn in the VOC palette blended over the image (:mod:`.draw`); the masks
in seeded random colours; under every column the class names present. With a ground
truth, each label set's title carries its per-image mIoU, and with two or more label
sets a last column maps what the change from the baseline (the first set, or
:attr:`PanelSources.baseline`) to the next set did: pixels fixed green, broken red.

Panels are drawn with pillow alone (no matplotlib), so every column is exactly the
image's width and a panel's size is predictable:
``width = ncols * W + (ncols - 1) * COLUMN_GAP``, ``height = title + H + legend``.
Text grows with the panel's width, so it stays readable when a wide panel is shown
:data:`SHOWN_WIDTH` pixels wide (the report's pictures, a laptop screen).

Which images to draw is the caller's choice; :func:`samcam.evaluate.score_images`
and :func:`samcam.evaluate.select_changed` rank them by per-image mIoU.
"""
from __future__ import annotations

import io
import os
import zlib
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from .. import masks as mask_io
from ..batch import BatchResult, run_batch
from ..errors import ImageError
from ..evaluate import class_names, confusion_matrix, per_image_miou
from ..io import atomic_write_bytes, ensure_not_inside, find_image, read_image, read_label_png
from ..settings import Settings, setting
from .draw import (
    BROKEN_COLOUR,
    FIXED_COLOUR,
    IGNORE_COLOURS,
    IGNORE_INDEX,
    PALETTE,
    difference_map,
    hatch,
    mask_colours,
    overlay_label,
    overlay_masks,
)
from .page import printable

__all__ = [
    "COLUMN_GAP",
    "TITLE_HEIGHT",
    "SHOWN_WIDTH",
    "IGNORE_COLOURS",
    "FIXED_COLOUR",
    "BROKEN_COLOUR",
    "overlay_label",
    "overlay_masks",
    "mask_colours",
    "difference_map",
    "label_legend",
    "compose_panel",
    "Tile",
    "PanelSources",
    "PanelSettings",
    "image_tiles",
    "per_image_scores",
    "render_image",
    "render_panels",
]

# White gap between columns: keeps neighbouring overlays apart and makes the
# column count checkable from the pixels alone.
COLUMN_GAP = 6
# Sizes of a panel up to SHOWN_WIDTH wide; a wider one scales them by width / SHOWN_WIDTH.
SHOWN_WIDTH = 1200
TITLE_HEIGHT = 24
TITLE_FONT = 16
LEGEND_FONT = 14
LEGEND_LINE_HEIGHT = 19
LEGEND_PAD = 4
SWATCH = 11
BACKGROUND = (255, 255, 255)
TEXT_COLOUR = (20, 20, 20)


@dataclass
class Tile:
    """One column of a panel: a title, an H×W×3 picture and legend entries (colour, text).

    ``suffix`` follows the title and is never cut: a long title loses its own end instead.
    """

    title: str
    picture: np.ndarray
    legend: List[Tuple[object, str]]  # colour: RGB tuple, "hatch" (ignore) or None
    suffix: str = ""


# ----------------------------------------------------------------------------- composing


def _font(size: int):
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError, ImportError):  # pillow < 10.1 or no FreeType: bitmap font
        return ImageFont.load_default()


@dataclass(frozen=True)
class _Layout:
    """Text sizes of one panel: the base sizes times ``max(1, width / SHOWN_WIDTH)``."""

    scale: float

    def size(self, base: int) -> int:
        return int(round(base * self.scale))

    @property
    def title_font(self):
        return _font(self.size(TITLE_FONT))

    @property
    def legend_font(self):
        return _font(self.size(LEGEND_FONT))


def _fit(draw: ImageDraw.ImageDraw, text: str, font, width: int, keep: str = "") -> str:
    """``text + keep`` with ``text`` cut with an ellipsis so the whole fits ``width`` pixels
    (in a column too narrow for ``keep`` itself, the whole is cut from its end)."""
    if draw.textlength(text + keep, font=font) <= width:
        return text + keep
    if keep and draw.textlength("…" + keep, font=font) > width:
        return _fit(draw, text + keep, font, width)
    while text and draw.textlength(text + "…" + keep, font=font) > width:
        text = text[:-1]
    return (text + "…" if text else "") + keep


def _legend_lines(draw, entries, font, width: int, layout: _Layout) -> List[List[Tuple[object, str]]]:
    """Greedy wrap of legend entries into lines no wider than ``width``."""
    swatch = layout.size(SWATCH + 3)
    lines: List[List] = [[]]
    used = 0
    for colour, text in entries:
        text = _fit(draw, text, font, width - swatch)
        need = (swatch if colour is not None else 0) + int(draw.textlength(text, font=font)) + layout.size(10)
        if lines[-1] and used + need > width:
            lines.append([])
            used = 0
        lines[-1].append((colour, text))
        used += need
    return lines


def _draw_legend_line(panel: Image.Image, line, left: int, top: int, layout: _Layout) -> None:
    draw = ImageDraw.Draw(panel)
    font, side = layout.legend_font, layout.size(SWATCH)
    x, y = left, top + layout.size(3)
    for colour, text in line:
        if colour == "hatch":
            panel.paste(Image.fromarray(hatch((side, side))), (x, y))
        elif colour is not None:
            draw.rectangle((x, y, x + side - 1, y + side - 1), fill=tuple(colour), outline=(0, 0, 0))
        if colour is not None:
            x += layout.size(SWATCH + 3)
        draw.text((x, top), text, fill=TEXT_COLOUR, font=font)
        x += int(draw.textlength(text, font=font)) + layout.size(10)


def compose_panel(tiles: Sequence[Tile]) -> Image.Image:
    """Put tiles side by side with titles above and legends below -> an RGB pillow image.

    Every tile must have the same H×W. Width is ``len(tiles) * W + (len(tiles) - 1) * COLUMN_GAP``;
    text is scaled by ``max(1, width / SHOWN_WIDTH)``.
    """
    if not tiles:
        raise ValueError("a panel needs at least one column")
    height, width = tiles[0].picture.shape[:2]
    for tile in tiles:
        if tile.picture.shape[:2] != (height, width):
            raise ValueError(f"column {tile.title!r} is {tile.picture.shape[:2]}, expected {(height, width)}")
    total_width = len(tiles) * width + (len(tiles) - 1) * COLUMN_GAP
    layout = _Layout(scale=max(1.0, total_width / SHOWN_WIDTH))
    pad, line_height, title_height = layout.size(LEGEND_PAD), layout.size(LEGEND_LINE_HEIGHT), layout.size(TITLE_HEIGHT)
    scratch = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    wrapped = [_legend_lines(scratch, tile.legend, layout.legend_font, width - 2 * pad, layout) for tile in tiles]
    legend_height = max(len(lines) for lines in wrapped) * line_height + 2 * pad
    panel = Image.new("RGB", (total_width, title_height + height + legend_height), BACKGROUND)
    draw = ImageDraw.Draw(panel)
    for column, (tile, lines) in enumerate(zip(tiles, wrapped)):
        left = column * (width + COLUMN_GAP)
        title = _fit(draw, tile.title, layout.title_font, width - 6, keep=tile.suffix)
        draw.text((left + 3, layout.size(4)), title, fill=TEXT_COLOUR, font=layout.title_font)
        panel.paste(Image.fromarray(tile.picture), (left, title_height))
        for row, line in enumerate(lines):
            _draw_legend_line(panel, line, left + pad, title_height + height + pad + row * line_height, layout)
    return panel


def label_legend(label: np.ndarray, names: Sequence[str]) -> List[Tuple[object, str]]:
    """Legend entries (colour, class name) for the classes present in an H×W label map."""
    entries: List[Tuple[object, str]] = []
    for value in np.unique(label).tolist():
        if value == IGNORE_INDEX:
            entries.append(("hatch", "ignore"))
        else:
            entries.append((tuple(int(c) for c in PALETTE[value]), names[value] if value < len(names) else f"class {value}"))
    return entries


# ----------------------------------------------------------------------------- inputs


@dataclass(frozen=True)
class PanelSources:
    """Where a panel's columns come from.

    Attributes:
        images_dir: image folder (``{name}.jpg`` or ``{name}.png``).
        label_dirs: ``(title, folder)`` of each label set, in column order (``{folder}/{name}.png``).
        masks_dir: mask folder (anything :func:`samcam.masks.find` reads), or None.
        gt_dir: ground-truth folder (``{name}.png``), or None: no mIoU in the titles, no
            difference map.
        baseline: title of the label set the difference map starts from (default: the
            first); it ends at the first other set.
    """

    images_dir: os.PathLike
    label_dirs: Tuple[Tuple[str, str], ...] = ()
    masks_dir: Optional[os.PathLike] = None
    gt_dir: Optional[os.PathLike] = None
    baseline: Optional[str] = None

    def __post_init__(self) -> None:
        pairs = tuple((str(title), str(folder)) for title, folder in self.label_dirs)
        object.__setattr__(self, "label_dirs", pairs)
        titles = [title for title, _ in pairs]
        if len(set(titles)) != len(titles):
            raise ValueError(f"two label sets have the same title: {', '.join(titles)}")
        if self.baseline is not None and self.baseline not in titles:
            raise ValueError(f"baseline {self.baseline!r} is not one of the label sets: {', '.join(titles) or 'none'}")

    def folders(self) -> List[Optional[os.PathLike]]:
        """Every input folder (None where not given)."""
        return [self.images_dir, self.masks_dir, self.gt_dir] + [folder for _, folder in self.label_dirs]

    def change(self) -> Optional[Tuple[str, str]]:
        """``(before, after)`` titles of the difference map, or None (no GT or fewer than two sets)."""
        titles = [title for title, _ in self.label_dirs]
        if self.gt_dir is None or len(titles) < 2:
            return None
        before = self.baseline if self.baseline is not None else titles[0]
        return before, next(title for title in titles if title != before)


@dataclass(frozen=True)
class PanelSettings(Settings):
    """How panels are drawn."""

    alpha: float = setting(0.6, "weight of label colours over the image, 0..1", low=0.0, high=1.0, metavar="X")
    num_classes: int = setting(21, "classes including background (21 VOC, 81 COCO)", low=2, high=255, metavar="N")
    seed: int = setting(0, "seed of --random and of the mask colours", metavar="N")


def _read_label(path: Path, shape: Tuple[int, int], num_classes: int) -> np.ndarray:
    """A label PNG checked against the image size and the class range."""
    label = read_label_png(path)
    if label.shape != shape:
        raise ImageError(f"{path}: label is {label.shape[0]}×{label.shape[1]} but the image is {shape[0]}×{shape[1]} (height×width)")
    values = np.unique(label)
    bad = values[(values >= num_classes) & (values != IGNORE_INDEX)]
    if bad.size:
        raise ImageError(
            f"{path}: label values {bad.tolist()} are outside 0..{num_classes - 1} and {IGNORE_INDEX} "
            "(wrong --num-classes?)"
        )
    return label


def _read_masks(masks_dir: os.PathLike, name: str, shape: Tuple[int, int]) -> mask_io.MaskSet:
    mask_path = mask_io.find(masks_dir, name)
    try:
        maskset = mask_io.load(mask_path)
    except (OSError, KeyError, ValueError) as error:
        raise ImageError(f"{mask_path}: cannot read masks ({error})") from error
    if maskset.image_shape != shape:
        raise ImageError(
            f"{mask_path}: masks are {maskset.image_shape[0]}×{maskset.image_shape[1]} but the "
            f"image is {shape[0]}×{shape[1]} (height×width)"
        )
    return maskset


def per_image_scores(labels: Dict[str, np.ndarray], gt: np.ndarray, num_classes: int) -> Dict[str, float]:
    """Per-image mIoU of each H×W label map against ``gt``, all over one class set.

    The classes averaged are those in the GT or in any of the label maps (on pixels with
    valid GT), as :func:`samcam.evaluate.score_images` does for two sets, so the numbers
    of one panel compare. NaN when the GT is all ignore.
    """
    confusions = {title: confusion_matrix(gt=gt, pred=label, num_classes=num_classes) for title, label in labels.items()}
    if not confusions or next(iter(confusions.values())).sum() == 0:
        return {title: float("nan") for title in labels}
    classes = np.zeros(num_classes, dtype=bool)
    for confusion in confusions.values():
        classes |= (confusion.sum(axis=1) > 0) | (confusion[:, :num_classes].sum(axis=0) > 0)
    return {title: per_image_miou(confusion, classes) for title, confusion in confusions.items()}


# ----------------------------------------------------------------------------- one image


def _placeholder(shape: Tuple[int, int], text: str) -> Tile:
    picture = np.full(shape + (3,), 200, dtype=np.uint8)
    return Tile(title=text, picture=picture, legend=[(None, "no file for this image")])


def _read_gt(gt_dir: Optional[os.PathLike], name: str, shape: Tuple[int, int], num_classes: int) -> Optional[np.ndarray]:
    """The image's ground truth, or None without a GT folder or without this image's file."""
    if gt_dir is None or not (Path(gt_dir) / f"{name}.png").exists():
        return None
    return _read_label(Path(gt_dir) / f"{name}.png", shape, num_classes)


def _mask_tile(name: str, image: np.ndarray, masks_dir: os.PathLike, settings: PanelSettings) -> Tile:
    maskset = _read_masks(masks_dir, name, image.shape[:2])
    # Per-image seed: reruns and other worker counts give the same colours.
    mask_seed = zlib.crc32(name.encode("utf-8", "surrogateescape")) ^ settings.seed
    return Tile(title=f"masks ({Path(masks_dir).name})", legend=[(None, f"{len(maskset)} masks")],
                picture=overlay_masks(image, maskset, settings.alpha, seed=mask_seed))


def _score_suffix(score: Optional[float]) -> str:
    return "" if score is None or np.isnan(score) else f" · mIoU {100 * score:.2f}"


def _difference_tile(image, labels: Dict[str, np.ndarray], gt: Optional[np.ndarray],
                     change: Tuple[str, str]) -> Tile:
    before, after = change
    title = f"{before} -> {after}"
    if gt is None:
        return _placeholder(image.shape[:2], title)
    picture, counts = difference_map(image, labels[before], labels[after], gt)
    return Tile(title=title, picture=picture,
                legend=[(FIXED_COLOUR, f"fixed {counts['fixed']} px"), (BROKEN_COLOUR, f"broken {counts['broken']} px")])


def image_tiles(name: str, sources: PanelSources, settings: PanelSettings = PanelSettings()) -> List[Tile]:
    """The columns of image ``name``'s panel (see the module's docstring), read and drawn.

    A GT folder without this image's file (train_aug images usually have none) gives grey
    "not found" columns for the ground truth and the difference map, and no mIoU.

    Raises ``ImageError``/``ValueError``/``FileNotFoundError`` naming the file on bad input.
    """
    names = class_names(settings.num_classes)
    image = read_image(find_image(sources.images_dir, name))
    shape = image.shape[:2]
    labels = {title: _read_label(Path(folder) / f"{name}.png", shape, settings.num_classes)
              for title, folder in sources.label_dirs}
    gt = _read_gt(sources.gt_dir, name, shape, settings.num_classes)
    scores = per_image_scores(labels, gt, settings.num_classes) if gt is not None else {}
    tiles = [Tile(title=printable(name), picture=image, legend=[(None, f"{shape[1]}x{shape[0]}")])]
    tiles += [Tile(title=title, picture=overlay_label(image, label, settings.alpha), legend=label_legend(label, names),
                   suffix=_score_suffix(scores.get(title))) for title, label in labels.items()]
    if sources.masks_dir is not None:
        tiles.append(_mask_tile(name, image, sources.masks_dir, settings))
    if sources.gt_dir is not None:
        tiles.append(_placeholder(shape, "ground truth") if gt is None else
                     Tile(title="ground truth", picture=overlay_label(image, gt, settings.alpha),
                          legend=label_legend(gt, names)))
    if sources.change() is not None:
        tiles.append(_difference_tile(image, labels, gt, sources.change()))
    return tiles


def render_image(name: str, sources: PanelSources, out_dir: os.PathLike,
                 settings: PanelSettings = PanelSettings()) -> Path:
    """Draw and atomically write the panel ``{out_dir}/{name}.png`` of one image (:func:`image_tiles`).

    Raises ``ImageError``/``ValueError``/``FileNotFoundError`` naming the file on bad input.
    """
    buffer = io.BytesIO()
    compose_panel(image_tiles(name, sources, settings)).save(buffer, format="PNG")
    return atomic_write_bytes(Path(out_dir) / f"{name}.png", buffer.getvalue())


def _panel_path(out_dir: Path, name: str) -> Path:
    return out_dir / f"{name}.png"


def render_panels(names: Sequence[str], sources: PanelSources, out_dir: os.PathLike,
                  settings: PanelSettings = PanelSettings(), *, workers: int = 1, overwrite: bool = False,
                  progress: bool = False) -> BatchResult:
    """Write ``{out_dir}/{name}.png`` panels for ``names`` with the batch runner (resumable).

    See :func:`image_tiles` for the columns. Refuses an ``out_dir`` inside an input folder.
    """
    if not sources.label_dirs and sources.masks_dir is None and sources.gt_dir is None:
        raise ValueError("nothing to draw: give at least one label folder, --masks or --gt")
    ensure_not_inside(out_dir, sources.folders())
    out_dir = Path(out_dir)
    job = partial(render_image, sources=sources, out_dir=str(out_dir), settings=settings)
    return run_batch(
        names, job, partial(_panel_path, out_dir), workers=workers, overwrite=overwrite, desc="vis", progress=progress
    )

"""Picture panels of pseudo labels: ``samcam vis``.

One PNG per image, columns side by side::

    image | label set 1 | label set 2 | ... | SAM masks | ground truth

Label maps are drawn in the VOC palette blended over the image at ``alpha``;
ignore (255) is a hatch so it never looks like a class. Masks get random but
seeded colours (the same image always looks the same) with outlines, so
neighbouring regions stay apart. Under every column: the class names present.

Panels are drawn with pillow alone (no matplotlib), so every column is exactly
the image's width and a panel's size is predictable:
``width = ncols * W + (ncols - 1) * COLUMN_GAP``,
``height = TITLE_HEIGHT + H + legend height``.

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
from typing import List, Optional, Sequence, Tuple

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from .. import masks as mask_io
from ..batch import BatchResult, run_batch
from ..errors import ImageError
from ..evaluate import class_names
from ..files import atomic_write_bytes
from ..images import find_image, read_image, read_label_png, voc_palette
from ..outputs import ensure_not_inside

__all__ = [
    "COLUMN_GAP",
    "TITLE_HEIGHT",
    "overlay_label",
    "overlay_masks",
    "mask_colours",
    "label_legend",
    "compose_panel",
    "Tile",
    "render_image",
    "render_panels",
]

IGNORE_INDEX = 255
# White gap between columns: keeps neighbouring overlays apart and makes the
# column count checkable from the pixels alone.
COLUMN_GAP = 6
TITLE_HEIGHT = 22
LEGEND_LINE_HEIGHT = 16
LEGEND_PAD = 4
BACKGROUND = (255, 255, 255)
TEXT_COLOUR = (20, 20, 20)
# VOC's own "void" colour, alternated with grey so 255 reads as a hatch, not a class.
IGNORE_COLOURS = ((224, 224, 192), (90, 90, 90))

_PALETTE = np.array(voc_palette(), dtype=np.uint8).reshape(256, 3)


# ----------------------------------------------------------------------------- inputs

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


# ----------------------------------------------------------------------------- drawing


def _hatch(shape: Tuple[int, int]) -> np.ndarray:
    """H×W×3 uint8 diagonal stripes used for ignore (255) pixels."""
    rows, cols = np.indices(shape)
    stripe = ((rows + cols) // 3) % 2
    return np.array(IGNORE_COLOURS, dtype=np.uint8)[stripe]


def overlay_label(image: np.ndarray, label: np.ndarray, alpha: float = 0.6) -> np.ndarray:
    """Blend a label map over an image.

    Args:
        image: H×W×3 uint8 RGB.
        label: H×W uint8, 0..C-1 classes (VOC palette colours), 255 ignore.
        alpha: weight of the label colour (0 = image only, 1 = colours only).

    Returns:
        H×W×3 uint8; ignore pixels are an opaque hatch so they never look like a class.
    """
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be within 0..1, got {alpha}")
    colours = _PALETTE[label].astype(np.float32)
    blended = (1.0 - alpha) * image.astype(np.float32) + alpha * colours
    out = np.clip(np.rint(blended), 0, 255).astype(np.uint8)
    ignore = label == IGNORE_INDEX
    if ignore.any():
        out[ignore] = _hatch(label.shape)[ignore]
    return out


def mask_colours(count: int, seed: int) -> np.ndarray:
    """``count``×3 uint8 bright random colours, the same for the same seed."""
    rng = np.random.default_rng(seed)
    # Floor at 60 so no mask is drawn near-black (it would vanish on dark images).
    return rng.integers(60, 256, size=(count, 3), dtype=np.int64).astype(np.uint8)


def _outline(mask: np.ndarray) -> np.ndarray:
    """Pixels of a bool H×W mask that touch a pixel outside it (4-neighbourhood)."""
    interior = mask.copy()
    interior[1:, :] &= mask[:-1, :]
    interior[:-1, :] &= mask[1:, :]
    interior[:, 1:] &= mask[:, :-1]
    interior[:, :-1] &= mask[:, 1:]
    return mask & ~interior


def overlay_masks(image: np.ndarray, masks, alpha: float = 0.6, seed: int = 0) -> np.ndarray:
    """Draw class-agnostic masks over an image in random colours with outlines.

    Args:
        image: H×W×3 uint8 RGB.
        masks: K×H×W bool array or a :class:`samcam.masks.MaskSet`.
        alpha: weight of the mask colour inside masks.
        seed: colour seed; the same seed gives the same colours.

    Returns:
        H×W×3 uint8. Large masks are painted first so small ones stay visible on top.
    """
    maskset = mask_io.as_maskset(masks, image_shape=image.shape[:2])
    if maskset.image_shape != tuple(image.shape[:2]):
        raise ImageError(
            f"masks are {maskset.image_shape[0]}×{maskset.image_shape[1]} but the image is "
            f"{image.shape[0]}×{image.shape[1]} (height×width)"
        )
    out = image.astype(np.float32)
    if len(maskset) == 0:
        return image.copy()
    dense = maskset.dense
    colours = mask_colours(len(maskset), seed)
    order = np.argsort(-maskset.areas, kind="stable")
    boxes = [_box(dense[index]) for index in range(len(maskset))]
    # Work inside each mask's box (grown by one pixel so the outline test sees the
    # outside): SAM gives ~100 mostly small masks, so this is several times faster.
    for index in order:
        rows, cols = boxes[index]
        region = dense[index, rows, cols]
        crop = out[rows, cols]
        crop[region] = (1.0 - alpha) * crop[region] + alpha * colours[index]
    result = np.clip(np.rint(out), 0, 255).astype(np.uint8)
    for index in order:
        rows, cols = boxes[index]
        result[rows, cols][_outline(dense[index, rows, cols])] = colours[index]
    return result


def _box(mask: np.ndarray) -> Tuple[slice, slice]:
    """Row and column slices of a bool H×W mask's bounding box plus a one-pixel margin."""
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        return slice(0, 0), slice(0, 0)
    return slice(max(rows[0] - 1, 0), rows[-1] + 2), slice(max(cols[0] - 1, 0), cols[-1] + 2)


@dataclass
class Tile:
    """One column of a panel: a title, an H×W×3 picture and legend entries (colour, text)."""

    title: str
    picture: np.ndarray
    legend: List[Tuple[object, str]]  # colour: RGB tuple, "hatch" (ignore) or None


def _font(size: int):
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError, ImportError):  # pillow < 10.1 or no FreeType: bitmap font
        return ImageFont.load_default()


def _fit(draw: ImageDraw.ImageDraw, text: str, font, width: int) -> str:
    """``text`` cut with an ellipsis so it fits ``width`` pixels."""
    if draw.textlength(text, font=font) <= width:
        return text
    while text and draw.textlength(text + "…", font=font) > width:
        text = text[:-1]
    return text + "…" if text else ""


def _legend_lines(draw, entries, font, width: int) -> List[List[Tuple[Optional[Tuple[int, int, int]], str]]]:
    """Greedy wrap of legend entries into lines no wider than ``width``."""
    lines: List[List] = [[]]
    used = 0
    for colour, text in entries:
        text = _fit(draw, text, font, width - 14)
        need = (14 if colour is not None else 0) + int(draw.textlength(text, font=font)) + 10
        if lines[-1] and used + need > width:
            lines.append([])
            used = 0
        lines[-1].append((colour, text))
        used += need
    return lines


def compose_panel(tiles: Sequence[Tile]) -> Image.Image:
    """Put tiles side by side with titles above and legends below -> an RGB pillow image.

    Every tile must have the same H×W. Width is ``len(tiles) * W + (len(tiles) - 1) * COLUMN_GAP``.
    """
    if not tiles:
        raise ValueError("a panel needs at least one column")
    height, width = tiles[0].picture.shape[:2]
    for tile in tiles:
        if tile.picture.shape[:2] != (height, width):
            raise ValueError(f"column {tile.title!r} is {tile.picture.shape[:2]}, expected {(height, width)}")
    title_font, legend_font = _font(14), _font(12)
    scratch = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    wrapped = [_legend_lines(scratch, tile.legend, legend_font, width - 2 * LEGEND_PAD) for tile in tiles]
    legend_height = max(len(lines) for lines in wrapped) * LEGEND_LINE_HEIGHT + 2 * LEGEND_PAD
    total_width = len(tiles) * width + (len(tiles) - 1) * COLUMN_GAP
    panel = Image.new("RGB", (total_width, TITLE_HEIGHT + height + legend_height), BACKGROUND)
    draw = ImageDraw.Draw(panel)
    hatch_swatch = Image.fromarray(_hatch((10, 10)))
    for column, (tile, lines) in enumerate(zip(tiles, wrapped)):
        left = column * (width + COLUMN_GAP)
        draw.text((left + 3, 4), _fit(draw, tile.title, title_font, width - 6), fill=TEXT_COLOUR, font=title_font)
        panel.paste(Image.fromarray(tile.picture), (left, TITLE_HEIGHT))
        top = TITLE_HEIGHT + height + LEGEND_PAD
        for line in lines:
            x = left + LEGEND_PAD
            for colour, text in line:
                if colour == "hatch":
                    panel.paste(hatch_swatch, (x, top + 3))
                    x += 14
                elif colour is not None:
                    draw.rectangle((x, top + 3, x + 9, top + 12), fill=tuple(colour), outline=(0, 0, 0))
                    x += 14
                draw.text((x, top + 1), text, fill=TEXT_COLOUR, font=legend_font)
                x += int(draw.textlength(text, font=legend_font)) + 10
            top += LEGEND_LINE_HEIGHT
    return panel


def label_legend(label: np.ndarray, names: Sequence[str]) -> List[Tuple[object, str]]:
    """Legend entries (colour, class name) for the classes present in an H×W label map."""
    entries: List[Tuple[object, str]] = []
    for value in np.unique(label).tolist():
        if value == IGNORE_INDEX:
            entries.append(("hatch", "ignore"))
        else:
            entries.append((tuple(int(c) for c in _PALETTE[value]), names[value] if value < len(names) else f"class {value}"))
    return entries


def _placeholder(shape: Tuple[int, int], text: str) -> Tile:
    picture = np.full(shape + (3,), 200, dtype=np.uint8)
    return Tile(title=text, picture=picture, legend=[(None, "no file for this image")])


# ----------------------------------------------------------------------------- one image


def render_image(
    name: str,
    *,
    images_dir: os.PathLike,
    label_dirs: Sequence[Tuple[str, os.PathLike]],
    out_dir: os.PathLike,
    masks_dir: Optional[os.PathLike] = None,
    gt_dir: Optional[os.PathLike] = None,
    alpha: float = 0.6,
    num_classes: int = 21,
    seed: int = 0,
) -> Path:
    """Draw and atomically write the panel ``{out_dir}/{name}.png`` of one image.

    Columns: the image, each ``(title, folder)`` of ``label_dirs`` (``{folder}/{name}.png``),
    the masks of ``masks_dir`` (found with :func:`samcam.masks.find`) when given, the
    ground truth ``{gt_dir}/{name}.png`` when given (a grey "not found" column when that
    image has none, as train_aug images usually have no ground truth).

    Raises ``ImageError``/``ValueError``/``FileNotFoundError`` naming the file on bad input.
    """
    names = class_names(num_classes)
    image = read_image(find_image(images_dir, name))
    shape = image.shape[:2]
    tiles = [Tile(title=name, picture=image, legend=[(None, f"{shape[1]}x{shape[0]}")])]
    for title, folder in label_dirs:
        label = _read_label(Path(folder) / f"{name}.png", shape, num_classes)
        tiles.append(Tile(title=title, picture=overlay_label(image, label, alpha), legend=label_legend(label, names)))
    if masks_dir is not None:
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
        # Per-image seed: reruns and other worker counts give the same colours.
        mask_seed = zlib.crc32(name.encode("utf-8", "surrogateescape")) ^ seed  # a name's bytes, UTF-8 or not
        tiles.append(
            Tile(
                title=f"masks ({Path(masks_dir).name})",
                picture=overlay_masks(image, maskset, alpha, seed=mask_seed),
                legend=[(None, f"{len(maskset)} masks")],
            )
        )
    if gt_dir is not None:
        gt_path = Path(gt_dir) / f"{name}.png"
        if gt_path.exists():
            gt = _read_label(gt_path, shape, num_classes)
            tiles.append(Tile(title="ground truth", picture=overlay_label(image, gt, alpha), legend=label_legend(gt, names)))
        else:
            tiles.append(_placeholder(shape, "ground truth"))
    buffer = io.BytesIO()
    compose_panel(tiles).save(buffer, format="PNG")
    return atomic_write_bytes(Path(out_dir) / f"{name}.png", buffer.getvalue())


def _panel_path(out_dir: Path, name: str) -> Path:
    return out_dir / f"{name}.png"


def render_panels(
    names: Sequence[str],
    *,
    images_dir: os.PathLike,
    label_dirs: Sequence[Tuple[str, os.PathLike]],
    out_dir: os.PathLike,
    masks_dir: Optional[os.PathLike] = None,
    gt_dir: Optional[os.PathLike] = None,
    alpha: float = 0.6,
    num_classes: int = 21,
    seed: int = 0,
    workers: int = 1,
    overwrite: bool = False,
    progress: bool = False,
) -> BatchResult:
    """Write ``{out_dir}/{name}.png`` panels for ``names`` with the batch runner (resumable).

    See :func:`render_image` for the columns. Refuses an ``out_dir`` inside an input folder.
    """
    if not label_dirs and masks_dir is None and gt_dir is None:
        raise ValueError("nothing to draw: give at least one label folder, --masks or --gt")
    ensure_not_inside(out_dir, [images_dir, masks_dir, gt_dir] + [folder for _, folder in label_dirs])
    out_dir = Path(out_dir)
    job = partial(
        render_image,
        images_dir=images_dir,
        label_dirs=tuple((title, str(folder)) for title, folder in label_dirs),
        out_dir=str(out_dir),
        masks_dir=masks_dir,
        gt_dir=gt_dir,
        alpha=alpha,
        num_classes=num_classes,
        seed=seed,
    )
    return run_batch(
        names, job, partial(_panel_path, out_dir), workers=workers, overwrite=overwrite, desc="vis", progress=progress
    )

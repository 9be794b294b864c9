"""Objects for the rule benchmark's scenes (:mod:`scenes`): a canvas of primitive shapes and
one template per VOC class (animals with head/body/legs, people, vehicles with wheels and
windows, bicycles and chairs of thin bars, tables, sofas, monitors, bottles, plants), each
made of disjoint parts, with sub-parts and a discriminative part. SYNTHETIC shapes.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
from scipy import ndimage
from skimage.draw import polygon as draw_polygon

PERSON, HORSE, MOTORBIKE, BICYCLE, BOTTLE, TABLE, MONITOR, PLANT, SOFA, CHAIR, BOAT, CAT, DOG = (
    15, 13, 14, 2, 5, 11, 20, 16, 18, 9, 4, 8, 12)


# ----------------------------------------------------------------------------- drawing
class Canvas:
    """Pixel grids of one H×W image and primitive shapes on them (all return H×W bool)."""

    def __init__(self, height: int, width: int):
        self.height, self.width = height, width
        self.yy, self.xx = np.mgrid[0:height, 0:width].astype(np.float32)

    def ellipse(self, cy, cx, ry, rx, angle=0.0):
        dy, dx = self.yy - cy, self.xx - cx
        cos, sin = np.cos(angle), np.sin(angle)
        u = (dx * cos + dy * sin) / max(rx, 0.5)
        v = (-dx * sin + dy * cos) / max(ry, 0.5)
        return u * u + v * v <= 1.0

    def rect(self, cy, cx, ry, rx, angle=0.0):
        """A rectangle of half-sizes ry, rx rotated by ``angle``."""
        dy, dx = self.yy - cy, self.xx - cx
        cos, sin = np.cos(angle), np.sin(angle)
        return (np.abs(dx * cos + dy * sin) <= max(rx, 0.5)) & (np.abs(-dx * sin + dy * cos) <= max(ry, 0.5))

    def bar(self, y0, x0, y1, x1, half_width):
        """A thick line segment (points within ``half_width`` of it)."""
        dy, dx = y1 - y0, x1 - x0
        length2 = max(dy * dy + dx * dx, 1e-6)
        t = np.clip(((self.yy - y0) * dy + (self.xx - x0) * dx) / length2, 0, 1)
        py, px = y0 + t * dy - self.yy, x0 + t * dx - self.xx
        return py * py + px * px <= max(half_width, 0.6) ** 2

    def ring(self, cy, cx, r_out, r_in):
        d2 = (self.yy - cy) ** 2 + (self.xx - cx) ** 2
        return (d2 <= r_out * r_out) & (d2 > r_in * r_in)

    def polygon(self, ys, xs):
        mask = np.zeros((self.height, self.width), bool)
        rr, cc = draw_polygon(np.asarray(ys, float), np.asarray(xs, float), shape=(self.height, self.width))
        mask[rr, cc] = True
        return mask


@dataclass
class Thing:
    """One object instance: disjoint parts (their union is the object), sub-parts inside
    parts, the discriminative part the CAM peaks on, and optionally the region SAM may
    return when it fills the object's holes."""

    cls: int
    parts: List[np.ndarray]
    key: int
    subparts: List[np.ndarray]
    filled: Optional[np.ndarray] = None
    whole: Optional[np.ndarray] = None  # visible pixels, set after occlusion


def _disjoint(parts: Sequence[np.ndarray]) -> List[np.ndarray]:
    """Earlier parts own shared pixels."""
    taken = np.zeros_like(parts[0])
    out = []
    for part in parts:
        part = part & ~taken
        taken |= part
        out.append(part)
    return out


def _halves(canvas: Canvas, region: np.ndarray, rng, axis: Optional[int] = None) -> List[np.ndarray]:
    """Split a region in two across its median (a sub-part boundary)."""
    if region.sum() < 8:
        return []
    coords = np.argwhere(region)
    axis = int(rng.integers(0, 2)) if axis is None else axis
    cut = np.median(coords[:, axis]) + rng.normal(0, 1)
    grid = canvas.yy if axis == 0 else canvas.xx
    return [region & (grid < cut), region & (grid >= cut)]


# ----------------------------------------------------------------------------- background
def stuff_regions(family, canvas: Canvas, rng) -> Tuple[List[np.ndarray], List[List[np.ndarray]], List[np.ndarray]]:
    """Background regions (a partition of the image), their pieces, and small things on them
    (``family``: a :class:`scenes.Family`, whose ``extra_stuff``, ``stuff_pieces`` and ``junk`` ranges apply)."""
    yy, xx = canvas.yy, canvas.xx
    h, w = canvas.height, canvas.width
    horizon = h * rng.uniform(0.25, 0.6) + h * 0.08 * np.sin(xx / w * rng.uniform(2, 6) + rng.uniform(0, 6))
    regions = [yy < horizon]
    ground = yy >= horizon
    if rng.random() < 0.6:
        split = w * rng.uniform(0.25, 0.75) + (yy - h) * rng.uniform(-0.5, 0.5)
        regions += [ground & (xx < split), ground & (xx >= split)]
    else:
        regions.append(ground)
    for _ in range(int(rng.integers(family.extra_stuff[0], family.extra_stuff[1] + 1))):
        thing = canvas.ellipse(rng.uniform(0, h), rng.uniform(0, w), rng.uniform(0.1, 0.35) * h,
                               rng.uniform(0.1, 0.3) * w, rng.uniform(0, np.pi))
        regions = [r & ~thing for r in regions] + [thing]
    regions = [r for r in regions if r.sum() >= 20]
    pieces = [_region_pieces(family, canvas, rng, region) for region in regions]
    return regions, pieces, _junk(family, canvas, rng)


def _region_pieces(family, canvas: Canvas, rng, region: np.ndarray) -> List[np.ndarray]:
    """A background region cut into pieces (nearest of a few random seeds), pieces under 10 px dropped."""
    count = int(rng.integers(family.stuff_pieces[0], family.stuff_pieces[1] + 1))
    if count <= 1:
        return [region]
    coords = np.argwhere(region)
    seeds = coords[rng.choice(len(coords), size=min(count, len(coords)), replace=False)].astype(np.float32)
    distance = (canvas.yy[..., None] - seeds[:, 0]) ** 2 + (canvas.xx[..., None] - seeds[:, 1]) ** 2
    nearest = np.argmin(distance, axis=-1)
    return [region & (nearest == k) for k in range(len(seeds)) if (region & (nearest == k)).sum() >= 10]


def _junk(family, canvas: Canvas, rng) -> List[np.ndarray]:
    """Small background things (5 px or more) that get their own masks."""
    junk = []
    for _ in range(int(rng.integers(family.junk[0], family.junk[1] + 1))):
        blob = canvas.ellipse(rng.uniform(0, canvas.height), rng.uniform(0, canvas.width), rng.uniform(1.5, 7),
                              rng.uniform(1.5, 9), rng.uniform(0, np.pi))
        if blob.sum() >= 5:
            junk.append(blob)
    return junk


# ----------------------------------------------------------------------------- templates
# Each template draws one object of class ``cls`` with characteristic size ``s`` (about
# the square root of its area, in pixels) centred at (cy, cx).

def _animal(canvas, rng, cls, cy, cx, s):
    face = rng.choice([-1.0, 1.0])
    long_legs = cls == HORSE or cls == 10  # horse, cow
    bird = cls == 3
    rx, ry = s * rng.uniform(0.55, 0.75), s * rng.uniform(0.3, 0.4)
    body = canvas.ellipse(cy, cx, ry, rx, rng.normal(0, 0.15))
    hr = s * rng.uniform(0.2, 0.28)
    hy, hx = cy - ry * rng.uniform(0.5, 1.1), cx + face * rx * rng.uniform(0.75, 1.05)
    head = canvas.ellipse(hy, hx, hr, hr * rng.uniform(0.9, 1.3))
    neck = canvas.bar(cy - ry * 0.3, cx + face * rx * 0.6, hy, hx, s * 0.09)
    legs = []
    leg_length = s * (rng.uniform(0.5, 0.7) if long_legs else rng.uniform(0.25, 0.45))
    xs = [-0.6, 0.6] if bird else [-0.65, -0.4, 0.4, 0.65]
    for offset in xs:
        lx = cx + offset * rx
        legs.append(canvas.bar(cy + ry * 0.6, lx, cy + ry * 0.6 + leg_length, lx + rng.normal(0, s * 0.05),
                               max(0.8, s * (0.03 if bird else 0.06))))
    tail = canvas.bar(cy - ry * 0.2, cx - face * rx * 0.95, cy - ry * rng.uniform(0.2, 1.0),
                      cx - face * rx * rng.uniform(1.1, 1.4), max(0.8, s * 0.04))
    parts = _disjoint([head, neck | body, *legs, tail])
    subparts = _halves(canvas, parts[1], rng, axis=1)
    ear = canvas.ellipse(hy - hr * 0.8, hx, hr * 0.4, hr * 0.3) & parts[0]
    if bird:  # the wing: a sub-part of the body
        subparts = [canvas.ellipse(cy - ry * 0.2, cx, ry * 0.6, rx * 0.6) & parts[1]]
    subparts.append(ear)
    return Thing(cls, parts, 0, subparts)


def _person(canvas, rng, cls, cy, cx, s):
    height = s * rng.uniform(1.4, 1.8)
    top = cy - height / 2
    hr = height * 0.09
    head = canvas.ellipse(top + hr, cx, hr * 1.15, hr)
    torso_top, torso_bottom = top + 2 * hr, top + height * 0.55
    shoulders = height * rng.uniform(0.1, 0.14)
    torso = canvas.rect((torso_top + torso_bottom) / 2, cx, (torso_bottom - torso_top) / 2, shoulders,
                        rng.normal(0, 0.05))
    legs = [canvas.bar(torso_bottom, cx + side * shoulders * 0.5, top + height,
                       cx + side * shoulders * rng.uniform(0.3, 1.2), max(0.9, height * 0.045))
            for side in (-1, 1)]
    arms = [canvas.bar(torso_top + hr * 0.3, cx + side * shoulders, torso_top + height * rng.uniform(0.2, 0.35),
                       cx + side * shoulders * rng.uniform(1.2, 2.2), max(0.8, height * 0.03))
            for side in (-1, 1)]
    parts = _disjoint([head, torso, *legs, *arms])
    subparts = _halves(canvas, parts[1], rng, axis=0)
    subparts.append(parts[0] & (canvas.yy < top + hr * 0.8))  # hair
    return Thing(cls, parts, 0, subparts)


def _vehicle(canvas, rng, cls, cy, cx, s):
    length = {6: 2.0, 19: 2.6}.get(cls, 1.5)  # bus, train longer than a car
    rx, ry = s * length * rng.uniform(0.4, 0.5), s * rng.uniform(0.22, 0.3)
    body = canvas.rect(cy, cx, ry, rx)
    cabin_ry = ry * rng.uniform(0.5, 0.9)
    cabin = canvas.rect(cy - ry - cabin_ry, cx + rng.normal(0, rx * 0.1), cabin_ry, rx * rng.uniform(0.5, 0.9))
    windows = [canvas.rect(cy - ry - cabin_ry, cx + off * rx * 0.4, cabin_ry * 0.6, rx * 0.15) & cabin
               for off in (-1, 0, 1)]
    wr = ry * rng.uniform(0.5, 0.7)
    wheels = [canvas.ellipse(cy + ry, cx + off * rx * 0.65, wr, wr) for off in (-1, 1)]
    parts = _disjoint([*wheels, body, cabin])
    hubs = [canvas.ellipse(cy + ry, cx + off * rx * 0.65, wr * 0.4, wr * 0.4) for off in (-1, 1)]
    key = int(rng.choice([0, 2]))  # wheels or the front of the body
    return Thing(cls, parts, key, [*windows, *hubs])


def _aeroplane(canvas, rng, cls, cy, cx, s):
    angle = rng.normal(0, 0.2)
    rx, ry = s * rng.uniform(0.8, 1.0), s * rng.uniform(0.12, 0.16)
    fuselage = canvas.ellipse(cy, cx, ry, rx, angle)
    span = s * rng.uniform(0.5, 0.8)
    wing = canvas.polygon([cy, cy + span, cy + span, cy], [cx - rx * 0.1, cx - rx * 0.5, cx - rx * 0.3, cx + rx * 0.3])
    fin = canvas.polygon([cy, cy - span * 0.6, cy - span * 0.6, cy],
                         [cx - rx * 0.95, cx - rx * 1.05, cx - rx * 0.85, cx - rx * 0.6])
    parts = _disjoint([fuselage, wing, fin])
    return Thing(cls, parts, int(rng.integers(0, 2)), _halves(canvas, parts[0], rng, axis=1))


def _boat(canvas, rng, cls, cy, cx, s):
    rx, ry = s * rng.uniform(0.7, 0.9), s * rng.uniform(0.18, 0.25)
    hull = canvas.polygon([cy - ry, cy - ry, cy + ry, cy + ry], [cx - rx, cx + rx, cx + rx * 0.7, cx - rx * 0.7])
    cabin = canvas.rect(cy - ry * 1.6, cx + rng.normal(0, rx * 0.2), ry * 0.6, rx * 0.3)
    mast_top = cy - ry - s * rng.uniform(0.7, 1.1)
    mast = canvas.bar(cy - ry, cx, mast_top, cx, max(0.7, s * 0.025))
    parts = [hull, cabin, mast]
    if rng.random() < 0.5:
        parts.append(canvas.polygon([mast_top, cy - ry * 1.3, cy - ry * 1.3], [cx + 1, cx + 1, cx + rx * 0.7]))
    parts = _disjoint(parts)
    return Thing(cls, parts, 0, _halves(canvas, parts[0], rng, axis=1))


def _bicycle(canvas, rng, cls, cy, cx, s, motor=False):
    wr = s * rng.uniform(0.3, 0.38)
    thickness = max(1.0, wr * (0.3 if motor else 0.15))
    gap = wr * rng.uniform(1.1, 1.4)
    centres = [(cy + wr * 0.3, cx - gap), (cy + wr * 0.3, cx + gap)]
    wheels = [canvas.ring(y, x, wr, wr - thickness) for y, x in centres]
    discs = [canvas.ellipse(y, x, wr, wr) for y, x in centres]
    seat_y, seat_x = cy - wr * 0.6, cx - gap * 0.3
    bar = max(0.7, s * (0.05 if motor else 0.025))
    frame = (canvas.bar(*centres[0], seat_y, seat_x, bar) | canvas.bar(seat_y, seat_x, *centres[1], bar)
             | canvas.bar(*centres[0], cy + wr * 0.3, cx, bar) | canvas.bar(cy + wr * 0.3, cx, seat_y, cx + gap * 0.7, bar))
    handle = canvas.bar(seat_y, cx + gap * 0.7, seat_y - wr * 0.4, cx + gap * 0.8, bar)
    parts = [*wheels, frame, handle]
    if motor:
        parts.insert(2, canvas.ellipse(cy - wr * 0.1, cx, wr * 0.45, gap * 0.6))
    parts = _disjoint(parts)
    filled = discs[0] | discs[1] | frame | handle | (parts[2] if motor else frame)
    key = 2 if motor else int(rng.integers(0, 3))
    return Thing(cls, parts, key, [], filled=filled)


def _chair(canvas, rng, cls, cy, cx, s):
    w, h = s * rng.uniform(0.35, 0.45), s * rng.uniform(0.5, 0.7)
    leg = max(0.7, s * 0.03)
    seat = canvas.rect(cy, cx, max(1.0, s * 0.05), w)
    back_frame = canvas.rect(cy - h / 2, cx - w + s * 0.04, h / 2, s * 0.04) | canvas.rect(cy - h, cx, s * 0.04, w)
    if rng.random() < 0.5:  # a solid back
        back_frame |= canvas.rect(cy - h / 2, cx, h / 2, w * 0.9)
    legs = [canvas.bar(cy, cx + off * w, cy + h * 0.9, cx + off * w * 1.05, leg) for off in (-0.95, 0.95)]
    parts = _disjoint([seat, back_frame, *legs])
    filled = canvas.rect(cy + h * 0.45, cx, h * 0.45, w) | parts[0] | parts[1]
    return Thing(cls, parts, int(rng.integers(0, 2)), [], filled=filled)


def _plant(canvas, rng, cls, cy, cx, s):
    pot_h, pot_w = s * rng.uniform(0.25, 0.35), s * rng.uniform(0.2, 0.3)
    pot_y = cy + s * 0.4
    pot = canvas.polygon([pot_y - pot_h, pot_y - pot_h, pot_y + pot_h, pot_y + pot_h],
                         [cx - pot_w, cx + pot_w, cx + pot_w * 0.7, cx - pot_w * 0.7])
    stems = np.zeros_like(pot)
    leaves = []
    for _ in range(int(rng.integers(3, 7))):
        angle = rng.uniform(-2.4, -0.7)
        length = s * rng.uniform(0.5, 0.9)
        ty, tx = pot_y - pot_h + np.sin(angle) * length, cx + np.cos(angle) * length
        stems |= canvas.bar(pot_y - pot_h, cx, ty, tx, max(0.6, s * 0.02))
        leaves.append(canvas.ellipse(ty, tx, s * rng.uniform(0.08, 0.15), s * rng.uniform(0.12, 0.22),
                                     rng.uniform(0, np.pi)))
    foliage = np.logical_or.reduce(leaves)
    parts = _disjoint([pot, foliage, stems])
    filled = ndimage.binary_closing(parts[1] | parts[2], iterations=max(1, int(s * 0.08))) | parts[0]
    return Thing(cls, parts, int(rng.choice([0, 1])), [leaf & parts[1] for leaf in leaves], filled=filled)


def _table(canvas, rng, cls, cy, cx, s):
    w, t = s * rng.uniform(0.8, 1.1), s * rng.uniform(0.12, 0.25)
    top = canvas.ellipse(cy, cx, t, w) if rng.random() < 0.4 else canvas.rect(cy, cx, t, w)
    leg_h = s * rng.uniform(0.4, 0.6)
    legs = [canvas.bar(cy, cx + off * w * 0.85, cy + leg_h, cx + off * w * 0.85, max(0.8, s * 0.035))
            for off in (-1, 1)]
    parts = _disjoint([top, *legs])
    filled = parts[0] | canvas.rect(cy + leg_h / 2, cx, leg_h / 2, w * 0.87)
    return Thing(cls, parts, 0, _halves(canvas, parts[0], rng, axis=1), filled=filled)


def _sofa(canvas, rng, cls, cy, cx, s):
    w, h = s * rng.uniform(0.8, 1.0), s * rng.uniform(0.25, 0.35)
    seat = canvas.rect(cy, cx, h * 0.5, w)
    back = canvas.rect(cy - h, cx, h * 0.6, w * 0.95)
    arms = [canvas.rect(cy - h * 0.3, cx + off * w, h * 0.8, w * 0.1) for off in (-1, 1)]
    parts = _disjoint([back, seat, *arms])
    cushions = _halves(canvas, parts[1], rng, axis=1)
    return Thing(cls, parts, int(rng.choice([0, 1])), cushions)


def _monitor(canvas, rng, cls, cy, cx, s):
    w, h = s * rng.uniform(0.55, 0.7), s * rng.uniform(0.4, 0.5)
    screen = canvas.rect(cy, cx, h, w)
    bezel = canvas.rect(cy, cx, h + max(1.0, s * 0.05), w + max(1.0, s * 0.05)) & ~screen
    stand = canvas.rect(cy + h + s * 0.15, cx, s * 0.12, s * 0.05) | canvas.rect(cy + h + s * 0.27, cx, s * 0.03, s * 0.2)
    parts = _disjoint([screen, bezel, stand])
    return Thing(cls, parts, 0, _halves(canvas, parts[0], rng))


def _bottle(canvas, rng, cls, cy, cx, s):
    h, w = s * rng.uniform(0.6, 0.8), s * rng.uniform(0.18, 0.25)
    body = canvas.rect(cy + h * 0.25, cx, h * 0.55, w)
    neck = canvas.rect(cy - h * 0.55, cx, h * 0.3, w * 0.4)
    cap = canvas.rect(cy - h * 0.9, cx, h * 0.08, w * 0.45)
    parts = _disjoint([body, neck, cap])
    etiquette = canvas.rect(cy + h * 0.25, cx, h * 0.2, w) & parts[0]
    return Thing(cls, parts, int(rng.choice([0, 1])), [etiquette])


def _motorbike(canvas, rng, cls, cy, cx, s):
    return _bicycle(canvas, rng, cls, cy, cx, s, motor=True)


TEMPLATES: Dict[int, Callable] = {
    1: _aeroplane, 2: _bicycle, 3: _animal, 4: _boat, 5: _bottle, 6: _vehicle, 7: _vehicle, 8: _animal,
    9: _chair, 10: _animal, 11: _table, 12: _animal, 13: _animal, 14: _motorbike, 15: _person,
    16: _plant, 17: _animal, 18: _sofa, 19: _vehicle, 20: _monitor,
}
# VOC has about three times as many person images as any other class.
CLASS_WEIGHTS = np.array([3.0 if c == PERSON else 1.0 for c in range(1, 21)])
CLASS_WEIGHTS /= CLASS_WEIGHTS.sum()
THIN_CLASSES = (BICYCLE, CHAIR, PLANT, MOTORBIKE, MONITOR, BOAT)
CROWD_CLASSES = (PERSON, 17, 10, 3, BOTTLE, 7, CHAIR, BOAT, 13)  # sheep, cow, bird, car, horse
# (on top / in front, underneath / behind): what VOC shows together.
PAIRS = ((PERSON, HORSE), (PERSON, MOTORBIKE), (PERSON, BICYCLE), (BOTTLE, TABLE), (MONITOR, TABLE),
         (PLANT, TABLE), (PERSON, SOFA), (PERSON, CHAIR), (PERSON, BOAT), (CAT, SOFA), (DOG, SOFA))

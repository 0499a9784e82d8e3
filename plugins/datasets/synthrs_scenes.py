"""Procedurally rendered top-down "satellite" scenes with RSITMD-style captions.

This is the generator behind the embedded ``synthrs`` dataset. Each call of
:func:`render_scene` draws one square RGB image of a remote-sensing scene class (airport,
port, farmland, residential areas of three densities, storage tanks ...) with pillow, and
writes captions for it from a small grammar with synonyms, in the manner of RSITMD and RSICD.

Why it looks the way it does: a retrieval benchmark is only useful if the scene class alone
does not solve it. So the objects in an image vary in count, colour, size, position (a 3x3
grid: "top left" ... "bottom right") and orientation (horizontal, vertical, diagonal); the
captions name those details ("three white planes are parked beside the terminal", "a river
runs from the top left to the bottom right"), at mixed levels of detail, often without naming
the class; and confusable classes are included on purpose (dense / medium / sparse
residential, river / pond / bridge, parking / industrial, stadium / playground, desert /
beach / bare land). Every caption is true of its image; captions may leave details out.
Unmentioned clutter, texture noise, colour jitter and a slight blur make it look less clean.

Everything random is drawn from the ``random.Random`` passed in (numpy textures from a
generator seeded by it), so the same generator state gives a byte-identical image and the
same captions. A 128 px image takes a few milliseconds.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Callable, Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

__all__ = ["SCENE_CLASSES", "render_scene"]

SCENE_CLASSES: tuple[str, ...] = (
    "airport",
    "bareland",
    "baseballfield",
    "beach",
    "bridge",
    "denseresidential",
    "desert",
    "farmland",
    "forest",
    "industrial",
    "intersection",
    "meadow",
    "mediumresidential",
    "parking",
    "playground",
    "pond",
    "port",
    "river",
    "sparseresidential",
    "stadium",
    "storagetanks",
)

RGB = tuple[int, int, int]
Point = tuple[float, float]
Env = dict[str, str]
Templates = list[tuple[int, str]]
Scene = tuple[Templates, Env]

# ---------------------------------------------------------------------------------------------
# Colours

PALETTE: dict[str, RGB] = {
    "white": (236, 236, 232),
    "grey": (132, 134, 138),
    "black": (36, 36, 40),
    "red": (190, 44, 40),
    "blue": (42, 84, 178),
    "yellow": (228, 196, 50),
    "green": (56, 134, 58),
    "orange": (230, 124, 34),
    "brown": (124, 82, 48),
}
GRASS: RGB = (88, 124, 60)
DRY_GRASS: RGB = (140, 140, 90)
SOIL: RGB = (150, 118, 86)
SAND: RGB = (218, 198, 150)
CONCRETE: RGB = (170, 168, 162)
ASPHALT: RGB = (80, 82, 86)
FOREST: RGB = (40, 74, 42)
TREE: RGB = (44, 92, 46)
WATER: dict[str, RGB] = {"blue": (40, 80, 124), "green": (48, 96, 80), "brown": (112, 100, 72)}


def scale(rgb: Sequence[float], f: float) -> RGB:
    return tuple(max(0, min(255, int(v * f))) for v in rgb)  # type: ignore[return-value]


def mix(a: Sequence[float], b: Sequence[float], t: float) -> RGB:
    return tuple(int(x + (y - x) * t) for x, y in zip(a, b, strict=True))  # type: ignore[return-value]


def weighted(r: random.Random, weights: dict[str, float]) -> str:
    names = list(weights)
    return r.choices(names, weights=[weights[k] for k in names])[0]


# ---------------------------------------------------------------------------------------------
# Words

REGIONS = (
    "top left",
    "top",
    "top right",
    "left",
    "center",
    "right",
    "bottom left",
    "bottom",
    "bottom right",
)
POSITION_WORDS: Env = {
    "top left": "{in the top left corner|at the top left|in the upper left corner|in the upper left}",
    "top": "{at the top|in the upper part|at the top of the image|in the upper middle}",
    "top right": "{in the top right corner|at the top right|in the upper right corner|in the upper right}",
    "left": "{on the left|on the left side|in the left part|on the left of the image}",
    "center": "{in the center|in the middle|in the middle of the image|in the center of the picture}",
    "right": "{on the right|on the right side|in the right part|on the right of the image}",
    "bottom left": "{in the bottom left corner|at the bottom left|in the lower left corner|in the lower left}",
    "bottom": "{at the bottom|in the lower part|at the bottom of the image|in the lower middle}",
    "bottom right": "{in the bottom right corner|at the bottom right|in the lower right corner|in the lower right}",
}
SIDE_WORDS: Env = {
    "left": "{on the left|on the left side|in the left part}",
    "right": "{on the right|on the right side|in the right part}",
    "top": "{at the top|in the upper part|on the upper side}",
    "bottom": "{at the bottom|in the lower part|on the lower side}",
}
ORIENTS = ("horizontal", "vertical", "diagonal", "antidiagonal")
ORIENT_ANGLE = {"horizontal": 0.0, "vertical": 90.0, "diagonal": 45.0, "antidiagonal": -45.0}
PERPENDICULAR = {
    "horizontal": "vertical",
    "vertical": "horizontal",
    "diagonal": "antidiagonal",
    "antidiagonal": "diagonal",
}
ORIENT_ADV: Env = {
    "horizontal": "{horizontally|from left to right|from the left to the right|across the image horizontally}",
    "vertical": "{vertically|from top to bottom|from the top to the bottom|across the image vertically}",
    "diagonal": "{diagonally|from the top left to the bottom right|from the upper left to the lower right}",
    "antidiagonal": "{diagonally|from the top right to the bottom left|from the bottom left to the top right}",
}
ORIENT_ADJ: Env = {
    "horizontal": "horizontal",
    "vertical": "vertical",
    "diagonal": "diagonal",
    "antidiagonal": "diagonal",
}
COLOUR_WORDS: Env = {"grey": "{grey|gray}"}
SIZE_WORDS: Env = {"small": "{small|little}", "large": "{large|big}"}
NUMBERS = ("no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
MANY = "{many|lots of|a lot of|a number of|plenty of}"

NOUNS: dict[str, tuple[str, str]] = {
    "plane": ("{plane|airplane|aircraft}", "{planes|airplanes|aircraft}"),
    "ship": ("{ship|boat|vessel}", "{ships|boats|vessels}"),
    "boat": ("{boat|small boat}", "{boats|small boats}"),
    "house": ("{house|building|residence}", "{houses|buildings|residences}"),
    "car": ("{car|vehicle}", "{cars|vehicles}"),
    "tank": ("{storage tank|tank|oil tank}", "{storage tanks|tanks|oil tanks}"),
    "tree": ("tree", "trees"),
    "factory": ("{factory|workshop|factory building}", "{factories|workshops|factory buildings}"),
    "pier": ("{pier|dock|wharf}", "{piers|docks|wharves}"),
    "bridge": ("bridge", "bridges"),
    "field": ("{field|plot|farm field}", "{fields|plots|farm fields}"),
    "pond": ("{pond|lake|pool}", "{ponds|lakes|pools}"),
    "umbrella": ("{umbrella|parasol|sunshade}", "{umbrellas|parasols|sunshades}"),
    "row": ("row", "rows"),
    "court": ("{court|basketball court}", "{courts|basketball courts}"),
}


def number(n: int) -> str:
    """An exact count ("a", "three"), or "many" from ten on."""
    if n == 1:
        return "{a|one}"
    return NUMBERS[n] if n < len(NUMBERS) else MANY


def some(n: int) -> str:
    """A vague count that is still true for ``n``."""
    if n == 1:
        return "a"
    if n == 2:
        return "{two|a couple of|some}"
    if n <= 5:
        return "{some|several|a few}"
    if n <= 9:
        return "{some|several|many}"
    return MANY


def group_env(
    key: str,
    noun: str,
    n: int,
    colour: str | None = None,
    size: str | None = None,
    pos: str | None = None,
) -> Env:
    """Template variables for a group of ``n`` objects: ``$key`` (noun), ``$key_n`` ... ."""
    singular, plural = NOUNS[noun]
    env = {
        key: singular if n == 1 else plural,
        f"{key}_n": number(n),
        f"{key}_some": some(n),
        f"{key}_be": "is" if n == 1 else "are",
        f"{key}_parked": "{parked|stopped|lined up}" if n > 1 else "{parked|stopped}",
    }
    if colour:
        env[f"{key}_col"] = COLOUR_WORDS.get(colour, colour)
    if size:
        env[f"{key}_size"] = SIZE_WORDS[size]
    if pos:
        env[f"{key}_pos"] = POSITION_WORDS[pos]
    return env


def colour_list(names: Sequence[str]) -> str:
    """ "green", "{green and yellow|yellow and green}", "green, yellow and brown"."""
    words = [COLOUR_WORDS.get(n, n) for n in names]
    if len(words) == 1:
        return words[0]
    if len(words) == 2:
        return f"{words[0]} and {words[1]}"
    return ", ".join(words[:-1]) + " and " + words[-1]


# ---------------------------------------------------------------------------------------------
# Geometry and drawing


class Frame:
    """Local coordinates around ``origin``: ``u`` along the direction ``angle``, ``v`` across."""

    def __init__(self, origin: Point, angle: float) -> None:
        a = math.radians(angle)
        self.origin, self.angle = origin, angle
        self.d = (math.cos(a), math.sin(a))
        self.n = (-math.sin(a), math.cos(a))

    def __call__(self, u: float, v: float) -> Point:
        ox, oy = self.origin
        return (ox + u * self.d[0] + v * self.n[0], oy + u * self.d[1] + v * self.n[1])

    def rect(self, u: float, v: float, lu: float, lv: float) -> list[Point]:
        hu, hv = lu / 2, lv / 2
        return [
            self(u - hu, v - hv),
            self(u + hu, v - hv),
            self(u + hu, v + hv),
            self(u - hu, v + hv),
        ]

    def poly(self, u: float, v: float, points: Sequence[Point]) -> list[Point]:
        return [self(u + pu, v + pv) for pu, pv in points]

    def span(self, v: float, lo: float, hi: float) -> tuple[float, float]:
        """The range of ``u`` for which the point (u, v) lies in the square [lo, hi]²."""
        umin, umax = -1e9, 1e9
        for k in (0, 1):
            base = self.origin[k] + v * self.n[k]
            if abs(self.d[k]) < 1e-9:
                if not lo <= base <= hi:
                    return 0.0, -1.0
                continue
            a, b = sorted(((lo - base) / self.d[k], (hi - base) / self.d[k]))
            umin, umax = max(umin, a), min(umax, b)
        return umin, umax


def outline_of(points: Sequence[Point], half: float) -> list[Point]:
    """The outline of a polyline thickened by ``half`` on both sides (clean edges, unlike
    pillow's wide lines)."""
    left, right = [], []
    for i, (x, y) in enumerate(points):
        (x0, y0), (x1, y1) = points[max(0, i - 1)], points[min(len(points) - 1, i + 1)]
        norm = math.hypot(x1 - x0, y1 - y0) or 1.0
        nx, ny = -(y1 - y0) / norm * half, (x1 - x0) / norm * half
        left.append((x + nx, y + ny))
        right.append((x - nx, y - ny))
    return left + right[::-1]


def region_of(size: int, x: float, y: float) -> str:
    col = min(2, max(0, int(3 * x / size)))
    row = min(2, max(0, int(3 * y / size)))
    return REGIONS[row * 3 + col]


def centroid(points: Sequence[Point]) -> Point:
    return (sum(p[0] for p in points) / len(points), sum(p[1] for p in points) / len(points))


def overlaps(box: Sequence[float], boxes: Sequence[Sequence[float]], margin: float = 0.0) -> bool:
    x0, y0, x1, y1 = box
    return any(
        x0 < b[2] + margin and b[0] < x1 + margin and y0 < b[3] + margin and b[1] < y1 + margin
        for b in boxes
    )


class Canvas:
    """The image being drawn, the scene's random sources and the drawing primitives."""

    def __init__(self, size: int, rng: random.Random) -> None:
        self.s = size
        self.r = rng
        self.np = np.random.default_rng(rng.getrandbits(64))
        self.img = Image.new("RGB", (size, size))
        self.draw = ImageDraw.Draw(self.img)
        sun = rng.uniform(0, 2 * math.pi)
        self.sun = (math.cos(sun), math.sin(sun))
        self.line_w = max(1, round(size / 128))

    def u(self, f: float) -> float:
        """A fraction of the image side, in pixels."""
        return f * self.s

    def jitter(self, rgb: Sequence[float], amount: int = 10) -> RGB:
        """``rgb`` a little lighter or darker, with a smaller change of hue."""
        r = self.r
        common, hue = r.randint(-amount, amount), amount // 3
        return tuple(max(0, min(255, int(v) + common + r.randint(-hue, hue))) for v in rgb)  # type: ignore[return-value]

    def smooth(self, cells: int) -> np.ndarray:
        """Smooth noise of about unit variance, ``s`` × ``s``."""
        small = self.np.standard_normal((cells, cells)).astype(np.float32)
        big = Image.fromarray(small).resize((self.s, self.s), Image.Resampling.BICUBIC)
        return np.asarray(big)

    def texture(
        self, rgb: Sequence[float], patch: float = 0.08, grain: float = 5.0, cells: int = 5
    ) -> Image.Image:
        """A full-size layer of ``rgb`` with soft patches and (if ``grain``) finer noise."""
        tint = 1 + self.np.normal(0, 0.02, 3)
        small = np.asarray(rgb) * tint * (1 + patch * self.np.standard_normal((cells, cells, 1)))
        small8 = np.clip(small, 0, 255).astype(np.uint8)
        layer = Image.fromarray(small8).resize((self.s, self.s), Image.Resampling.BICUBIC)
        if not grain:
            return layer
        arr = np.asarray(layer, dtype=np.float32)
        fine = self.smooth(cells * 3) * (patch / 2) * float(np.mean(rgb))
        noise = self.np.standard_normal((self.s, self.s), dtype=np.float32) * grain
        arr = arr + (fine + noise)[..., None]
        return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))

    def ground(self, rgb: Sequence[float], patch: float = 0.1, grain: float = 5.0) -> None:
        self.img.paste(self.texture(self.jitter(rgb, 12), patch, grain))

    def mask(self) -> tuple[Image.Image, ImageDraw.ImageDraw]:
        m = Image.new("L", (self.s, self.s), 0)
        return m, ImageDraw.Draw(m)

    def paint(
        self, mask: Image.Image, rgb: Sequence[float], patch: float = 0.08, grain: float = 0.0
    ) -> None:
        self.img.paste(self.texture(rgb, patch, grain), (0, 0), mask)

    def band(
        self, points: Sequence[Point], width: float, rgb: Sequence[float], patch: float = 0.06
    ) -> None:
        """A textured line of ``width`` pixels (road, river, path)."""
        m, d = self.mask()
        d.polygon(outline_of(points, width / 2), fill=255)
        self.paint(m, rgb, patch)

    def polygon(
        self, points: Sequence[Point], rgb: Sequence[float], outline: RGB | None = None
    ) -> None:
        self.draw.polygon(list(points), fill=tuple(rgb), outline=outline)

    def ellipse(self, x: float, y: float, rx: float, ry: float, rgb: Sequence[float]) -> None:
        self.draw.ellipse((x - rx, y - ry, x + rx, y + ry), fill=tuple(rgb))

    def shade(self, x: float, y: float, f: float = 0.55) -> RGB:
        """The colour under (x, y), darkened: a cheap shadow colour."""
        px = min(self.s - 1, max(0, int(x)))
        py = min(self.s - 1, max(0, int(y)))
        return scale(self.img.getpixel((px, py)), f)  # type: ignore[arg-type]

    def shadow(self, points: Sequence[Point], height: float = 1.0) -> None:
        dx, dy = self.sun[0] * self.u(0.012) * height, self.sun[1] * self.u(0.012) * height
        cx, cy = centroid(points)
        shifted = [(x + dx, y + dy) for x, y in points]
        self.polygon(shifted, self.shade(cx + dx * 3, cy + dy * 3))


def draw_building(
    c: Canvas,
    points: Sequence[Point],
    roof: Sequence[float],
    height: float = 1.0,
    style: str = "flat",
) -> None:
    """A roof polygon (four corners, long side first) with its shadow; gabled or ridged roofs."""
    c.shadow(points, height)
    c.polygon(points, roof)
    p0, p1, p2, p3 = points
    if style == "gable":
        m0, m1 = mix(p0, p3, 0.5), mix(p1, p2, 0.5)
        c.polygon([p0, p1, m1, m0], scale(roof, 0.8))
        c.draw.line([m0, m1], fill=scale(roof, 1.12), width=1)
    elif style == "ridged":
        n = max(2, int(math.dist(p0, p3) / c.u(0.03)))
        for i in range(1, n):
            t = i / n
            c.draw.line([mix(p0, p3, t), mix(p1, p2, t)], fill=scale(roof, 0.86), width=1)
    c.draw.line([*points, points[0]], fill=scale(roof, 0.72), width=1)


def draw_tree(c: Canvas, x: float, y: float, rad: float, rgb: Sequence[float]) -> None:
    r = c.r
    dx, dy = c.sun[0] * rad * 0.5, c.sun[1] * rad * 0.5
    c.ellipse(x + dx, y + dy, rad, rad, c.shade(x + dx * 2.5, y + dy * 2.5, 0.6))
    c.ellipse(x, y, rad, rad * r.uniform(0.85, 1.0), rgb)
    ox, oy = r.uniform(-0.3, 0.3) * rad, r.uniform(-0.3, 0.3) * rad
    c.ellipse(x + ox, y + oy, rad * 0.8, rad * 0.8, rgb)
    c.ellipse(x - dx * 0.8, y - dy * 0.8, rad * 0.45, rad * 0.45, scale(rgb, 1.22))


PLANE_FUSELAGE = ((0.5, 0), (0.43, 0.07), (-0.47, 0.055), (-0.5, 0), (-0.47, -0.055), (0.43, -0.07))
PLANE_WING = ((0.12, 0.05), (-0.12, 0.46), (-0.21, 0.46), (-0.09, 0.05))
PLANE_TAIL = ((-0.34, 0.04), (-0.45, 0.19), (-0.5, 0.19), (-0.46, 0.03))


def draw_plane(
    c: Canvas, x: float, y: float, length: float, heading: float, rgb: Sequence[float]
) -> None:
    """A cross-shaped aeroplane, nose towards ``heading`` (degrees)."""
    parts = [PLANE_FUSELAGE, PLANE_WING, PLANE_TAIL]
    mirrored = [tuple((u, -v) for u, v in part) for part in (PLANE_WING, PLANE_TAIL)]
    f = Frame((x, y), heading)
    polys = [[f(u * length, v * length) for u, v in part] for part in [*parts, *mirrored]]
    dx, dy = c.sun[0] * c.u(0.02), c.sun[1] * c.u(0.02)
    dark = c.shade(x + dx * 2, y + dy * 2, 0.6)
    for poly in polys:
        c.polygon([(px + dx, py + dy) for px, py in poly], dark)
    for poly in polys:
        c.polygon(poly, rgb)


def draw_ship(
    c: Canvas, x: float, y: float, length: float, heading: float, rgb: Sequence[float]
) -> None:
    """An elongated hull with a pointed bow and a bridge house at the stern."""
    f = Frame((x, y), heading)
    w = 0.26 * length
    hull = [
        (0.5 * length, 0),
        (0.28 * length, w / 2),
        (-0.5 * length, w / 2),
        (-0.5 * length, -w / 2),
    ]
    hull.append((0.28 * length, -w / 2))
    points = [f(u, v) for u, v in hull]
    c.shadow(points, 0.8)
    c.polygon(points, rgb)
    deck = scale(rgb, 0.82) if sum(rgb) > 360 else scale(rgb, 1.25)
    c.polygon(f.rect(0.02 * length, 0, 0.46 * length, 0.55 * w), deck)
    house = (60, 60, 64) if sum(rgb) > 600 else (232, 232, 228)
    c.polygon(f.rect(-0.36 * length, 0, 0.14 * length, 0.7 * w), house)


def draw_car(
    c: Canvas, x: float, y: float, length: float, heading: float, rgb: Sequence[float]
) -> None:
    f = Frame((x, y), heading)
    w = 0.52 * length
    body = f.rect(0, 0, length, w)
    c.shadow(body, 0.4)
    c.polygon(body, rgb)
    glass = (30, 34, 40) if sum(rgb) > 200 else (110, 116, 124)
    c.polygon(f.rect(0.16 * length, 0, 0.14 * length, 0.8 * w), glass)
    c.polygon(f.rect(-0.3 * length, 0, 0.08 * length, 0.8 * w), glass)


def draw_tank(c: Canvas, x: float, y: float, rad: float, rgb: Sequence[float]) -> None:
    dx, dy = c.sun[0] * rad * 0.35, c.sun[1] * rad * 0.35
    c.ellipse(x + dx, y + dy, rad, rad, c.shade(x + dx * 3, y + dy * 3, 0.55))
    c.ellipse(x, y, rad, rad, scale(rgb, 0.72))
    c.ellipse(x, y, rad * 0.84, rad * 0.84, rgb)
    c.ellipse(x - dx * 0.6, y - dy * 0.6, rad * 0.55, rad * 0.55, scale(rgb, 1.06))
    c.ellipse(x, y, rad * 0.12, rad * 0.12, scale(rgb, 0.7))


def line_points(
    c: Canvas, orient: str, offset: float = 0.0, amp: float = 0.0, waves: float = 1.0, n: int = 24
) -> list[Point]:
    """A line through (near) the centre in ``orient``, meandering by ``amp`` pixels."""
    a = math.radians(ORIENT_ANGLE[orient])
    f = Frame((c.s / 2, c.s / 2), math.degrees(a))
    half = 0.62 * c.s / max(abs(math.cos(a)), abs(math.sin(a)))
    phase = c.r.uniform(0, 2 * math.pi)
    points = []
    for i in range(n + 1):
        t = -1 + 2 * i / n
        points.append(f(t * half, offset + amp * math.sin(phase + waves * math.pi * t)))
    return points


def side_map(side: str, size: int) -> Callable[[float, float], Point]:
    """Coordinates (a along an image edge, b inwards from it) for the edge ``side``."""
    maps: dict[str, Callable[[float, float], Point]] = {
        "top": lambda a, b: (a, b),
        "bottom": lambda a, b: (a, size - b),
        "left": lambda a, b: (b, a),
        "right": lambda a, b: (size - b, a),
    }
    return maps[side]


def heading_of(to: Callable[[float, float], Point], a: float, b: float, db: float) -> float:
    """The image angle (degrees) of the local direction (0, db) at (a, b)."""
    x0, y0 = to(a, b)
    x1, y1 = to(a, b + db)
    return math.degrees(math.atan2(y1 - y0, x1 - x0))


def clutter(c: Canvas, kinds: Sequence[str], most: int = 3) -> None:
    """A few things no caption mentions: stray trees, sheds, bare patches, bushes."""
    r, s = c.r, c.s
    for _ in range(r.randint(0, most)):
        x, y = r.uniform(0.04, 0.96) * s, r.uniform(0.04, 0.96) * s
        kind = r.choice(kinds)
        if kind == "tree":
            draw_tree(c, x, y, c.u(r.uniform(0.025, 0.04)), c.jitter(TREE, 12))
        elif kind == "shed":
            f = Frame((x, y), r.choice((0.0, 90.0)) + r.uniform(-8, 8))
            roof = c.jitter(r.choice((CONCRETE, SOIL, (120, 70, 60))), 12)
            draw_building(c, f.rect(0, 0, c.u(0.07), c.u(0.05)), roof, 0.6)
        elif kind == "patch":
            rx, ry = c.u(r.uniform(0.04, 0.1)), c.u(r.uniform(0.03, 0.08))
            c.ellipse(x, y, rx, ry, c.jitter(mix(c.shade(x, y, 1.0), SOIL, 0.5), 8))
        else:
            c.ellipse(x, y, c.u(0.015), c.u(0.015), c.jitter(scale(TREE, 0.8), 8))


def roads(c: Canvas, layout: str, width: float, rgb: RGB = ASPHALT) -> tuple[list, list]:
    """Straight roads ("horizontal", "vertical" or "cross"); returns their boxes and the blocks."""
    r, s = c.r, c.s
    boxes, xs, ys = [], [(0.0, float(s))], [(0.0, float(s))]
    if layout in ("vertical", "cross"):
        x = r.uniform(0.35, 0.65) * s
        boxes.append((x - width / 2, -1.0, x + width / 2, s + 1.0))
        xs = [(0.0, x - width / 2), (x + width / 2, float(s))]
    if layout in ("horizontal", "cross"):
        y = r.uniform(0.35, 0.65) * s
        boxes.append((-1.0, y - width / 2, s + 1.0, y + width / 2))
        ys = [(0.0, y - width / 2), (y + width / 2, float(s))]
    for box in boxes:
        c.draw.rectangle(box, fill=c.jitter(rgb, 6))
        horizontal = box[2] - box[0] > box[3] - box[1]
        mid = (box[1] + box[3]) / 2 if horizontal else (box[0] + box[2]) / 2
        for t in np.arange(0.02, 1.0, 0.09) * s:
            if horizontal:
                c.draw.line([(t, mid), (t + c.u(0.04), mid)], fill=(210, 208, 196), width=1)
            else:
                c.draw.line([(mid, t), (mid, t + c.u(0.04))], fill=(210, 208, 196), width=1)
    blocks = [(x0, y0, x1, y1) for y0, y1 in ys for x0, x1 in xs]
    return boxes, blocks


def road_env(layout: str, boxes: Sequence[Sequence[float]], size: int) -> Env:
    """``$road`` and ``$roads``: the road layout in words."""
    if layout == "cross":
        x = (boxes[0][0] + boxes[0][2]) / 2
        y = (boxes[1][1] + boxes[1][3]) / 2
        where = POSITION_WORDS[region_of(size, x, y)]
        return {
            "road": "{two crossing roads run|two roads cross and run|two intersecting roads pass}",
            "roads": f"{{two roads cross|two roads intersect}} {where}",
        }
    return {
        "road": f"a road runs {ORIENT_ADV[layout]}",
        "roads": f"a {ORIENT_ADJ[layout]} road {{runs|passes}} through the middle",
    }


# ---------------------------------------------------------------------------------------------
# Scenes. Each draws on the canvas and returns caption templates (with a detail level 0-3) and
# the variables they use. Template syntax: {a|b} picks one, $name is a variable; $here and
# $scene are filled with or without the class name.


def _airport(c: Canvas) -> Scene:
    r, s = c.r, c.s
    c.ground(r.choice((GRASS, DRY_GRASS)))
    clutter(c, ("tree", "patch"))
    orient = r.choice(
        ("horizontal", "horizontal", "vertical", "vertical", "diagonal", "antidiagonal")
    )
    side = r.choice((-1.0, 1.0))
    centre = Frame((s / 2, s / 2), ORIENT_ANGLE[orient])(0, side * c.u(r.uniform(-0.2, 0.2)))
    f = Frame(centre, ORIENT_ANGLE[orient])
    size = r.choice(("small", "large"))
    length = c.u(0.15 if size == "small" else 0.21) * r.uniform(0.95, 1.05)
    pitch = 0.92 * length + c.u(0.04)
    lo, hi = f.span(0.0, c.u(0.1), c.u(0.9))
    n = r.randint(1, 5)
    while n > 1 and n * pitch > hi - lo:
        n -= 1
    row = n * pitch
    u0 = r.uniform(lo + row / 2, hi - row / 2) if hi - lo > row else (lo + hi) / 2
    v_rw = -side * c.u(0.25)
    c.band([f(-2 * s, v_rw), f(2 * s, v_rw)], c.u(0.1), ASPHALT, 0.04)
    for edge in (-0.042, 0.042):
        c.draw.line([f(-2 * s, v_rw + c.u(edge)), f(2 * s, v_rw + c.u(edge))], fill=(196, 196, 188))
    for k in range(-12, 13):
        c.polygon(f.rect(k * c.u(0.09), v_rw, c.u(0.045), max(1.0, c.u(0.01))), (226, 226, 220))
    apron = c.jitter(CONCRETE, 8)
    taxi_u = u0 + r.choice((-1, 1)) * (row / 2 + c.u(0.02))
    c.polygon(f.rect(taxi_u, v_rw / 2, c.u(0.05), abs(v_rw)), apron)
    c.polygon(f.rect(u0, 0, row + c.u(0.08), c.u(0.24)), apron)
    term_len = max(row + c.u(0.06), c.u(0.3))
    term = f.rect(u0, side * c.u(0.215), term_len, c.u(0.09))
    draw_building(
        c, term, c.jitter(r.choice((PALETTE["white"], CONCRETE, (150, 170, 190))), 8), 1.5
    )
    colour = weighted(
        r, {"white": 5, "grey": 1.2, "red": 1, "blue": 1, "yellow": 0.6, "orange": 0.5}
    )
    heading = f.angle + (90 if side > 0 else -90)
    centres = [f(u0 - row / 2 + pitch * (i + 0.5), r.uniform(-0.01, 0.01) * s) for i in range(n)]
    for x, y in centres:
        draw_plane(c, x, y, length, heading + r.uniform(-4, 4), c.jitter(PALETTE[colour], 8))
    tx, ty = f(u0, side * c.u(0.215))
    env = group_env("plane", "plane", n, colour, size, region_of(s, *centroid(centres)))
    env.update(rw=ORIENT_ADV[orient], rwadj=ORIENT_ADJ[orient])
    env["term_pos"] = POSITION_WORDS[region_of(s, min(max(tx, 0), s), min(max(ty, 0), s))]
    env["beside"] = "{beside|next to|near|in front of}"
    templates: Templates = [
        (0, "$thisis an airport"),
        (0, "{an|the} airport with a runway and a terminal"),
        (0, "{there is|we can see|you can see} a long runway next to some buildings"),
        (0, "$plane_some $plane $plane_be $plane_parked $here"),
        (0, "a runway and a terminal building are in $scene"),
        (1, "a runway runs $rw {across|through} $scene"),
        (1, "the runway {is|looks} $rwadj {in the image|in this picture|from above}"),
        (1, "{there $plane_be|we can see|you can see} $plane_n $plane $here"),
        (1, "$plane_some $plane_col $plane $plane_be $plane_parked $here"),
        (1, "the terminal {building|} is $term_pos"),
        (1, "$plane_some $plane_size $plane $plane_be $plane_parked $beside the terminal"),
        (1, "$plane_some $plane $plane_be $plane_parked $plane_pos"),
        (2, "$plane_n $plane_col $plane $plane_be $plane_parked $beside the terminal"),
        (2, "{there $plane_be|we can see|you can see} $plane_n $plane_col $plane $plane_pos"),
        (2, "$plane_n $plane_size $plane $plane_be $plane_parked $plane_pos $here"),
        (2, "the terminal is $term_pos next to a $rwadj runway"),
        (2, "$plane_some $plane_col $plane $plane_be $plane_parked near a $rwadj runway"),
        (3, "$plane_n $plane_size $plane_col $plane $plane_be $plane_parked $plane_pos"),
        (3, "$plane_n $plane_col $plane $plane_be $plane_parked $beside the terminal $plane_pos"),
        (3, "$plane_n $plane_col $plane $plane_be $plane_parked near a $rwadj runway $here"),
    ]
    return templates, env


def _port(c: Canvas) -> Scene:
    r, s = c.r, c.s
    c.ground(CONCRETE, 0.08)
    side = r.choice(("left", "right", "top", "bottom"))
    to = side_map(side, s)
    depth = c.u(r.uniform(0.42, 0.5))
    clutter(c, ("tree", "shed", "patch"))
    m, d = c.mask()
    d.polygon([to(-1, -1), to(s + 1, -1), to(s + 1, depth), to(-1, depth)], fill=255)
    water = c.jitter(WATER[r.choice(("blue", "blue", "green"))], 8)
    c.paint(m, water, 0.06)
    c.draw.line([to(-1, depth), to(s + 1, depth)], fill=scale(CONCRETE, 0.7), width=c.line_w)
    for i in range(r.randint(2, 4)):
        a = (i + 0.5) * s / 4 + c.u(r.uniform(-0.04, 0.04))
        b = depth + c.u(r.uniform(0.16, 0.3))
        la, lb = c.u(r.uniform(0.12, 0.2)), c.u(r.uniform(0.1, 0.16))
        box = [to(a - la / 2, b - lb / 2), to(a + la / 2, b - lb / 2), to(a + la / 2, b + lb / 2)]
        box.append(to(a - la / 2, b + lb / 2))
        roof = c.jitter(PALETTE[r.choice(("white", "grey", "blue", "red"))], 10)
        draw_building(c, box, roof, 1.2, "ridged")
    n = r.randint(1, 6)
    piers = r.randint(max(1, math.ceil(n / 2)), 3)
    size = r.choice(("small", "large"))
    length = c.u(0.15 if size == "small" else 0.21)
    plen = min(c.u(0.34), depth - c.u(0.04))
    slots = []
    for i in range(piers):
        a = (i + 0.5) * s / piers + c.u(r.uniform(-0.03, 0.03))
        pts = [
            to(a - c.u(0.025), depth),
            to(a + c.u(0.025), depth),
            to(a + c.u(0.025), depth - plen),
        ]
        pts.append(to(a - c.u(0.025), depth - plen))
        draw_building(c, pts, c.jitter((196, 194, 186), 6), 0.5)
        off = c.u(0.025) + 0.13 * length + c.u(0.012)
        slots += [(a - off, depth - plen / 2), (a + off, depth - plen / 2)]
    colour = weighted(
        r, {"white": 3, "red": 1.5, "blue": 1.5, "grey": 1, "orange": 1, "black": 0.7, "green": 0.7}
    )
    chosen = sorted(r.sample(range(len(slots)), n))
    centres = []
    for k in chosen:
        a, b = slots[k]
        b += c.u(r.uniform(-0.03, 0.03))
        heading = heading_of(to, a, b, r.choice((-1.0, 1.0)))
        centres.append(to(a, b))
        draw_ship(
            c, *to(a, b), length * r.uniform(0.95, 1.05), heading, c.jitter(PALETTE[colour], 8)
        )
    env = group_env("ship", "ship", n, colour, size, region_of(s, *centroid(centres)))
    env.update(group_env("pier", "pier", piers))
    env["water_side"] = SIDE_WORDS[side]
    env["docked"] = "{docked|moored|berthed}"
    env["water"] = "{water|sea|harbor water}"
    templates: Templates = [
        (0, "$thisis a port"),
        (0, "{a|the} port with some warehouses beside the water"),
        (0, "there are some buildings {beside|next to|along} the $water"),
        (0, "$ship_some $ship $ship_be $docked $here"),
        (0, "many warehouses stand on the land of $scene"),
        (1, "the $water is $water_side"),
        (1, "{there $pier_be|we can see} $pier_n $pier $here"),
        (1, "$ship_n $ship $ship_be $docked $here"),
        (1, "$ship_some $ship_col $ship $ship_be $docked {beside|next to|along} the $pier"),
        (1, "$ship_some $ship $ship_be $docked $ship_pos"),
        (1, "$ship_some $ship_size $ship $ship_be $docked in the $water"),
        (2, "there $ship_be $ship_n $ship_col $ship $here $ship_pos"),
        (2, "$ship_n $ship_size $ship $ship_be $docked {beside|next to|along} the $pier"),
        (2, "$ship_n $ship_col $ship $ship_be $docked and the $water is $water_side"),
        (2, "$ship_some $ship $ship_be $docked beside $pier_n $pier $here"),
        (3, "$ship_n $ship_size $ship_col $ship $ship_be $docked $ship_pos"),
        (3, "$ship_n $ship_col $ship $ship_be $docked beside $pier_n $pier"),
        (3, "$ship_n $ship_col $ship $ship_be $docked in the port $ship_pos"),
    ]
    return templates, env


FIELDS: dict[str, RGB] = {"green": (82, 130, 58), "yellow": (198, 178, 98), "brown": (138, 104, 70)}
FIELD_SCHEMES = (
    ("green",),
    ("green", "yellow"),
    ("green", "brown"),
    ("yellow", "brown"),
    ("green", "yellow", "brown"),
)


def _cuts(r: random.Random, k: int, size: int) -> list[float]:
    """``k`` + 1 boundaries from 0 to ``size`` with uneven spacing."""
    weights = [r.uniform(0.7, 1.3) for _ in range(k)]
    total, acc, out = sum(weights), 0.0, [0.0]
    for w in weights:
        acc += w
        out.append(acc / total * size)
    return out


def _farmland(c: Canvas) -> Scene:
    r, s = c.r, c.s
    rows, cols = r.randint(2, 4), r.randint(2, 4)
    scheme = r.choice(FIELD_SCHEMES)
    c.ground((186, 168, 128), 0.05)
    xs, ys = _cuts(r, cols, s), _cuts(r, rows, s)
    colours = list(scheme) + [r.choice(scheme) for _ in range(rows * cols - len(scheme))]
    r.shuffle(colours)
    road = r.choice(("none", "none", "horizontal", "vertical"))
    road_at = r.randint(1, (rows if road == "horizontal" else cols) - 1) if road != "none" else 0
    path, road_w = c.u(0.018), c.u(0.05)
    for i in range(rows):
        for j in range(cols):
            x0, x1 = xs[j] + path, xs[j + 1] - path
            y0, y1 = ys[i] + path, ys[i + 1] - path
            if road == "horizontal":
                y0 += road_w / 2 if i == road_at else 0
                y1 -= road_w / 2 if i + 1 == road_at else 0
            if road == "vertical":
                x0 += road_w / 2 if j == road_at else 0
                x1 -= road_w / 2 if j + 1 == road_at else 0
            _field(c, (x0, y0, x1, y1), c.jitter(FIELDS[colours.pop()], 10))
    if road == "horizontal":
        c.draw.rectangle(
            (0, ys[road_at] - road_w / 2, s, ys[road_at] + road_w / 2), fill=c.jitter(ASPHALT, 8)
        )
    elif road == "vertical":
        c.draw.rectangle(
            (xs[road_at] - road_w / 2, 0, xs[road_at] + road_w / 2, s), fill=c.jitter(ASPHALT, 8)
        )
    clutter(c, ("tree", "shed"), 2)
    env = group_env("field", "field", rows * cols)
    env.update(group_env("row", "row", rows))
    env["fcol"] = colour_list(scheme)
    env["fcol_one"] = "{" + "|".join(COLOUR_WORDS.get(x, x) for x in scheme) + "}"
    env["road"] = ORIENT_ADV[road] if road != "none" else ""
    templates: Templates = [
        (0, "$thisis a piece of farmland"),
        (0, "$field_some $field are arranged {neatly|in order|side by side}"),
        (0, "{the|this} farmland is divided into $field_some $field"),
        (0, "{there are|we can see} some $fcol_one $field $here"),
        (0, "{many|some} crops are planted in $scene"),
        (1, "the $field {here|in this image|in the picture} are $fcol"),
        (1, "{there are|we can see|you can see} $field_n $field $here"),
        (1, "$field_some $field are arranged in $row_n rows"),
        (1, "$field_some $fcol $field are {next to each other|arranged neatly}"),
        (2, "$field_n $fcol $field are {arranged neatly|next to each other} $here"),
        (2, "{there are|we can see} $field_n $field in $row_n rows"),
        (2, "the farmland is made up of $field_n $fcol $field"),
        (3, "$field_n $fcol $field are arranged in $row_n rows"),
    ]
    if road != "none":
        templates += [
            (0, "a road {passes through|crosses} $scene"),
            (1, "a road runs $road through the $field"),
            (2, "a road runs $road {through|between} the $fcol $field"),
            (3, "a road runs $road between $field_n $fcol $field"),
        ]
    return templates, env


def _field(c: Canvas, box: tuple[float, float, float, float], rgb: RGB) -> None:
    """One crop field with row stripes."""
    x0, y0, x1, y1 = box
    if x1 - x0 < 2 or y1 - y0 < 2:
        return
    c.draw.rectangle(box, fill=rgb)
    dark = scale(rgb, 0.86)
    step = c.u(c.r.uniform(0.025, 0.04))
    if c.r.random() < 0.5:
        for x in np.arange(x0 + step / 2, x1, step):
            c.draw.line([(x, y0), (x, y1)], fill=dark)
    else:
        for y in np.arange(y0 + step / 2, y1, step):
            c.draw.line([(x0, y), (x1, y)], fill=dark)


AUTUMN: dict[str, RGB] = {
    "yellow": (196, 170, 58),
    "orange": (196, 116, 42),
    "brown": (120, 86, 50),
}


def _forest(c: Canvas) -> Scene:
    r, s = c.r, c.s
    c.ground(FOREST, 0.15)
    autumn = r.choice(("", "", "yellow", "orange", "brown"))
    _canopy(c, autumn, r.uniform(0.2, 0.4))
    env: Env = {"tcol": colour_list(("green", autumn)) if autumn else "{green|dark green}"}
    templates: Templates = [
        (0, "$thisis a forest"),
        (0, "{many|lots of|a large number of} trees grow {densely|closely} $here"),
        (0, "the trees are {dense|thick|lush} in $scene"),
        (0, "{there are|we can see} {many|lots of} trees $here"),
        (0, "a {dense|thick} forest {with many trees|covers this area|covers the whole image}"),
        (1, "{many|lots of} $tcol trees {grow densely|are close together} $here"),
        (1, "the trees in $scene are $tcol"),
        (1, "{a|the} forest {with|full of} $tcol trees"),
    ]
    feature = r.choice(("none", "road", "clearing"))
    if feature == "road":
        orient = r.choice(ORIENTS)
        width = c.u(r.uniform(0.04, 0.06))
        pts = line_points(c, orient, c.u(r.uniform(-0.1, 0.1)), c.u(r.uniform(0.0, 0.05)))
        c.band(pts, width, c.jitter(r.choice((SOIL, ASPHALT)), 10))
        env["road"] = ORIENT_ADV[orient]
        templates += [
            (1, "a {road|path} runs $road through $scene"),
            (2, "a {road|path} runs $road through the $tcol trees"),
            (3, "a {road|path} runs $road through {many|dense} $tcol trees"),
        ]
    elif feature == "clearing":
        where = r.choice(REGIONS)
        col, row = REGIONS.index(where) % 3, REGIONS.index(where) // 3
        x, y = (col + 0.5) * s / 3, (row + 0.5) * s / 3
        rad = c.u(r.uniform(0.13, 0.17))
        m, d = c.mask()
        pts = [
            (
                x + rad * (1 + 0.2 * math.sin(3 * t + 1)) * math.cos(t),
                y + rad * (1 + 0.2 * math.sin(2 * t)) * math.sin(t),
            )
            for t in np.linspace(0, 2 * math.pi, 18, endpoint=False)
        ]
        d.polygon(pts, fill=255)
        c.paint(m, c.jitter(DRY_GRASS, 10), 0.1)
        env["open_pos"] = POSITION_WORDS[where]
        env["open"] = "{an open space|a clearing|a patch of grass|a piece of open land}"
        templates += [
            (1, "there is $open $open_pos"),
            (1, "there is $open among the trees"),
            (2, "$open lies among the $tcol trees $open_pos"),
            (3, "{many|dense} $tcol trees surround $open $open_pos"),
        ]
    clutter(c, ("tree",), 1)
    return templates, env


def _canopy(c: Canvas, autumn: str, share: float) -> None:
    """Densely packed tree crowns (a fast variant of draw_tree, for hundreds of trees)."""
    r, s = c.r, c.s
    greens = [c.jitter(TREE, 14) for _ in range(8)]
    others = [c.jitter(AUTUMN[autumn], 14) for _ in range(4)] if autumn else greens
    dark = scale(FOREST, 0.6)
    step = c.u(0.065)
    n = int(s / step) + 2
    for i in range(n * n):
        x = (i % n - 0.5 + r.uniform(-0.45, 0.45)) * step
        y = (i // n - 0.5 + r.uniform(-0.45, 0.45)) * step
        rad = step * r.uniform(0.55, 0.8)
        rgb = r.choice(others) if r.random() < share else r.choice(greens)
        dx, dy = c.sun[0] * rad * 0.5, c.sun[1] * rad * 0.5
        c.draw.ellipse((x + dx - rad, y + dy - rad, x + dx + rad, y + dy + rad), fill=dark)
        c.draw.ellipse((x - rad, y - rad, x + rad, y + rad), fill=rgb)
        hx, hy, hr = x - dx * 0.8, y - dy * 0.8, rad * 0.45
        c.draw.ellipse((hx - hr, hy - hr, hx + hr, hy + hr), fill=scale(rgb, 1.2))


def _river(c: Canvas) -> Scene:
    r, s = c.r, c.s
    c.ground(r.choice((GRASS, GRASS, DRY_GRASS)))
    for _ in range(r.randint(0, 4)):
        x, y = r.uniform(0, 1) * s, r.uniform(0, 1) * s
        w, h = c.u(r.uniform(0.15, 0.3)), c.u(r.uniform(0.15, 0.3))
        c.draw.rectangle((x, y, x + w, y + h), fill=c.jitter(r.choice(list(FIELDS.values())), 10))
    clutter(c, ("tree", "shed", "patch"))
    orient = r.choice(ORIENTS)
    width_word = r.choice(("narrow", "wide"))
    width = c.u(0.08 if width_word == "narrow" else 0.15) * r.uniform(0.9, 1.1)
    pts = line_points(
        c, orient, c.u(r.uniform(-0.08, 0.08)), c.u(r.uniform(0.05, 0.09)), r.uniform(1, 2)
    )
    c.band(pts, width + c.u(0.04), c.jitter(r.choice((SAND, SOIL)), 10))
    colour = r.choice(("blue", "blue", "green"))
    c.band(pts, width, c.jitter(WATER[colour], 8), 0.05)
    trees = r.random() < 0.6
    if trees:
        _bank_trees(c, pts, width / 2 + c.u(0.05))
    env: Env = {
        "flow": ORIENT_ADV[orient],
        "radj": ORIENT_ADJ[orient],
        "width": width_word,
        "wcol": colour,
        "river": "{river|stream}",
        "runs": "{runs|flows|winds}",
        "water": "{waterway|watercourse|stretch of water}",
    }
    templates: Templates = [
        (0, "$thisis a river"),
        (0, "a {winding|curved} $river {passes through|goes through} $scene"),
        (0, "{there is|we can see} a $water {here|in the image|in the picture}"),
        (0, "a $water {runs|winds} through the {land|fields|green land}"),
        (1, "a $river $runs $flow {through the land|between its banks|through the area}"),
        (1, "a $width $water $runs through $scene"),
        (1, "the water of the $river is $wcol"),
        (1, "a $wcol $water {winds|curves} across the {land|fields}"),
        (2, "a $width $river $runs $flow"),
        (2, "a $wcol $water $runs $flow"),
        (2, "a $width $wcol $river {winds|curves} through $scene"),
        (3, "a $width $wcol $river $runs $flow"),
        (3, "a $width $wcol $water $runs $flow $here"),
    ]
    if trees:
        templates += [
            (1, "{green|} trees {grow|stand} along {both sides of|} the $river"),
            (2, "green trees {grow|stand} {on|along} both banks of the $wcol $river"),
            (3, "a $width $river with trees on both banks $runs $flow"),
        ]
    boats = r.randint(1, 3) if r.random() < 0.3 else 0
    if boats:
        idx = sorted(r.sample(range(4, len(pts) - 4), boats * 3))[::3][:boats]
        colour_b = weighted(r, {"white": 3, "red": 1, "blue": 1, "orange": 1})
        for i in idx:
            (x0, y0), (x1, y1) = pts[i - 1], pts[i + 1]
            heading = math.degrees(math.atan2(y1 - y0, x1 - x0)) + r.choice((0, 180))
            draw_ship(c, *pts[i], c.u(0.09), heading, c.jitter(PALETTE[colour_b], 8))
        env.update(group_env("boat", "boat", boats, colour_b))
        templates += [
            (1, "$boat_n $boat $boat_be on the $river"),
            (2, "$boat_n $boat_col $boat $boat_be {sailing|floating} on the $river"),
            (3, "$boat_n $boat_col $boat $boat_be on a $river that $runs $flow"),
        ]
    return templates, env


def _bank_trees(c: Canvas, pts: Sequence[Point], off: float) -> None:
    r = c.r
    for i in range(1, len(pts) - 1):
        (x0, y0), (x1, y1) = pts[i - 1], pts[i + 1]
        norm = math.hypot(x1 - x0, y1 - y0) or 1.0
        nx, ny = -(y1 - y0) / norm, (x1 - x0) / norm
        for sign in (-1, 1):
            if r.random() < 0.75:
                o = off + c.u(r.uniform(0.0, 0.04))
                x, y = pts[i][0] + sign * nx * o, pts[i][1] + sign * ny * o
                draw_tree(c, x, y, c.u(r.uniform(0.03, 0.045)), c.jitter(TREE, 12))


def _bridge(c: Canvas) -> Scene:
    r, s = c.r, c.s
    c.ground(r.choice((GRASS, DRY_GRASS, SOIL)))
    clutter(c, ("tree", "shed", "patch"))
    orient = r.choice(ORIENTS)
    width = c.u(r.uniform(0.18, 0.26))
    pts = line_points(c, orient, c.u(r.uniform(-0.06, 0.06)), c.u(r.uniform(0.0, 0.03)), 1.0)
    c.band(pts, width + c.u(0.03), c.jitter(r.choice((SAND, SOIL)), 10))
    c.band(pts, width, c.jitter(WATER[r.choice(("blue", "blue", "green"))], 8), 0.05)
    n = 1 if r.random() < 0.7 else 2
    across = PERPENDICULAR[orient]
    colour = weighted(r, {"grey": 3, "white": 2, "red": 1, "brown": 0.6})
    cars = r.randint(1, 3) if r.random() < 0.4 else 0
    deck = c.u(r.uniform(0.06, 0.075) if not cars else r.uniform(0.08, 0.09))
    along = Frame((s / 2, s / 2), ORIENT_ANGLE[orient])
    spots = [r.uniform(-0.15, 0.15)] if n == 1 else [r.uniform(-0.32, -0.2), r.uniform(0.2, 0.32)]
    car_colours = {"white": 2, "red": 1, "black": 1, "blue": 1, "yellow": 0.5}
    car_colour = weighted(r, {k: v for k, v in car_colours.items() if k != colour})
    for k, t in enumerate(spots):
        x, y = along(c.u(t), 0)
        near = min(range(len(pts)), key=lambda i: math.dist(pts[i], (x, y)))
        x, y = pts[near]
        f = Frame((x, y), ORIENT_ANGLE[across])
        c.band([f(-2 * s, 0), f(2 * s, 0)], deck * 0.9, ASPHALT, 0.03)
        body = f.rect(0, 0, width + c.u(0.1), deck)
        c.shadow(body, 2.0)
        c.polygon(body, c.jitter(PALETTE[colour], 8))
        for side in (-0.5, 0.5):
            c.draw.line(
                [f(-(width / 2 + c.u(0.05)), side * deck), f(width / 2 + c.u(0.05), side * deck)],
                fill=scale(PALETTE[colour], 0.7),
            )
        if k == 0 and cars:
            gap = (width + c.u(0.06)) / cars
            for i in range(cars):
                u = -(width + c.u(0.06)) / 2 + gap * (i + 0.5) + r.uniform(-0.2, 0.2) * gap
                draw_car(
                    c,
                    *f(u, 0),
                    c.u(0.075),
                    f.angle + r.choice((0, 180)),
                    c.jitter(PALETTE[car_colour], 8),
                )
    env = group_env("bridge", "bridge", n, colour)
    env.update(
        flow=ORIENT_ADV[orient],
        badj=ORIENT_ADJ[across],
        bspan=ORIENT_ADV[across],
        river="{river|water}",
        cross="{crosses|spans|goes across}" if n == 1 else "{cross|span|go across}",
    )
    templates: Templates = [
        (0, "{this is|here is} a bridge over a river"),
        (0, "{a road|the road} {crosses|goes across} the $river"),
        (0, "a river with a bridge on it"),
        (0, "{there is|we can see} a river with some land on both sides"),
        (1, "{there $bridge_be|we can see} $bridge_n $bridge over the $river"),
        (
            1,
            "{a river|the water} {runs|flows} $flow {through the land|below the road|between the banks}",
        ),
        (1, "$bridge_n $bridge_col $bridge $cross the $river"),
        (1, "the $bridge $cross the $river $bspan"),
        (2, "$bridge_n $bridge $cross a {river|stream} that runs $flow"),
        (2, "$bridge_n $bridge_col $bridge $cross the $river $bspan"),
        (2, "$bridge_n $badj $bridge $cross the $river $here"),
        (3, "$bridge_n $bridge_col $bridge $cross a river that runs $flow"),
        (3, "$bridge_n $bridge_col $badj $bridge $cross the $river"),
        (1, "{a road|the road} {passes over|goes over} the water $bspan"),
        (1, "a road crosses a {river|stream} that runs $flow"),
        (2, "a road {passes over|goes over} a {river|stream} that runs $flow"),
        (2, "land lies on both sides of a $bridge_col road over the water"),
    ]
    if cars:
        env.update(group_env("car", "car", cars, car_colour))
        templates += [
            (1, "$car_some $car $car_be on the bridge"),
            (2, "$car_n $car_col $car $car_be on the bridge"),
            (3, "$car_n $car_col $car $car_be on a bridge over a river running $flow"),
            (2, "$car_n $car $car_be driving over the {river|water}"),
        ]
    return templates, env


ROOFS: dict[str, RGB] = {
    "red": (172, 64, 50),
    "grey": (128, 128, 132),
    "white": (226, 224, 218),
    "brown": (128, 88, 60),
    "blue": (62, 94, 152),
    "orange": (210, 118, 52),
}


def _roof_list(r: random.Random, roofs: Sequence[str], n: int) -> list[str]:
    """``n`` roof colours that use every colour of ``roofs`` (when ``n`` allows)."""
    names = list(roofs)[:n] + [r.choice(roofs) for _ in range(n - len(roofs))]
    r.shuffle(names)
    return names


def _house(c: Canvas, x: float, y: float, w: float, h: float, angle: float, roof: str) -> None:
    rgb = c.jitter(ROOFS[roof], 10)
    f = Frame((x, y), angle if w >= h else angle + 90)
    draw_building(c, f.rect(0, 0, max(w, h), min(w, h)), rgb, 1.0, "gable")


def _pack(
    c: Canvas, block: Sequence[float], hw: float, hh: float, gap: float, skip: float
) -> list[tuple]:
    """Houses in a grid inside ``block`` (rows from its top), some left out; their boxes."""
    x0, y0, x1, y1 = block
    out, r = [], c.r
    y = y0 + gap
    while y + hh <= y1 - gap / 2:
        x = x0 + gap + r.uniform(0, gap)
        while x + hw <= x1 - gap / 2:
            if r.random() >= skip:
                out.append((x, y, x + hw, y + hh))
            x += hw + gap
        y += hh + gap
    return out


def _residential(c: Canvas, density: str) -> Scene:
    r, s = c.r, c.s
    ground = {"dense": CONCRETE, "medium": mix(GRASS, CONCRETE, 0.3), "sparse": GRASS}[density]
    c.ground(ground)
    clutter(c, ("tree", "patch") if density != "dense" else ("patch",))
    roofs = r.sample(list(ROOFS), r.choice((1, 1, 2)))
    env: Env = {"roof": colour_list(roofs), "trees": "{green trees|trees}"}
    if density == "sparse":
        layout = r.choice(("none", "horizontal", "vertical", "diagonal", "antidiagonal"))
        houses = _sparse_houses(c, layout, roofs)
        env.update(group_env("house", "house", houses), roof=colour_list(roofs[: max(1, houses)]))
        if layout != "none":
            env["road"] = f"a road runs {ORIENT_ADV[layout]}"
    else:
        layout = r.choice(("horizontal", "vertical", "cross", "cross"))
        boxes, blocks = roads(c, layout, c.u(0.075))
        env.update(road_env(layout, boxes, s))
        size = c.u(0.075 if density == "dense" else 0.095) * r.uniform(0.95, 1.1)
        gap = c.u(0.014 if density == "dense" else 0.055)
        skip = 0.04 if density == "dense" else 0.2
        hw, hh = (size * 1.3, size) if r.random() < 0.5 else (size, size * 1.3)
        placed = [box for b in blocks for box in _pack(c, b, hw, hh, gap, skip)]
        colours = _roof_list(r, roofs, len(placed))
        for (x0, y0, x1, y1), roof in zip(placed, colours, strict=True):
            _house(c, (x0 + x1) / 2, (y0 + y1) / 2, x1 - x0, y1 - y0, r.uniform(-3, 3), roof)
        if density == "medium":
            _yard_trees(c, placed, boxes, r.randint(6, 14))
        env.update(group_env("house", "house", len(placed)))
    return _residential_templates(density, env, layout), env


def _sparse_houses(c: Canvas, layout: str, roofs: Sequence[str]) -> int:
    r = c.r
    road: list[Point] = []
    if layout != "none":
        road = line_points(c, layout, c.u(r.uniform(-0.1, 0.1)), c.u(r.uniform(0.0, 0.06)))
        c.band(road, c.u(0.055), c.jitter(ASPHALT, 8))
    target, spots = r.randint(2, 6), []
    for _ in range(200):
        if len(spots) == target:
            break
        x, y = c.u(r.uniform(0.12, 0.88)), c.u(r.uniform(0.12, 0.88))
        if any(math.dist((x, y), p) < c.u(0.24) for p in spots):
            continue
        if any(math.dist((x, y), p) < c.u(0.12) for p in road):
            continue
        spots.append((x, y))
    for (x, y), roof in zip(spots, _roof_list(r, roofs, len(spots)), strict=True):
        w = c.u(r.uniform(0.12, 0.15))
        _house(c, x, y, w, w * r.uniform(0.65, 0.8), r.choice((0, 90)) + r.uniform(-12, 12), roof)
    for _ in range(r.randint(8, 20)):
        x, y = c.u(r.uniform(0.02, 0.98)), c.u(r.uniform(0.02, 0.98))
        if all(math.dist((x, y), p) > c.u(0.12) for p in spots) and all(
            math.dist((x, y), p) > c.u(0.06) for p in road
        ):
            draw_tree(c, x, y, c.u(r.uniform(0.03, 0.05)), c.jitter(TREE, 14))
    return len(spots)


def _yard_trees(c: Canvas, houses: Sequence[tuple], road_boxes: Sequence[tuple], k: int) -> None:
    r = c.r
    for _ in range(k * 3):
        if k == 0:
            return
        x, y = c.u(r.uniform(0.02, 0.98)), c.u(r.uniform(0.02, 0.98))
        rad = c.u(r.uniform(0.025, 0.035))
        box = (x - rad, y - rad, x + rad, y + rad)
        if overlaps(box, houses, c.u(0.005)) or overlaps(box, road_boxes):
            continue
        draw_tree(c, x, y, rad, c.jitter(TREE, 12))
        k -= 1


def _residential_templates(density: str, env: Env, layout: str) -> Templates:
    common: Templates = [
        (1, "the roofs of the {houses|buildings} are $roof"),
        (1, "{there are|we can see} $house_some $house with $roof roofs $here"),
    ]
    if density == "dense":
        t: Templates = [
            (0, "$thisis a dense residential area"),
            (
                0,
                "{many|lots of} buildings are {densely arranged|close to each other|packed together}",
            ),
            (0, "{there are|we can see} {lots of|many} houses $here"),
            (0, "a residential area with many houses"),
            (0, "{many|lots of} houses are arranged {closely|densely} $here"),
            (1, "{many|lots of} houses with $roof roofs are {densely arranged|packed together}"),
            (1, "$road through {the dense houses|$scene}"),
            (1, "$roads"),
            (
                2,
                "{many|lots of} $roof houses are {densely arranged|packed} on both sides of the road",
            ),
            (2, "$road {through|between} {many|lots of} houses with $roof roofs"),
            (3, "$road between {many|lots of} densely arranged houses with $roof roofs"),
        ]
    elif density == "medium":
        t = [
            (0, "this is a residential area with many houses"),
            (0, "there are some houses and $trees $here"),
            (0, "{many|some} houses are arranged {neatly|in rows} $here"),
            (0, "a residential area with houses and trees"),
            (0, "{there are|we can see} some houses with trees around them"),
            (1, "$roads"),
            (1, "$road through {the houses|$scene}"),
            (1, "$house_some houses with $roof roofs are arranged {neatly|in rows}"),
            (2, "$house_some houses with $roof roofs {stand|are} on both sides of the road"),
            (2, "$road {through|between} some houses with $roof roofs"),
            (2, "$house_some $roof houses are surrounded by $trees $here"),
            (3, "$road between $house_some houses with $roof roofs and some trees"),
        ]
    else:
        t = [
            (0, "$thisis a sparse residential area"),
            (0, "$house_some houses are {scattered|dotted} among the trees"),
            (0, "{there are|we can see} {many|lots of} green trees and $house_some houses"),
            (0, "a few houses are surrounded by $trees $here"),
            (0, "houses are sparsely {distributed|scattered} in $scene"),
            (1, "{there are|we can see|you can see} $house_n houses $here"),
            (1, "$house_n houses {are scattered|stand} among {many|lots of} trees"),
            (2, "$house_n houses with $roof roofs are {scattered|dotted} among the trees"),
            (2, "{there are|we can see} $house_n $roof houses $here"),
            (3, "$house_n houses with $roof roofs are surrounded by {many|lots of} green trees"),
        ]
        if layout != "none":
            t += [
                (1, "$road through $scene"),
                (2, "$road {past|beside} $house_n houses"),
                (3, "$road past $house_n houses with $roof roofs"),
            ]
    return t + common


def _industrial(c: Canvas) -> Scene:
    r, s = c.r, c.s
    c.ground(r.choice((CONCRETE, mix(SOIL, CONCRETE, 0.5))))
    clutter(c, ("tree", "patch"))
    layout = r.choice(("horizontal", "vertical", "cross"))
    road_boxes, blocks = roads(c, layout, c.u(0.08))
    roof = weighted(r, {"white": 3, "grey": 2, "blue": 2, "red": 0.7})
    size = r.choice(("small", "large"))
    target, placed = r.randint(2, 5), []
    lo, hi = (0.16, 0.24) if size == "small" else (0.26, 0.36)
    for _ in range(80):
        if len(placed) == target:
            break
        w, h = c.u(r.uniform(lo, hi)), c.u(r.uniform(0.12, 0.2))
        if r.random() < 0.5:
            w, h = h, w
        bx0, by0, bx1, by1 = r.choice(blocks)
        if bx1 - bx0 < w + c.u(0.04) or by1 - by0 < h + c.u(0.04):
            continue
        x, y = (
            r.uniform(bx0 + c.u(0.02), bx1 - w - c.u(0.02)),
            r.uniform(by0 + c.u(0.02), by1 - h - c.u(0.02)),
        )
        box = (x, y, x + w, y + h)
        if not overlaps(box, placed, c.u(0.04)):
            placed.append(box)
    for x0, y0, x1, y1 in placed:
        f = Frame(((x0 + x1) / 2, (y0 + y1) / 2), 0.0 if x1 - x0 >= y1 - y0 else 90.0)
        pts = f.rect(0, 0, max(x1 - x0, y1 - y0), min(x1 - x0, y1 - y0))
        draw_building(c, pts, c.jitter(PALETTE[roof], 8), 2.0, "ridged")
    env = group_env("factory", "factory", len(placed), roof, size)
    env.update(road_env(layout, road_boxes, s))
    env["ind"] = "{industrial area|factory area|industrial zone}"
    templates: Templates = [
        (0, "$thisis an $ind"),
        (0, "{there are|we can see} some {large|big} buildings $here"),
        (0, "an $ind with {some|several} $factory"),
        (0, "some $factory {stand|are} beside the {road|roads}"),
        (1, "$road through $scene"),
        (1, "{there $factory_be|we can see} $factory_n $factory $here"),
        (1, "$factory_some $factory_col $factory {stand|are} beside the {road|roads}"),
        (1, "$factory_some $factory_size $factory are {located|built} $here"),
        (2, "$factory_n $factory_col $factory {stand|are} in $scene"),
        (2, "$factory_n $factory_size $factory {stand|are} beside the {road|roads}"),
        (2, "$roads {among|between} some $factory_col $factory"),
        (3, "$factory_n $factory_size $factory_col $factory {stand|are} $here"),
        (3, "$factory_n $factory_col $factory {stand|are} {next to|beside} the {road|roads}"),
    ]
    cars = _row_of_cars(c, placed + road_boxes) if r.random() < 0.5 else None
    if cars:
        n, colour = cars
        env.update(group_env("car", "car", n, colour))
        templates += [
            (1, "$car_some $car $car_be $car_parked {among|between} the $factory"),
            (2, "$car_n $car_col $car $car_be $car_parked in $scene"),
        ]
    return templates, env


def _row_of_cars(c: Canvas, avoid: Sequence[tuple]) -> tuple[int, str] | None:
    """2-5 cars of one colour parked side by side in a free spot; (count, colour) or None."""
    r = c.r
    n = r.randint(2, 5)
    length, pitch = c.u(0.085), c.u(0.065)
    horizontal = r.random() < 0.5
    w, h = (n * pitch, length) if horizontal else (length, n * pitch)
    for _ in range(30):
        x, y = r.uniform(c.u(0.03), c.s - w - c.u(0.03)), r.uniform(c.u(0.03), c.s - h - c.u(0.03))
        if overlaps((x, y, x + w, y + h), avoid, c.u(0.015)):
            continue
        colour = weighted(r, {"white": 3, "black": 1, "red": 1, "blue": 1, "grey": 1})
        for i in range(n):
            cx = x + pitch * (i + 0.5) if horizontal else x + w / 2
            cy = y + h / 2 if horizontal else y + pitch * (i + 0.5)
            heading = (90.0 if horizontal else 0.0) + r.choice((0, 180))
            draw_car(c, cx, cy, length, heading, c.jitter(PALETTE[colour], 8))
        return n, colour
    return None


CAR_COLOURS = {
    "white": 4,
    "black": 2,
    "grey": 2,
    "red": 1.2,
    "blue": 1.2,
    "yellow": 0.5,
    "green": 0.4,
}


def _parking(c: Canvas) -> Scene:
    r = c.r
    c.ground(r.choice((GRASS, CONCRETE)))
    clutter(c, ("tree", "shed"))
    lot_side = r.choice(("full", "full", "left", "right", "top", "bottom"))
    x0, y0, x1, y1 = c.u(0.04), c.u(0.04), c.u(0.96), c.u(0.96)
    half = {"left": (x0, y0, c.u(0.6), y1), "right": (c.u(0.4), y0, x1, y1)}
    half.update(top=(x0, y0, x1, c.u(0.6)), bottom=(x0, c.u(0.4), x1, y1))
    lot = half.get(lot_side, (x0, y0, x1, y1))
    c.draw.rectangle(lot, fill=c.jitter(ASPHALT, 10))
    rows_horizontal = r.random() < 0.5
    depth = (lot[3] - lot[1]) if rows_horizontal else (lot[2] - lot[0])
    along = (lot[2] - lot[0]) if rows_horizontal else (lot[3] - lot[1])
    length, stall, aisle = c.u(0.085), c.u(0.062), c.u(0.06)
    max_rows = max(1, int((depth - c.u(0.03)) // (length + aisle)))
    n_rows = r.randint(min(2, max_rows), min(4, max_rows))
    fill = r.uniform(0.55, 0.97)
    per_row = int((along - c.u(0.04)) // stall)
    free = depth - n_rows * (length + c.u(0.02)) - (n_rows - 1) * aisle
    start = c.u(0.02) + r.uniform(0, max(0.0, free - c.u(0.03)))
    colours, total, empty = list(CAR_COLOURS), 0, 0
    for k in range(n_rows):
        d0 = start + k * (length + c.u(0.02) + aisle)
        for i in range(per_row + 1):
            a = c.u(0.02) + i * stall
            p0 = (lot[0] + a, lot[1] + d0) if rows_horizontal else (lot[0] + d0, lot[1] + a)
            p1 = (
                (p0[0], p0[1] + length + c.u(0.02))
                if rows_horizontal
                else (p0[0] + length + c.u(0.02), p0[1])
            )
            c.draw.line([p0, p1], fill=(214, 214, 206), width=1)
        for i in range(per_row):
            if r.random() > fill:
                empty += 1
                continue
            a, d = c.u(0.02) + (i + 0.5) * stall, d0 + c.u(0.01) + length / 2
            x, y = (lot[0] + a, lot[1] + d) if rows_horizontal else (lot[0] + d, lot[1] + a)
            colour = r.choices(colours, weights=[CAR_COLOURS[k] for k in colours])[0]
            heading = (90.0 if rows_horizontal else 0.0) + r.choice((0, 180)) + r.uniform(-4, 4)
            draw_car(
                c, x, y, length * r.uniform(0.92, 1.05), heading, c.jitter(PALETTE[colour], 10)
            )
            total += 1
    env = group_env("car", "car", max(total, 1))
    env.update(group_env("row", "row", n_rows))
    env["lot"] = "{parking lot|car park|parking area}"
    env["cols"] = "{different|various|many} {colors|colours}"
    templates: Templates = [
        (0, "$thisis a parking lot"),
        (0, "$car_some $car are parked $here"),
        (0, "{a|the} $lot {full of|with} cars"),
        (0, "{there are|we can see} $car_some $car $here"),
        (0, "$car_some $car are parked {in rows|neatly|in order}"),
        (1, "$car_some $car are $car_parked in $row_n rows $here"),
        (1, "{there are|we can see} cars of $cols $here"),
        (1, "the $lot is {divided into|arranged in} $row_n rows"),
        (2, "$car_some $car of $cols are $car_parked in $row_n rows"),
        (2, "{there are|we can see} $row_n rows of cars of $cols $here"),
        (3, "$car_some $car of $cols are $car_parked in $row_n rows in the $lot"),
    ]
    if empty >= 3:
        templates += [
            (1, "some {parking spaces|spaces|stalls} are empty $here"),
            (2, "$row_n rows of cars with some empty {parking spaces|spaces}"),
        ]
    if lot_side != "full":
        env["lot_pos"] = SIDE_WORDS[lot_side]
        templates += [
            (1, "the $lot is $lot_pos"),
            (2, "$car_some $car are $car_parked $lot_pos in $row_n rows"),
            (3, "$car_some $car of $cols are $car_parked in $row_n rows $lot_pos"),
        ]
    return templates, env


TRACKS: dict[str, RGB] = {"red": (176, 70, 56), "blue": (60, 98, 156), "green": (60, 132, 82)}
COURTS: dict[str, RGB] = {"blue": (60, 102, 160), "green": (64, 134, 88), "red": (172, 72, 58)}


def _playground(c: Canvas) -> Scene:
    r, s = c.r, c.s
    c.ground(r.choice((GRASS, CONCRETE, mix(GRASS, CONCRETE, 0.5))))
    clutter(c, ("tree", "shed", "tree"))
    orient = r.choice(("horizontal", "vertical"))
    long_, short = c.u(r.uniform(0.66, 0.8)), c.u(r.uniform(0.4, 0.46))
    courts = r.randint(1, 3) if r.random() < 0.6 else 0
    shift = c.u(0.13) * r.choice((-1, 1)) if courts else c.u(r.uniform(-0.05, 0.05))
    cx, cy = s / 2 + c.u(r.uniform(-0.04, 0.04)), s / 2 + shift
    if orient == "vertical":
        cx, cy = cy, cx
    w, h = (long_, short) if orient == "horizontal" else (short, long_)
    track = r.choice(("red", "red", "red", "blue", "green"))
    rgb = c.jitter(TRACKS[track], 10)
    box = (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)
    c.draw.rounded_rectangle(box, radius=min(w, h) / 2, fill=rgb)
    lane = c.u(0.065)
    for k in (1, 2):
        t = lane * k / 3
        inner = (box[0] + t, box[1] + t, box[2] - t, box[3] - t)
        c.draw.rounded_rectangle(inner, radius=min(w, h) / 2 - t, outline=scale(rgb, 1.3), width=1)
    field = (box[0] + lane, box[1] + lane, box[2] - lane, box[3] - lane)
    c.draw.rounded_rectangle(field, radius=min(w, h) / 2 - lane, fill=c.jitter((76, 146, 70), 10))
    _pitch_lines(c, field, orient)
    env: Env = {
        "tcol": track,
        "track": "{running track|track|runway}",
        "toval": "{oval|elliptical}",
        "tdir": ORIENT_ADV[orient],
        "field": "{football field|soccer field|green field|green pitch}",
    }
    templates: Templates = [
        (0, "$thisis a playground"),
        (0, "a playground with a {running track|track} and a football field"),
        (0, "{there is|we can see} an $toval $track around a $field"),
        (0, "a $field is surrounded by a $track"),
        (0, "{a|the} $toval $track is in $scene"),
        (1, "a $tcol $track {surrounds|goes around} a $field"),
        (1, "{there is|we can see} a $tcol $track $here"),
        (1, "the $toval $track {lies|is placed} $tdir"),
        (2, "a $tcol $toval $track {lies|is placed} $tdir"),
        (2, "a $field is surrounded by a $tcol $track $here"),
        (3, "a $tcol $track {lying|placed} $tdir surrounds a $field"),
    ]
    if courts:
        court_col = r.choice(list(COURTS))
        side = (
            ("bottom" if shift < 0 else "top")
            if orient == "horizontal"
            else ("right" if shift < 0 else "left")
        )
        _courts(c, courts, side, court_col)
        env.update(group_env("court", "court", courts, court_col))
        env["court_pos"] = SIDE_WORDS[side]
        templates += [
            (1, "{there $court_be|we can see} $court_n $court $here"),
            (1, "$court_some $court_col $court $court_be $court_pos"),
            (2, "$court_n $court_col $court $court_be next to the $track"),
            (2, "$court_n $court $court_be $court_pos {of the $track|}"),
            (3, "$court_n $court_col $court $court_be $court_pos next to a $tcol $track"),
        ]
    return templates, env


def _pitch_lines(c: Canvas, field: Sequence[float], orient: str) -> None:
    x0, y0, x1, y1 = field
    white = (232, 232, 228)
    w, h = x1 - x0, y1 - y0
    if orient == "horizontal":
        inner = (x0 + h * 0.3, y0 + h * 0.12, x1 - h * 0.3, y1 - h * 0.12)
        mid = [((x0 + x1) / 2, inner[1]), ((x0 + x1) / 2, inner[3])]
    else:
        inner = (x0 + w * 0.12, y0 + w * 0.3, x1 - w * 0.12, y1 - w * 0.3)
        mid = [(inner[0], (y0 + y1) / 2), (inner[2], (y0 + y1) / 2)]
    c.draw.rectangle(inner, outline=white, width=1)
    c.draw.line(mid, fill=white, width=1)
    rad = min(w, h) * 0.12
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    c.draw.ellipse((cx - rad, cy - rad, cx + rad, cy + rad), outline=white, width=1)


def _courts(c: Canvas, n: int, side: str, colour: str) -> None:
    r, s = c.r, c.s
    cw, ch = c.u(0.13), c.u(0.2)
    to = side_map(side, s)
    span = n * (cw + c.u(0.04))
    a0 = r.uniform(c.u(0.05), s - span - c.u(0.05))
    for i in range(n):
        a = a0 + i * (cw + c.u(0.04)) + cw / 2
        b = c.u(0.15)
        pts = [to(a - cw / 2, b - ch / 2), to(a + cw / 2, b - ch / 2), to(a + cw / 2, b + ch / 2)]
        pts.append(to(a - cw / 2, b + ch / 2))
        rgb = c.jitter(COURTS[colour], 8)
        c.polygon(pts, rgb, outline=(236, 236, 230))
        c.draw.line([to(a - cw / 2, b), to(a + cw / 2, b)], fill=(236, 236, 230))
        x, y = to(a, b)
        rad = cw * 0.18
        c.draw.ellipse((x - rad, y - rad, x + rad, y + rad), outline=(236, 236, 230))


def _stadium(c: Canvas) -> Scene:
    r, s = c.r, c.s
    c.ground(r.choice((CONCRETE, mix(GRASS, CONCRETE, 0.4))))
    clutter(c, ("tree", "patch"))
    orient = r.choice(("horizontal", "vertical"))
    grow = r.uniform(0.72, 1.0)
    rx, ry = c.u(r.uniform(0.4, 0.46)) * grow, c.u(r.uniform(0.32, 0.37)) * grow
    if orient == "vertical":
        rx, ry = ry, rx
    cx, cy = r.uniform(0.85 * rx, s - 0.85 * rx), r.uniform(0.85 * ry, s - 0.85 * ry)
    cars = r.random() < 0.6
    if cars:
        _stadium_cars(c, cx, cy, rx, ry)
    roof = weighted(r, {"white": 4, "grey": 2, "blue": 1, "red": 0.6})
    rgb = c.jitter(PALETTE[roof], 8)
    dx, dy = c.sun[0] * c.u(0.03), c.sun[1] * c.u(0.03)
    c.ellipse(cx + dx, cy + dy, rx, ry, c.shade(cx + rx + dx, cy, 0.5))
    c.ellipse(cx, cy, rx, ry, rgb)
    seat = r.choice(("red", "blue", "grey"))
    seats = c.jitter(
        {"red": (160, 56, 52), "blue": (62, 88, 150), "grey": (120, 120, 124)}[seat], 10
    )
    c.ellipse(cx, cy, rx * 0.86, ry * 0.86, seats)
    for k in range(20):
        t = 2 * math.pi * k / 20
        c.draw.line(
            [
                (cx + rx * 0.6 * math.cos(t), cy + ry * 0.6 * math.sin(t)),
                (cx + rx * math.cos(t), cy + ry * math.sin(t)),
            ],
            fill=scale(seats, 0.7),
        )
    c.ellipse(cx, cy, rx * 0.72, ry * 0.72, scale(rgb, 0.92))
    track = r.random() < 0.5
    inner = 0.66
    if track:
        c.ellipse(cx, cy, rx * inner, ry * inner, c.jitter(TRACKS["red"], 10))
        inner = 0.52
    else:
        c.ellipse(cx, cy, rx * inner, ry * inner, c.jitter((70, 140, 66), 8))
    field = (
        cx - rx * inner * 0.72,
        cy - ry * inner * 0.72,
        cx + rx * inner * 0.72,
        cy + ry * inner * 0.72,
    )
    c.draw.rectangle(field, fill=c.jitter((76, 146, 70), 8))
    _pitch_lines(c, field, orient)
    env: Env = {
        "roof": COLOUR_WORDS.get(roof, roof),
        "pos": POSITION_WORDS[region_of(s, cx, cy)],
        "pitch": "{football field|green pitch|green field|soccer field}",
        "stands": "{stands|grandstands|seats}",
        "big": "{large|big|huge}",
        "seat": COLOUR_WORDS.get(seat, seat),
        "sdir": ORIENT_ADV[orient],
    }
    templates: Templates = [
        (0, "$thisis a stadium"),
        (0, "a $big stadium with a $pitch in the middle"),
        (
            0,
            "{there is|we can see} a $big {oval|elliptical} building {here|in the image|in the picture}",
        ),
        (0, "a $pitch is surrounded by $stands"),
        (0, "{a|the} stadium {looks|is} like an {oval|ellipse}"),
        (1, "the stadium is $pos"),
        (1, "a $big stadium with a $roof roof"),
        (1, "the {roof|outer ring} of the {stadium|building} is $roof"),
        (2, "a $big stadium with a $roof roof is $pos"),
        (2, "a $pitch is surrounded by $stands with a $roof roof"),
        (3, "a $big {oval|elliptical} stadium with a $roof roof is $pos"),
        (1, "the {seats|stands} {of the stadium|around the field} are $seat"),
        (1, "an {oval|elliptical} building with $seat seats {lies|is} $pos"),
        (1, "the {oval|elliptical} stadium {lies|stretches} $sdir"),
        (2, "a stadium with $seat seats and a $roof roof"),
        (2, "a $pitch is surrounded by $seat $stands"),
        (3, "an {oval|elliptical} building with $seat seats and a $roof roof is $pos"),
    ]
    if track:
        templates += [
            (1, "a red {running track|track} surrounds the $pitch"),
            (2, "a $pitch and a red track are inside a $roof stadium"),
        ]
    if cars:
        templates += [
            (1, "{many|lots of} cars are parked around the {stadium|building}"),
            (2, "{many|lots of} cars are parked around a $roof {stadium|building}"),
        ]
    return templates, env


def _stadium_cars(c: Canvas, cx: float, cy: float, rx: float, ry: float) -> None:
    r = c.r
    colours = list(CAR_COLOURS)
    length = c.u(0.075)
    for k in range(44):
        t = 2 * math.pi * k / 44
        if r.random() < 0.35:
            continue
        grow = 1 + c.u(0.07) / min(rx, ry)
        x, y = cx + rx * grow * math.cos(t), cy + ry * grow * math.sin(t)
        if not (0 <= x < c.s and 0 <= y < c.s):
            continue
        colour = r.choices(colours, weights=[CAR_COLOURS[n] for n in colours])[0]
        draw_car(c, x, y, length, math.degrees(t), c.jitter(PALETTE[colour], 8))


def _beach(c: Canvas) -> Scene:
    r, s = c.r, c.s
    sand_word = r.choice(("yellow", "white"))
    sand = (222, 200, 140) if sand_word == "yellow" else (232, 226, 206)
    c.ground(sand, 0.06, 4)
    side = r.choice(("left", "right", "top", "bottom"))
    to = side_map(side, s)
    coast = c.u(r.uniform(0.38, 0.5))
    amp, waves, phase = c.u(r.uniform(0.02, 0.06)), r.uniform(1, 2.5), r.uniform(0, 6.3)
    line = [
        (a, coast + amp * math.sin(phase + waves * math.pi * a / s))
        for a in np.linspace(-2, s + 2, 24)
    ]
    back = r.choice(("sand", "trees", "trees", "buildings"))
    if back != "sand" and not _beach_back(c, to, line, back):
        back = "sand"
    m, d = c.mask()
    d.polygon([to(-2, -2), *[to(a, b) for a, b in line], to(s + 2, -2)], fill=255)
    deep = c.jitter((34, 88, 140), 10)
    c.paint(m, deep, 0.05)
    m2, d2 = c.mask()
    shallow = [to(a, b - c.u(0.07)) for a, b in line]
    d2.polygon([*shallow, *[to(a, b) for a, b in reversed(line)]], fill=255)
    c.paint(m2, c.jitter((64, 150, 160), 10), 0.05)
    for off, wd in ((0.0, 2), (-0.03, 1)):
        c.draw.line(
            [to(a, b + c.u(off)) for a, b in line],
            fill=(240, 242, 240),
            width=max(1, round(wd * s / 128)),
        )
    env: Env = {
        "sea_pos": SIDE_WORDS[side],
        "sea": "{sea|ocean|sea water}",
        "sand": sand_word,
        "waves": "{white waves|waves|breaking waves}",
    }
    templates: Templates = [
        (0, "$thisis a beach"),
        (0, "a beach {is next to|lies beside|is beside} the $sea"),
        (0, "{there is|we can see} some sand {beside|next to} the $sea"),
        (0, "$waves {wash|hit} the {shore|sand} $here"),
        (0, "the $sea meets the {sand|land} $here"),
        (1, "the $sea is $sea_pos"),
        (1, "the sand {here|on the beach|of the beach|in this image} is $sand"),
        (1, "{a|the} $sand beach {is next to|lies beside} the $sea"),
        (2, "the $sea is $sea_pos and the {sand|beach} is $sand"),
        (2, "{a|the} $sand beach is {next to|beside} the $sea $sea_pos"),
        (3, "$waves wash a $sand beach with the $sea $sea_pos"),
    ]
    if back == "trees":
        templates += [
            (1, "{some|many} green trees {grow|stand} behind the beach"),
            (2, "{some|many} trees {grow|stand} beside a $sand beach"),
        ]
    elif back == "buildings":
        templates += [(1, "some buildings stand {behind|near} the beach")]
    n = r.randint(1, 5) if r.random() < 0.45 else 0
    if n:
        colour = r.choice(("red", "blue", "orange", "yellow", "white"))
        for i in range(n):
            a = (i + 0.5) * s / n + c.u(r.uniform(-0.04, 0.04))
            b = coast + c.u(r.uniform(0.12, 0.18))
            x, y = to(a, b)
            rad = c.u(0.035)
            c.ellipse(
                x + c.sun[0] * rad * 0.5, y + c.sun[1] * rad * 0.5, rad, rad, c.shade(x, y, 0.6)
            )
            c.ellipse(x, y, rad, rad, c.jitter(PALETTE[colour], 8))
            c.ellipse(x, y, rad * 0.2, rad * 0.2, scale(PALETTE[colour], 0.7))
        env.update(group_env("umb", "umbrella", n, colour))
        templates += [
            (1, "{there $umb_be|we can see} $umb_n $umb on the {beach|sand}"),
            (2, "$umb_n $umb_col $umb $umb_be on the {beach|sand}"),
            (3, "$umb_n $umb_col $umb $umb_be on a $sand beach"),
        ]
    return templates, env


def _beach_back(
    c: Canvas, to: Callable[[float, float], Point], line: Sequence[Point], back: str
) -> bool:
    """Trees or buildings behind the beach, if there is room; whether they were drawn."""
    r, s = c.r, c.s
    far = max(b for _, b in line) + c.u(0.3)
    if far > s - c.u(0.06):
        return False
    m, d = c.mask()
    d.polygon([to(-2, far), to(s + 2, far), to(s + 2, s + 2), to(-2, s + 2)], fill=255)
    c.paint(m, c.jitter(GRASS if back == "trees" else CONCRETE, 10), 0.1)
    for a in np.arange(0, s, c.u(0.09)):
        x, y = to(a + r.uniform(-0.02, 0.02) * s, far + c.u(r.uniform(0.05, 0.1)))
        if back == "trees":
            draw_tree(c, x, y, c.u(r.uniform(0.035, 0.05)), c.jitter(TREE, 12))
        elif r.random() < 0.8:
            f = Frame((x, y), r.uniform(-5, 5))
            draw_building(
                c, f.rect(0, 0, c.u(0.07), c.u(0.07)), c.jitter(ROOFS[r.choice(list(ROOFS))], 10)
            )
    return True


DESERT: dict[str, RGB] = {
    "yellow": (214, 180, 112),
    "orange": (206, 142, 84),
    "brown": (168, 128, 90),
}


def _desert(c: Canvas) -> Scene:
    r, s = c.r, c.s
    colour = r.choice(list(DESERT))
    orient = r.choice(ORIENTS)
    angle = math.radians(ORIENT_ANGLE[orient] + 90)
    ys, xs = np.mgrid[0:s, 0:s].astype(np.float32) / s
    t = xs * math.cos(angle) + ys * math.sin(angle) + 0.05 * c.smooth(3)
    freq = r.uniform(4, 7)
    ridge = (t * freq + r.random()) % 1.0
    shade = np.where(ridge < 0.7, ridge / 0.7, (1 - ridge) / 0.3) - 0.5
    base = np.asarray(c.jitter(DESERT[colour], 10), np.float32)
    field = c.smooth(4) * 0.06
    arr = base * (1 + 0.16 * shade[..., None] + field[..., None])
    arr += c.np.normal(0, 3, (s, s, 1))
    c.img.paste(Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8)))
    env: Env = {
        "col": colour,
        "dunes": "{dunes|sand dunes|ripples of sand}",
        "ddir": ORIENT_ADV[orient],
    }
    env["dadj"] = ORIENT_ADJ[orient]
    templates: Templates = [
        (0, "$thisis a desert"),
        (0, "a {large|vast} piece of {sand|sandy land} $here"),
        (0, "{there are|we can see} {many|lots of} $dunes $here"),
        (0, "$dunes cover {all of|the whole of} $scene"),
        (0, "a desert with {many|lots of} $dunes"),
        (1, "the {sand|desert} {here|in this image|in the picture} is $col"),
        (1, "the $dunes {run|extend|stretch} $ddir {across the sand|in this image|here}"),
        (1, "{there are|we can see} {many|lots of} $col $dunes $here"),
        (2, "$col $dunes {run|extend|stretch} $ddir {across the sand|in this image|here}"),
        (2, "{a|the} $col desert with $dadj $dunes"),
        (3, "{a|the} $col desert with $dunes {running|stretching} $ddir"),
    ]
    if r.random() < 0.35:
        for _ in range(r.randint(4, 10)):
            x, y = c.u(r.uniform(0.03, 0.97)), c.u(r.uniform(0.03, 0.97))
            c.ellipse(x, y, c.u(0.018), c.u(0.018), c.jitter((88, 100, 56), 10))
        templates += [(1, "a few {shrubs|bushes|small plants} grow on the sand")]
    return templates, env


def _bareland(c: Canvas) -> Scene:
    r, s = c.r, c.s
    colour = r.choice(("brown", "brown", "yellow", "grey"))
    soil = {"brown": (150, 112, 80), "yellow": (184, 158, 108), "grey": (146, 140, 128)}[colour]
    c.ground(soil, 0.16, 6)
    clutter(c, ("patch",), 4)
    env: Env = {"col": COLOUR_WORDS.get(colour, colour), "land": "{bare land|bareland|empty land}"}
    templates: Templates = [
        (0, "$thisis a piece of bare land"),
        (0, "{there is|we can see} {a|a large} piece of empty land $here"),
        (0, "the {land|ground} {here|in this image} is {bare|empty|barren}"),
        (0, "a {large|wide} area of bare {soil|ground}"),
        (1, "the {soil|ground|land} {here|in this image|in the picture} is $col"),
        (1, "{there is|we can see} a piece of $col {soil|earth|land}"),
        (1, "a piece of $col $land"),
    ]
    tracks = r.random() < 0.5
    if tracks:
        for _ in range(r.randint(2, 4)):
            pts = line_points(
                c,
                r.choice(ORIENTS),
                c.u(r.uniform(-0.3, 0.3)),
                c.u(r.uniform(0.02, 0.08)),
                r.uniform(0.5, 1.5),
            )
            c.draw.line(
                pts,
                fill=scale(soil, r.choice((0.85, 1.12))),
                width=max(1, round(s / 90)),
                joint="curve",
            )
        templates += [
            (1, "some {tracks|car tracks|trails} {cross|run across} the {land|ground}"),
            (2, "some {tracks|trails} {cross|run across} the $col {land|ground}"),
        ]
    if r.random() < 0.4:
        orient = r.choice(ORIENTS)
        c.band(line_points(c, orient, c.u(r.uniform(-0.15, 0.15))), c.u(0.05), c.jitter(ASPHALT, 8))
        env["road"] = ORIENT_ADV[orient]
        templates += [
            (1, "a road runs $road through $scene"),
            (2, "a road runs $road over the $col $land"),
            (3, "a road runs $road over a piece of $col {soil|earth|land}"),
        ]
    things = _bare_things(c)
    if things:
        env.update(things)
        if "shrub_pos" in things:
            templates += [
                (1, "{a few|some} {green|} {shrubs|bushes} grow $shrub_pos"),
                (2, "{a few|some} {shrubs|bushes} grow on the $col {land|ground} $shrub_pos"),
            ]
        if "hut_pos" in things:
            templates += [
                (1, "a small {house|building|hut} stands $hut_pos"),
                (2, "a small {house|building} stands on the $col $land $hut_pos"),
            ]
    elif not tracks and "road" not in env:
        templates += [
            (0, "nothing but {soil|bare soil|earth} $here"),
            (2, "{a|a large} piece of $col $land with nothing on it"),
        ]
    return templates, env


def _bare_things(c: Canvas) -> Env:
    """Maybe a clump of shrubs and a lone hut on bare land; their positions by variable."""
    r, s = c.r, c.s
    env: Env = {}
    regions = r.sample(REGIONS, 2)
    if r.random() < 0.4:
        col, row = REGIONS.index(regions[0]) % 3, REGIONS.index(regions[0]) // 3
        x0, y0 = (col + 0.5) * s / 3, (row + 0.5) * s / 3
        spots = [
            (x0 + c.u(r.uniform(-0.1, 0.1)), y0 + c.u(r.uniform(-0.1, 0.1)))
            for _ in range(r.randint(3, 6))
        ]
        for x, y in spots:
            draw_tree(c, x, y, c.u(r.uniform(0.025, 0.035)), c.jitter((78, 96, 52), 10))
        env["shrub_pos"] = POSITION_WORDS[region_of(s, *centroid(spots))]
    if r.random() < 0.3:
        col, row = REGIONS.index(regions[1]) % 3, REGIONS.index(regions[1]) // 3
        f = Frame(((col + 0.5) * s / 3, (row + 0.5) * s / 3), r.uniform(-20, 20))
        roof = c.jitter(ROOFS[r.choice(list(ROOFS))], 10)
        draw_building(c, f.rect(0, 0, c.u(0.11), c.u(0.08)), roof, 1.0, "gable")
        env["hut_pos"] = POSITION_WORDS[regions[1]]
    return env


def _pond(c: Canvas) -> Scene:
    r, s = c.r, c.s
    c.ground(r.choice((GRASS, GRASS, DRY_GRASS)))
    for _ in range(r.randint(0, 3)):
        x, y = r.uniform(0, 1) * s, r.uniform(0, 1) * s
        w, h = c.u(r.uniform(0.15, 0.3)), c.u(r.uniform(0.15, 0.3))
        c.draw.rectangle((x, y, x + w, y + h), fill=c.jitter(r.choice(list(FIELDS.values())), 10))
    clutter(c, ("shed", "patch"))
    n = 1 if r.random() < 0.8 else 2
    size = r.choice(("small", "large")) if n == 1 else "small"
    if n == 2:
        where = r.choice(
            (
                ("left", "right"),
                ("top", "bottom"),
                ("top left", "bottom right"),
                ("top right", "bottom left"),
            )
        )
    elif size == "small":
        where = (r.choice(REGIONS),)
    else:
        where = ("center",)
    colour = r.choice(("blue", "blue", "green"))
    rgb = c.jitter(WATER[colour], 8)
    trees = r.choice(("many", "some", "none"))
    for region in where:
        col, row = REGIONS.index(region) % 3, REGIONS.index(region) // 3
        x = (col + 0.5) * s / 3 * 0.9 + 0.05 * s
        y = (row + 0.5) * s / 3 * 0.9 + 0.05 * s
        rad = c.u(r.uniform(0.11, 0.14) if size == "small" else r.uniform(0.24, 0.3))
        _pond_blob(c, x, y, rad, rgb, trees)
    env = group_env("pond", "pond", n, colour, size)
    env["trees"] = "{green trees|trees}"
    env["water"] = "{pond|lake}" if n == 1 else "{ponds|lakes}"
    templates: Templates = [
        (0, "$thisis a pond"),
        (0, "{there is|we can see} some water $here"),
        (0, "a pond {is|lies} {in the middle of|among} the {land|fields|grass}"),
        (0, "$pond_some $pond $pond_be {surrounded by|next to} some land"),
        (1, "the water {of the pond|in the pond|here} is $pond_col"),
        (1, "{there $pond_be|we can see} $pond_n $pond $here"),
        (1, "$pond_some $pond_size $pond $pond_be $here"),
        (2, "{there $pond_be|we can see} $pond_n $pond_col $pond $here"),
        (2, "$pond_n $pond_size $pond $pond_be {located|situated} $here"),
        (3, "{there $pond_be|we can see} $pond_n $pond_size $pond_col $pond $here"),
    ]
    if n == 1:
        env["pos"] = POSITION_WORDS[where[0]]
        templates += [
            (1, "a $pond_size $water is $pos"),
            (2, "a $pond_col pond is $pos"),
            (3, "a $pond_size $pond_col pond is $pos"),
        ]
    if trees != "none":
        env["tq"] = "{many|lots of}" if trees == "many" else "some"
        templates += [
            (0, "some trees {grow|stand} {near|beside} the {water|pond}"),
            (1, "$tq $trees surround $pond_some $pond"),
            (2, "$tq $trees surround $pond_n $pond_size $pond"),
            (2, "$tq $trees {grow|stand} around the $pond_col $pond"),
            (3, "$tq $trees surround $pond_n $pond_size $pond_col $pond"),
        ]
    return templates, env


def _pond_blob(c: Canvas, x: float, y: float, rad: float, rgb: RGB, trees: str) -> None:
    r = c.r
    k1, k2, p1, p2 = r.randint(2, 3), r.randint(3, 5), r.uniform(0, 6.3), r.uniform(0, 6.3)
    wob = r.uniform(0.08, 0.16)
    pts = []
    for t in np.linspace(0, 2 * math.pi, 28, endpoint=False):
        rr = rad * (1 + wob * math.sin(k1 * t + p1) + 0.5 * wob * math.sin(k2 * t + p2))
        pts.append((x + rr * math.cos(t), y + rr * math.sin(t) * 0.85))
    m, d = c.mask()
    d.polygon(pts, fill=255)
    c.draw.polygon(pts, fill=c.jitter(SOIL, 10))
    small = [(x + (px - x) * 0.93, y + (py - y) * 0.93) for px, py in pts]
    m, d = c.mask()
    d.polygon(small, fill=255)
    c.paint(m, rgb, 0.05)
    if trees == "none":
        return
    count = r.randint(10, 16) if trees == "many" else r.randint(4, 6)
    start = r.uniform(0, 6.3)
    for i in range(count):
        t = start + 2 * math.pi * i / count + r.uniform(-0.15, 0.15)
        o = rad * (1 + wob * 1.5) + c.u(r.uniform(0.04, 0.06))
        draw_tree(
            c,
            x + o * math.cos(t),
            y + o * math.sin(t) * 0.85,
            c.u(r.uniform(0.03, 0.045)),
            c.jitter(TREE, 12),
        )


MEADOW: dict[str, RGB] = {
    "green": (84, 138, 62),
    "light green": (130, 162, 86),
    "yellow": (168, 160, 92),
}


def _meadow(c: Canvas) -> Scene:
    r, s = c.r, c.s
    colour = r.choice(list(MEADOW))
    c.ground(MEADOW[colour], 0.18, 6)
    clutter(c, ("patch",), 2)
    env: Env = {"gcol": colour, "grass": "{grass|grassland|meadow}"}
    templates: Templates = [
        (0, "$thisis a meadow"),
        (0, "{there is|we can see} a {large|big} piece of {grass|grassland}"),
        (0, "{there is|we can see} {a lot of|lots of} grass $here"),
        (0, "the ground is covered with grass"),
        (0, "{a|the} meadow is covered {with|by} {green|} grass"),
        (1, "the $grass {here|in this image|in the picture} is $gcol"),
        (1, "a piece of $gcol $grass"),
        (1, "$gcol grass covers $scene"),
        (2, "{there is|we can see} a {large|big} piece of $gcol $grass"),
    ]
    if r.random() < 0.4:
        orient = r.choice(ORIENTS)
        c.band(
            line_points(c, orient, c.u(r.uniform(-0.15, 0.15)), c.u(r.uniform(0.02, 0.06))),
            c.u(0.03),
            c.jitter(SOIL, 10),
        )
        env["path"] = ORIENT_ADV[orient]
        templates += [
            (1, "a {path|trail|dirt road} runs $path {through|across} $scene"),
            (2, "a {path|trail} runs $path across the $gcol $grass"),
        ]
    if r.random() < 0.6:
        n, where = r.randint(1, 4), r.choice(REGIONS)
        col, row = REGIONS.index(where) % 3, REGIONS.index(where) // 3
        x0, y0 = (col + 0.5) * s / 3, (row + 0.5) * s / 3
        spots = [
            (x0 + c.u(0.12) * (i % 2 - 0.5 * (n > 1)), y0 + c.u(0.12) * (i // 2 - 0.5 * (n > 2)))
            for i in range(n)
        ]
        for x, y in spots:
            draw_tree(
                c,
                x + c.u(r.uniform(-0.01, 0.01)),
                y,
                c.u(r.uniform(0.04, 0.05)),
                c.jitter(TREE, 12),
            )
        env.update(group_env("tree", "tree", n, pos=region_of(s, *centroid(spots))))
        templates += [
            (1, "{there $tree_be|we can see} $tree_n $tree on the $grass"),
            (1, "$tree_some $tree $tree_be $tree_pos"),
            (2, "$tree_n $tree $tree_be $tree_pos {on the $grass|}"),
            (2, "$tree_n $tree {grow|stand} on the $gcol $grass"),
            (3, "$tree_n $tree $tree_be $tree_pos on the $gcol $grass"),
        ]
    return templates, env


def _storagetanks(c: Canvas) -> Scene:
    r, s = c.r, c.s
    c.ground(r.choice((CONCRETE, mix(SOIL, CONCRETE, 0.5))))
    clutter(c, ("shed", "tree", "patch"))
    size = r.choice(("small", "large"))
    rad = c.u(0.06 if size == "small" else 0.09) * r.uniform(0.95, 1.05)
    pitch = 2 * rad + c.u(r.uniform(0.03, 0.05))
    rows = r.choice((1, 1, 2, 2, 3)) if size == "small" else r.choice((1, 1, 2))
    cols = r.randint(1, max(1, min(4, int(c.u(0.9) // pitch))))
    w, h = cols * pitch, rows * pitch
    where = r.choice(REGIONS)
    col, row = REGIONS.index(where) % 3, REGIONS.index(where) // 3
    x0 = min(max((col + 0.5) * s / 3 - w / 2, c.u(0.04)), s - w - c.u(0.04))
    y0 = min(max((row + 0.5) * s / 3 - h / 2, c.u(0.04)), s - h - c.u(0.04))
    centres = [
        (x0 + pitch * (j + 0.5), y0 + pitch * (i + 0.5)) for i in range(rows) for j in range(cols)
    ]
    if len(centres) > 3 and r.random() < 0.3:
        centres.pop(r.randrange(len(centres)))
    pipe = scale(CONCRETE, 0.7)
    for (xa, ya), (xb, yb) in zip(centres, centres[1:], strict=False):
        c.draw.line([(xa, ya), (xb, yb)], fill=pipe, width=max(1, round(s / 90)))
    colour = weighted(r, {"white": 5, "grey": 2, "blue": 1, "green": 1, "red": 0.6})
    for x, y in centres:
        draw_tank(c, x, y, rad, c.jitter(PALETTE[colour], 6))
    n = len(centres)
    compact = w < c.u(0.6) and h < c.u(0.6)
    pos = region_of(s, *centroid(centres)) if compact else None
    env = group_env("tank", "tank", n, colour, size, pos)
    env["round"] = "{round|circular|cylindrical}"
    templates: Templates = [
        (
            0,
            "{there are|we can see} some $round tanks $here"
            if n > 1
            else "{there is|we can see} a $round tank $here",
        ),
        (0, "$tank_some $tank $tank_be {located|built} $here"),
        (
            0,
            "these are storage tanks seen from above"
            if n > 1
            else "this is a storage tank seen from above",
        ),
        (
            0,
            "some storage tanks {stand|are} {in an industrial area|on the ground}"
            if n > 1
            else "a storage tank stands on the ground",
        ),
        (1, "{there $tank_be|we can see} $tank_n $round $tank $here"),
        (1, "$tank_some $tank_col $tank $tank_be $here"),
        (1, "$tank_some $tank_size $tank $tank_be {built|located} $here"),
        (2, "{there $tank_be|we can see} $tank_n $tank_col $tank $here"),
        (2, "$tank_n $tank_size $round $tank $tank_be $here"),
        (3, "$tank_n $tank_size $tank_col $tank $tank_be {built|located} $here"),
    ]
    if n > 1 and n == rows * cols and cols > 1:
        env["rows"] = (
            "{in a row|in a line|side by side}" if rows == 1 else f"in {NUMBERS[rows]} rows"
        )
        templates += [
            (1, "$tank_some $tank are arranged $rows"),
            (2, "$tank_n $tank are arranged $rows"),
            (3, "$tank_n $tank_col $tank are arranged $rows"),
        ]
    if pos:
        templates += [
            (1, "$tank_some $tank $tank_be $tank_pos"),
            (2, "$tank_n $tank $tank_be $tank_pos"),
            (2, "$tank_some $tank_col $tank $tank_be $tank_pos"),
            (3, "$tank_n $tank_col $tank $tank_be $tank_pos"),
        ]
    return templates, env


def _intersection(c: Canvas) -> Scene:
    r, s = c.r, c.s
    c.ground(r.choice((CONCRETE, GRASS)))
    cx, cy = s / 2 + c.u(r.uniform(-0.12, 0.12)), s / 2 + c.u(r.uniform(-0.12, 0.12))
    width = c.u(r.uniform(0.17, 0.21))
    corners = r.choice(("buildings", "trees", "grass"))
    _corner_fill(c, cx, cy, width, corners)
    asphalt = c.jitter(ASPHALT, 8)
    c.draw.rectangle((0, cy - width / 2, s, cy + width / 2), fill=asphalt)
    c.draw.rectangle((cx - width / 2, 0, cx + width / 2, s), fill=asphalt)
    paint = (226, 222, 200)
    for t in np.arange(0, s, c.u(0.08)):
        if abs(t - cx) > width * 0.9:
            c.draw.line([(t, cy), (t + c.u(0.04), cy)], fill=paint)
        if abs(t - cy) > width * 0.9:
            c.draw.line([(cx, t), (cx, t + c.u(0.04))], fill=paint)
    zebra = r.random() < 0.7
    if zebra:
        _zebra(c, cx, cy, width)
    n = r.randint(1, 7)
    single = r.random() < 0.5
    colour = weighted(r, CAR_COLOURS) if single else ""
    placed: list[Point] = []
    for _ in range(300):
        if len(placed) == n:
            break
        horizontal = r.random() < 0.5
        t = r.uniform(0.04, 0.96) * s
        lane = r.choice((-0.25, 0.25)) * width
        x, y = (t, cy + lane) if horizontal else (cx + lane, t)
        if abs(x - cx) < width * 0.75 and abs(y - cy) < width * 0.75:
            continue
        if any(math.dist((x, y), p) < c.u(0.11) for p in placed):
            continue
        placed.append((x, y))
        rgb = PALETTE[colour or weighted(r, CAR_COLOURS)]
        draw_car(
            c,
            x,
            y,
            c.u(0.085),
            (0.0 if horizontal else 90.0) + (180 if lane < 0 else 0),
            c.jitter(rgb, 8),
        )
    env = group_env("car", "car", len(placed), colour or None)
    env["cross"] = POSITION_WORDS[region_of(s, cx, cy)]
    env["inter"] = "{intersection|crossroads|road junction}"
    templates: Templates = [
        (0, "$thisis an intersection"),
        (0, "two roads cross each other $here"),
        (
            0,
            "{a|the} crossroads with some cars on the roads"
            if len(placed) > 1
            else "a crossroads with a car on the road",
        ),
        (0, "a horizontal road {crosses|meets} a vertical road"),
        (0, "$car_some $car $car_be on the {roads|road} $here"),
        (1, "the roads cross $cross"),
        (1, "{there $car_be|we can see} $car_n $car on the {roads|road}"),
        (1, "{an|the} $inter is $cross"),
        (2, "$car_n $car $car_be {driving|moving} {through|near} the $inter"),
        (2, "two roads cross $cross with $car_some $car on them"),
        (3, "two roads cross $cross with $car_n $car on them"),
    ]
    if single:
        templates += [
            (1, "$car_some $car_col $car $car_be on the {roads|road}"),
            (2, "$car_n $car_col $car $car_be {driving|moving} on the roads"),
            (3, "$car_n $car_col $car $car_be near the $inter $cross"),
        ]
    if zebra:
        templates += [(1, "{zebra crossings|crosswalks} are painted at the $inter")]
    if corners == "buildings":
        templates += [(1, "buildings stand at the corners of the $inter")]
    elif corners == "trees":
        templates += [(1, "{green trees|trees} grow at the corners of the $inter")]
    return templates, env


def _corner_fill(c: Canvas, cx: float, cy: float, width: float, kind: str) -> None:
    r, s = c.r, c.s
    half = width / 2 + c.u(0.04)
    for qx in (-1, 1):
        for qy in (-1, 1):
            xa, xb = sorted((cx + qx * half, 0.0 if qx < 0 else float(s)))
            ya, yb = sorted((cy + qy * half, 0.0 if qy < 0 else float(s)))
            if xb - xa < c.u(0.08) or yb - ya < c.u(0.08):
                continue
            if kind == "buildings":
                box = [
                    (xa, ya),
                    (xb - c.u(0.01), ya),
                    (xb - c.u(0.01), yb - c.u(0.01)),
                    (xa, yb - c.u(0.01)),
                ]
                draw_building(c, box, c.jitter(ROOFS[r.choice(list(ROOFS))], 10), 2.0, "flat")
            elif kind == "trees":
                for _ in range(r.randint(3, 6)):
                    draw_tree(
                        c,
                        r.uniform(xa, xb),
                        r.uniform(ya, yb),
                        c.u(r.uniform(0.03, 0.045)),
                        c.jitter(TREE, 12),
                    )


def _zebra(c: Canvas, cx: float, cy: float, width: float) -> None:
    white = (232, 232, 226)
    off = width / 2 + c.u(0.03)
    step = c.u(0.03)
    for k in np.arange(-width / 2 + step / 2, width / 2, step):
        for sign in (-1, 1):
            c.draw.rectangle(
                (
                    cx + sign * off - c.u(0.02),
                    cy + k,
                    cx + sign * off + c.u(0.02),
                    cy + k + step / 2,
                ),
                fill=white,
            )
            c.draw.rectangle(
                (
                    cx + k,
                    cy + sign * off - c.u(0.02),
                    cx + k + step / 2,
                    cy + sign * off + c.u(0.02),
                ),
                fill=white,
            )


def _baseballfield(c: Canvas) -> Scene:
    r, s = c.r, c.s
    c.ground(r.choice((GRASS, CONCRETE, DRY_GRASS)))
    clutter(c, ("tree", "shed", "patch"))
    direction = r.choice((-45.0, -135.0, 45.0, 135.0))
    a = math.radians(direction)
    rad = c.u(r.uniform(0.4, 0.72))
    lo, hi = c.u(0.04), s - 0.96 * rad
    hx = r.uniform(lo, max(lo, hi)) if math.cos(a) > 0 else s - r.uniform(lo, max(lo, hi))
    hy = r.uniform(lo, max(lo, hi)) if math.sin(a) > 0 else s - r.uniform(lo, max(lo, hi))
    home = (hx, hy)
    box = (hx - rad, hy - rad, hx + rad, hy + rad)
    c.draw.pieslice(box, direction - 45, direction + 45, fill=c.jitter((92, 150, 72), 8))
    dirt = c.jitter((176, 126, 84), 8)
    inner = rad * 0.46
    c.draw.pieslice(
        (hx - inner, hy - inner, hx + inner, hy + inner), direction - 45, direction + 45, fill=dirt
    )
    u1 = (math.cos(a - math.pi / 4), math.sin(a - math.pi / 4))
    u2 = (math.cos(a + math.pi / 4), math.sin(a + math.pi / 4))
    side = rad * 0.3
    diamond = [home, (hx + u1[0] * side, hy + u1[1] * side)]
    diamond += [
        (hx + (u1[0] + u2[0]) * side, hy + (u1[1] + u2[1]) * side),
        (hx + u2[0] * side, hy + u2[1] * side),
    ]
    shrink = [
        (
            hx + (x - hx) * 0.8 + (u1[0] + u2[0]) * side * 0.1,
            hy + (y - hy) * 0.8 + (u1[1] + u2[1]) * side * 0.1,
        )
        for x, y in diamond
    ]
    c.polygon(shrink, c.jitter((86, 146, 70), 8))
    for u in (u1, u2):
        c.draw.line(
            [home, (hx + u[0] * rad, hy + u[1] * rad)], fill=(236, 236, 230), width=c.line_w
        )
    mx, my = hx + (u1[0] + u2[0]) * side * 0.5, hy + (u1[1] + u2[1]) * side * 0.5
    c.ellipse(mx, my, c.u(0.018), c.u(0.018), dirt)
    c.ellipse(hx, hy, c.u(0.025), c.u(0.025), dirt)
    centre = (hx + math.cos(a) * rad * 0.5, hy + math.sin(a) * rad * 0.5)
    env: Env = {
        "pos": POSITION_WORDS[region_of(s, *centre)],
        "home": POSITION_WORDS[region_of(s, hx, hy)],
        "bb": "{baseball field|baseball diamond|ball field}",
        "fan": "{fan-shaped|sector-shaped}",
        "facing": {-45.0: "top right", -135.0: "top left", 45.0: "bottom right"}.get(
            direction, "bottom left"
        ),
    }
    templates: Templates = [
        (0, "$thisis a baseball field"),
        (0, "{there is|we can see} a $fan {field|lawn} {here|in the image}"),
        (0, "a $fan green field with a brown {infield|diamond}"),
        (0, "the {infield|diamond} is brown and the outfield is green"),
        (0, "a $bb with white lines"),
        (1, "a $bb is $pos"),
        (1, "a $fan {field|lawn} {lies|is} $pos"),
        (1, "the home plate is $home"),
        (2, "a $fan $bb with a brown infield is $pos"),
        (2, "the home plate of the $bb is $home"),
        (3, "a $fan green field with a brown diamond is $pos"),
        (1, "the $bb {opens|faces} toward the $facing"),
        (2, "a $fan {field|lawn} with a brown infield faces the $facing"),
        (3, "a $bb {facing|opening toward} the $facing is $pos"),
    ]
    return templates, env


_RENDERERS: dict[str, Callable[[Canvas], Scene]] = {
    "airport": _airport,
    "bareland": _bareland,
    "baseballfield": _baseballfield,
    "beach": _beach,
    "bridge": _bridge,
    "denseresidential": lambda c: _residential(c, "dense"),
    "desert": _desert,
    "farmland": _farmland,
    "forest": _forest,
    "industrial": _industrial,
    "intersection": _intersection,
    "meadow": _meadow,
    "mediumresidential": lambda c: _residential(c, "medium"),
    "parking": _parking,
    "playground": _playground,
    "pond": _pond,
    "port": _port,
    "river": _river,
    "sparseresidential": lambda c: _residential(c, "sparse"),
    "stadium": _stadium,
    "storagetanks": _storagetanks,
}

# How a caption names the class ("$here", "$scene"), and the words that count as naming it.
_NAMED: dict[str, tuple[str, str, str]] = {
    "airport": (
        "{in the airport|at the airport|at this airport}",
        "{the airport|this airport}",
        "airport",
    ),
    "bareland": (
        "{on the bare land|on this bare land}",
        "{the bare land|this bare land}",
        "bare|bareland",
    ),
    "baseballfield": (
        "{in the baseball field|here in the baseball field}",
        "the baseball field",
        "baseball",
    ),
    "beach": ("{on the beach|at the beach}", "{the beach|this beach}", "beach"),
    "bridge": (
        "{in this bridge scene|at the bridge site}",
        "{the bridge area|this bridge scene}",
        "bridge|bridges",
    ),
    "denseresidential": (
        "{in the dense residential area|in this dense residential area}",
        "{the dense residential area|this dense residential area}",
        "residential",
    ),
    "desert": ("{in the desert|in this desert}", "{the desert|this desert}", "desert"),
    "farmland": ("{in the farmland|on the farmland}", "{the farmland|this farmland}", "farmland"),
    "forest": ("{in the forest|in this forest}", "{the forest|this forest}", "forest"),
    "industrial": (
        "{in the industrial area|in this industrial area}",
        "{the industrial area|this factory area}",
        "industrial|factory area",
    ),
    "intersection": (
        "{at the intersection|near the crossroads}",
        "{the intersection|this intersection}",
        "intersection|crossroads",
    ),
    "meadow": ("{in the meadow|on the meadow}", "{the meadow|this meadow}", "meadow"),
    "mediumresidential": (
        "{in the residential area|in this residential area}",
        "{the residential area|this residential area}",
        "residential",
    ),
    "parking": (
        "{in the parking lot|in this parking lot}",
        "{the parking lot|this parking lot}",
        "parking",
    ),
    "playground": (
        "{in the playground|on the playground}",
        "{the playground|this playground}",
        "playground",
    ),
    "pond": (
        "{in the pond area|in this pond area}",
        "{the pond area|this pond area}",
        "pond|ponds",
    ),
    "port": ("{in the port|in the harbor}", "{the port|this harbor}", "port|harbor"),
    "river": (
        "{in the river area|in this river scene}",
        "{the river area|this river area}",
        "river",
    ),
    "sparseresidential": (
        "{in the sparse residential area|in this sparse residential area}",
        "{the sparse residential area|this sparse residential area}",
        "residential",
    ),
    "stadium": ("{in the stadium|around the stadium}", "{the stadium|this stadium}", "stadium"),
    "storagetanks": (
        "{in the tank farm|in this storage area}",
        "{the storage area|this tank farm}",
        "storage tank|storage tanks|tank farm",
    ),
}
_PLAIN_HERE = "{in this area|here|in the picture|in this image|in the scene}"
_PLAIN_SCENE = "{this area|the area|this place|the scene}"
_THIS_IS = (
    "{this is a picture of|this is an image of|the picture shows|this image shows|here we can see}"
)

# ---------------------------------------------------------------------------------------------
# Captions

_TOKEN = re.compile(r"\{([^{}]*)\}|\$(\w+)")
_LEVEL_PLANS = (
    (0, 1, 1, 2, 2),
    (0, 1, 1, 2, 3),
    (0, 1, 2, 2, 3),
    (0, 0, 1, 2, 2),
    (0, 1, 1, 1, 2),
    (1, 1, 2, 2, 3),
    (0, 1, 1, 2, 2),
)


def expand(template: str, r: random.Random, env: Env) -> str:
    """Fill in a template: ``{a|b}`` picks one alternative, ``$name`` inserts ``env[name]``."""

    def sub(m: re.Match) -> str:
        if m.group(1) is not None:
            return expand(r.choice(m.group(1).split("|")), r, env)
        return expand(env[m.group(2)], r, env)

    return _TOKEN.sub(sub, template)


def tidy(text: str) -> str:
    text = re.sub(r"\s+", " ", text).strip().lower()
    text = re.sub(
        r"\b(a|an) (\w)", lambda m: ("an " if m.group(2) in "aeiou" else "a ") + m.group(2), text
    )
    return text + "."


def _names_class(scene_class: str, template: str) -> str:
    if re.search(rf"\b({_NAMED[scene_class][2]})\b", template):
        return "named"
    return "flex" if "$here" in template or "$scene" in template else "plain"


def _choose(
    r: random.Random,
    kinds: Sequence[str],
    levels: Sequence[int],
    level: int,
    named: bool,
    used: set[int],
) -> int:
    wanted = ("named", "flex") if named else ("plain", "flex")
    for lv in (level, level - 1, level + 1, level - 2, level - 3):
        for strict, fresh in ((True, True), (False, True), (False, False)):
            pool = [
                i
                for i in range(len(kinds))
                if levels[i] == lv
                and (not strict or kinds[i] in wanted)
                and (not fresh or i not in used)
            ]
            if pool:
                return r.choice(pool)
    return r.randrange(len(kinds))


def make_captions(
    r: random.Random, scene_class: str, templates: Templates, env: Env, n: int
) -> list[str]:
    """``n`` captions at mixed detail levels, about half of them without the class name."""
    plan = r.choice(_LEVEL_PLANS)
    levels = [plan[i % len(plan)] for i in range(n)]
    kinds = [_names_class(scene_class, t) for _, t in templates]
    here, scene = _NAMED[scene_class][:2]
    pattern = re.compile(rf"\b({_NAMED[scene_class][2]})\b")
    used: set[int] = set()
    out = []
    for level in levels:
        named = r.random() < 0.45
        i = _choose(r, kinds, [lv for lv, _ in templates], level, named, used)
        used.add(i)
        local = dict(
            env, here=here if named else _PLAIN_HERE, scene=scene if named else _PLAIN_SCENE
        )
        local["thisis"] = _THIS_IS
        for _ in range(3):  # the synonyms of a template may or may not name the class
            text = tidy(expand(templates[i][1], r, local))
            if bool(pattern.search(text)) == named:
                break
        out.append(text)
    r.shuffle(out)
    return out


# ---------------------------------------------------------------------------------------------
# Entry point


def _finish(c: Canvas) -> Image.Image:
    """Camera effects: a slight blur, brightness / colour cast, haze gradient and sensor noise."""
    r, s = c.r, c.s
    img = c.img
    if r.random() < 0.5:
        w = r.uniform(3, 12)  # a 3x3 smoothing kernel: the lower the centre weight, the softer
        img = img.filter(ImageFilter.Kernel((3, 3), (1, 2, 1, 2, w, 2, 1, 2, 1)))
    arr = np.asarray(img, dtype=np.float32)
    gain = r.uniform(0.86, 1.1) * (1 + c.np.normal(0, 0.02, 3)).astype(np.float32)
    ramp = np.linspace(-1, 1, s, dtype=np.float32)
    haze = r.uniform(-8, 8) * ramp[None, :, None] + r.uniform(-8, 8) * ramp[:, None, None]
    arr = arr * gain + haze + r.uniform(-6, 6)
    arr += c.np.normal(0, r.uniform(1.5, 4), (s, s, 1)).astype(np.float32)
    return Image.fromarray(np.clip(arr + 0.5, 0, 255).astype(np.uint8))


def render_scene(
    scene_class: str, rng: random.Random, size: int = 128, n_captions: int = 5
) -> tuple[Image.Image, list[str]]:
    """Render one scene of ``scene_class`` (an RGB image of ``size`` x ``size``) and return it
    with ``n_captions`` captions, all true of the image. All randomness comes from ``rng``."""
    if scene_class not in _RENDERERS:
        raise ValueError(
            f"unknown scene class {scene_class!r}; expected one of {', '.join(SCENE_CLASSES)}"
        )
    if size < 16:
        raise ValueError("size must be at least 16")
    canvas = Canvas(size, rng)
    templates, env = _RENDERERS[scene_class](canvas)
    image = _finish(canvas)
    return image, make_captions(rng, scene_class, templates, env, n_captions)

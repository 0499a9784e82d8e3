"""The drawing side of the scenes: colours, the canvas and its primitives, geometry helpers,
and the objects the scenes are built from (planes, ships, cars, buildings, trees, tanks, roads).

Also the camera effects applied to every finished image (:func:`_finish`)."""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

RGB = tuple[int, int, int]
Point = tuple[float, float]


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

FIELDS: dict[str, RGB] = {"green": (82, 130, 58), "yellow": (198, 178, 98), "brown": (138, 104, 70)}

ROOFS: dict[str, RGB] = {
    "red": (172, 64, 50),
    "grey": (128, 128, 132),
    "white": (226, 224, 218),
    "brown": (128, 88, 60),
    "blue": (62, 94, 152),
    "orange": (210, 118, 52),
}

CAR_COLOURS = {
    "white": 4,
    "black": 2,
    "grey": 2,
    "red": 1.2,
    "blue": 1.2,
    "yellow": 0.5,
    "green": 0.4,
}


def scale(rgb: Sequence[float], f: float) -> RGB:
    return tuple(max(0, min(255, int(v * f))) for v in rgb)  # type: ignore[return-value]


def mix(a: Sequence[float], b: Sequence[float], t: float) -> RGB:
    return tuple(int(x + (y - x) * t) for x, y in zip(a, b, strict=True))  # type: ignore[return-value]


def weighted(r: random.Random, weights: dict[str, float]) -> str:
    names = list(weights)
    return r.choices(names, weights=[weights[k] for k in names])[0]


# ---------------------------------------------------------------------------------------------
# Geometry and drawing

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

ORIENTS = ("horizontal", "vertical", "diagonal", "antidiagonal")
ORIENT_ANGLE = {"horizontal": 0.0, "vertical": 90.0, "diagonal": 45.0, "antidiagonal": -45.0}
PERPENDICULAR = {
    "horizontal": "vertical",
    "vertical": "horizontal",
    "diagonal": "antidiagonal",
    "antidiagonal": "diagonal",
}


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


# ---------------------------------------------------------------------------------------------
# Camera effects


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

"""Open-land scenes: farmland, forest, desert, bare land and meadow.

Each scene draws on the canvas and returns caption templates (with a detail level
0-3) and the variables they use; see :mod:`.language` for the template syntax."""

from __future__ import annotations

import math
import random

import numpy as np
from PIL import Image

from .canvas import (
    ASPHALT,
    DRY_GRASS,
    FIELDS,
    FOREST,
    ORIENT_ANGLE,
    ORIENTS,
    REGIONS,
    RGB,
    ROOFS,
    SOIL,
    TREE,
    Canvas,
    Frame,
    centroid,
    clutter,
    draw_building,
    draw_tree,
    line_points,
    region_of,
    scale,
)
from .language import (
    COLOUR_WORDS,
    ORIENT_ADJ,
    ORIENT_ADV,
    POSITION_WORDS,
    Env,
    Scene,
    Templates,
    colour_list,
    group_env,
)

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

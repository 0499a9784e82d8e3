"""Water scenes: river, beach and pond.

Each scene draws on the canvas and returns caption templates (with a detail level
0-3) and the variables they use; see :mod:`.language` for the template syntax."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

from .canvas import (
    CONCRETE,
    DRY_GRASS,
    FIELDS,
    GRASS,
    ORIENTS,
    PALETTE,
    REGIONS,
    RGB,
    ROOFS,
    SAND,
    SOIL,
    TREE,
    WATER,
    Canvas,
    Frame,
    Point,
    clutter,
    draw_building,
    draw_ship,
    draw_tree,
    line_points,
    scale,
    side_map,
    weighted,
)
from .language import (
    ORIENT_ADJ,
    ORIENT_ADV,
    POSITION_WORDS,
    SIDE_WORDS,
    Env,
    Scene,
    Templates,
    group_env,
)


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

"""Sports scenes: playground, stadium and baseball field.

Each scene draws on the canvas and returns caption templates (with a detail level
0-3) and the variables they use; see :mod:`.language` for the template syntax."""

from __future__ import annotations

import math
from collections.abc import Sequence

from .canvas import (
    CAR_COLOURS,
    CONCRETE,
    DRY_GRASS,
    GRASS,
    PALETTE,
    RGB,
    Canvas,
    clutter,
    draw_car,
    mix,
    region_of,
    scale,
    side_map,
    weighted,
)
from .language import (
    COLOUR_WORDS,
    ORIENT_ADV,
    POSITION_WORDS,
    SIDE_WORDS,
    Env,
    Scene,
    Templates,
    group_env,
)

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

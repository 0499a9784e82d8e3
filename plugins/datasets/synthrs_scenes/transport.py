"""Transport scenes: airport, port, bridge, parking lot and intersection.

Each scene draws on the canvas and returns caption templates (with a detail level
0-3) and the variables they use; see :mod:`.language` for the template syntax."""

from __future__ import annotations

import math

import numpy as np

from .canvas import (
    ASPHALT,
    CAR_COLOURS,
    CONCRETE,
    DRY_GRASS,
    GRASS,
    ORIENT_ANGLE,
    ORIENTS,
    PALETTE,
    PERPENDICULAR,
    ROOFS,
    SAND,
    SOIL,
    TREE,
    WATER,
    Canvas,
    Frame,
    Point,
    centroid,
    clutter,
    draw_building,
    draw_car,
    draw_plane,
    draw_ship,
    draw_tree,
    heading_of,
    line_points,
    region_of,
    scale,
    side_map,
    weighted,
)
from .language import (
    ORIENT_ADJ,
    ORIENT_ADV,
    POSITION_WORDS,
    SIDE_WORDS,
    Scene,
    Templates,
    group_env,
)


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

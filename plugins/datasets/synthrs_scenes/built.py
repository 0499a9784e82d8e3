"""Built-up scenes: residential areas of three densities, industrial area and storage tanks.

Each scene draws on the canvas and returns caption templates (with a detail level
0-3) and the variables they use; see :mod:`.language` for the template syntax."""

from __future__ import annotations

import math
import random
from collections.abc import Sequence

from .canvas import (
    ASPHALT,
    CONCRETE,
    GRASS,
    PALETTE,
    REGIONS,
    ROOFS,
    SOIL,
    TREE,
    Canvas,
    Frame,
    Point,
    centroid,
    clutter,
    draw_building,
    draw_car,
    draw_tank,
    draw_tree,
    line_points,
    mix,
    overlaps,
    region_of,
    roads,
    scale,
    weighted,
)
from .language import NUMBERS, ORIENT_ADV, Env, Scene, Templates, colour_list, group_env, road_env


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

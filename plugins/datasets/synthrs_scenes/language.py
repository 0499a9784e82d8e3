"""The language side of the scenes: the caption grammar and the words it draws on.

Template syntax: ``{a|b}`` picks one alternative, ``$name`` inserts a variable; ``$here`` and
``$scene`` are filled with or without the class name. A scene returns its templates, each with
a detail level 0-3, and the variables they use (:data:`Scene`); :func:`make_captions` turns them
into captions at mixed levels of detail, about half of them naming the class."""

from __future__ import annotations

import random
import re
from collections.abc import Sequence

from .canvas import region_of

Env = dict[str, str]
Templates = list[tuple[int, str]]
Scene = tuple[Templates, Env]


# ---------------------------------------------------------------------------------------------
# Words

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

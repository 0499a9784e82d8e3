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

The package is laid out as: :mod:`.canvas` (colours, the canvas, geometry and the objects
drawn), :mod:`.language` (the caption grammar), and the scenes grouped by theme in
:mod:`.transport`, :mod:`.water`, :mod:`.land`, :mod:`.built` and :mod:`.sports`; this module
dispatches a class name to its scene.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from PIL import Image

from .built import _industrial, _residential, _storagetanks
from .canvas import Canvas, _finish
from .land import _bareland, _desert, _farmland, _forest, _meadow
from .language import Scene, make_captions
from .sports import _baseballfield, _playground, _stadium
from .transport import _airport, _bridge, _intersection, _parking, _port
from .water import _beach, _pond, _river

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


# ---------------------------------------------------------------------------------------------
# Scenes. Each draws on the canvas and returns caption templates (with a detail level 0-3) and
# the variables they use. Template syntax: {a|b} picks one, $name is a variable; $here and
# $scene are filled with or without the class name.
# The scene functions live in transport, water, land, built and sports.

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


# ---------------------------------------------------------------------------------------------
# Entry point


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

"""degenerate: replace captions by the empty or generic sentences that real RS sets contain.

Source: catalogue item D.9 of ``../shared/specs/peers-and-protocols.md``. RRSITR's figure of
real noise shows RSITMD and NWPU captions that are just ".", and RSITMD's training split has
20 captions of one word or none (measured in the spec). Such a caption carries no content: a
method should learn to ignore it rather than pull every image towards one point.

Forms (``forms``, a weighted mixture like ``"dot:1,empty:1,class_name:1,template:1"``):

- ``dot``: the text "."; ``empty``: the empty string;
- ``class_name``: the image's scene class as words ("dense residential area",
  ``data/class_names.json``);
- ``template``: one of ``templates`` drawn uniformly, with ``{class}`` (the class as words) and
  ``{a_class}`` (with its article: "an airport") filled in.

Ratio mapping: ``round(N · ratio)`` rows are drawn uniformly among the eligible rows (all
rows; only rows of an image with a class when every form needs a class). The forms are shared
out exactly by weight (largest remainder), then dealt to the rows at random; a row without a
class that is dealt a class form gets a class-free form instead (drawn by weight), and a form
that reproduces one of the image's own captions is replaced by the next form that does not.
``info["forms"]`` gives the counts actually used. The effective rate equals the ratio up to
rounding unless the image itself has such captions.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from rsbench.api import Split
from rsbench_plugins.noise.classes import readable
from rsbench_plugins.noise.mixture import allocate, parse_mixture
from rsbench_plugins.noise.rows import RowEdits, RowNoise

FORMS = ("dot", "empty", "class_name", "template")
_CLASS_FORMS = {"class_name", "template"}


def with_article(phrase: str) -> str:
    """``phrase`` after "a" or "an" as spoken ("an airport", "a river")."""
    return ("an " if phrase[:1].lower() in "aeiou" and phrase else "a ") + phrase


class Degenerate(RowNoise):
    """Replace captions by ".", "", a bare class name or a generic template."""

    name = "degenerate"

    @dataclass
    class Options:
        #: weighted mixture of the forms dot, empty, class_name, template
        forms: str | dict[str, float] = "dot:1,empty:1,class_name:1,template:1"
        #: generic sentences; {class} is the class in words, {a_class} the same with its article
        templates: list[str] = field(
            default_factory=lambda: ["this is {a_class}.", "it is {a_class}.", "{a_class}."]
        )

        def __post_init__(self) -> None:
            self.weights = parse_mixture(self.forms, FORMS, "degenerate form")
            for template in self.templates:
                try:
                    template.format(**{"class": "x", "a_class": "a x"})
                except (KeyError, IndexError, ValueError) as exc:
                    raise ValueError(
                        f"degenerate template {template!r} may only use {{class}} and "
                        f"{{a_class}} ({exc})"
                    ) from None
            if self.weights.get("template") and not self.templates:
                raise ValueError("degenerate form 'template' needs at least one template")

    def eligible(self, split: Split) -> np.ndarray:
        if any(w > 0 for f, w in self.options.weights.items() if f not in _CLASS_FORMS):
            return np.ones(len(split.texts), dtype=bool)
        has_class = np.array([c is not None for c in split.classes()], dtype=bool)
        return has_class[split.caption_image] if len(has_class) else np.zeros(0, bool)

    def corrupt_rows(self, split: Split, rows: np.ndarray, rng: np.random.Generator) -> RowEdits:
        weights = {f: w for f, w in self.options.weights.items() if w > 0}
        shares = allocate(len(rows), weights)
        dealt = rng.permutation(np.repeat(list(shares), list(shares.values())))
        classless = {f: w for f, w in weights.items() if f not in _CLASS_FORMS}
        texts: dict[int, str] = {}
        used: dict[str, int] = dict.fromkeys(weights, 0)
        for row, form in zip(rows.tolist(), dealt.tolist(), strict=True):
            item = split.images[split.caption_image[row]]
            if item.scene_class is None and form in _CLASS_FORMS:
                form = str(rng.choice(list(classless), p=_normalised(classless)))
            own = set(item.captions)
            for candidate in [form, *(f for f in weights if f != form)]:
                if item.scene_class is None and candidate in _CLASS_FORMS:
                    continue
                text = self._render(candidate, item.scene_class, rng)
                if text not in own:
                    texts[row] = text
                    used[candidate] += 1
                    break
        return RowEdits(texts=texts, info={"forms": used})

    def _render(self, form: str, scene_class: str | None, rng: np.random.Generator) -> str:
        if form == "dot":
            return "."
        if form == "empty":
            return ""
        words = readable(scene_class or "")
        if form == "class_name":
            return words
        template = self.options.templates[int(rng.integers(len(self.options.templates)))]
        return template.format(**{"class": words, "a_class": with_article(words)})


def _normalised(weights: dict[str, float]) -> list[float]:
    total = sum(weights.values())
    return [w / total for w in weights.values()]

"""compound: a weighted mixture of noise models at one total ratio.

Source: catalogue item D.13 of ``../shared/specs/peers-and-protocols.md`` (e.g. 60 %
caption_shuffle + 30 % class_confusion + 10 % degenerate): real training sets hold several
kinds of noise at once, and a method tuned to one kind should be seen on the mixture.

Options: ``mixture``, a string ``"caption_shuffle:0.6,class_confusion:0.3,degenerate:0.1"`` or
a mapping of the same (weights are normalised to sum to 1), and ``component_options``, the
options of each part by name (``{partial_image: {j: 1}}``). Parts: every row-level model of
this package (`PARTS`) and ``caption_shuffle``, which here permutes the captions of its own
rows among themselves (NCR's protocol restricted to its share). Image-level models act on
rows here: ``partial_image`` still takes j rows of each image it chooses, but ``wrong_class``
gives each of its rows the caption of a row of another class (its per-image draw and
protected subset belong to the model on its own).

Ratio mapping: ``n = round(N · ratio)`` rows in total, shared out exactly by weight (largest
remainder). The parts then choose their rows one after another from the rows not yet taken,
so the parts are disjoint and each corrupts its own share; they run in the fixed order of
`PARTS` (the most selective first: partial_image needs j free rows of one image), whatever
order the mixture is written in. Every part's text comes from the clean split, so parts never
see each other's edits. ``info["parts"]`` gives each part's target, selected, changed and
shortfall rows; a part that cannot fill its share (too few eligible rows) is not topped up by
the others, so the total is then below the ratio. Effective rate: the ratio, less the
caption_shuffle rows whose permutation lands on their own image's captions, less shortfalls.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rsbench.api import Corruption, NoiseModel, RsbenchError, Split
from rsbench_plugins.noise.class_confusion import ClassConfusion
from rsbench_plugins.noise.degenerate import Degenerate
from rsbench_plugins.noise.mixture import allocate, parse_mixture
from rsbench_plugins.noise.nearest_neighbour import NearestNeighbour
from rsbench_plugins.noise.partial_image import PartialImage
from rsbench_plugins.noise.rows import (
    RowEdits,
    RowNoise,
    apply_edits,
    ratio_rng,
    row_counts,
    target_rows,
)
from rsbench_plugins.noise.within_class import WithinClass
from rsbench_plugins.noise.word_swap import WordSwap
from rsbench_plugins.noise.wrong_class import WrongClass


class ShuffleRows(RowNoise):
    """caption_shuffle as a part: permute the captions of the given rows among themselves."""

    name = "caption_shuffle"

    @dataclass
    class Options:
        pass

    def corrupt_rows(self, split: Split, rows: np.ndarray, rng: np.random.Generator) -> RowEdits:
        sources = rng.permutation(rows)
        moved = sources != rows
        return RowEdits(
            caption=dict(zip(rows[moved].tolist(), sources[moved].tolist(), strict=True))
        )


#: the parts a mixture may name, in the order they choose their rows
PARTS: dict[str, type[RowNoise]] = {
    "partial_image": PartialImage,
    "word_swap": WordSwap,
    "class_confusion": ClassConfusion,
    "within_class": WithinClass,
    "wrong_class": WrongClass,
    "degenerate": Degenerate,
    "nearest_neighbour": NearestNeighbour,
    "caption_shuffle": ShuffleRows,
}


def _make_part(name: str, options: dict[str, Any]) -> RowNoise:
    try:
        return PARTS[name](**options)
    except RsbenchError as exc:
        raise ValueError(f"compound part {name!r}: {exc}") from None


class Compound(NoiseModel):
    """A weighted mixture of noise models, on disjoint rows, at one total ratio."""

    name = "compound"
    version = "1"
    level = "caption"

    @dataclass
    class Options:
        #: parts and weights, "caption_shuffle:0.6,class_confusion:0.3,degenerate:0.1" or a mapping
        mixture: str | dict[str, float] = "caption_shuffle:0.6,class_confusion:0.3,degenerate:0.1"
        #: options of each part, by part name
        component_options: dict[str, dict[str, Any]] = field(default_factory=dict)

        def __post_init__(self) -> None:
            self.weights = parse_mixture(self.mixture, PARTS, "compound part")
            stray = sorted(set(self.component_options) - set(self.weights))
            if stray:
                raise ValueError(
                    f"component_options names {stray[0]!r}, which is not in the mixture "
                    f"({', '.join(self.weights)})"
                )
            for name, options in self.component_options.items():
                if not isinstance(options, dict):
                    raise ValueError(f"component_options of {name!r} must be a mapping")
                _make_part(name, options)

    def parts(self) -> list[tuple[str, RowNoise, float]]:
        """The parts of the mixture, in `PARTS` order, with their weights."""
        weights, extra = self.options.weights, self.options.component_options
        return [
            (name, _make_part(name, extra.get(name, {})), weights[name])
            for name in PARTS
            if weights.get(name, 0) > 0
        ]

    def corrupt(self, split: Split, ratio: float, seed: int) -> Corruption:
        n = target_rows(len(split.texts), ratio)
        parts = self.parts()
        shares = allocate(n, {name: w for name, _, w in parts})
        available = np.ones(len(split.texts), dtype=bool)
        total, report, selected = RowEdits(), {}, 0
        for stream, (name, part, _) in enumerate(parts, start=1):
            rng = ratio_rng(seed, ratio, stream)
            rows = np.zeros(0, np.int64)
            if shares[name]:
                rows = part.select_rows(split, shares[name], available, rng)
            available[rows] = False
            edits = part.corrupt_rows(split, rows, rng) if len(rows) else RowEdits()
            total.caption.update(edits.caption)
            total.texts.update(edits.texts)
            selected += len(rows)
            report[name] = {**row_counts(shares[name], len(rows), edits), **edits.info}
        total.info = {**row_counts(n, selected, total), "parts": report}
        return apply_edits(split, total)

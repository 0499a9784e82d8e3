"""word_swap: edit content words of a caption so that it no longer describes its image.

Source: catalogue item D.7 of ``../shared/specs/peers-and-protocols.md``: SugarCrepe's
replace-object / replace-attribute / replace-relation edits and the word-level text
perturbations of MM_Robustness, aimed at what RS captions are about: object nouns (planes ->
ships, cars -> trucks), counts (two -> five), colours and spatial relations (left -> right,
above -> below, beside -> far from). The result is a fluent caption that is wrong in one
detail: the hardest kind of mismatch for a retrieval model to notice, and one that shuffles
never produce. The edited text is a new string (`Corruption.texts`), so the row counts as
noisy unless the edit happens to reproduce one of the image's own captions (then it is
retried, and the row skipped if every try does).

Vocabulary: ``data/word_swap.json``. A word is replaced by a spelling of *another* concept of
its swap set (never a synonym), keeping plural nouns plural and a leading capital. Phrases
are matched whole and longest first ("swimming pool" before "pool").

Ratio mapping: ``round(N · ratio)`` rows are drawn uniformly among the rows whose caption has
at least ``edits`` swappable words; in each, ``edits`` of them (chosen uniformly) are
replaced. A caption without enough swappable words is never chosen: when fewer rows are
eligible than asked, all of them are edited and the rest is ``shortfall_rows`` (``info`` also
gives ``eligible_rows``). About nine captions in ten are eligible on synthrs and RSITMD
(``edits: 1``), two in three on synthrs with ``edits: 2``.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field
from functools import cache

import numpy as np

from rsbench.api import Split
from rsbench_plugins.noise.classes import DATA
from rsbench_plugins.noise.rows import RowEdits, RowNoise

_RETRIES = 5
_WORD = re.compile(r"[A-Za-z]+")


@cache
def _vocabulary() -> dict:
    return json.loads((DATA / "word_swap.json").read_text())


def categories() -> list[str]:
    """The categories of the shipped vocabulary (objects, counts, colours, relations)."""
    return list(_vocabulary()["categories"])


@dataclass(frozen=True)
class _Entry:
    category: str
    swap_set: int
    concept: int
    plural: bool


class Lexicon:
    """The swappable phrases of some categories, and how to replace each."""

    def __init__(self, chosen: tuple[str, ...]):
        doc = _vocabulary()
        self.plurals: dict[str, str] = doc["plurals"]
        self.sets: list[list[list[str]]] = []
        self.entries: dict[str, _Entry] = {}
        for category in chosen:
            for swap_set in doc["categories"][category]:
                set_id = len(self.sets)
                self.sets.append(swap_set)
                for concept, spellings in enumerate(swap_set):
                    for spelling in spellings:
                        self._add(spelling, _Entry(category, set_id, concept, False))
                        if spelling in self.plurals:
                            self._add(
                                self.plurals[spelling], _Entry(category, set_id, concept, True)
                            )
        self.longest = max((len(p.split()) for p in self.entries), default=0)
        self.first_words = {p.split()[0] for p in self.entries}

    def _add(self, phrase: str, entry: _Entry) -> None:
        if phrase in self.entries:
            raise ValueError(f"word_swap vocabulary lists {phrase!r} twice")
        self.entries[phrase] = entry

    def spans(self, text: str) -> list[tuple[int, int]]:
        """Where the swappable phrases of ``text`` are (longest match first, left to right)."""
        words = [(m.start(), m.end(), m.group().lower()) for m in _WORD.finditer(text)]
        found, i = [], 0
        while i < len(words):
            if words[i][2] not in self.first_words:
                i += 1
                continue
            for size in range(min(self.longest, len(words) - i), 0, -1):
                part = words[i : i + size]
                if " ".join(w for _, _, w in part) in self.entries and all(
                    text[a[1] : b[0]].isspace() for a, b in zip(part, part[1:], strict=False)
                ):
                    found.append((part[0][0], part[-1][1]))
                    i += size
                    break
            else:
                i += 1
        return found

    def replace(self, phrase: str, rng: np.random.Generator) -> tuple[str, str]:
        """A replacement for ``phrase`` and its category."""
        entry = self.entries[" ".join(phrase.lower().split())]
        concepts = self.sets[entry.swap_set]
        other = [c for c in range(len(concepts)) if c != entry.concept]
        spellings = concepts[other[int(rng.integers(len(other)))]]
        new = spellings[int(rng.integers(len(spellings)))]
        if entry.plural:
            new = self.plurals.get(new, new)
        if phrase[:1].isupper():
            new = new[:1].upper() + new[1:]
        return new, entry.category


@cache
def lexicon(chosen: tuple[str, ...]) -> Lexicon:
    return Lexicon(chosen)


class WordSwap(RowNoise):
    """Edit object nouns, counts, colours or spatial relations inside captions."""

    name = "word_swap"

    @dataclass
    class Options:
        #: which vocabularies to draw edits from
        categories: list[str] = field(
            default_factory=lambda: ["objects", "counts", "colours", "relations"]
        )
        #: words edited per chosen caption (a caption with fewer swappable words is not chosen)
        edits: int = 1

        def __post_init__(self) -> None:
            valid = categories()
            unknown = [c for c in self.categories if c not in valid]
            if unknown or not self.categories:
                raise ValueError(
                    f"word_swap categories must be some of: {', '.join(valid)}; got "
                    f"{self.categories!r}"
                )
            if self.edits < 1:
                raise ValueError(f"word_swap option edits must be at least 1, got {self.edits}")

    @property
    def lexicon(self) -> Lexicon:
        return lexicon(tuple(sorted(set(self.options.categories))))

    _memo: tuple[Split, np.ndarray] | None = None

    def eligible(self, split: Split) -> np.ndarray:
        if self._memo is None or self._memo[0] is not split:
            spans = self.lexicon.spans
            mask = np.fromiter(
                (len(spans(t)) >= self.options.edits for t in split.texts),
                dtype=bool,
                count=len(split.texts),
            )
            self._memo = (split, mask)
        return self._memo[1]

    def corrupt_rows(self, split: Split, rows: np.ndarray, rng: np.random.Generator) -> RowEdits:
        texts, images = split.texts, split.caption_image
        edited: dict[int, str] = {}
        used: Counter[str] = Counter()
        for row in rows.tolist():
            own = set(split.images[images[row]].captions)
            for _ in range(_RETRIES):
                new, cats = self._edit(texts[row], rng)
                if new is not None and new not in own:
                    edited[row] = new
                    used.update(cats)
                    break
        return RowEdits(
            texts=edited,
            info={
                "eligible_rows": int(self.eligible(split).sum()),
                "edits_by_category": dict(sorted(used.items())),
            },
        )

    def _edit(self, text: str, rng: np.random.Generator) -> tuple[str | None, list[str]]:
        spans = self.lexicon.spans(text)
        if len(spans) < self.options.edits:
            return None, []
        picked = sorted(rng.choice(len(spans), size=self.options.edits, replace=False).tolist())
        cats = []
        for k in reversed(picked):  # right to left, so earlier spans keep their offsets
            start, end = spans[k]
            new, category = self.lexicon.replace(text[start:end], rng)
            text = text[:start] + new + text[end:]
            cats.append(category)
        return text, cats

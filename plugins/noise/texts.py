"""Caption texts as integer ids, and donor draws that are guaranteed to be wrong.

The core calls a row clean when its text is one of its image's own captions. So a model that
gives a row "another image's caption" must check the *text*, not the row: RSICD repeats the
same sentence on many images, and synthrs repeats generic ones ("this is a picture of a
pond."). `TextIndex` numbers the distinct texts of a split and answers "is text t one of image
i's captions?" for whole arrays at once; `draw_donors` uses it to draw replacements that are
never clean.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cached_property

import numpy as np

from rsbench.api import Split

#: random redraws before falling back to an exhaustive search for the few rows left
_REDRAWS = 8


class TextIndex:
    """The distinct caption texts of a split and which of them each image owns."""

    def __init__(self, split: Split):
        self.split = split
        texts = np.array(split.texts, dtype=object)
        if len(texts):
            self.unique, first, self.text_id = np.unique(
                texts, return_index=True, return_inverse=True
            )
        else:
            self.unique, first, self.text_id = texts, np.zeros(0, np.int64), np.zeros(0, np.int64)
        self.text_id = self.text_id.astype(np.int64).ravel()
        #: for each distinct text, the first row that has it
        self.first_row = first.astype(np.int64)
        self.n_texts = len(self.unique)
        self.image = split.caption_image
        self._own_keys = np.unique(self.image * max(self.n_texts, 1) + self.text_id)

    def owns(self, images: np.ndarray, text_ids: np.ndarray) -> np.ndarray:
        """True where ``text_ids[k]`` is one of the captions of ``images[k]``."""
        keys = np.asarray(images, np.int64) * max(self.n_texts, 1) + np.asarray(text_ids, np.int64)
        pos = np.searchsorted(self._own_keys, keys)
        pos = np.minimum(pos, len(self._own_keys) - 1)
        return self._own_keys[pos] == keys if len(self._own_keys) else np.zeros(len(keys), bool)

    @cached_property
    def own_texts(self) -> list[frozenset[int]]:
        """For each image, the ids of its distinct caption texts."""
        first_row = self.split.first_row
        return [
            frozenset(self.text_id[first_row[i] : first_row[i + 1]].tolist())
            for i in range(len(self.split.images))
        ]


def draw_donors(
    index: TextIndex,
    rows: np.ndarray,
    groups: np.ndarray,
    pools: Mapping[int, np.ndarray],
    rng: np.random.Generator,
) -> np.ndarray:
    """For each row, a donor row drawn uniformly from its group's pool, whose text is wrong.

    ``groups[k]`` names the pool of ``rows[k]`` (a key of ``pools``; an array of candidate
    donor rows). A donor is valid when its text is not among the captions of the row's image,
    so the row is noisy for certain. Draws are with replacement (a caption may serve several
    rows). Invalid draws are redrawn a few times, then the rows still left search their pool
    exhaustively. Returns -1 for a row whose pool holds no valid donor.
    """
    rows = np.asarray(rows, np.int64)
    donors = np.full(len(rows), -1, dtype=np.int64)
    for group in sorted(set(np.asarray(groups).tolist())):
        members = np.flatnonzero(groups == group)
        pool = np.asarray(pools.get(group, np.zeros(0, np.int64)), np.int64)
        if len(pool) == 0:
            continue
        images = index.image[rows[members]]
        todo = np.arange(len(members))
        for _ in range(_REDRAWS):
            picks = pool[rng.integers(len(pool), size=len(todo))]
            ok = ~index.owns(images[todo], index.text_id[picks])
            donors[members[todo[ok]]] = picks[ok]
            todo = todo[~ok]
            if len(todo) == 0:
                break
        for k in todo.tolist():
            valid = pool[~index.owns(np.full(len(pool), images[k]), index.text_id[pool])]
            if len(valid):
                donors[members[k]] = valid[rng.integers(len(valid))]
    return donors


def donor_captions(
    split: Split,
    rows: np.ndarray,
    pool_of_row: Sequence[str],
    pools: Mapping[str, np.ndarray],
    rng: np.random.Generator,
) -> dict[int, int]:
    """`draw_donors` with named pools: each row that found a donor, mapped to its donor row."""
    names = sorted(pools)
    number = {name: i for i, name in enumerate(names)}
    groups = np.array([number.get(k, -1) for k in pool_of_row], dtype=np.int64)
    numbered = {i: pools[name] for i, name in enumerate(names)}
    donors = draw_donors(TextIndex(split), rows, groups, numbered, rng)
    done = donors >= 0
    return dict(zip(rows[done].tolist(), donors[done].tolist(), strict=True))

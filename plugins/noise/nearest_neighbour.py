"""nearest_neighbour: replace a caption by one of its near neighbours under a frozen encoder.

Source: hard semantic swaps, catalogue item D.5 of ``../shared/specs/peers-and-protocols.md``
(a rank-band neighbour under a frozen CLIP / RemoteCLIP / GeoRSCLIP text encoder). A caption
that says almost the same thing as the right one is the mismatch a loss-based clean / noisy
split finds hardest: its loss is small.

Encoder (``encoder``): ``tfidf``, the bag-of-words TF-IDF of `rsbench_plugins.noise.tfidf`,
fitted on the distinct training captions, so the noise file is reproducible offline. The
option is the hook for frozen neural encoders; ``tfidf`` is its only value today.

Rank band: for a chosen row, the distinct caption texts of the training split that are not
captions of the row's own image are ranked by cosine similarity to the row's caption
(highest first, ties to the text that sorts first); rank 0 is the nearest. The replacement
is drawn uniformly from ranks ``[lo, hi)``. Ranking distinct texts (not rows) keeps RSICD's
repeated sentences from filling the band with one text; the row the text is taken from is
the first row that has it. Excluding the image's own texts makes every chosen row noisy.

Ratio mapping: ``round(N · ratio)`` rows are drawn uniformly among all rows, so the effective
rate equals the ratio up to rounding (``shortfall_rows`` is non-zero only when a split has
fewer than ``lo + 1`` texts outside an image). Cost: one sparse product per chunk of query
texts (`rsbench_plugins.noise.neighbours`); at NWPU scale (127,575 rows) ratio 0.8 took
47 s on two CPU cores for a worst-case synthetic corpus, 0.2 took 17 s.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from rsbench.api import Split
from rsbench_plugins.noise.neighbours import top_neighbours
from rsbench_plugins.noise.rows import RowEdits, RowNoise
from rsbench_plugins.noise.texts import TextIndex
from rsbench_plugins.noise.tfidf import fit_tfidf


class NearestNeighbour(RowNoise):
    """Replace captions by a rank-band nearest neighbour under a frozen text encoder."""

    name = "nearest_neighbour"

    @dataclass
    class Options:
        #: first rank of the band (0 = the nearest caption not of the image itself)
        lo: int = 0
        #: end of the band (exclusive)
        hi: int = 10
        #: the frozen text encoder; "tfidf" (bag of words, offline) is the only one so far
        encoder: Literal["tfidf"] = "tfidf"
        #: drop function words ("the", "of", "is" ...) before TF-IDF
        stop_words: bool = True

        def __post_init__(self) -> None:
            if not 0 <= self.lo < self.hi:
                raise ValueError(
                    f"nearest_neighbour needs 0 <= lo < hi, got lo={self.lo}, hi={self.hi}"
                )

    def corrupt_rows(self, split: Split, rows: np.ndarray, rng: np.random.Generator) -> RowEdits:
        lo, hi = self.options.lo, self.options.hi
        index = TextIndex(split)
        vectors = fit_tfidf(list(index.unique), stop_words=self.options.stop_words)
        queries, query_of_row = np.unique(index.text_id[rows], return_inverse=True)
        own_max = max((len(t) for t in index.own_texts), default=0)
        neighbours, scores = top_neighbours(vectors, queries, hi + own_max)
        images = split.caption_image[rows].tolist()
        caption: dict[int, int] = {}
        similarity: list[float] = []
        for row, image, q in zip(rows.tolist(), images, query_of_row.ravel().tolist(), strict=True):
            own = index.own_texts[image]
            band = [
                (t, s)
                for t, s in zip(neighbours[q].tolist(), scores[q].tolist(), strict=True)
                if t not in own
            ][lo:hi]
            if band:
                text, score = band[int(rng.integers(len(band)))]
                caption[row] = int(index.first_row[text])
                similarity.append(score)
        return RowEdits(
            caption=caption,
            info={
                "encoder": self.options.encoder,
                "rank_band": [lo, hi],
                "mean_cosine": float(np.mean(similarity)) if similarity else None,
            },
        )

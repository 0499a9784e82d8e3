"""Retrieval metrics: R@1/5/10 in both directions and mR, in percent (protocol decision 5).

- image→text R@K: an image is a hit if *any* of its captions is among the top K captions;
- text→image R@K: a caption is a hit if its image is among the top K images;
- mR: the mean of the six recalls.

Ties are broken by index order, as a stable descending sort would: an item ranks behind every
item with a higher score and every item with an equal score and a lower index.

With ``multi_positive=True`` a retrieved caption or image also counts as correct when it
carries a caption whose text is identical to a ground-truth one (RSICD shares 11.7 % of its
test captions across images).

The score matrix is never held whole, and every score is computed once: the scorer is asked for
blocks of all captions × a chunk of images, from which one pass gives both directions, plain and
multi-positive (`rank_all`), so a 31,500-image × 157,500-caption evaluation needs a few hundred
MB.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from rsbench.io.errors import CellError
from rsbench.plugin.components import Scorer

if TYPE_CHECKING:
    import torch

RECALL_KS = (1, 5, 10)
METRIC_NAMES = tuple(f"{d}_R@{k}" for d in ("i2t", "t2i") for k in RECALL_KS) + ("mR",)

#: scores in one block (float32): bounds the evaluator's peak memory (128 MB a block)
BLOCK_ELEMENTS = 32_000_000
#: text→image ranks are kept exactly below this (every recall is at K <= it)
RANK_CAP = max(RECALL_KS)


def _csr(groups: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    counts = np.fromiter((len(g) for g in groups), dtype=np.int64, count=len(groups))
    indptr = np.concatenate([[0], np.cumsum(counts)])
    indices = (
        np.concatenate(groups).astype(np.int64)
        if len(groups) and indptr[-1]
        else np.zeros(0, np.int64)
    )
    return indptr, indices


def positives(
    caption_image: np.ndarray,
    n_images: int,
    texts: Sequence[str] | None = None,
    multi_positive: bool = False,
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Positive sets as CSR pairs: (captions of each image), (images of each caption)."""
    caption_image = np.asarray(caption_image, dtype=np.int64)
    n_texts = len(caption_image)
    order = np.argsort(caption_image, kind="stable")
    bounds = np.searchsorted(caption_image[order], np.arange(n_images + 1))
    own_captions = [order[bounds[i] : bounds[i + 1]] for i in range(n_images)]
    if not multi_positive:
        return _csr(own_captions), (np.arange(n_texts + 1, dtype=np.int64), caption_image.copy())
    if texts is None or len(texts) != n_texts:
        raise ValueError("multi-positive evaluation needs the caption texts")
    text_ids: dict[str, int] = {}
    tid = np.fromiter(
        (text_ids.setdefault(t.strip(), len(text_ids)) for t in texts),
        dtype=np.int64,
        count=n_texts,
    )
    captions_of_text = [[] for _ in range(len(text_ids))]
    images_of_text = [set() for _ in range(len(text_ids))]
    for c, (t, i) in enumerate(zip(tid.tolist(), caption_image.tolist(), strict=True)):
        captions_of_text[t].append(c)
        images_of_text[t].add(i)
    img_pos = []
    for caps in own_captions:
        ids = sorted({int(tid[c]) for c in caps})
        img_pos.append(
            np.unique(np.concatenate([captions_of_text[t] for t in ids]))
            if ids
            else np.zeros(0, np.int64)
        )
    txt_pos = [np.array(sorted(images_of_text[t]), dtype=np.int64) for t in tid.tolist()]
    return _csr(img_pos), _csr(txt_pos)


def _segment_best(
    block: np.ndarray, pos: tuple[np.ndarray, np.ndarray], columns: np.ndarray, offset: int
) -> tuple[np.ndarray, np.ndarray]:
    """Per image column (each with at least one positive row): the best positive's score and
    the lowest row index reaching it."""
    indptr, indices = pos
    counts = indptr[offset + columns + 1] - indptr[offset + columns]
    starts = indptr[offset + columns]
    rows = np.concatenate([indices[s : s + c] for s, c in zip(starts, counts, strict=True)])
    values = block[rows, np.repeat(columns, counts)]
    segments = np.concatenate([[0], np.cumsum(counts)[:-1]])
    best = np.maximum.reduceat(values, segments)
    hit = values == np.repeat(best, counts)
    first = np.minimum.reduceat(np.where(hit, rows, np.iinfo(np.int64).max), segments)
    return best, first


def _column_ranks(
    block: np.ndarray, pos: tuple[np.ndarray, np.ndarray], columns: np.ndarray, offset: int
) -> np.ndarray:
    """Exact 0-based rank, among all rows of ``block``, of each column's best positive row."""
    if not len(columns):
        return np.zeros(0, np.int64)
    best, first = _segment_best(block, pos, columns, offset)
    sub = block if len(columns) == block.shape[1] else block[:, columns]
    rank = np.count_nonzero(sub > best, axis=0).astype(np.int64)
    ties = np.count_nonzero(sub == best, axis=0)
    crowded = np.flatnonzero(ties > 1)  # another row ties the best: count the ones above it
    if len(crowded):
        rows = np.arange(sub.shape[0])[:, None]
        tied = sub[:, crowded] == best[crowded]
        rank[crowded] += np.count_nonzero(tied & (rows < first[crowded]), axis=0)
    return rank


def _top_rows(block: np.ndarray, k: int, offset: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Per row, the ``k`` best columns in the total order (score desc, index asc), exactly."""
    import torch

    values, index = torch.topk(torch.from_numpy(block), k, dim=1)
    kth = values[:, -1:].numpy()
    above = np.count_nonzero(values.numpy() > kth, axis=1)
    tied = np.count_nonzero(block == kth, axis=1)
    for r in np.flatnonzero(tied > k - above).tolist():  # more ties than places: lowest index
        keep = np.flatnonzero(block[r] > kth[r])
        ties = np.flatnonzero(block[r] == kth[r])[: k - len(keep)]
        index[r] = torch.from_numpy(np.concatenate([keep, ties]))
        values[r] = torch.from_numpy(block[r, index[r].numpy()])
    index, order = index.sort(dim=1)  # index ascending, then a stable sort by score
    values = values.gather(1, order)
    values, order = values.sort(dim=1, descending=True, stable=True)
    return values, index.gather(1, order) + offset


def _merge_top(
    top: tuple[torch.Tensor, torch.Tensor] | None, new: tuple[torch.Tensor, torch.Tensor], k: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Two ordered top lists (the first from lower column indices) into one of length ``k``."""
    import torch

    if top is None:
        return new
    values = torch.cat([top[0], new[0]], dim=1)
    index = torch.cat([top[1], new[1]], dim=1)
    values, order = values.sort(dim=1, descending=True, stable=True)
    return values[:, :k], index.gather(1, order)[:, :k]


def _rank_in_top(
    top_index: np.ndarray, pos: tuple[np.ndarray, np.ndarray], rows: np.ndarray
) -> np.ndarray:
    """Position of the first positive in each row's top list (``cap`` when none is there)."""
    indptr, indices = pos
    cap = top_index.shape[1]
    out = np.full(len(rows), cap, dtype=np.int64)
    for n, r in enumerate(rows.tolist()):
        hits = np.flatnonzero(np.isin(top_index[r], indices[indptr[r] : indptr[r + 1]]))
        if len(hits):
            out[n] = hits[0]
    return out


@dataclass
class RetrievalRanks:
    """0-based ranks of each query's best positive (-1: the query has no positive).

    ``i2t`` ranks are exact; ``t2i`` ranks are exact below `RANK_CAP` and `RANK_CAP` above it
    (every recall is at K <= `RANK_CAP`).
    """

    i2t: np.ndarray
    t2i: np.ndarray

    def metrics(self) -> dict[str, float]:
        out = {f"i2t_R@{k}": recall_at(self.i2t, k) for k in RECALL_KS}
        out.update({f"t2i_R@{k}": recall_at(self.t2i, k) for k in RECALL_KS})
        out["mR"] = float(np.mean([out[name] for name in METRIC_NAMES[:-1]]))
        return out


def rank_all(
    scorer: Scorer,
    caption_image: np.ndarray,
    texts: Sequence[str] | None = None,
    chunk: int | None = None,
) -> dict[str, RetrievalRanks]:
    """Ranks of both directions, plain (``"plain"``) and, given the texts, multi-positive
    (``"multi"``), from **one** pass over the scores.

    The scorer is asked for contiguous blocks of every caption × a chunk of images (``chunk``
    images, by default as many as fit `BLOCK_ELEMENTS`). Within a block, each image's column is
    complete, so its image→text rank is counted exactly there; each caption keeps a running
    list of its `RANK_CAP` best images in the total order (score descending, index ascending),
    merged block by block, from which its text→image rank is read at the end.
    """

    caption_image = np.asarray(caption_image, dtype=np.int64)
    n_texts, n_images = scorer.n_texts, scorer.n_images
    if len(caption_image) != n_texts:
        raise ValueError(f"{len(caption_image)} ground-truth entries for {n_texts} captions")
    modes = {"plain": positives(caption_image, n_images)}
    if texts is not None:
        modes["multi"] = positives(caption_image, n_images, texts, multi_positive=True)
    img_pos, txt_pos = modes["plain"]
    has_caption = np.diff(img_pos[0]) > 0
    # images and captions whose multi-positive set differs from the plain one
    extra = {}
    if "multi" in modes:
        m_img, m_txt = modes["multi"]
        extra["img"] = np.flatnonzero(np.diff(m_img[0]) != np.diff(img_pos[0]))
        extra["txt"] = np.flatnonzero(np.diff(m_txt[0]) != 1)
    chunk = chunk or max(1, BLOCK_ELEMENTS // max(n_texts, 1))
    cap = min(RANK_CAP, n_images)
    i2t = {mode: np.full(n_images, -1, dtype=np.int64) for mode in modes}
    top = None
    for start in range(0, n_images, chunk):
        stop = min(start + chunk, n_images)
        block = _checked_block(
            scorer, slice(0, n_texts), slice(start, stop), (n_texts, stop - start)
        )
        columns = np.flatnonzero(has_caption[start:stop])
        i2t["plain"][start + columns] = _column_ranks(block, img_pos, columns, start)
        if "multi" in modes:
            i2t["multi"][start:stop] = i2t["plain"][start:stop]
            moved = extra["img"][(extra["img"] >= start) & (extra["img"] < stop)] - start
            i2t["multi"][start + moved] = _column_ranks(block, modes["multi"][0], moved, start)
        top = _merge_top(top, _top_rows(block, min(cap, stop - start), start), cap)
        del block  # the next block is built without this one alive
    top_index = top[1].numpy() if top is not None else np.zeros((n_texts, 0), np.int64)
    out = {}
    plain_t2i = _first_match(top_index, caption_image)
    out["plain"] = RetrievalRanks(i2t["plain"], plain_t2i)
    if "multi" in modes:
        t2i = plain_t2i.copy()
        t2i[extra["txt"]] = _rank_in_top(top_index, modes["multi"][1], extra["txt"])
        out["multi"] = RetrievalRanks(i2t["multi"], t2i)
    return out


def _first_match(top_index: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Position of ``target[r]`` in row ``r`` of ``top_index`` (its width when absent)."""
    match = top_index == target[:, None]
    found = match.any(axis=1)
    return np.where(found, match.argmax(axis=1), top_index.shape[1]).astype(np.int64)


def _checked_block(scorer: Scorer, text_rows: slice, image_rows: slice, shape) -> np.ndarray:
    scores = np.ascontiguousarray(scorer.block(text_rows, image_rows), dtype=np.float32)
    if scores.shape != shape:
        raise CellError(f"scorer returned a block of shape {scores.shape}, expected {shape}")
    if not np.isfinite(scores.sum(dtype=np.float64)) and not np.isfinite(scores).all():
        raise CellError("the model produced non-finite similarity scores")
    return scores


def recall_at(ranks: np.ndarray, k: int) -> float:
    valid = ranks >= 0
    return float(100.0 * (ranks[valid] < k).mean()) if valid.any() else float("nan")


def evaluate_retrieval(
    scorer: Scorer,
    caption_image: np.ndarray,
    texts: Sequence[str] | None = None,
    chunk: int | None = None,
) -> dict[str, dict[str, float]]:
    """R@1/5/10 both ways and mR (percent): ``{"plain": ..., "multi": ...}`` from one pass
    (``multi`` only when the caption texts are given)."""
    return {mode: r.metrics() for mode, r in rank_all(scorer, caption_image, texts, chunk).items()}


def retrieval_metrics(
    scorer: Scorer,
    caption_image: np.ndarray,
    texts: Sequence[str] | None = None,
    multi_positive: bool = False,
    chunk: int | None = None,
) -> dict[str, float]:
    """R@1/5/10 both ways and mR (percent) for the scorer's captions × images."""
    if multi_positive and (texts is None or len(texts) != len(caption_image)):
        raise ValueError("multi-positive evaluation needs the caption texts")
    results = evaluate_retrieval(scorer, caption_image, texts if multi_positive else None, chunk)
    return results["multi" if multi_positive else "plain"]


class EmbeddingScorer(Scorer):
    """Scores as dot products of (normalised) caption and image embeddings."""

    def __init__(self, image_embeddings: np.ndarray, text_embeddings: np.ndarray):
        self.images = np.ascontiguousarray(image_embeddings, dtype=np.float32)
        self.texts = np.ascontiguousarray(text_embeddings, dtype=np.float32)
        if (
            self.images.ndim != 2
            or self.texts.ndim != 2
            or self.images.shape[1] != self.texts.shape[1]
        ):
            raise ValueError(
                f"embedding shapes do not match: {self.images.shape} vs {self.texts.shape}"
            )
        self.n_images, self.n_texts = len(self.images), len(self.texts)

    def block(self, text_rows: slice, image_rows: slice) -> np.ndarray:
        return self.texts[text_rows] @ self.images[image_rows].T


class MatrixScorer(Scorer):
    """Scores from a full captions × images matrix (small evaluations, tests)."""

    def __init__(self, scores: np.ndarray):
        self.scores = np.asarray(scores, dtype=np.float32)
        self.n_texts, self.n_images = self.scores.shape

    def block(self, text_rows: slice, image_rows: slice) -> np.ndarray:
        return self.scores[text_rows, image_rows]

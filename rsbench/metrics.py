"""Retrieval metrics: R@1/5/10 in both directions and mR, in percent (protocol decision 5).

- image→text R@K: an image is a hit if *any* of its captions is among the top K captions;
- text→image R@K: a caption is a hit if its image is among the top K images;
- mR: the mean of the six recalls.

Ties are broken by index order, as a stable descending sort would: an item ranks behind every
item with a higher score and every item with an equal score and a lower index.

With ``multi_positive=True`` a retrieved caption or image also counts as correct when it
carries a caption whose text is identical to a ground-truth one (RSICD shares 11.7 % of its
test captions across images).

The score matrix is never held whole: queries are scored in chunks, so that a
31,500-image × 157,500-caption evaluation needs a few hundred MB at most.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from rsbench.components import Scorer
from rsbench.errors import CellError

RECALL_KS = (1, 5, 10)
METRIC_NAMES = tuple(f"{d}_R@{k}" for d in ("i2t", "t2i") for k in RECALL_KS) + ("mR",)

#: elements of one scored chunk (float32): bounds peak memory of an evaluation
CHUNK_ELEMENTS = 8_000_000


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


def best_ranks(
    score_rows: Callable[[int, int], np.ndarray],
    n_queries: int,
    n_items: int,
    pos: tuple[np.ndarray, np.ndarray],
    chunk: int | None = None,
) -> np.ndarray:
    """0-based rank of the best-ranked positive of each query (-1 where it has none)."""
    indptr, indices = pos
    chunk = chunk or max(1, CHUNK_ELEMENTS // max(n_items, 1))
    ranks = np.full(n_queries, -1, dtype=np.int64)
    item_index = np.arange(n_items)
    for start in range(0, n_queries, chunk):
        stop = min(start + chunk, n_queries)
        scores = np.asarray(score_rows(start, stop), dtype=np.float32)
        if scores.shape != (stop - start, n_items):
            raise CellError(
                f"scorer returned a block of shape {scores.shape}, expected {(stop - start, n_items)}"
            )
        if not np.isfinite(scores).all():
            raise CellError("the model produced non-finite similarity scores")
        counts = np.diff(indptr[start : stop + 1])
        mask = np.zeros(scores.shape, dtype=bool)
        mask[np.repeat(np.arange(stop - start), counts), indices[indptr[start] : indptr[stop]]] = (
            True
        )
        has_pos = counts > 0
        best = np.where(mask, scores, -np.inf).max(axis=1, initial=-np.inf)[:, None]
        at_best = scores == best
        first_best = np.argmax(mask & at_best, axis=1)[:, None]
        rank = (scores > best).sum(axis=1) + (at_best & (item_index < first_best)).sum(axis=1)
        ranks[start:stop] = np.where(has_pos, rank, -1)
    return ranks


def recall_at(ranks: np.ndarray, k: int) -> float:
    valid = ranks >= 0
    return float(100.0 * (ranks[valid] < k).mean()) if valid.any() else float("nan")


def retrieval_metrics(
    scorer: Scorer,
    caption_image: np.ndarray,
    texts: Sequence[str] | None = None,
    multi_positive: bool = False,
    chunk: int | None = None,
) -> dict[str, float]:
    """R@1/5/10 both ways and mR (percent) for the scorer's captions × images."""
    n_texts, n_images = scorer.n_texts, scorer.n_images
    if len(caption_image) != n_texts:
        raise ValueError(f"{len(caption_image)} ground-truth entries for {n_texts} captions")
    img_pos, txt_pos = positives(caption_image, n_images, texts, multi_positive)
    everything = slice(None)
    i2t = best_ranks(
        lambda a, b: scorer.block(everything, slice(a, b)).T, n_images, n_texts, img_pos, chunk
    )
    t2i = best_ranks(
        lambda a, b: scorer.block(slice(a, b), everything), n_texts, n_images, txt_pos, chunk
    )
    metrics = {f"i2t_R@{k}": recall_at(i2t, k) for k in RECALL_KS}
    metrics.update({f"t2i_R@{k}": recall_at(t2i, k) for k in RECALL_KS})
    metrics["mR"] = float(np.mean([metrics[name] for name in METRIC_NAMES[:-1]]))
    return metrics


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

"""Retrieval metrics against hand-computed cases and a brute-force reference."""

from __future__ import annotations

import numpy as np
import pytest

from rsbench.evaluate.retrieval import (
    METRIC_NAMES,
    EmbeddingScorer,
    MatrixScorer,
    retrieval_metrics,
)


def brute_force(
    scores: np.ndarray, caption_image: np.ndarray, texts=None, multi=False
) -> dict[str, float]:
    """Reference: full stable descending sort per query, positives by definition."""
    n_texts, n_images = scores.shape

    def pos_images(c):
        if not multi:
            return {caption_image[c]}
        return {caption_image[d] for d in range(n_texts) if texts[d].strip() == texts[c].strip()}

    def pos_texts(i):
        own = [c for c in range(n_texts) if caption_image[c] == i]
        if not multi:
            return set(own)
        own_texts = {texts[c].strip() for c in own}
        return {d for d in range(n_texts) if texts[d].strip() in own_texts}

    def rank(row, positives):
        order = np.argsort(-row, kind="stable")
        return min(int(np.where(order == p)[0][0]) for p in positives)

    t2i = np.array([rank(scores[c], pos_images(c)) for c in range(n_texts)])
    i2t = np.array([rank(scores[:, i], pos_texts(i)) for i in range(n_images) if pos_texts(i)])
    out = {}
    for k in (1, 5, 10):
        out[f"i2t_R@{k}"] = 100 * float((i2t < k).mean())
        out[f"t2i_R@{k}"] = 100 * float((t2i < k).mean())
    out["mR"] = float(np.mean([out[m] for m in METRIC_NAMES[:-1]]))
    return out


def test_hand_computed_case():
    # 2 images, 2 captions each; scores are texts x images.
    scores = np.array(
        [
            [0.9, 0.1],  # caption 0 (image 0): image 0 first -> t2i rank 0
            [0.2, 0.8],  # caption 1 (image 0): image 1 first -> rank 1
            [0.3, 0.7],  # caption 2 (image 1): rank 0
            [0.6, 0.5],  # caption 3 (image 1): rank 1
        ]
    )
    m = retrieval_metrics(MatrixScorer(scores), np.array([0, 0, 1, 1]))
    # t2i: ranks 0,1,0,1 -> R@1 = 50, R@5 = 100
    assert m["t2i_R@1"] == pytest.approx(50.0)
    assert m["t2i_R@5"] == pytest.approx(100.0)
    # i2t image 0: caption scores 0.9,0.2,0.3,0.6 -> caption 0 first -> hit at 1.
    # i2t image 1: 0.1,0.8,0.7,0.5 -> caption 1 (image 0) first, caption 2 second -> rank 1.
    assert m["i2t_R@1"] == pytest.approx(50.0)
    assert m["i2t_R@5"] == pytest.approx(100.0)
    assert m["mR"] == pytest.approx((50 + 100 + 100 + 50 + 100 + 100) / 6)


def test_ties_are_broken_by_index_order():
    scores = np.zeros((3, 3))  # everything tied
    m = retrieval_metrics(MatrixScorer(scores), np.array([0, 1, 2]))
    # t2i: caption c's image c ranks c-th -> only caption 0 hits at R@1
    assert m["t2i_R@1"] == pytest.approx(100 / 3)
    assert m["i2t_R@1"] == pytest.approx(100 / 3)
    assert m["t2i_R@5"] == pytest.approx(100.0)


def test_caption_counts_other_than_five_and_an_image_without_captions():
    caption_image = np.array([0, 0, 0, 1, 3])  # image 2 has no caption: left out of i2t
    rng = np.random.default_rng(0)
    scores = rng.normal(size=(5, 4))
    got = retrieval_metrics(MatrixScorer(scores), caption_image)
    want = brute_force(scores, caption_image)
    assert got == pytest.approx(want)


@pytest.mark.parametrize("chunk", [1, 3, 1000])
def test_chunked_equals_brute_force(chunk):
    rng = np.random.default_rng(1)
    n_images = 23
    caption_image = np.repeat(np.arange(n_images), rng.integers(1, 7, size=n_images))
    scores = rng.normal(size=(len(caption_image), n_images)).round(1)  # rounding makes ties
    got = retrieval_metrics(MatrixScorer(scores), caption_image, chunk=chunk)
    assert got == pytest.approx(brute_force(scores, caption_image))


def test_multi_positive_counts_identical_captions():
    texts = ["a red roof", "two ships", "a red roof ", "green field"]
    caption_image = np.array([0, 0, 1, 1])
    scores = np.array(
        [
            [0.1, 0.9],  # "a red roof" of image 0 ranks image 1 first; image 1 also has that text
            [0.9, 0.1],
            [0.9, 0.1],  # "a red roof " of image 1 ranks image 0 first
            [0.1, 0.9],
        ]
    )
    single = retrieval_metrics(MatrixScorer(scores), caption_image)
    multi = retrieval_metrics(MatrixScorer(scores), caption_image, texts=texts, multi_positive=True)
    assert single["t2i_R@1"] == pytest.approx(50.0)
    assert multi["t2i_R@1"] == pytest.approx(100.0)
    assert multi == pytest.approx(brute_force(scores, caption_image, texts, multi=True))


def test_embedding_scorer_matches_dot_product_and_non_finite_scores_fail():
    rng = np.random.default_rng(2)
    img, txt = rng.normal(size=(7, 4)), rng.normal(size=(12, 4))
    caption_image = rng.integers(0, 7, size=12)
    a = retrieval_metrics(EmbeddingScorer(img, txt), caption_image, chunk=2)
    b = retrieval_metrics(MatrixScorer(txt @ img.T), caption_image)
    assert a == pytest.approx(b)
    from rsbench.io.errors import CellError

    bad = txt @ img.T
    bad[3, 2] = np.nan
    with pytest.raises(CellError, match="non-finite"):
        retrieval_metrics(MatrixScorer(bad), caption_image)


def test_perfect_and_reversed_scores():
    caption_image = np.repeat(np.arange(20), 5)
    perfect = (caption_image[:, None] == np.arange(20)[None, :]).astype(float)
    assert retrieval_metrics(MatrixScorer(perfect), caption_image)["mR"] == pytest.approx(100.0)
    worst = 1.0 - perfect
    m = retrieval_metrics(MatrixScorer(worst), caption_image)
    assert m["t2i_R@10"] == 0.0 and m["i2t_R@10"] == 0.0


@pytest.mark.parametrize("chunk", [1, 2, 7, 50])
def test_one_pass_gives_plain_and_multi_positive_ranks_at_any_block_size(chunk):
    """Ties (rounded scores), duplicate captions across images, images without captions."""
    rng = np.random.default_rng(7)
    n_images = 31
    counts = rng.integers(0, 6, size=n_images)
    caption_image = np.repeat(np.arange(n_images), counts)
    pool = [f"caption {k}" for k in range(12)]
    texts = [pool[k] for k in rng.integers(0, len(pool), size=len(caption_image))]
    scores = rng.normal(size=(len(caption_image), n_images)).round(1)
    from rsbench.evaluate.retrieval import evaluate_retrieval

    both = evaluate_retrieval(MatrixScorer(scores), caption_image, texts, chunk=chunk)
    assert both["plain"] == pytest.approx(brute_force(scores, caption_image))
    assert both["multi"] == pytest.approx(brute_force(scores, caption_image, texts, multi=True))


def test_all_scores_tied_ranks_by_index_in_both_directions():
    from rsbench.evaluate.retrieval import rank_all

    caption_image = np.repeat(np.arange(12), 2)
    ranks = rank_all(MatrixScorer(np.zeros((24, 12))), caption_image, chunk=5)["plain"]
    # caption c's image c // 2 is the (c // 2)-th image; ranks at or above the cap read as the cap
    assert ranks.t2i.tolist() == [min(c // 2, 10) for c in range(24)]
    # image i's first caption is row 2i
    assert ranks.i2t.tolist() == [2 * i for i in range(12)]

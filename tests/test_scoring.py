"""The generic tiled scorer, hashing mAP@k, the trusted clean subset and the array cache."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

from rsbench.engine import Features, RetrievalModel, TextBatch
from rsbench.engine.scoring import ModelScorer, distinct_rows
from rsbench.evaluate.hashing_map import average_precision_at_k, hamming, hashing_metrics, map_at_k
from rsbench.evaluate.retrieval import MatrixScorer, evaluate_retrieval
from rsbench.plugin.components import TrainPairs, TrainTask
from rsbench.plugin.split import EvalSet

# ---- the tiled scorer -----------------------------------------------------------------------------


class Asymmetric(RetrievalModel):
    """A score where the text feature depends on the image (as AMFMN's): s = cos(v, t ⊙ σ(v))."""

    def score(self, image, text):
        gated = text.emb[:, None, :] * torch.sigmoid(image.emb)[None, :, :]  # T × I × D
        return torch.nn.functional.cosine_similarity(gated, image.emb[None, :, :], dim=-1)


def dense(model, images: Features, texts: Features, index: np.ndarray) -> np.ndarray:
    """Every pair one at a time (the reference)."""
    out = np.empty((len(index), len(images)), dtype=np.float32)
    for t, row in enumerate(index):
        for i in range(len(images)):
            out[t, i] = model.score(images[i : i + 1], texts[int(row) : int(row) + 1]).item()
    return out


@pytest.mark.parametrize("model", [RetrievalModel(), Asymmetric()], ids=["dot", "asymmetric"])
@pytest.mark.parametrize("tile", [(1, 1), (3, 2), (5, 7), (1000, 1000)])
def test_tiled_scorer_equals_the_dense_computation(model, tile):
    g = torch.Generator().manual_seed(0)
    images = Features(emb=torch.nn.functional.normalize(torch.randn(9, 6, generator=g), dim=-1))
    texts = Features(emb=torch.nn.functional.normalize(torch.randn(5, 6, generator=g), dim=-1))
    index = np.array([0, 1, 1, 2, 3, 4, 4, 4, 0, 2, 3])  # duplicate captions share a row
    scorer = ModelScorer(model, images, texts, index, "cpu", tile=tile)
    reference = dense(model, images, texts, index)
    for block in (slice(0, 9), slice(2, 5), slice(8, 9)):
        got = scorer.block(slice(0, len(index)), block)
        np.testing.assert_allclose(got, reference[:, block], rtol=1e-5, atol=1e-6)
    part = scorer.block(slice(3, 8), slice(0, 9))
    np.testing.assert_allclose(part, reference[3:8], rtol=1e-5, atol=1e-6)


def test_duplicate_captions_get_identical_scores_and_metrics_at_every_tile_size():
    g = torch.Generator().manual_seed(3)
    images = Features(emb=torch.nn.functional.normalize(torch.randn(40, 16, generator=g), dim=-1))
    texts = Features(emb=torch.nn.functional.normalize(torch.randn(30, 16, generator=g), dim=-1))
    rng = np.random.default_rng(0)
    index = rng.integers(0, 30, size=200)  # many duplicates
    caption_image = rng.integers(0, 40, size=200)
    results = []
    for tile in [(1, 1), (7, 3), (64, 64), (4096, 4096)]:
        scorer = ModelScorer(RetrievalModel(), images, texts, index, "cpu", tile=tile)
        block = scorer.block(slice(0, 200), slice(0, 40))
        for row in range(30):
            rows = np.flatnonzero(index == row)
            assert (block[rows] == block[rows[:1]]).all()
        results.append(evaluate_retrieval(scorer, caption_image, chunk=11))
    assert all(r == results[0] for r in results)
    dot = (texts.emb[index] @ images.emb.T).numpy()
    assert results[0]["plain"] == pytest.approx(
        evaluate_retrieval(MatrixScorer(dot), caption_image)["plain"]
    )


def test_distinct_rows_by_token_sequence():
    ids = torch.tensor([[5, 6, 0], [7, 0, 0], [5, 6, 0], [5, 6, 0]])
    batch = TextBatch(ids, ids != 0)
    distinct, index = distinct_rows(batch)
    assert distinct.ids.tolist() == [[5, 6, 0], [7, 0, 0]]
    assert index.tolist() == [0, 1, 0, 0]


# ---- hashing mAP@k --------------------------------------------------------------------------------


def test_average_precision_hand_computed_with_the_first_relevant_items_anywhere():
    # one query; database of 6 in distance order 0..5 (no ties); relevant at ranks 2, 3, 6
    distances = np.array([[0, 1, 2, 3, 4, 5]])
    relevant = np.array([[False, True, True, False, False, True]])
    # k = 2: t = 2 -> (1/2 + 2/3) / 2
    assert average_precision_at_k(distances, relevant, 2)[0] == pytest.approx((1 / 2 + 2 / 3) / 2)
    # k = 5: R = 3, t = 3: the third relevant item at rank 6 counts though 6 > k
    assert average_precision_at_k(distances, relevant, 5)[0] == pytest.approx(
        (1 / 2 + 2 / 3 + 3 / 6) / 3
    )


def test_ties_rank_the_lower_database_index_first_and_r0_queries_count_zero():
    # codes of 2 bits: items 0 and 1 at the same distance from the query
    query = np.array([[1, 1], [1, -1]])
    db = np.array([[1, -1], [-1, 1], [1, 1]])
    assert hamming(query, db).tolist() == [[1, 1, 0], [0, 2, 1]]
    # query 0 (class 0): ranking by distance then index: item 2 (d0), item 0 (d1), item 1 (d1)
    # relevant: item 1 only -> rank 3 -> AP = 1/3. query 1 (class 5): no relevant item -> 0
    value = map_at_k(query, db, [0, 5], [1, 0, 2], k=5)
    assert value == pytest.approx((1 / 3 + 0.0) / 2)


def test_hashing_metrics_leave_the_query_out_of_its_own_database():
    codes = np.array([[1, 1], [1, 1], [-1, -1]])
    labels = np.array([0, 0, 1])
    m = hashing_metrics(codes, codes, labels, labels, ks=(1,))
    # I→I: query 0's only other class-0 item (1) is at distance 0 -> AP 1; query 2 has R = 0 -> 0
    assert m["i2i_mAP@1"] == pytest.approx(2 / 3)
    # I→T: the query's own item is in the other modality's database: all find a relevant first
    assert m["i2t_mAP@1"] == pytest.approx(1.0)
    assert m["avg_mAP@1"] == pytest.approx((1 + 1 + 2 / 3 + 2 / 3) / 4)


# ---- the trusted clean subset ---------------------------------------------------------------------


def _task(noise_seed: int, seed: int = 0) -> TrainTask:
    image = np.repeat(np.arange(50), 5)
    clean = np.random.default_rng(1).random(250) > 0.4
    pairs = TrainPairs([str(i) for i in range(50)], [None] * 50, [None] * 50, ["x"] * 250, image)
    val = EvalSet([], [], np.zeros(0))
    return TrainTask(
        pairs, val, seed=seed, device="cpu", work_dir=None, noise_seed=noise_seed, clean_flags=clean
    )


def test_trusted_subset_is_deterministic_from_the_noise_seed_and_clean():
    a = _task(42).trusted_clean_subset(0.2)
    b = _task(42, seed=9).trusted_clean_subset(0.2)  # another training seed: same rows
    c = _task(43).trusted_clean_subset(0.2)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)
    task = _task(42)
    rows = task.trusted_clean_subset(0.2)
    assert task.clean_flags[rows].all()
    assert len(np.unique(task.pairs.image[rows])) <= 10  # drawn from 20 % of 50 images
    assert task.trusted_subset == {
        "fraction": 0.2,
        "images": 10,
        "rows": len(rows),
        "policy": "clean rows of images drawn with the noise seed",
        "noise_seed": 42,
    }
    assert not task.used_ground_truth


# ---- the array cache ------------------------------------------------------------------------------


def test_cached_array_is_keyed_computed_once_and_memory_mapped(monkeypatch, tmp_path):
    from rsbench.io import cache

    monkeypatch.setenv("RSBENCH_CACHE", str(tmp_path))
    cache.clear_memo()
    calls = []

    def compute(value):
        def run():
            calls.append(value)
            return np.full((3, 2), value, dtype=np.float32)

        return run

    key = {
        "backbone": "rsbench/small-bert",
        "weights": "ab12",
        "items": cache.fingerprint_items(["a", "b"]),
    }
    first = cache.cached_array("features", key, compute(1.0))
    cache.clear_memo()
    second = cache.cached_array("features", key, compute(2.0))
    assert calls == [1.0] and isinstance(second, np.memmap) and (second == 1.0).all()
    assert np.array_equal(first, second)
    other = cache.cached_array("features", {**key, "weights": "cd34"}, compute(3.0))
    assert (other == 3.0).all() and calls == [1.0, 3.0]
    with pytest.raises(ValueError, match="namespace"):
        cache.cached_array("../escape", key, compute(4.0))


def test_cached_array_survives_a_kill_during_the_write(tmp_path, monkeypatch):
    """A process killed half-way through writing leaves nothing a later call would read."""
    script = f"""
import os, numpy as np
os.environ["RSBENCH_CACHE"] = {str(tmp_path)!r}
from rsbench.io import cache
def partial_save(fh, array, allow_pickle=False):
    fh.write(b"\\x93NUMPY partial")
    fh.flush()
    os._exit(9)  # killed mid-write
cache.np.save = partial_save
cache.cached_array("features", {{"k": 1}}, lambda: np.arange(4))
"""
    assert subprocess.run([sys.executable, "-c", script]).returncode == 9
    folder = tmp_path / "arrays" / "features"
    assert [p.suffix for p in folder.iterdir()] == [".tmp"]  # only the partial temporary file
    from rsbench.io import cache

    monkeypatch.setenv("RSBENCH_CACHE", str(tmp_path))
    cache.clear_memo()
    assert cache.cached_array("features", {"k": 1}, lambda: np.arange(4)).tolist() == [0, 1, 2, 3]

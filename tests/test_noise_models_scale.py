"""Noise models at NWPU-Captions scale (127,575 training rows): slow, run with `pytest -m slow`.

The split is synthetic: 25,515 images × 5 captions of 8–14 words drawn from a Zipf
vocabulary of 4,000 words, in 45 classes. Nearly every caption is distinct and shares common
words with most others, the worst case for `nearest_neighbour`'s chunked search (real NWPU
captions repeat more and have fewer content words). Measured on two CPU cores: about 17 s at
ratio 0.2 and 47 s at 0.8, under 600 MB of memory.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from rsbench.data.noise_file import build_noise_file
from rsbench.plugin.manager import get_plugins
from rsbench.plugin.split import ImageItem, Split, make_split
from rsbench_plugins.noise.texts import TextIndex
from rsbench_plugins.noise.tfidf import fit_tfidf

pytestmark = pytest.mark.slow

NWPU_TRAIN_IMAGES = 25_515  # 127,575 caption rows


def zipf_split(n_images: int = NWPU_TRAIN_IMAGES, vocab: int = 4000, seed: int = 0) -> Split:
    rng = np.random.default_rng(seed)
    words = np.array([f"w{i}" for i in range(vocab)])
    p = 1 / np.arange(1, vocab + 1)
    lengths = rng.integers(8, 15, size=n_images * 5)
    tokens = rng.choice(vocab, size=int(lengths.sum()), p=p / p.sum())
    texts = [" ".join(words[t]) for t in np.split(tokens, np.cumsum(lengths)[:-1])]
    return make_split(
        "train",
        [
            ImageItem(
                f"c{i % 45}_{i}", Path(f"{i}.jpg"), tuple(texts[5 * i : 5 * i + 5]), f"c{i % 45}"
            )
            for i in range(n_images)
        ],
    )


@pytest.fixture(scope="module")
def nwpu_sized() -> Split:
    return zipf_split()


def test_nearest_neighbour_at_nwpu_scale_is_exact_on_sampled_rows(nwpu_sized):
    split = nwpu_sized
    assert len(split.texts) == 127_575
    model = get_plugins().noise_models.get("nearest_neighbour").create({"lo": 1, "hi": 5})
    started = time.perf_counter()
    nf = build_noise_file(split, model, 0.8, 42, {"name": "nwpu-sized"})
    elapsed = time.perf_counter() - started
    print(f"nearest_neighbour, 127,575 rows, ratio 0.8: {elapsed:.1f} s")
    assert nf.effective_rate == pytest.approx(round(0.8 * 127_575) / 127_575)

    # brute force for a sample of rows: exact cosine against every distinct text, by CSR
    index = TextIndex(split)
    vectors = fit_tfidf(list(index.unique))
    moved = np.flatnonzero(nf.caption != np.arange(len(split.texts)))
    for row in np.random.default_rng(0).choice(moved, size=25, replace=False).tolist():
        query = vectors.dense([index.text_id[row]])[0].astype(np.float64)
        products = vectors.data * query[vectors.indices]
        sims = np.add.reduceat(np.append(products, 0.0), vectors.indptr[:-1])
        sims[vectors.indptr[:-1] == vectors.indptr[1:]] = 0.0  # empty rows
        sims[list(index.own_texts[split.caption_image[row]])] = -np.inf
        chosen = sims[index.text_id[nf.caption[row]]]
        best_rank = int((sims > chosen + 1e-4).sum())
        worst_rank = int((sims >= chosen - 1e-4).sum()) - 1
        assert best_rank < 5 and worst_rank >= 1


@pytest.mark.parametrize(
    "name",
    ["partial_image", "class_confusion", "within_class", "degenerate", "compound", "wrong_class"],
)
def test_the_other_models_take_seconds_at_nwpu_scale(name, nwpu_sized):
    model = get_plugins().noise_models.get(name).create()
    started = time.perf_counter()
    nf = build_noise_file(nwpu_sized, model, 0.8, 42, {"name": "nwpu-sized"})
    assert time.perf_counter() - started < 60
    assert 0.3 < nf.effective_rate <= 0.8

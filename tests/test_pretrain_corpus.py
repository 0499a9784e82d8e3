"""The small encoders' pretraining corpus shares no image and no caption with the benchmark."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
from PIL import Image

from rsbench.plugin.manager import get_plugins
from rsbench_plugins.datasets.synthrs import caption_key


def _load(name: str):
    dataset = get_plugins().datasets.get(name).create()
    return dataset.load()


def _pixels_hash(path) -> str:
    with Image.open(path) as image:
        return hashlib.sha256(np.asarray(image.convert("RGB")).tobytes()).hexdigest()


def test_synthrs_pretrain_is_disjoint_from_synthrs_and_synthrs_tiny():
    corpus = _load("synthrs-pretrain")
    benchmark = [_load("synthrs"), _load("synthrs-tiny")]
    splits = lambda s: (s.train, s.val, s.test)  # noqa: E731
    corpus_texts = [t for split in splits(corpus) for t in split.texts]
    bench_texts = [t for s in benchmark for split in splits(s) for t in split.texts]
    assert len(corpus.train) > 3000 and len(corpus_texts) > 9000
    # no caption text in common, neither exactly nor as lower-case words
    assert not set(corpus_texts) & set(bench_texts)
    assert not {caption_key(t) for t in corpus_texts} & {caption_key(t) for t in bench_texts}
    # no image in common (compared by decoded pixels)
    corpus_images = {_pixels_hash(p) for split in splits(corpus) for p in split.paths}
    bench_images = {_pixels_hash(p) for s in benchmark for split in splits(s) for p in split.paths}
    assert len(corpus_images) == sum(len(split) for split in splits(corpus))
    assert not corpus_images & bench_images
    # every scene class is represented in the corpus
    assert {c for c in corpus.train.classes()} == {c for c in benchmark[0].train.classes()}


@pytest.mark.slow
def test_the_shipped_small_encoders_regenerate_byte_for_byte():
    """About 15 minutes of CPU: the tool rebuilds every checkpoint and compares each file."""
    import subprocess
    import sys

    from tests.conftest import REPO

    result = subprocess.run(
        [sys.executable, str(REPO / "tools" / "pretrain_small_encoders.py"), "--check"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "identical" in result.stderr

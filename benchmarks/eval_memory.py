"""Time and peak memory of one evaluation at NWPU-Captions scale (chunked scoring).

    python benchmarks/eval_memory.py [--images 31500] [--captions-per-image 5] [--dim 512]

Random L2-normalised embeddings stand in for a model's. The full score matrix at the default
size would take 31,500 × 157,500 × 4 bytes = 19.8 GB; the chunked evaluator never builds it,
so the peak resident memory printed here stays far below that.
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np

from rsbench.metrics import EmbeddingScorer, retrieval_metrics


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: kilobytes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=31_500)
    parser.add_argument("--captions-per-image", type=int, default=5)
    parser.add_argument("--dim", type=int, default=512)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    n_texts = args.images * args.captions_per_image
    images = rng.standard_normal((args.images, args.dim), dtype=np.float32)
    images /= np.linalg.norm(images, axis=1, keepdims=True)
    caption_image = np.repeat(np.arange(args.images), args.captions_per_image)
    texts = images[caption_image] + 0.9 * rng.standard_normal((n_texts, args.dim), dtype=np.float32)
    texts /= np.linalg.norm(texts, axis=1, keepdims=True)
    before = peak_rss_mb()
    started = time.perf_counter()
    metrics = retrieval_metrics(EmbeddingScorer(images, texts), caption_image)
    seconds = time.perf_counter() - started
    full_gb = n_texts * args.images * 4 / 1e9
    print(f"{args.images} images x {n_texts} captions, dim {args.dim}")
    print(
        f"evaluation: {seconds:.1f} s; peak RSS {peak_rss_mb():.0f} MB (embeddings alone: {before:.0f} MB); "
        f"a full score matrix would be {full_gb:.1f} GB"
    )
    print(f"mR {metrics['mR']:.2f}")


if __name__ == "__main__":
    main()

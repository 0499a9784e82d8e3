"""Time and peak memory of one evaluation at 10× NWPU-Captions' test split, through the generic scorer.

    python benchmarks/eval_memory.py [--images 31500] [--captions-per-image 5] [--dim 512]
                                     [--score dot,asymmetric] [--threads N]

Random features stand in for a model's; each score runs in its own subprocess so that its
figures are its own. Two scores go through `ModelScorer` (tiles of ``model.score`` on the
device, captions deduplicated) and the one-pass evaluator (`rsbench.evaluate.retrieval.rank_all`: plain
and multi-positive, both directions, every score computed once):

- ``dot``: the dual encoders' dot product of pooled embeddings;
- ``asymmetric``: an image-conditioned score, s(i, t) = cos(v_i, t ⊙ σ(v_i)) (AMFMN's "soft"
  visual-guided text in miniature), computed per tile as two matrix products.

The full score matrix at the default size would take 31,500 × 157,500 × 4 bytes = 19.8 GB.
"Evaluator peak" is the growth of the process's peak resident memory during the evaluation
(the features are built before; Linux ``/proc/self/clear_refs`` resets the peak).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time


def rss_kb(field: str) -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def run_one(score: str, images: int, per_image: int, dim: int) -> dict:
    import numpy as np
    import torch

    from rsbench.engine import Features, RetrievalModel
    from rsbench.engine.scoring import ModelScorer
    from rsbench.evaluate.retrieval import rank_all

    class Asymmetric(RetrievalModel):
        def score(self, image, text):
            gate = torch.sigmoid(image.emb)
            numerator = text.emb @ (image.emb * gate).T
            gated_norm = ((text.emb**2) @ (gate**2).T).sqrt()
            return numerator / (gated_norm * image.emb.norm(dim=1)[None, :] + 1e-8)

    g = torch.Generator().manual_seed(0)
    n_texts = images * per_image
    image_emb = torch.nn.functional.normalize(torch.randn(images, dim, generator=g), dim=1)
    caption_image = np.repeat(np.arange(images), per_image)
    text_emb = image_emb[torch.from_numpy(caption_image)] + 0.9 * torch.randn(
        n_texts, dim, generator=g
    )
    text_emb = torch.nn.functional.normalize(text_emb, dim=1)
    texts = [f"caption {i}" for i in range(n_texts)]  # all distinct
    model = Asymmetric() if score == "asymmetric" else RetrievalModel()
    scorer = ModelScorer(model, Features(image_emb), Features(text_emb), np.arange(n_texts), "cpu")
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")  # reset the peak to the current resident size
    before = rss_kb("VmRSS")
    started = time.perf_counter()
    cpu = time.process_time()
    ranks = rank_all(scorer, caption_image, texts)
    seconds = time.perf_counter() - started
    return {
        "score": score,
        "images": images,
        "captions": n_texts,
        "dim": dim,
        "seconds": round(seconds, 1),
        "cpu_seconds": round(time.process_time() - cpu, 1),
        "evaluator_peak_mb": round((rss_kb("VmHWM") - before) / 1024),
        "features_mb": round(before / 1024),
        "mR": round(ranks["plain"].metrics()["mR"], 2),
        "threads": torch.get_num_threads(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=31_500)
    parser.add_argument("--captions-per-image", type=int, default=5)
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--score", default="dot,asymmetric")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_one(args.one, args.images, args.captions_per_image, args.dim)))
        return
    print(f"load average: {os.getloadavg()}")
    for score in args.score.split(","):
        out = subprocess.run(
            [
                sys.executable,
                __file__,
                "--one",
                score,
                "--images",
                str(args.images),
                "--captions-per-image",
                str(args.captions_per_image),
                "--dim",
                str(args.dim),
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        r = json.loads(out.stdout.strip().splitlines()[-1])
        full_gb = r["images"] * r["captions"] * 4 / 1e9
        print(
            f"{r['score']:>10}: {r['images']} images x {r['captions']} captions, dim {r['dim']}: "
            f"{r['seconds']} s ({r['cpu_seconds']} s CPU, {r['threads']} threads); evaluator peak "
            f"+{r['evaluator_peak_mb']} MB (features {r['features_mb']} MB; the full matrix would be "
            f"{full_gb:.1f} GB); mR {r['mR']}"
        )
    print(f"load average: {os.getloadavg()}")


if __name__ == "__main__":
    main()

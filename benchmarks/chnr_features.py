"""CHNR's frozen features: grid cells that extract them against cells that read them from the cache.

    python benchmarks/chnr_features.py [--dataset synthrs] [--profile small] [--epochs N]
                                       [--paper-random-weights] [--train N --val N --test N]
                                       [--cached-only]

CHNR trains on features of a frozen ResNet and BERT. A user of the official code runs its
extraction scripts (``images_augment.py`` twice, ``captions_embed.py``) for each new set of
items before training; rsbench extracts once and caches the arrays for every later cell:

(a) official style: two cells (training seeds 0 and 1, same noise file), each extracting its
    features (``RSBENCH_ARRAY_CACHE=0``);
(b) rsbench: the same two cells through the cache, which starts empty: the first cell extracts
    and writes the arrays, the second reads them (the in-process memo is cleared first, so it
    reads the files as a new process would).

Each cell runs through the runner (training, test evaluation, hashing metrics). Printed per
cell: wall and CPU time, the time spent getting features (extraction or cache reads), and the
ratio first / second cell of (b); the load average beside them (the machine may be shared).
The cells train the profile's epochs (150) unless ``--epochs`` says otherwise: the whole-cell
ratio is (extraction + training) / training, so it shrinks as training grows, while the
features' ratio (extraction against cache reads) does not.
The dataset itself is not regenerated: the benchmark's cache links to your cache's datasets.

``--paper-random-weights`` measures the paper profile's widths without any download: ResNet-18
and BERT-base architectures with random weights, written with ``save_pretrained`` under the
paper checkpoints' names in a temporary weights folder (extraction and training cost the same
as with the published weights; the features mean nothing). ``--train/--val/--test`` set the
synthrs sizes (a smaller variant keeps a paper-width run short on a CPU: both extraction and
training scale with the item count, so the ratio barely depends on it). ``--cached-only``
skips the official-style pair, whose second cell costs what the first cached cell costs.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from timing import load_average

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository: tests.fixtures


def random_paper_weights(root: Path) -> Path:
    """ResNet-18 and BERT-base (random weights) saved under CHNR's paper checkpoint names."""
    from tests.fixtures.tiny_checkpoints import save_tiny_bert, save_tiny_resnet

    resnet18 = {"embedding_size": 64, "depths": [2, 2, 2, 2]}
    save_tiny_resnet(root / "microsoft" / "resnet-18", [64, 128, 256, 512], "basic", **resnet18)
    bert_base = {"hidden_size": 768, "num_hidden_layers": 12, "intermediate_size": 3072}
    save_tiny_bert(root / "google-bert" / "bert-base-uncased", num_attention_heads=12, **bert_base)
    return root


def run_cell(
    dataset: str | dict,
    profile: str,
    epochs: int | None,
    seed: int,
    out: Path,
    weights: Path | None = None,
) -> dict:
    from rsbench.io import cache
    from rsbench.run.runner import Runner
    from rsbench.run.settings import parse_settings
    from rsbench_plugins.methods import chnr

    spent = {"features": 0.0}
    originals = {name: getattr(chnr, name) for name in ("image_features", "text_features")}

    def timed(fn):
        def wrapper(*args, **kwargs):
            started = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                spent["features"] += time.perf_counter() - started

        return wrapper

    cache.clear_memo()
    for name, fn in originals.items():
        setattr(chnr, name, timed(fn))
    grid = parse_settings(
        {
            "methods": {
                "chnr": {
                    **({"epochs": epochs} if epochs else {}),
                    **({"weights_dir": str(weights)} if weights else {}),
                }
            },
            "datasets": [dataset],
            "noise": [0.4],
            "seeds": [seed],
            "profile": profile,
            "out": str(out),
        }
    )
    wall, cpu = time.perf_counter(), time.process_time()
    try:
        result = Runner(grid, force=True).run()
    finally:
        for name, fn in originals.items():
            setattr(chnr, name, fn)
    if result.failed:
        raise SystemExit(f"the cell failed; see the records in {out}")
    return {
        "wall": time.perf_counter() - wall,
        "cpu": time.process_time() - cpu,
        "features": spent["features"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="synthrs")
    parser.add_argument("--profile", default="small", choices=("small", "paper"))
    parser.add_argument("--epochs", type=int, default=None, help="[the profile's: 150]")
    parser.add_argument("--paper-random-weights", action="store_true")
    parser.add_argument("--train", type=int, help="synthrs training images [the dataset's]")
    parser.add_argument("--val", type=int, help="synthrs validation images")
    parser.add_argument("--test", type=int, help="synthrs test images")
    parser.add_argument("--cached-only", action="store_true")
    args = parser.parse_args()
    if args.paper_random_weights:
        args.profile = "paper"
    sizes = {k: getattr(args, k) for k in ("train", "val", "test") if getattr(args, k)}
    dataset = {args.dataset: sizes} if sizes else args.dataset
    from rsbench.io.cache import cache_dir

    datasets = cache_dir() / "datasets"
    os.environ["RSBENCH_PROGRESS"] = "0"
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["RSBENCH_CACHE"] = str(Path(tmp) / "cache")
        (Path(tmp) / "cache").mkdir()
        if datasets.is_dir():
            (Path(tmp) / "cache" / "datasets").symlink_to(datasets, target_is_directory=True)
        weights = None
        if args.paper_random_weights:
            weights = random_paper_weights(Path(tmp) / "weights")
        modes = ["official style (extract per cell)", "rsbench (cached)"]
        if args.cached_only:
            modes = modes[1:]
        rows = []
        for mode in modes:
            os.environ["RSBENCH_ARRAY_CACHE"] = "0" if mode.startswith("official") else "1"
            for seed in (0, 1):
                out = Path(tmp) / f"runs-{mode[:3]}-{seed}"
                cell = run_cell(dataset, args.profile, args.epochs, seed, out, weights)
                rows.append((mode, seed, cell))
        load = load_average()
    epochs = args.epochs or "the profile's"
    weights = "random-weight ResNet-18 / BERT-base" if args.paper_random_weights else "its weights"
    print(
        f"CHNR cells on {args.dataset} {sizes or ''} ({args.profile} profile, {weights}, "
        f"{epochs} epochs, noise 0.4)"
    )
    print(f"{'mode':36} {'cell':>4} {'wall s':>8} {'CPU s':>8} {'features s':>11}")
    for mode, seed, r in rows:
        print(f"{mode:36} {seed + 1:>4} {r['wall']:8.1f} {r['cpu']:8.1f} {r['features']:11.2f}")
    first, second = rows[-2][2], rows[-1][2]
    print(
        f"cached: second cell / first cell: {first['wall'] / second['wall']:.1f}x faster (wall), "
        f"{first['cpu'] / second['cpu']:.1f}x (CPU); features {first['features'] / max(second['features'], 1e-9):.0f}x"
    )
    if not args.cached_only:
        official = rows[1][2]
        print(
            f"second cell, official style / cached: {official['wall'] / second['wall']:.1f}x "
            f"(wall), {official['cpu'] / second['cpu']:.1f}x (CPU)"
        )
    print(load)


if __name__ == "__main__":
    main()

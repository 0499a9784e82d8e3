"""CHNR's frozen features: grid cells that extract them against cells that read them from the cache.

    python benchmarks/chnr_features.py [--dataset synthrs] [--profile small] [--epochs N]

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
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from timing import load_average


def run_cell(dataset: str, profile: str, epochs: int | None, seed: int, out: Path) -> dict:
    from rsbench import cache
    from rsbench.grid import build_grid
    from rsbench.runner import Runner
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
    grid = build_grid(
        {
            "methods": {"chnr": {"epochs": epochs} if epochs else {}},
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
    args = parser.parse_args()
    from rsbench.cache import cache_dir

    datasets = cache_dir() / "datasets"
    os.environ["RSBENCH_PROGRESS"] = "0"
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["RSBENCH_CACHE"] = str(Path(tmp) / "cache")
        (Path(tmp) / "cache").mkdir()
        if datasets.is_dir():
            (Path(tmp) / "cache" / "datasets").symlink_to(datasets, target_is_directory=True)
        rows = []
        for mode in ("official style (extract per cell)", "rsbench (cached)"):
            os.environ["RSBENCH_ARRAY_CACHE"] = "0" if mode.startswith("official") else "1"
            for seed in (0, 1):
                out = Path(tmp) / f"runs-{mode[:3]}-{seed}"
                rows.append(
                    (mode, seed, run_cell(args.dataset, args.profile, args.epochs, seed, out))
                )
        load = load_average()
    epochs = args.epochs or "the profile's"
    print(f"CHNR cells on {args.dataset} ({args.profile} profile, {epochs} epochs, noise 0.4)")
    print(f"{'mode':36} {'cell':>4} {'wall s':>8} {'CPU s':>8} {'features s':>11}")
    for mode, seed, r in rows:
        print(f"{mode:36} {seed + 1:>4} {r['wall']:8.1f} {r['cpu']:8.1f} {r['features']:11.2f}")
    first, second = rows[2][2], rows[3][2]
    print(
        f"cached: second cell / first cell: {first['wall'] / second['wall']:.1f}x faster (wall), "
        f"{first['cpu'] / second['cpu']:.1f}x (CPU); features {first['features'] / max(second['features'], 1e-9):.0f}x"
    )
    official = rows[1][2]
    print(
        f"second cell, official style / cached: {official['wall'] / second['wall']:.1f}x (wall), "
        f"{official['cpu'] / second['cpu']:.1f}x (CPU)"
    )
    print(load)


if __name__ == "__main__":
    main()

"""Cells per hour with 1, 2, 4, 8 cells packed on one GPU (``--cells-per-gpu``).

Runs the same grid (one method on one dataset, one cell per training seed) once per packing,
each into a fresh run folder, and prints cells per hour and the speed-up over one cell at a
time. On a machine without CUDA it packs CPU worker processes instead (``--workers``), which
says little about GPUs but checks the script.

    python benchmarks/packed_cells.py --methods infonce --datasets synthrs --epochs 2 \\
        --cells 8 --packing 1,2,4,8 --gpu 0

Give `uptime`'s load average beside the figures: the machine may be shared.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", default="infonce")
    parser.add_argument("--datasets", default="synthrs")
    parser.add_argument("--epochs", default="2")
    parser.add_argument("--cells", type=int, default=8, help="cells per run (one per seed)")
    parser.add_argument("--packing", default="1,2,4,8", help="cells at once, comma-separated")
    parser.add_argument("--gpu", default="0", help="the GPU to pack cells on")
    parser.add_argument(
        "--extra", default="", help="more rsbench run arguments, e.g. --profile paper"
    )
    args = parser.parse_args()

    import torch

    cuda = torch.cuda.is_available()
    seeds = ",".join(str(s) for s in range(args.cells))
    root = Path(tempfile.mkdtemp(prefix="rsbench-packed-"))
    print(
        f"device: {torch.cuda.get_device_name(int(args.gpu)) if cuda else 'cpu'}; load: {os.getloadavg()}"
    )
    print(f"{'packed':>6}  {'wall s':>8}  {'cells/h':>8}  {'speed-up':>8}")
    base = None
    try:
        # one cell first, not timed: datasets generated, images decoded into the cache
        warm = [sys.executable, "-m", "rsbench", "run", "--methods", args.methods, "--datasets"]
        warm += [args.datasets, "--noise", "0.2", "--seeds", "1000", "--epochs", "1"]
        warm += ["--out", str(root / "warm-up"), "--no-leaderboard", *args.extra.split()]
        subprocess.run(warm, capture_output=True, check=True)
        for packed in [int(p) for p in args.packing.split(",")]:
            where = (
                ["--gpus", args.gpu, "--cells-per-gpu", str(packed)]
                if cuda
                else ["--workers", str(packed)]
            )
            command = [
                sys.executable, "-m", "rsbench", "run", "--methods", args.methods,
                "--datasets", args.datasets, "--noise", "0.2", "--seeds", seeds,
                "--epochs", args.epochs, "--out", str(root / f"runs-{packed}"),
                "--no-leaderboard", *where, *args.extra.split(),
            ]  # fmt: skip
            started = time.perf_counter()
            done = subprocess.run(command, capture_output=True, text=True)
            wall = time.perf_counter() - started
            if done.returncode != 0:
                print(done.stderr[-2000:], file=sys.stderr)
                return 1
            rate = args.cells / wall * 3600
            base = base or rate
            print(f"{packed:>6}  {wall:>8.1f}  {rate:>8.1f}  {rate / base:>7.2f}x")
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(f"load after: {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""What ``rsbench tune`` adds to its trials' training: Optuna and bookkeeping, as a ratio.

    python benchmarks/tune_overhead.py [--method infonce] [--dataset synthrs-tiny]
                                       [--trials 3] [--epochs 1]

Runs a real study (a fresh run folder and SQLite storage in a temporary folder) and splits its
wall time into the trials' cells (``Runner.run``: data, training, validation, records) and the
rest: the storage and study, choosing the points, the slot queries, adding each trial under the
cell lock, the summary and the configs. The goal is an overhead ≤ 2 % of the trials' time.
synthrs-tiny at one epoch is a worst case (the shortest trials there are); the small profile on
synthrs trains for minutes per trial. Wall time, in one run, with the load average beside it.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from timing import load_average


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--method", default="infonce")
    parser.add_argument("--dataset", default="synthrs-tiny")
    parser.add_argument("--trials", type=int, default=4)
    parser.add_argument("--epochs", type=int, default=1)
    args = parser.parse_args()

    from rsbench.cli.main import main as rsbench
    from rsbench.run.runner import Runner

    inside = {"seconds": 0.0, "cells": 0}
    run = Runner.run

    def timed_run(self):
        start = time.perf_counter()
        try:
            return run(self)
        finally:
            inside["seconds"] += time.perf_counter() - start
            inside["cells"] += 1

    Runner.run = timed_run

    def study(folder: Path, trials: int) -> tuple[float, float]:
        """(wall seconds of the study, seconds inside its trial cells)."""
        argv = ["tune", "--methods", args.method, "--datasets", args.dataset]
        argv += ["--trials", str(trials), "--epochs", str(args.epochs), "--out", str(folder)]
        inside.update(seconds=0.0, cells=0)
        start = time.perf_counter()
        if rsbench(argv) != 0:
            raise SystemExit(f"rsbench tune exited non-zero ({folder})")
        return time.perf_counter() - start, inside["seconds"]

    with tempfile.TemporaryDirectory() as folder:
        warm = ["run", "--methods", args.method, "--datasets", args.dataset, "--epochs", "1"]
        rsbench([*warm, "--noise", "0.4", "--out", str(Path(folder) / "warm"), "--no-leaderboard"])
        small_total, small_cells = study(Path(folder) / "one", 1)
        total, cells = study(Path(folder) / "many", args.trials)
    fixed = small_total - small_cells  # one study's own costs, with one trial
    overhead = total - cells
    per_trial = max(0.0, (overhead - fixed) / max(1, args.trials - 1))
    trial = cells / args.trials
    print(
        f"{args.method} on {args.dataset}, {args.trials} trials × {args.epochs} epoch(s): "
        f"{total:.2f} s in all, {cells:.2f} s in the trial cells ({trial:.2f} s each), "
        f"{overhead:.3f} s of Optuna and bookkeeping = {100 * overhead / cells:.2f} %"
    )
    print(
        f"per study {fixed:.3f} s (storage, study, summary, configs); per trial {per_trial:.3f} s "
        f"= {100 * per_trial / trial:.2f} % of a trial"
    )
    print(load_average())
    return 0


if __name__ == "__main__":
    sys.exit(main())

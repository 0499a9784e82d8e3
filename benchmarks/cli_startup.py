"""Start-up time of the CLI: `rsbench --help` and `rsbench list` (best and median of N runs).

    python benchmarks/cli_startup.py [--runs 7]

Both must stay fast: neither may import torch, transformers or pandas.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

COMMANDS = (["--help"], ["list"], ["plugins", "--all"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    for command in COMMANDS:
        times = []
        for _ in range(args.runs):
            started = time.perf_counter()
            subprocess.run(
                [sys.executable, "-m", "rsbench", *command], check=True, capture_output=True
            )
            times.append(time.perf_counter() - started)
        print(
            f"rsbench {' '.join(command):<14} best {min(times) * 1000:6.0f} ms   "
            f"median {statistics.median(times) * 1000:6.0f} ms   ({args.runs} runs)"
        )
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", "pass"], check=True)
    print(f"(python -c pass: {(time.perf_counter() - started) * 1000:.0f} ms)")


if __name__ == "__main__":
    main()

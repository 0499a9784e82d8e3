"""What every benchmark script measures with: process CPU time and the load average.

CPU time of this process, not wall time, so that other tenants of a shared machine change the
figures less; the load average is printed beside each figure all the same. Imported by the
scripts of this folder (``python benchmarks/<name>.py`` puts the folder on the path).
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable


def load_average() -> str:
    """``load average 1.20, 0.95, 0.80 (1, 5, 15 min)``."""
    return "load average " + ", ".join(f"{x:.2f}" for x in os.getloadavg()) + " (1, 5, 15 min)"


def cpu_seconds(fn: Callable[..., object], *args) -> float:
    """Process CPU seconds of one call ``fn(*args)``."""
    start = time.process_time()
    fn(*args)
    return time.process_time() - start


def median_cpu_seconds(fn: Callable[[], object], repeats: int = 1) -> float:
    """The median of ``repeats`` calls' process CPU seconds."""
    return float(statistics.median(cpu_seconds(fn) for _ in range(repeats)))

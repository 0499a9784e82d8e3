"""Progress bars on stderr (tqdm), shared by the runner, the engine and dataset generation.

On a terminal bars refresh often; in a log (CI, Slurm) they refresh rarely, so logs stay short
while long work still shows it is alive. ``RSBENCH_PROGRESS=0`` turns bars off.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from tqdm import tqdm


def enabled() -> bool:
    return os.environ.get("RSBENCH_PROGRESS", "1") not in ("0", "false", "no")


def bar(
    total: int | None = None, desc: str = "", unit: str = "it", leave: bool = False, **kwargs: Any
) -> tqdm:
    interactive = sys.stderr.isatty()
    return tqdm(
        total=total,
        desc=desc,
        unit=unit,
        leave=leave,
        file=sys.stderr,
        disable=not enabled(),
        mininterval=0.5 if interactive else 15.0,
        dynamic_ncols=interactive,
        **kwargs,
    )


def say(message: str) -> None:
    """A line on stderr that does not break the bars."""
    tqdm.write(message, file=sys.stderr)

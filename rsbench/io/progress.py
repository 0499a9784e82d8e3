"""Progress on stderr, shared by the runner, the engine and dataset generation.

On a terminal these are tqdm bars. In a log (CI, Slurm, ``nohup``) a bar becomes a plain
line every ``LOG_INTERVAL`` seconds and one when it ends, so logs stay readable while long
work still shows it is alive. ``RSBENCH_PROGRESS=0`` turns progress off.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any

LOG_INTERVAL = 20.0


def enabled() -> bool:
    return os.environ.get("RSBENCH_PROGRESS", "1") not in ("0", "false", "no")


class LogBar:
    """The subset of tqdm's interface rsbench uses, printing plain lines."""

    def __init__(self, total: int | None, desc: str, unit: str, disable: bool):
        self.total, self.desc, self.unit, self.disable = total, desc, unit, disable
        self.n = self.printed = 0
        self.postfix = ""
        self.started = self.last = time.monotonic()

    def _line(self) -> str:
        elapsed = time.monotonic() - self.started
        amount = f"{self.n}/{self.total}" if self.total else str(self.n)
        pct = f" ({100 * self.n / self.total:.0f}%)" if self.total else ""
        post = f", {self.postfix}" if self.postfix else ""
        return f"{self.desc}: {amount} {self.unit}{pct} in {elapsed:.0f} s{post}"

    def update(self, n: int = 1) -> None:
        self.n += n
        now = time.monotonic()
        if not self.disable and now - self.last >= LOG_INTERVAL:
            self._print(now)

    def _print(self, now: float) -> None:
        self.last, self.printed = now, self.n
        print(self._line(), file=sys.stderr, flush=True)

    def set_postfix(self, **values: Any) -> None:
        self.postfix = ", ".join(f"{k}={v}" for k, v in values.items())

    def set_description(self, desc: str) -> None:
        self.desc = desc

    def close(self) -> None:
        now = time.monotonic()
        if not self.disable and self.n != self.printed and now - self.started >= LOG_INTERVAL:
            self._print(now)
        self.disable = True


def bar(total: int | None = None, desc: str = "", unit: str = "it", leave: bool = False) -> Any:
    """A progress bar (tqdm on a terminal, `LogBar` otherwise)."""
    if not sys.stderr.isatty():
        return LogBar(total, desc, unit, disable=not enabled())
    from tqdm import tqdm

    return tqdm(
        total=total,
        desc=desc,
        unit=unit,
        leave=leave,
        file=sys.stderr,
        disable=not enabled(),
        dynamic_ncols=True,
    )


def say(message: str) -> None:
    """A line on stderr that does not break the bars."""
    if sys.stderr.isatty():
        from tqdm import tqdm

        tqdm.write(message, file=sys.stderr)
    else:
        print(message, file=sys.stderr, flush=True)

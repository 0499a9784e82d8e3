"""How long a grid will take: cells × epochs × seconds per epoch, from cells already run.

``rsbench run --dry-run`` estimates each cell to run from the finished records in the run
folder of the same method and profile on the same dataset: the median time of an epoch
(training and validation, from each record's history) times the cell's epochs, plus the
median time a cell spends outside its epochs (loading, evaluation). Records say which hardware
they ran on, and the estimate says it too: a figure measured on one GPU model says little
about another. Cells without such a record are counted, not guessed.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Any

from rsbench.run.hardware import hardware_label


def _key(method: str, profile: str, dataset: str) -> tuple[str, str, str]:
    return (method, profile, dataset)


@dataclass
class Timing:
    epoch_s: list[float] = field(default_factory=list)
    overhead_s: list[float] = field(default_factory=list)
    hardware: set[str] = field(default_factory=set)

    def cell_seconds(self, epochs: int) -> float:
        overhead = statistics.median(self.overhead_s) if self.overhead_s else 0.0
        return statistics.median(self.epoch_s) * epochs + overhead


def timings(records: list[dict[str, Any]]) -> dict[tuple[str, str, str], Timing]:
    """Per (method, profile, dataset): epoch and overhead seconds of finished cells."""
    found: dict[tuple[str, str, str], Timing] = {}
    for r in records:
        if r.get("status") != "ok":
            continue
        seconds = [
            h["seconds"]
            for h in r.get("history") or []
            if isinstance(h, dict) and isinstance(h.get("seconds"), (int, float))
        ]
        if not seconds:
            continue
        key = _key(r["method"]["name"], r["method"].get("profile", "small"), r["dataset"]["name"])
        timing = found.setdefault(key, Timing())
        timing.epoch_s.append(statistics.median(seconds))
        if not r.get("resumed_from_epoch") and isinstance(r.get("duration_s"), (int, float)):
            timing.overhead_s.append(max(0.0, r["duration_s"] - sum(seconds)))
        timing.hardware.add(hardware_label(r.get("environment") or {}))
    return found


@dataclass
class Estimate:
    seconds: float = 0.0
    estimated: int = 0
    epochs: int = 0  # of every cell, measured or not
    unknown: dict[tuple[str, str, str], int] = field(default_factory=dict)
    used: dict[tuple[str, str, str], Timing] = field(default_factory=dict)


def estimate(cells: list, records: list[dict[str, Any]]) -> Estimate:
    """The time of ``cells`` (prepared cells) from ``records``."""
    known = timings(records)
    result = Estimate()
    for pc in cells:
        key = _key(pc.method.name, pc.method.profile, pc.dataset.name)
        epochs = getattr(pc.method.options, "epochs", None)
        result.epochs += epochs if isinstance(epochs, int) else 0
        if key in known and isinstance(epochs, int):
            result.seconds += known[key].cell_seconds(epochs)
            result.estimated += 1
            result.used[key] = known[key]
        else:
            result.unknown[key] = result.unknown.get(key, 0) + 1
    return result


def duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def describe(result: Estimate, total: int, slots: int | None, where: str) -> list[str]:
    """Lines for ``--dry-run``."""
    lines = [f"budget: {total} cells, {result.epochs:,} epochs of training in all"]
    if result.estimated:
        lines.append(
            f"estimate: {result.estimated} of {total} cells measured: {duration(result.seconds)} "
            "of compute (one cell at a time)"
        )
        for (method, profile, dataset), timing in sorted(result.used.items()):
            lines.append(
                f"  {method} ({profile}) on {dataset}: {statistics.median(timing.epoch_s):.1f} s "
                f"per epoch, median of {len(timing.epoch_s)} cell(s) on "
                f"{', '.join(sorted(timing.hardware))}"
            )
        if slots and slots > 1:
            lines.append(
                f"  with {where}: about {duration(result.seconds / slots)} of wall time "
                "when the cells share the slots evenly"
            )
    if result.unknown:
        missing = sum(result.unknown.values())
        names = ", ".join(
            f"{m} ({p}) on {d}: {n}" for (m, p, d), n in sorted(result.unknown.items())
        )
        lines.append(
            f"estimate: {missing} of {total} cells have no measured time yet ({names}); run one "
            "cell of each to measure it (e.g. --seeds S --noise 0) and dry-run again"
        )
    return lines

"""Executors: how a grid's cells run. The contract for ``register_executors`` plugins.

The runner decides *what* runs (the cells that are not done, not held by another process and
not already waiting in a queue) and how one cell runs (`Runner.run_cell_locked`: take the
cell's lock, check it is still not done, train, evaluate, write its files and record). An
executor decides *where*: in this process, in worker processes on the local GPUs, as a
Slurm job array. Two ship, ``local`` and ``slurm``; a plugin adds another (Ray, Kubernetes)
by registering a subclass of `Executor`::

    @hookimpl
    def register_executors(register):
        register("ray", "rsbench_ray:RayExecutor", version="1", description="Cells as Ray tasks")

An executor that runs cells in other processes or machines hands each a `CellJob` (picklable:
the grid, the cell id, the run's flags) and calls `rsbench.run.worker.run_job` there, which runs
the cell exactly as the local executor does, lock and record included. Records are the only
results, so ``rsbench status``, resume and the leaderboard work the same whatever ran them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from rsbench.plugin.components import Component
from rsbench.run.grid import GridSpec

if TYPE_CHECKING:
    from rsbench.run.runner import GridResult, PreparedCell, Runner


@dataclass
class CellJob:
    """One cell to run in another process: what `rsbench.run.worker.run_job` needs."""

    grid: GridSpec
    cell_id: str
    force: bool = False
    #: when this grid run began (time.time()): with ``force``, a record or checkpoint written
    #: after it is this run's own (another process's, or an earlier attempt of a requeued task)
    started_at: float = 0.0
    #: the device inside the worker (``cuda`` where the worker sees one GPU), None: the grid's
    device: str | None = None
    #: who runs it, for lock holders and messages ("gpu1", "slurm job 123_4")
    by: str = ""
    #: CPU threads for torch in the worker (0: torch's default)
    threads: int = 0


class Executor(Component):
    """Runs the cells the runner hands it; options are a nested ``Options`` dataclass."""

    def check(self, runner: Runner, device: str) -> None:
        """Refuse options that cannot work here with a `RsbenchError` (before any work)."""

    def slots(self, device: str) -> int | None:
        """How many cells run at once (None: unknown), for ``--dry-run`` estimates."""
        return 1

    def describe(self, device: str) -> str:
        """A few words on where cells run, for messages."""
        return self.name

    def queued(self, out: Path, cell_ids: list[str]) -> dict[str, str]:
        """Cells of ``cell_ids`` submitted earlier that still wait or run in a queue (cell id →
        what it is, e.g. "job 123_4, PENDING"); they are not submitted again."""
        return {}

    def execute(self, runner: Runner, cells: list[PreparedCell], device: str) -> GridResult:
        """Run (or submit) ``cells`` and return what became of them."""
        raise NotImplementedError


def run_in_process(runner: Runner, cells: list[PreparedCell], device: str) -> GridResult:
    """Run cells one after another in this process (the local executor's CPU default, and a
    building block for simple executors), each under a crash note (`rsbench.run.crashnote`): a
    cell that kills this process with a fatal signal is recorded when the grid is run again.
    Cells in ``runner.isolate`` belong in a worker process: the caller runs them."""
    from rsbench.io import progress
    from rsbench.run import crashnote
    from rsbench.run.runner import GridResult

    result = GridResult()
    total = len(cells)
    grid_bar = progress.bar(total=total, desc="grid", unit="cell", leave=True)
    try:
        for n, pc in enumerate(cells, 1):
            grid_bar.set_description(
                f"grid [{pc.cell.method.name} r={pc.cell.ratio:g} s={pc.cell.seed}]"
            )
            with crashnote.watching(runner.grid.out, pc.cell_id):
                outcome = runner.run_cell_locked(pc, device)
            result.add(outcome, pc, f"[{n}/{total}]")
            grid_bar.update(1)
    finally:
        grid_bar.close()
    return result

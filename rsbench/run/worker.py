"""One cell in a process of its own: local worker processes and Slurm tasks run this.

`run_job` builds the grid's runner in this process (plugins from the environment, as the
parent loaded them), finds the cell by its id and runs it through `Runner.run_cell_locked`:
the same lock, resume, files and record as a cell run in the parent. It returns a small
summary (and the record is on disk).

``python -m rsbench.run.worker`` is a local worker: it reads a pickled `CellJob` on stdin, runs
it and prints the summary as its last line of output, prefixed by `RESULT_PREFIX`. Its exit
code is 0 when the cell ran (whether it succeeded or failed: the record says which), 3 when
another process holds or finished it. A worker whose parent dies stops (its cell resumes
from its checkpoint next time), so killing ``rsbench run`` leaves no training behind.
"""

from __future__ import annotations

import json
import os
import pickle
import sys
import threading
import time
from typing import Any

from rsbench.io.errors import RsbenchError
from rsbench.run.executors import CellJob

RESULT_PREFIX = "rsbench-worker-result "
EXIT_NOT_RUN = 3


def run_job(job: CellJob) -> dict[str, Any]:
    """Run one cell of ``job.grid`` here; a summary of what happened (the record is written)."""
    from rsbench.engine.runtime import resolve_device
    from rsbench.run.runner import Runner

    if job.threads:
        import torch

        torch.set_num_threads(job.threads)
    runner = Runner(job.grid, force=job.force, started_at=job.started_at)
    pc = runner.find_cell(job.cell_id)
    device = resolve_device(job.device or job.grid.device)
    outcome = runner.run_cell_locked(pc, device, by=job.by)
    return outcome.summary()


def _exit_with_parent(parent: int) -> None:
    """Stop this worker when the process that started it is gone."""
    while True:
        time.sleep(1.0)
        if os.getppid() != parent:
            os._exit(EXIT_NOT_RUN)


def main() -> int:
    job = pickle.loads(sys.stdin.buffer.read())
    threading.Thread(target=_exit_with_parent, args=(os.getppid(),), daemon=True).start()
    try:
        summary = run_job(job)
    except KeyboardInterrupt:
        return 130
    except RsbenchError as exc:  # e.g. the data folder went away: one line for the record
        print(f"rsbench: error: {exc}", flush=True)
        return 2
    sys.stdout.flush()
    print(RESULT_PREFIX + json.dumps(summary), flush=True)
    return 0 if summary["status"] in ("ok", "failed") else EXIT_NOT_RUN


if __name__ == "__main__":
    sys.exit(main())

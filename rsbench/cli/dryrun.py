"""``rsbench run --dry-run``: the cells, their state, what is missing, and how long it takes.

Nothing is trained, written or submitted. Missing dataset folders and checkpoints do not stop
a dry run (planning a cluster run from a laptop is what it is for): they are listed at the end,
as what ``rsbench run`` would stop on. Unknown components and bad options are still errors.
"""

from __future__ import annotations

import sys
from pathlib import Path

from rsbench.io.errors import RsbenchError


def dry_run(runner, config: Path | None = None) -> int:
    from rsbench.engine.runtime import resolve_device
    from rsbench.records.read import iter_records
    from rsbench.run.estimate import describe, estimate
    from rsbench.run.state import cell_states

    grid = runner.grid
    problems: list[str] = []
    cells = runner.prepare(check=True, problems=problems)
    try:
        device = resolve_device(grid.device)
    except RsbenchError as exc:
        problems.append(str(exc))
        device = "cpu"
    executor = runner.executor()
    try:
        executor.check(runner, device)
        slots, where = executor.slots(device), executor.describe(device)
    except RsbenchError as exc:
        problems.append(str(exc))
        slots, where = None, executor.name
    ids = [pc.cell_id for pc in cells]
    queued = executor.queued(grid.out, ids) if Path(grid.out).is_dir() else {}
    states = cell_states(grid.out, ids, {pc.cell_id: pc.cell.label() for pc in cells}, queued)
    for pc, state in zip(cells, states, strict=True):
        shown = "todo" if state.state == "pending" else state.state
        detail = f"  ({state.detail})" if state.detail and state.state != "done" else ""
        print(f"{pc.cell_id}  {shown:<7}  {pc.cell.label()}{detail}")

    def count(name: str) -> int:
        return sum(s.state == name for s in states)

    todo = [
        pc
        for pc, s in zip(cells, states, strict=True)
        if s.state in ("pending", "failed") or (runner.force and s.state == "done")
    ]
    say = lambda line: print(f"rsbench: {line}", file=sys.stderr)  # noqa: E731
    source = f" of {config}" if config else ""
    say(
        f"dry run{source}: {len(cells)} cells, {count('done')} done, {count('failed')} failed "
        f"(run again), {count('running')} running elsewhere, {count('queued')} queued, "
        f"{count('pending')} not started; {len(todo)} to run in {grid.out} ({where})"
    )
    records = list(iter_records([grid.out])) if Path(grid.out).is_dir() else []
    for line in describe(estimate(todo, records), len(todo), slots, where):
        say(line)
    if problems:
        say("missing before this grid can run (rsbench run stops on these):")
        for problem in problems:
            print(f"  - {problem}", file=sys.stderr)
    return 0

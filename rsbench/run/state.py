"""What a run folder says about its cells: done, failed, running, queued or pending.

A run folder holds, besides records (``cells/``):

- ``grids/<hash>.json``: each grid that ``rsbench run`` was asked to run there, with its cells'
  ids and labels, so that cells nobody has started yet are known (``pending``);
- ``locks/<cell_id>.lock``: held while a process runs the cell (`rsbench.run.celllock`);
- ``crashes/<cell_id>.txt``: a cell whose in-process run died with its process
  (`rsbench.run.crashnote`), shown as failed until the next run records it;
- ``queue/<cell_id>.json``: a cell submitted to a queue (a Slurm job array) and not finished
  yet: which executor, which job, when. The cell's task removes it when it writes the record.

`cell_states` joins them, for ``rsbench status`` and ``--dry-run``. Reading a run folder
imports no torch and needs no plugin, except to ask an executor about its queued jobs.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rsbench.io.files import atomic_write_json, canonical_json
from rsbench.records.health import summary as health_summary
from rsbench.records.read import CELLS_DIR, error_message, read_record
from rsbench.run.celllock import Holder, holder_of
from rsbench.run.crashnote import noted, read_note

GRIDS_DIR = "grids"
QUEUE_DIR = "queue"
#: "damaged": the cell's record file exists but cannot be read (truncated, not JSON): the cell
#: runs again and its record is rewritten
STATES = ("running", "queued", "failed", "damaged", "pending", "done")


# ---- plans -------------------------------------------------------------------------------------


def write_plan(out: Path, cells: list[dict[str, Any]], settings: dict[str, Any]) -> Path:
    """Remember a grid's cells (``{"cell_id", "label", ...}`` each) in the run folder."""
    body = {"cells": cells, "grid": settings}
    digest = hashlib.sha256(canonical_json([c["cell_id"] for c in cells]).encode()).hexdigest()
    path = Path(out) / GRIDS_DIR / f"{digest[:16]}.json"
    if not path.exists():
        atomic_write_json(path, body)
    return path


def read_plans(out: Path) -> dict[str, dict[str, Any]]:
    """cell id → what the plans say about it (label, method, dataset, ratio, seed)."""
    cells: dict[str, dict[str, Any]] = {}
    for path in sorted((Path(out) / GRIDS_DIR).glob("*.json")):
        try:
            body = json.loads(path.read_text(encoding="utf-8"))
            for cell in body["cells"]:
                cells.setdefault(str(cell["cell_id"]), dict(cell))
        except (OSError, ValueError, KeyError, TypeError):
            continue  # a damaged plan only hides pending cells
    return cells


# ---- queue markers -----------------------------------------------------------------------------


def marker_path(out: Path, cell_id: str) -> Path:
    return Path(out) / QUEUE_DIR / f"{cell_id}.json"


def write_marker(out: Path, cell_id: str, executor: str, job: str, **extra: Any) -> None:
    atomic_write_json(
        marker_path(out, cell_id),
        {
            "executor": executor,
            "job": job,
            "submitted": time.strftime("%Y-%m-%d %H:%M:%S"),
            **extra,
        },
    )


def read_markers(out: Path) -> dict[str, dict[str, Any]]:
    markers = {}
    for path in sorted((Path(out) / QUEUE_DIR).glob("*.json")):
        with contextlib.suppress(OSError, ValueError):
            data = json.loads(path.read_text(encoding="utf-8"))
            if isinstance(data, dict):
                markers[path.stem] = data
    return markers


def remove_marker(out: Path, cell_id: str) -> None:
    marker_path(out, cell_id).unlink(missing_ok=True)


# ---- states ------------------------------------------------------------------------------------


@dataclass
class CellState:
    cell_id: str
    state: str  # one of STATES
    label: str = ""
    detail: str = ""  # the error, who runs it, which job
    record: dict[str, Any] | None = field(default=None, repr=False)


def cell_states(
    out: Path,
    cell_ids: list[str] | None = None,
    labels: dict[str, str] | None = None,
    queued: dict[str, str] | None = None,
) -> list[CellState]:
    """The state of each cell (all cells the run folder knows of when ``cell_ids`` is None).

    ``queued``: what the executor says about cells in its queue (cell id → description);
    without it, a queue marker counts as queued.
    """
    out = Path(out)
    plans = read_plans(out)
    markers = read_markers(out)
    crashed = set(noted(out))
    cells_dir = out / CELLS_DIR
    records = {p.stem: p for p in sorted(cells_dir.glob("*.json"))} if cells_dir.is_dir() else {}
    if cell_ids is None:
        locks = (
            {p.stem for p in (out / "locks").glob("*.lock")} if (out / "locks").is_dir() else set()
        )
        cell_ids = sorted(set(plans) | set(records) | set(markers) | locks)
    labels = {**{k: str(v.get("label", "")) for k, v in plans.items()}, **(labels or {})}
    states = []
    for cid in cell_ids:
        record = read_record(records[cid]) if cid in records else None
        label = labels.get(cid) or (_record_label(record) if record else "")
        holder: Holder | None = holder_of(out, cid)
        crash = read_note(out, cid) if holder is None and cid in crashed else None
        if holder is not None:
            states.append(CellState(cid, "running", label, holder.describe(), record))
        elif crash is not None and crash.signal:
            detail = (
                f"crashed its process ({crash.signal}) in-process, pid {crash.pid} since "
                f"{crash.since}; the next rsbench run records it"
            )
            states.append(CellState(cid, "failed", label, detail, record))
        elif record is not None and record.get("status") == "ok":
            states.append(CellState(cid, "done", label, _done_detail(record), record))
        elif cid in markers and (queued is None or cid in queued):
            marker = markers[cid]
            detail = (queued or {}).get(cid) or (
                f"{marker.get('executor', '?')} job {marker.get('job', '?')}, submitted "
                f"{marker.get('submitted', '?')}"
            )
            states.append(CellState(cid, "queued", label, detail, record))
        elif record is not None:
            states.append(CellState(cid, "failed", label, error_line(record), record))
        elif cid in records:
            detail = (
                f"its record {records[cid]} cannot be read (truncated, not JSON or not a record "
                "of this rsbench); the next rsbench run runs the cell again and rewrites it"
            )
            states.append(CellState(cid, "damaged", label, detail, None))
        else:
            states.append(CellState(cid, "pending", label, "", None))
    return states


def error_line(record: dict[str, Any]) -> str:
    """The first line of a failed record's error, whatever shape the error field has."""
    return (error_message(record).strip().splitlines() or ["failed"])[0]


def folder_problems(out: Path) -> list[str]:
    """Parts of a run folder that are not what rsbench writes there (a file where a folder
    belongs), for ``rsbench status`` to name."""
    problems = []
    for name in (CELLS_DIR, GRIDS_DIR, QUEUE_DIR, "locks"):
        path = Path(out) / name
        if path.exists() and not path.is_dir():
            problems.append(
                f"{path} is a file, not a folder: its cells are shown as pending; move it away "
                "and rerun (rsbench run recreates it)"
            )
    return problems


def _record_label(record: dict[str, Any]) -> str:
    try:
        return (
            f"{record['method']['name']} on {record['dataset']['name']}, {record['noise']['model']} "
            f"{record['noise']['ratio']:g}, seed {record['seed']}"
        )
    except (KeyError, TypeError, ValueError):
        return ""


def _done_detail(record: dict[str, Any]) -> str:
    metrics = record.get("metrics") or {}
    parts = []
    if isinstance(metrics.get("mR"), (int, float)):
        parts.append(f"mR {metrics['mR']:.2f}")
    if isinstance(record.get("duration_s"), (int, float)):
        parts.append(f"{record['duration_s']:.0f} s")
    warned = health_summary(record)
    return ", ".join(parts) + (f"; ⚠ {warned}" if warned else "")


# ---- rsbench status ----------------------------------------------------------------------------


def queued_by_executors(out: Path) -> dict[str, str]:
    """What each executor with queue markers here says about its queued cells."""
    from rsbench.io.errors import RsbenchError
    from rsbench.plugin.manager import get_plugins

    by_executor: dict[str, list[str]] = {}
    for cid, marker in read_markers(out).items():
        by_executor.setdefault(str(marker.get("executor", "?")), []).append(cid)
    queued: dict[str, str] = {}
    for name, cids in sorted(by_executor.items()):
        try:
            executor = get_plugins().executors.get(name).create({})
            executor.plugin = name
            queued.update(executor.queued(Path(out), cids))
        except RsbenchError:
            queued.update(dict.fromkeys(cids, f"state unknown: executor {name!r} not installed"))
    return queued


def status_lines(out: Path, show_all: bool = False) -> list[str]:
    """``rsbench status``: counts per state, then the cells that need a look."""
    from rsbench.io.errors import RsbenchError

    out = Path(out)
    if not out.is_dir():
        raise RsbenchError(f"run folder not found: {out}")
    if not any((out / d).exists() for d in (CELLS_DIR, GRIDS_DIR, QUEUE_DIR, "locks")):
        raise RsbenchError(
            f"{out} is not a run folder (it has no cells/, grids/, queue/ or locks/)"
        )
    states = cell_states(out, queued=queued_by_executors(out))
    by_state: dict[str, list[CellState]] = {s: [] for s in STATES}
    for state in states:
        by_state[state.state].append(state)
    counts = ", ".join(
        f"{len(by_state[s])} {s}" for s in ("done", *STATES[:-1]) if s != "damaged" or by_state[s]
    )
    lines = [f"{out}: {len(states)} cells: {counts}"]
    lines += [f"damaged: {problem}" for problem in folder_problems(out)]
    for name in STATES:
        cells = by_state[name]
        if not cells:
            continue
        if name in ("done", "pending") and not show_all:
            lines.append(f"{name}: {len(cells)} (--all lists them)")
            warned = [c for c in cells if c.record is not None and health_summary(c.record)]
            if warned:  # done, but the result may not mean what its mR says
                lines.append(f"done with health warnings: {len(warned)}")
                for c in sorted(warned, key=lambda c: (c.label, c.cell_id)):
                    lines.append(f"  {c.cell_id}  {c.label or '(no label)'}: {c.detail}")
            continue
        lines.append(f"{name}:")
        for c in sorted(cells, key=lambda c: (c.label, c.cell_id)):
            detail = f": {c.detail}" if c.detail else ""
            lines.append(f"  {c.cell_id}  {c.label or '(no label)'}{detail}")
    return lines

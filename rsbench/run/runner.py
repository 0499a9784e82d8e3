"""Runs a grid: one isolated training and evaluation per cell, one record per cell.

- Cells already done (a record with status ``ok``) are skipped unless ``force``; failed
  cells are run again, resuming from their last per-epoch checkpoint.
- A cell that raises (or whose loss turns NaN) is recorded as ``failed`` with its error and
  the grid goes on; so is a cell whose worker process dies (out of memory, a CUDA error,
  killed).
- A cell runs under its lock (`rsbench.run.celllock`), so processes sharing a run folder (two
  ``rsbench run``, local workers, Slurm tasks) never train it twice; a cell another process
  holds is skipped and named.
- Where cells run is the executor's business (`rsbench.run.executors`: ``local`` worker
  processes, ``slurm`` job arrays, plugins); how one cell runs is `Runner.run_cell_locked`,
  whatever process calls it.
- How one cell trains and is scored is `rsbench.run.cell`.
- Records are written atomically when a cell ends, after the files they point to (detection
  scores, per-query ranks), so a kill at any moment loses at most the epoch in progress.
"""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rsbench.data.root import fill_options
from rsbench.io import progress
from rsbench.io.errors import RsbenchError
from rsbench.io.files import canonical_json
from rsbench.plugin.manager import Plugins, get_plugins
from rsbench.plugin.split import DatasetSplits
from rsbench.records.read import (
    error_message,
    error_type,
    read_record,
    record_path,
    write_record,
)
from rsbench.run import celllock, crashnote
from rsbench.run.cell import WORK_DIR, CellRun, PreparedCell
from rsbench.run.grid import Cell, GridSpec, cell_id, cell_spec
from rsbench.run.settings import plan_settings

#: error types of cells whose process died (a worker, or rsbench run itself in-process)
DIED = ("WorkerDied", "ProcessDied")
CHECKPOINT = "checkpoint.pt"


@dataclass
class GridResult:
    done: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    datasets: set[str] = field(default_factory=set)
    #: cells another process runs (or finished while this one ran): id -> who
    held: dict[str, str] = field(default_factory=dict)
    #: cells waiting in a queue from an earlier submission: id -> which job
    queued: dict[str, str] = field(default_factory=dict)
    #: cells submitted to a queue by this run (not finished when it returned)
    submitted: list[str] = field(default_factory=list)

    def merge(self, other: GridResult) -> None:
        """Add the cells of ``other`` (another executor's or another pass's result)."""
        self.done += other.done
        self.skipped += other.skipped
        self.failed += other.failed
        self.held.update(other.held)
        self.submitted += other.submitted

    def add(self, outcome: CellOutcome, pc: PreparedCell, prefix: str = "") -> None:
        """Count one cell's outcome and say it (one line)."""
        lead = f"{prefix} " if prefix else ""
        if outcome.status == "ok":
            self.done.append(pc.cell_id)
            record = outcome.record or {}
            if record.get("search"):  # a tuning trial: validation scores only
                val = record.get("val_metrics") or {}
                score = f"validation mR {val.get('mR', 0):.2f} (clean {val.get('clean_mR', 0):.2f})"
            else:
                score = f"mR {record['metrics']['mR']:.2f}"
            progress.say(f"{lead}{pc.cell.label()}: {score} ({record['duration_s']:.0f} s)")
        elif outcome.status == "failed":
            self.failed.append(pc.cell_id)
            message = error_message(outcome.record)
            blame = (
                f" (method {pc.cell.method.name!r} from {pc.method_origin})"
                if pc.method_origin
                else ""
            )
            progress.say(f"{lead}{pc.cell.label()}: FAILED: {message}{blame}")
        elif outcome.status == "done_elsewhere":
            self.skipped.append(pc.cell_id)
            progress.say(f"{lead}{pc.cell.label()}: skipped, {outcome.holder}")
        else:
            self.held[pc.cell_id] = outcome.holder or "another process"
            progress.say(f"{lead}{pc.cell.label()}: skipped, being run by {outcome.holder}")


@dataclass
class CellOutcome:
    """What became of one cell: ``ok``, ``failed``, ``held`` (another process has it) or
    ``done_elsewhere`` (another process finished it while this one waited)."""

    cell_id: str
    status: str
    record: dict[str, Any] | None = None
    holder: str | None = None

    def summary(self) -> dict[str, Any]:
        record = self.record or {}
        return {
            "cell_id": self.cell_id,
            "status": self.status,
            "mR": (record.get("metrics") or {}).get("mR"),
            "duration_s": record.get("duration_s"),
            "error": error_message(record, "") or None,
            "holder": self.holder,
        }


class Runner(CellRun):
    def __init__(
        self,
        grid: GridSpec,
        plugins: Plugins | None = None,
        force: bool = False,
        started_at: float | None = None,
    ):
        self.grid = grid
        self.plugins = plugins or get_plugins()
        self.force = force
        #: when this grid run began; with ``force``, newer records and checkpoints are its own
        self.started_at = time.time() if started_at is None else started_at
        self._datasets: dict[str, DatasetSplits] = {}
        #: cells to run in a worker process of their own, never in this one: their process
        #: died before (`recover_crashes`); executors that run cells in-process honour it
        self.isolate: set[str] = set()
        #: for in-process cells: called after each epoch with (epoch, validation mR), a true
        #: answer stops the fit (``rsbench tune --pruner``); see ``TrainTask.on_epoch``
        self.epoch_hook = None

    # ---- checking before anything runs ------------------------------------------------
    def prepare(self, check: bool = False, problems: list[str] | None = None) -> list[PreparedCell]:
        """Resolve every component and option now, so bad input fails before any training.

        With ``check``, also ask every method whether it can run here (its checkpoints are found
        offline), so a missing checkpoint stops the grid before the first cell trains. Given a
        ``problems`` list (``--dry-run``), a dataset folder or checkpoint that is missing is
        noted there instead of stopping.
        """
        instances: dict[tuple[str, str], Any] = {}

        def note(exc: RsbenchError) -> None:
            if problems is None:
                raise exc
            if str(exc) not in problems:
                problems.append(str(exc))

        def make(kind: str, registry, ref, options):
            key = (kind, ref.name + canonical_json(options))
            if key not in instances:
                entry = registry.get(ref.name)
                instances[key] = entry.create(options)
                instances[key].plugin = entry.plugin
                instances[key].plugin_source = entry.source
                if kind == "method" and check:
                    try:
                        instances[key].check_ready()
                    except RsbenchError as exc:
                        note(exc)
            return instances[key]

        prepared, located = [], set()
        for cell in self.grid.cells():
            entry = self.plugins.datasets.get(cell.dataset.name)
            dataset_cls = entry.resolve()
            options = fill_options(
                dataset_cls,
                cell.dataset.options,
                data_root=self.grid.data_root,
                skip_bad_images=self.grid.skip_bad_images or None,
                follow_symlinks=self.grid.follow_symlinks or None,
            )
            dataset = make("dataset", self.plugins.datasets, cell.dataset, options)
            if id(dataset) not in located:  # a dataset folder that is not there is bad input
                located.add(id(dataset))
                try:
                    dataset.locate()
                except RsbenchError as exc:
                    note(exc)
            method_options = self.method_options(cell, dataset_cls)
            method = make("method", self.plugins.methods, cell.method, method_options)
            noise = make(
                "noise", self.plugins.noise_models, cell.noise_model, cell.noise_model.options
            )
            spec = cell_spec(cell, method, dataset, noise)
            if self.grid.search:  # another cell than the grid's own at the same point
                spec["search"] = True
                if self.grid.prune:
                    spec["prune"] = self.grid.prune
            origin = self.plugins.methods.get(cell.method.name).origin
            prepared.append(PreparedCell(cell, spec, cell_id(spec), method, dataset, noise, origin))
        return prepared

    def method_options(self, cell: Cell, dataset_cls) -> dict[str, Any]:
        """The cell's method options with the profile and the weights folder filled in.

        ``profile: auto`` takes the dataset's default profile (``small`` for synthrs, ``paper``
        for real datasets) where the method has it, else the method's own default; a profile
        asked for by name must exist. Options the user set on the method win.
        """
        options = cell.method_options()
        method_cls = self.plugins.methods.get(cell.method.name).resolve()
        has_profiles = getattr(method_cls, "has_profiles", lambda: False)()
        wanted = self.grid.profile
        if not has_profiles:
            if wanted not in ("auto", "small"):
                raise RsbenchError(
                    f"method {cell.method.name!r} has no profiles (it runs as 'small'); "
                    f"drop --profile {wanted} or run it with --profile small"
                )
            return fill_options(method_cls, options, weights_dir=self.grid.weights_dir)
        if "profile" not in options:
            profiles = list(method_cls.PROFILES)
            if wanted == "auto":
                default = getattr(dataset_cls, "default_profile", "paper")
                wanted = default if default in profiles else profiles[0]
            elif wanted not in profiles:
                raise RsbenchError(
                    f"method {cell.method.name!r} has no {wanted!r} profile; valid: {', '.join(profiles)}"
                )
            options["profile"] = wanted
        return fill_options(method_cls, options, weights_dir=self.grid.weights_dir)

    def find_cell(self, wanted: str) -> PreparedCell:
        """The prepared cell with id ``wanted`` (in a worker process or a Slurm task)."""
        for pc in self.prepare():
            if pc.cell_id == wanted:
                return pc
        raise RsbenchError(
            f"cell {wanted} is not in this grid (its options or a component's version changed "
            "since it was submitted); rerun rsbench run to resubmit it"
        )

    def executor(self):
        """The grid's executor, with its options checked."""
        ref = self.grid.executor
        entry = self.plugins.executors.get(ref.name)
        executor = entry.create(ref.options)
        executor.plugin = entry.plugin
        return executor

    # ---- running ----------------------------------------------------------------------
    def run(self) -> GridResult:
        from rsbench.engine.runtime import resolve_device
        from rsbench.run.state import write_plan

        device = resolve_device(self.grid.device)
        executor = self.executor()
        executor.check(self, device)
        out = self.grid.out
        cells = self.prepare(check=True)  # bad input fails before anything is created
        check_writable(out)
        write_plan(out, [plan_entry(pc) for pc in cells], plan_settings(self.grid))
        result = GridResult(datasets={c.cell.dataset.name for c in cells})
        self.recover_crashes(cells, device)
        todo = self.classify(cells, executor, result)
        progress.say(
            f"rsbench: {len(todo)} cells to run, results in {out}"
            + (f" ({executor.describe(device)})" if todo else "")
        )
        if result.skipped:
            progress.say(
                f"rsbench: {len(result.skipped)} of {len(cells)} cells already done in {out} (skipped; --force recomputes)"
            )
        for cid, holder in result.held.items():
            progress.say(f"rsbench: cell {cid} is being run by {holder}; skipped here")
        for cid, job in result.queued.items():
            progress.say(f"rsbench: cell {cid} is already queued ({job}); not submitted again")
        if not todo:
            return result
        result.merge(executor.execute(self, todo, device))
        return result

    def classify(
        self, cells: list[PreparedCell], executor, result: GridResult
    ) -> list[PreparedCell]:
        """The cells to run; the others go into ``result`` as skipped, held or queued. A cell
        to run whose record says its process died (a worker's, or this one's in-process) goes
        into ``self.isolate``: in-process executors run it in a worker process of its own."""
        out = self.grid.out
        queued = executor.queued(out, [pc.cell_id for pc in cells])
        todo = []
        self.isolate = set()
        for pc in cells:
            holder = celllock.holder_of(out, pc.cell_id)
            record = read_record(record_path(out, pc.cell_id)) if holder is None else None
            status = (record or {}).get("status")
            if status == "failed" and error_type(record) in DIED:
                self.isolate.add(pc.cell_id)
            if holder is not None:
                result.held[pc.cell_id] = holder.describe()
            elif not self.force and status == "ok":
                result.skipped.append(pc.cell_id)
                self.remove_checkpoint(pc.cell_id)  # left by a run killed after the record
            elif pc.cell_id in queued:
                result.queued[pc.cell_id] = queued[pc.cell_id]
            else:
                todo.append(pc)
        return todo

    def is_done(self, cid: str) -> bool:
        record = read_record(record_path(self.grid.out, cid))
        return record is not None and record.get("status") == "ok"

    def _is_current(self, path: Path) -> bool:
        """Whether ``path`` was written during this grid run (by any process)."""
        with contextlib.suppress(OSError):
            return path.stat().st_mtime >= self.started_at
        return False

    def run_cell_locked(self, pc: PreparedCell, device: str, by: str = "") -> CellOutcome:
        """Run one cell under its lock, in this process: the one way every executor runs a cell.

        Another process holding the cell makes it ``held``; a record that became ``ok`` before
        the lock was taken (or, with ``force``, during this grid run) makes it
        ``done_elsewhere``. Otherwise the cell trains (resuming from its checkpoint), its
        record is written and its checkpoint removed when it succeeded.
        """
        from rsbench.run.state import remove_marker

        out = self.grid.out
        lock = celllock.acquire(out, pc.cell_id, by)
        if isinstance(lock, celllock.Holder):
            return CellOutcome(pc.cell_id, "held", holder=lock.describe())
        with lock:
            path = record_path(out, pc.cell_id)
            if self.is_done(pc.cell_id) and (not self.force or self._is_current(path)):
                remove_marker(out, pc.cell_id)
                return CellOutcome(
                    pc.cell_id, "done_elsewhere", read_record(path), "finished by another process"
                )
            checkpoint = self.checkpoint_path(pc.cell_id)
            if self.force and checkpoint.exists() and not self._is_current(checkpoint):
                self.remove_checkpoint(pc.cell_id, keep=False)  # --force recomputes it all
            record = self.portable(self.run_cell(pc, device))
            write_record(out, record)
            if record["status"] == "ok":
                self.remove_checkpoint(pc.cell_id)
            remove_marker(out, pc.cell_id)
        return CellOutcome(pc.cell_id, record["status"], record)

    def recover_crashes(self, cells: list[PreparedCell], device: str) -> None:
        """Record the cells that crashed an earlier in-process run (`rsbench.run.crashnote`) as
        failed (``ProcessDied``); `classify` then sends them to a worker of their own."""
        out = self.grid.out
        noted = set(crashnote.noted(out))
        for pc in (pc for pc in cells if pc.cell_id in noted):
            crash = crashnote.read_note(out, pc.cell_id)
            if crash is None:
                continue  # its cell runs right now
            if crash.signal:
                self.record_crash(pc, device, crash.message(), crash.trace, "ProcessDied")
                progress.say(
                    f"rsbench: {pc.cell.label()} crashed the process that ran it "
                    f"({crash.signal}): recorded as failed (see its record)"
                )
            crashnote.clear(out, pc.cell_id)

    def record_crash(
        self,
        pc: PreparedCell,
        device: str,
        message: str,
        detail: str = "",
        kind: str = "WorkerDied",
    ) -> bool:
        """Record a cell whose process died as failed (unless it got a record of its own in
        this run, or another process holds it now). True when the failure was recorded."""
        out = self.grid.out
        lock = celllock.acquire(out, pc.cell_id, "recording a crash")
        if isinstance(lock, celllock.Holder):
            return False
        with lock:
            path = record_path(out, pc.cell_id)
            current = read_record(path) if self._is_current(path) else None
            if current is not None and error_type(current) not in DIED:
                return False  # the cell's own record of this run (a crash's may be replaced)
            record = self.base_record(pc, device)
            record["error"] = {
                "type": kind,
                "message": message,
                "traceback": detail or None,
            }
            record["duration_s"] = 0.0
            write_record(out, self.portable(record))
        return True

    def checkpoint_path(self, cid: str) -> Path:
        return self.grid.out / WORK_DIR / cid / CHECKPOINT

    def remove_checkpoint(self, cid: str, keep: bool | None = None) -> None:
        """A finished cell's checkpoint goes, unless the grid keeps them (``keep_checkpoints``)."""
        if self.grid.keep_checkpoints if keep is None else keep:
            return
        path = self.checkpoint_path(cid)
        path.unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            path.parent.rmdir()  # only when empty: a method may keep other files there

    def abandoned(self, result: GridResult) -> list[str]:
        """Cells this run skipped because another process held them, which that process left
        unfinished (no ``ok`` record, and nobody holds them now): the run must not call itself
        complete."""
        left = []
        for cid in sorted(result.held):
            record = read_record(record_path(self.grid.out, cid))
            if (record or {}).get("status") != "ok" and celllock.holder_of(
                self.grid.out, cid
            ) is None:
                left.append(cid)
        return left

    def portable(self, record: dict[str, Any]) -> dict[str, Any]:
        """The record with its paths relative to the run folder, the data root or the cache
        (`rsbench.records.portable`): a record names no folder of the machine that ran it."""
        from rsbench.records.portable import anchors, portable

        return portable(record, anchors(self.grid.out, self.grid.data_root))


def plan_entry(pc: PreparedCell) -> dict[str, Any]:
    """What the run folder's plan says about a cell (``rsbench status`` shows it)."""
    return {
        "cell_id": pc.cell_id,
        "label": pc.cell.label(),
        "method": pc.cell.method.name,
        "dataset": pc.cell.dataset.name,
        "ratio": pc.cell.ratio,
        "seed": pc.cell.seed,
    }


def check_writable(out: Path) -> None:
    try:
        Path(out).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RsbenchError(f"cannot create output directory {out}: {exc.strerror or exc}") from None
    if not os.access(out, os.W_OK):
        raise RsbenchError(f"output directory {out} is not writable")


def run_grid(grid: GridSpec, force: bool = False, plugins: Plugins | None = None) -> GridResult:
    return Runner(grid, plugins, force).run()

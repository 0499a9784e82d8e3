"""Runs a grid: one isolated training and evaluation per cell, one record per cell.

- Cells already done (a record with status ``ok``) are skipped unless ``force``; failed
  cells are run again, resuming from their last per-epoch checkpoint.
- A cell that raises (or whose loss turns NaN) is recorded as ``failed`` with its error and
  the grid goes on; so is a cell whose worker process dies (out of memory, a CUDA error,
  killed).
- A cell runs under its lock (`rsbench.celllock`), so processes sharing a run folder (two
  ``rsbench run``, local workers, Slurm tasks) never train it twice; a cell another process
  holds is skipped and named.
- Where cells run is the executor's business (`rsbench.executors`: ``local`` worker
  processes, ``slurm`` job arrays, plugins); how one cell runs is `Runner.run_cell_locked`,
  whatever process calls it.
- Records are written atomically when a cell ends, after the files they point to (detection
  scores, per-query ranks), so a kill at any moment loses at most the epoch in progress.
"""

from __future__ import annotations

import contextlib
import os
import platform
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rsbench import __version__, celllock, crashnote, health, interrupts, progress
from rsbench.components import CleanEstimate, TrainTask
from rsbench.data import DatasetSplits
from rsbench.dataroot import fill_options
from rsbench.detection import detection_metrics
from rsbench.errors import CellError, RsbenchError
from rsbench.fileio import atomic_save, canonical_json
from rsbench.grid import Cell, GridSpec, cell_id, cell_spec
from rsbench.metrics import rank_all
from rsbench.names import child_path
from rsbench.noise import NoiseFile, noise_file_for
from rsbench.plugins import Plugins, get_plugins
from rsbench.records import (
    SCHEMA_VERSION,
    error_message,
    error_type,
    read_record,
    record_path,
    write_record,
)
from rsbench.statistics import encode_hits

WORK_DIR = "work"
#: error types of cells whose process died (a worker, or rsbench run itself in-process)
DIED = ("WorkerDied", "ProcessDied")
RANKS_DIR = "ranks"
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


@dataclass
class PreparedCell:
    cell: Cell
    spec: dict[str, Any]
    cell_id: str
    method: Any
    dataset: Any
    noise_model: Any
    #: who registered the method (``plugin foo, rsbench-foo 0.2``): named when a cell fails
    method_origin: str = ""


class Runner:
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
        from rsbench.runstate import write_plan

        device = resolve_device(self.grid.device)
        executor = self.executor()
        executor.check(self, device)
        out = self.grid.out
        cells = self.prepare(check=True)  # bad input fails before anything is created
        check_writable(out)
        write_plan(out, [plan_entry(pc) for pc in cells], grid_settings(self.grid))
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
        from rsbench.runstate import remove_marker

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
        """Record the cells that crashed an earlier in-process run (`rsbench.crashnote`) as
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

    def load_dataset(self, pc: PreparedCell) -> DatasetSplits:
        key = pc.cell.dataset.name + canonical_json(pc.dataset.params())
        if key not in self._datasets:
            self._datasets[key] = pc.dataset.load()
        return self._datasets[key]

    def base_record(self, pc: PreparedCell, device: str) -> dict[str, Any]:
        """A failed record of the cell, before anything ran: what the cell is and where."""
        return {
            "schema_version": SCHEMA_VERSION,
            "cell_id": pc.cell_id,
            "spec": pc.spec,
            "status": "failed",
            "error": None,
            "method": {
                "name": pc.method.name,
                "version": pc.method.version,
                "plugin": pc.method.plugin,
                "plugin_source": pc.method.plugin_source,
                "profile": pc.method.profile,
                "backbone": pc.method.backbone_info(),
                "params": pc.method.params(),
                "given_options": pc.cell.method_options(),
            },
            "dataset": {
                "name": pc.dataset.name,
                "version": pc.dataset.version,
                "plugin": pc.dataset.plugin,
                "plugin_source": pc.dataset.plugin_source,
                "params": pc.dataset.params(),
                "given_options": dict(pc.cell.dataset.options),
            },
            "noise": {
                "model": pc.noise_model.name,
                "version": pc.noise_model.version,
                "plugin": pc.noise_model.plugin,
                "plugin_source": pc.noise_model.plugin_source,
                "params": pc.noise_model.params(),
                "given_options": dict(pc.cell.noise_model.options),
                "level": pc.noise_model.level,
                "ratio": pc.cell.ratio,
                "seed": pc.cell.noise_seed,
            },
            "seed": pc.cell.seed,
            "validation": pc.cell.validation,
            "environment": environment(device),
        }

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
        (`rsbench.portable`): a record names no folder of the machine that ran it."""
        from rsbench.portable import anchors, portable

        return portable(record, anchors(self.grid.out, self.grid.data_root))

    def run_cell(self, pc: PreparedCell, device: str) -> dict[str, Any]:
        """Train and evaluate one cell here (no lock: see `run_cell_locked`); its record."""
        started = time.perf_counter()
        record = self.base_record(pc, device)
        with interrupts.SigintWatch() as sigint, interrupts.guard_os_exit():
            try:
                self.train_and_score(pc, device, record)
            except KeyboardInterrupt:
                if sigint.seen:  # Ctrl-C: the grid stops, resumable (rsbench.interrupts)
                    raise
                record["error"] = {
                    "type": "KeyboardInterrupt",
                    "message": "KeyboardInterrupt raised by the method itself (no Ctrl-C was "
                    "received): a bug of the method; the grid went on",
                    "traceback": traceback.format_exc(limit=20),
                }
            except CellError as exc:
                record["error"] = {
                    "type": type(exc).__name__,
                    "message": str(exc),
                    "traceback": None,
                }
            except (Exception, SystemExit) as exc:  # a failing cell is recorded; the grid goes on
                record["error"] = {
                    "type": type(exc).__name__,
                    "message": failure_message(exc),
                    "traceback": traceback.format_exc(limit=20),
                }
        record["duration_s"] = round(time.perf_counter() - started, 3)
        return record

    def train_and_score(self, pc: PreparedCell, device: str, record: dict[str, Any]) -> None:
        """Load, train and evaluate one cell into ``record`` (its failures are ``run_cell``'s)."""
        splits = self.load_dataset(pc)
        record["dataset"].update(dataset_facts(splits))
        noise_file, noise_path = self.noise_file(pc, splits, splits.train)
        record["noise"].update(
            file=str(noise_path),
            file_hash=noise_file.content_hash,
            effective_rate=noise_file.effective_rate,
            stats=noise_file.stats,
        )
        val = splits.val.eval_set()
        if pc.cell.validation == "noisy":
            val_noise, _ = self.noise_file(pc, splits, splits.val)
            val.texts = val_noise.row_texts(splits.val)
            val.caption_image = val_noise.image.copy()
        resume_state: dict[str, Any] = {"detection_history": []}

        def on_clean_scores(epoch: int, estimate: CleanEstimate) -> None:
            metrics = detection_metrics(
                estimate.scores,
                noise_file.clean,
                estimate.decisions,
                estimate.groups,
                estimate.group_names,
            )
            resume_state["detection_history"].append({"epoch": epoch, **metrics})

        task = TrainTask(
            pairs=noise_file.train_pairs(splits.train),
            val=val,
            seed=pc.cell.seed,
            device=device,
            work_dir=self.grid.out / WORK_DIR / pc.cell_id,
            progress=progress.bar,
            noise_seed=pc.cell.noise_seed,
            noise_ratio=pc.cell.ratio,
            fingerprint=pairs_fingerprint(record, noise_file),
            clean_flags=noise_file.clean.copy(),
            on_clean_scores=on_clean_scores,
            checkpoint_path=self.checkpoint_path(pc.cell_id),
            resume_state=resume_state,
            on_epoch=self.epoch_hook,
        )
        fit = pc.method.fit(task)
        applied = fit.info.pop("onednn", None) if isinstance(fit.info, dict) else None
        if applied:  # what the oneDNN workaround changed in this fit (rsbench.engine.onednn)
            record["environment"]["onednn"].update(applied)
        detection_history = task.resume_state.get("detection_history", [])
        spread = (
            self.search_record(record, fit, splits)  # a tuning trial: test split unread
            if self.grid.search
            else self.test_record(record, pc, fit, task, splits.test)
        )
        if fit.estimate() is not None or detection_history:
            record["detection"] = self.detection(pc, fit, noise_file, detection_history)
        record["health"] = health.check(record, spread)

    def test_record(self, record: dict[str, Any], pc: PreparedCell, fit, task, test) -> float:
        """The test evaluation of a trained cell into its record: R@K both ways (plain and
        multi-positive), per-query ranks, diagnostics and hashing mAP where the method has them.
        Returns the spread of the test scores, for the health checks."""
        scorer = fit.retriever.scorer(test.images, test.texts)
        spread = health.score_spread(scorer)
        ranks = rank_all(scorer, test.caption_image, test.texts)
        results = {mode: r.metrics() for mode, r in ranks.items()}
        ranks_file = self.save_ranks(pc, ranks, test.caption_image)
        best = selected_epoch(fit)
        record.update(
            status="ok",
            metrics=results["plain"],
            metrics_multi=results["multi"],
            best_epoch=fit.best_epoch,
            val_metrics={"mR": best.get("val_mR")},
            history=fit.history,
            used_ground_truth=task.used_ground_truth,
            trusted_subset=task.trusted_subset,
            info=fit.info,
            effective_batch_size=fit.info.get("effective_batch_size"),
            test_hits=encode_hits(ranks["plain"].i2t, ranks["plain"].t2i, test.caption_image),
            ranks_file=str(ranks_file),
        )
        if task.resumed_from_epoch:
            record["resumed_from_epoch"] = task.resumed_from_epoch
        diagnostics = {
            name: rank_all(d, test.caption_image)["plain"].metrics()
            for name, d in fit.retriever.diagnostic_scorers(test.images, test.texts).items()
        }
        if diagnostics:
            record["metrics_diagnostic"] = diagnostics
        hashing = hashing_record(fit.retriever, test)
        if hashing is not None:
            record["metrics_hashing"] = hashing
        return spread

    def search_record(self, record: dict[str, Any], fit, splits: DatasetSplits) -> float:
        """A tuning trial's record: its history and both validation scores of the selected
        model (the split that selected it, and the clean split: the oracle selection). Returns
        the spread of the clean validation scores, for the health checks."""
        clean = splits.val.eval_set()
        scorer = fit.retriever.scorer(clean.images, clean.texts)
        clean_mr = rank_all(scorer, clean.caption_image)["plain"].metrics()["mR"]
        selected = selected_epoch(fit).get("val_mR")
        record.update(
            status="ok",
            search=True,
            best_epoch=fit.best_epoch,
            history=fit.history,
            val_metrics={"mR": selected, "clean_mR": clean_mr},
            info=fit.info,
        )
        return health.score_spread(scorer)

    def save_ranks(self, pc: PreparedCell, ranks, caption_image: np.ndarray) -> Path:
        """Every test query's rank (``<out>/ranks/<cell_id>.npz``), for analyses beyond R@K:
        image→text ranks exact, text→image ranks exact below 10; -1 where no positive."""
        arrays = {"caption_image": np.asarray(caption_image, dtype=np.int32)}
        for mode, r in ranks.items():
            arrays[f"{mode}_i2t"] = r.i2t.astype(np.int32)
            arrays[f"{mode}_t2i"] = r.t2i.astype(np.int8)
        path = self.grid.out / RANKS_DIR / f"{pc.cell_id}.npz"
        atomic_save(path, lambda fh: save_npz(fh, arrays))
        return path

    def detection(
        self, pc: PreparedCell, fit, noise_file: NoiseFile, history: list[dict]
    ) -> dict[str, Any]:
        """Detection metrics at the selected checkpoint and per epoch; the scores go to a file."""
        out: dict[str, Any] = {"history": history, "selected": None, "scores_file": None}
        estimate = fit.estimate()
        if estimate is not None:
            out["selected"] = detection_metrics(
                estimate.scores,
                noise_file.clean,
                estimate.decisions,
                estimate.groups,
                estimate.group_names,
            )
            path = self.grid.out / "scores" / f"{pc.cell_id}.npz"
            arrays = {"clean_scores": estimate.scores, "clean_truth": noise_file.clean}
            if estimate.decisions is not None:
                arrays["clean_decisions"] = estimate.decisions
            if estimate.groups is not None:
                arrays["groups"] = estimate.groups
                arrays["group_names"] = np.array(estimate.group_names)
            atomic_save(path, lambda fh: save_npz(fh, arrays))
            out["scores_file"] = str(path)
        return out

    def noise_file(self, pc: PreparedCell, splits: DatasetSplits, split) -> tuple[NoiseFile, Path]:
        dataset_spec = {
            "name": pc.dataset.name,
            "version": pc.dataset.version,
            "split_definition": splits.split_name,
            "split": split.name,
            "fingerprint": split.fingerprint(),
        }
        directory = child_path(self.grid.out / "noise", pc.dataset.name, what="dataset name")
        return noise_file_for(
            directory, split, pc.noise_model, pc.cell.ratio, pc.cell.noise_seed, dataset_spec
        )


def selected_epoch(fit) -> dict[str, Any]:
    """The history entry of the checkpoint the method kept (the best validation mR when the
    method does not say which)."""
    for entry in fit.history:
        if fit.best_epoch is not None and entry.get("epoch") == fit.best_epoch:
            return entry
    if not fit.history:
        return {}
    return max(fit.history, key=lambda h: h.get("val_mR", float("-inf")))


def pairs_fingerprint(record: dict[str, Any], noise_file: NoiseFile) -> str:
    """What the training pairs are: the dataset, its split membership and the noise file."""
    import hashlib

    key = {
        "dataset": record["dataset"]["name"],
        "version": record["dataset"]["version"],
        "split": record["dataset"].get("split"),
        "membership": record["dataset"].get("membership_hash"),
        "noise": noise_file.content_hash,
    }
    return hashlib.sha256(canonical_json(key).encode()).hexdigest()


def hashing_record(retriever, test) -> dict[str, float] | None:
    """mAP@k of the retriever's binary codes on the test split, where it gives codes and the
    dataset has scene classes."""
    from rsbench.hashing_map import class_ids, hashing_metrics

    labels = class_ids(test.classes())
    if (labels < 0).all():
        return None
    codes = retriever.codes(test.images, test.texts)
    if codes is None:
        return None
    image_codes, text_codes = codes
    partition = {}
    if test.queries is not None:  # the split's query/database partition (CHNR's protocol)
        image_queries = np.arange(len(test.images)) < test.queries
        partition = {
            "image_queries": image_queries,
            "text_queries": image_queries[test.caption_image],
        }
    return hashing_metrics(image_codes, text_codes, labels, labels[test.caption_image], **partition)


def failure_message(exc: BaseException) -> str:
    if isinstance(exc, interrupts.OsExitCalled):  # os._exit would end the grid at once
        return f"SystemExit: the cell called os._exit({exc.code!r})"
    if isinstance(exc, SystemExit):  # a plugin's sys.exit() ends its cell, not the grid
        return f"SystemExit: the cell called sys.exit({exc.code!r})"
    return f"{type(exc).__name__}: {exc}"


def dataset_facts(splits: DatasetSplits) -> dict[str, Any]:
    import json

    return {
        "info": json.loads(json.dumps(splits.info, default=str)),  # folder, skipped images ...
        "split": splits.split_name,
        "membership_hash": splits.membership_hash(),
        "sizes": {
            name: {"images": len(splits[name]), "captions": len(splits[name].texts)}
            for name in ("train", "val", "test")
        },
        **(
            {"test_queries": splits.test.queries}  # the test split's query/database partition
            if splits.test.queries is not None
            else {}
        ),
    }


def save_npz(fh, arrays: dict[str, np.ndarray]) -> None:
    """``numpy.savez_compressed`` without its time stamps: the same arrays, the same bytes."""
    import zipfile

    with zipfile.ZipFile(fh, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, array in arrays.items():
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            with archive.open(info, "w", force_zip64=True) as out:
                np.lib.format.write_array(out, np.asanyarray(array), allow_pickle=False)


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


def grid_settings(grid: GridSpec) -> dict[str, Any]:
    """The grid as plain settings (for the plan file)."""

    def refs(items) -> dict[str, Any] | list:
        return [{r.name: r.options} for r in items]

    return {
        "methods": refs(grid.methods),
        "datasets": refs(grid.datasets),
        "noise_models": refs(grid.noise_models),
        "noise": list(grid.ratios),
        "seeds": list(grid.seeds),
        "noise_seed": grid.noise_seed,
        "epochs": grid.epochs,
        "validation": grid.validation,
        "profile": grid.profile,
    }


def environment(device: str) -> dict[str, Any]:
    import numpy
    import torch

    from rsbench.engine import onednn
    from rsbench.hardware import git_state, hardware

    env = {
        "rsbench": __version__,
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "device": device,
        "threads": torch.get_num_threads(),
        "onednn": onednn.describe(),
    }
    if device.startswith("cuda"):
        env["device_name"] = torch.cuda.get_device_name(0)
    env["hardware"] = hardware()
    env["git"] = git_state()
    return env


def check_writable(out: Path) -> None:
    try:
        Path(out).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RsbenchError(f"cannot create output directory {out}: {exc.strerror or exc}") from None
    if not os.access(out, os.W_OK):
        raise RsbenchError(f"output directory {out} is not writable")


def run_grid(grid: GridSpec, force: bool = False, plugins: Plugins | None = None) -> GridResult:
    return Runner(grid, plugins, force).run()

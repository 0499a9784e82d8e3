"""Runs a grid: one isolated training and evaluation per cell, one record per cell.

- Cells already done (a record with status ``ok``) are skipped unless ``force``; failed
  cells are run again.
- A cell that raises (or whose loss turns NaN) is recorded as ``failed`` with its error and
  the grid goes on.
- Records are written atomically when a cell ends, so a kill at any moment loses at most the
  cell in progress.
"""

from __future__ import annotations

import os
import platform
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rsbench import __version__, progress
from rsbench.components import CleanEstimate, TrainTask
from rsbench.data import DatasetSplits
from rsbench.dataroot import fill_options
from rsbench.detection import detection_metrics
from rsbench.errors import CellError, RsbenchError
from rsbench.fileio import atomic_save, canonical_json
from rsbench.grid import Cell, GridSpec, cell_id, cell_spec
from rsbench.metrics import evaluate_retrieval
from rsbench.names import child_path
from rsbench.noise import NoiseFile, noise_file_for
from rsbench.plugins import Plugins, get_plugins
from rsbench.records import SCHEMA_VERSION, is_done, write_record


@dataclass
class GridResult:
    done: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    datasets: set[str] = field(default_factory=set)


@dataclass
class PreparedCell:
    cell: Cell
    spec: dict[str, Any]
    cell_id: str
    method: Any
    dataset: Any
    noise_model: Any


class Runner:
    def __init__(self, grid: GridSpec, plugins: Plugins | None = None, force: bool = False):
        self.grid = grid
        self.plugins = plugins or get_plugins()
        self.force = force
        self._datasets: dict[str, DatasetSplits] = {}

    # ---- checking before anything runs ------------------------------------------------
    def prepare(self, check: bool = False) -> list[PreparedCell]:
        """Resolve every component and option now, so bad input fails before any training.

        With ``check``, also ask every method whether it can run here (its checkpoints are found
        offline), so a missing checkpoint stops the grid before the first cell trains.
        """
        instances: dict[tuple[str, str], Any] = {}

        def make(kind: str, registry, ref, options):
            key = (kind, ref.name + canonical_json(options))
            if key not in instances:
                entry = registry.get(ref.name)
                instances[key] = entry.create(options)
                instances[key].plugin = entry.plugin
                if kind == "method" and check:
                    instances[key].check_ready()
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
                dataset.locate()
                located.add(id(dataset))
            method_options = self.method_options(cell, dataset_cls)
            method = make("method", self.plugins.methods, cell.method, method_options)
            noise = make(
                "noise", self.plugins.noise_models, cell.noise_model, cell.noise_model.options
            )
            spec = cell_spec(cell, method, dataset, noise)
            prepared.append(PreparedCell(cell, spec, cell_id(spec), method, dataset, noise))
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

    # ---- running ----------------------------------------------------------------------
    def run(self) -> GridResult:
        from rsbench.engine.runtime import resolve_device

        device = resolve_device(self.grid.device)
        out = self.grid.out
        cells = self.prepare(check=True)  # bad input fails before anything is created
        check_writable(out)
        result = GridResult(datasets={c.cell.dataset.name for c in cells})
        todo = []
        for pc in cells:
            if not self.force and is_done(out, pc.cell_id):
                result.skipped.append(pc.cell_id)
            else:
                todo.append(pc)
        progress.say(f"rsbench: {len(todo)} cells to run, results in {out}")
        if result.skipped:
            progress.say(
                f"rsbench: {len(result.skipped)} of {len(cells)} cells already done in {out} (skipped; --force recomputes)"
            )
        grid_bar = progress.bar(total=len(todo), desc="grid", unit="cell", leave=True)
        try:
            for n, pc in enumerate(todo, 1):
                grid_bar.set_description(
                    f"grid [{pc.cell.method.name} r={pc.cell.ratio:g} s={pc.cell.seed}]"
                )
                record = self.run_cell(pc, device)
                write_record(out, record)
                if record["status"] == "ok":
                    result.done.append(pc.cell_id)
                    progress.say(
                        f"[{n}/{len(todo)}] {pc.cell.label()}: mR {record['metrics']['mR']:.2f} "
                        f"({record['duration_s']:.0f} s)"
                    )
                else:
                    result.failed.append(pc.cell_id)
                    progress.say(
                        f"[{n}/{len(todo)}] {pc.cell.label()}: FAILED: {record['error']['message']}"
                    )
                grid_bar.update(1)
        finally:
            grid_bar.close()
        return result

    def load_dataset(self, pc: PreparedCell) -> DatasetSplits:
        key = pc.cell.dataset.name + canonical_json(pc.dataset.params())
        if key not in self._datasets:
            self._datasets[key] = pc.dataset.load()
        return self._datasets[key]

    def run_cell(self, pc: PreparedCell, device: str) -> dict[str, Any]:
        started = time.perf_counter()
        record: dict[str, Any] = {
            "schema_version": SCHEMA_VERSION,
            "cell_id": pc.cell_id,
            "spec": pc.spec,
            "status": "failed",
            "error": None,
            "method": {
                "name": pc.method.name,
                "version": pc.method.version,
                "plugin": pc.method.plugin,
                "profile": pc.method.profile,
                "backbone": pc.method.backbone_info(),
                "params": pc.method.params(),
                "given_options": pc.cell.method_options(),
            },
            "dataset": {
                "name": pc.dataset.name,
                "version": pc.dataset.version,
                "plugin": pc.dataset.plugin,
                "params": pc.dataset.params(),
                "given_options": dict(pc.cell.dataset.options),
            },
            "noise": {
                "model": pc.noise_model.name,
                "version": pc.noise_model.version,
                "plugin": pc.noise_model.plugin,
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
        try:
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
            detection_history: list[dict[str, Any]] = []

            def on_clean_scores(epoch: int, estimate: CleanEstimate) -> None:
                metrics = detection_metrics(
                    estimate.scores,
                    noise_file.clean,
                    estimate.decisions,
                    estimate.groups,
                    estimate.group_names,
                )
                detection_history.append({"epoch": epoch, **metrics})

            task = TrainTask(
                pairs=noise_file.train_pairs(splits.train),
                val=val,
                seed=pc.cell.seed,
                device=device,
                work_dir=self.grid.out / "work" / pc.cell_id,
                progress=progress.bar,
                noise_seed=pc.cell.noise_seed,
                fingerprint=pairs_fingerprint(record, noise_file),
                clean_flags=noise_file.clean.copy(),
                on_clean_scores=on_clean_scores,
            )
            fit = pc.method.fit(task)
            test = splits.test
            scorer = fit.retriever.scorer(test.images, test.texts)
            results = evaluate_retrieval(scorer, test.caption_image, test.texts)
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
            )
            diagnostics = {
                name: evaluate_retrieval(d, test.caption_image)["plain"]
                for name, d in fit.retriever.diagnostic_scorers(test.images, test.texts).items()
            }
            if diagnostics:
                record["metrics_diagnostic"] = diagnostics
            hashing = hashing_record(fit.retriever, test)
            if hashing is not None:
                record["metrics_hashing"] = hashing
            if fit.estimate() is not None or detection_history:
                record["detection"] = self.detection(pc, fit, noise_file, detection_history)
        except KeyboardInterrupt:
            raise
        except CellError as exc:
            record["error"] = {"type": type(exc).__name__, "message": str(exc), "traceback": None}
        except (Exception, SystemExit) as exc:  # a failing cell is recorded; the grid goes on
            record["error"] = {
                "type": type(exc).__name__,
                "message": failure_message(exc),
                "traceback": traceback.format_exc(limit=20),
            }
        record["duration_s"] = round(time.perf_counter() - started, 3)
        return record

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
            atomic_save(path, lambda fh: np.savez_compressed(fh, **arrays))
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
    from rsbench.hashing import class_ids, hashing_metrics

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


def environment(device: str) -> dict[str, Any]:
    import numpy
    import torch

    env = {
        "rsbench": __version__,
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "device": device,
        "threads": torch.get_num_threads(),
    }
    if device.startswith("cuda"):
        env["device_name"] = torch.cuda.get_device_name(0)
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

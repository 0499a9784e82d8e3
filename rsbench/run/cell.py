"""One cell, from its dataset to its record: loading, noise, training, test scoring, search and
detection metrics, and the record's facts.

`Runner` (`rsbench.run.runner`) decides which cells run, where and under which lock; this
is what running one of them does, in whatever process runs it. The methods here are
`Runner`'s (it inherits `CellRun`), and read its grid, plugins and caches.
"""

from __future__ import annotations

import platform
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rsbench import __version__
from rsbench.data.noise_file import NoiseFile, noise_file_for
from rsbench.evaluate.detection import detection_metrics
from rsbench.evaluate.retrieval import rank_all
from rsbench.evaluate.statistics import encode_hits
from rsbench.io import progress
from rsbench.io.errors import CellError
from rsbench.io.files import atomic_save, canonical_json
from rsbench.plugin.components import CleanEstimate, TrainTask
from rsbench.plugin.names import child_path
from rsbench.plugin.split import DatasetSplits
from rsbench.records import health
from rsbench.records.read import (
    SCHEMA_VERSION,
)
from rsbench.run import interrupts
from rsbench.run.grid import Cell

WORK_DIR = "work"
RANKS_DIR = "ranks"


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


class CellRun:
    """How `Runner` runs one cell (see the module docstring)."""

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

    def run_cell(self, pc: PreparedCell, device: str) -> dict[str, Any]:
        """Train and evaluate one cell here (no lock: see `run_cell_locked`); its record."""
        started = time.perf_counter()
        record = self.base_record(pc, device)
        with interrupts.SigintWatch() as sigint, interrupts.guard_os_exit():
            try:
                self.train_and_score(pc, device, record)
            except KeyboardInterrupt:
                if sigint.seen:  # Ctrl-C: the grid stops, resumable (rsbench.run.interrupts)
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
    from rsbench.evaluate.hashing_map import class_ids, hashing_metrics

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


def environment(device: str) -> dict[str, Any]:
    import numpy
    import torch

    from rsbench.engine import onednn
    from rsbench.run.hardware import git_state, hardware

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

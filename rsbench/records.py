"""Result records: one JSON file per grid cell, written atomically.

Layout of a run directory::

    <out>/cells/<cell_id>.json         one record per cell (this schema)
    <out>/noise/<dataset>/<...>.json   noise files, shared by every method at a cell

Record fields (``schema_version`` 1):

- ``cell_id``: 16 hex chars of the sha256 of ``spec``; ``spec``: the canonical cell spec
  (component names, versions, full options, ratio, noise seed, training seed, validation);
- ``status``: ``ok`` or ``failed``; ``error``: ``{type, message, traceback}`` when failed;
- ``method`` / ``dataset`` / ``noise``: names, versions, plugins (``plugin``: the entry point;
  ``plugin_source``: its distribution and version, ``rsbench-foo 0.2``) and what was used
  (``noise.file_hash``, ``noise.effective_rate``, ``noise.stats``; ``dataset.split``,
  ``dataset.membership_hash``, ``dataset.sizes``);
- ``seed`` (training), ``noise.seed``, ``validation`` (``clean`` / ``noisy``),
  ``used_ground_truth`` (an oracle that read the clean flags);
- ``metrics``: test ``i2t_R@1/5/10``, ``t2i_R@1/5/10``, ``mR`` in percent;
  ``val_metrics``; ``best_epoch``; ``history`` (per epoch: loss, val mR, seconds);
- ``duration_s``; ``environment``: rsbench, torch, numpy and python versions, platform, device.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from rsbench.fileio import atomic_write_json

SCHEMA_VERSION = 1
CELLS_DIR = "cells"


def record_path(out: Path, cell_id: str) -> Path:
    return Path(out) / CELLS_DIR / f"{cell_id}.json"


def write_record(out: Path, record: dict[str, Any]) -> Path:
    path = record_path(out, record["cell_id"])
    atomic_write_json(path, record)
    return path


def error_message(record: dict[str, Any] | None, default: str = "failed") -> str:
    """A failed record's error message, whatever shape its ``error`` field has (a mapping
    with ``message`` as rsbench writes it, or a plain string in a hand-edited record)."""
    error = (record or {}).get("error")
    message = error.get("message") if isinstance(error, dict) else error
    return str(message) if message else default


def error_type(record: dict[str, Any] | None) -> str | None:
    """A failed record's error type (``CellError``, ``WorkerDied`` …), or None."""
    error = (record or {}).get("error")
    return error.get("type") if isinstance(error, dict) else None


def parse_record(record: Any) -> dict[str, Any] | None:
    """The record, or None if the object is not a record of this schema."""
    if (
        not isinstance(record, dict)
        or record.get("schema_version") != SCHEMA_VERSION
        or "cell_id" not in record
    ):
        return None
    return record


def read_record(path: Path) -> dict[str, Any] | None:
    """A record, or None if the file is not a readable record of this schema."""
    try:
        record = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return parse_record(record)


def is_done(out: Path, cell_id: str) -> bool:
    record = read_record(record_path(out, cell_id))
    return record is not None and record.get("status") == "ok"


def iter_records(run_dirs: Iterable[Path]) -> Iterator[dict[str, Any]]:
    """Every readable record under the given run directories, record files, leaderboard record
    exports (``records/<dataset>.jsonl``) or folders of such exports."""
    for run_dir in run_dirs:
        run_dir = Path(run_dir)
        if run_dir.is_file() and run_dir.suffix == ".jsonl":
            exports = [run_dir]
        elif run_dir.is_dir() and not (run_dir / CELLS_DIR).is_dir():
            exports = sorted(run_dir.glob("*.jsonl"))
        else:
            exports = []
        if exports:
            from rsbench.report.board import read_records_export

            for path in exports:
                yield from read_records_export(path)[1]
            continue
        files = [run_dir] if run_dir.is_file() else sorted((run_dir / CELLS_DIR).glob("*.json"))
        for path in files:
            record = read_record(path)
            if record is not None:
                yield record

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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rsbench.io.errors import RsbenchError
from rsbench.io.files import atomic_write_json
from rsbench.records.check import FieldError, check_record, short_value

SCHEMA_VERSION = 1
CELLS_DIR = "cells"
#: the first line of a leaderboard's ``records/<dataset>.jsonl`` export
HEADER_KEY = "rsbench_leaderboard_records"


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
            for path in exports:
                yield from read_records_export(path)[1]
            continue
        files = [run_dir] if run_dir.is_file() else sorted((run_dir / CELLS_DIR).glob("*.json"))
        for path in files:
            record = read_record(path)
            if record is not None:
                yield record


def read_records_export(path: Path) -> tuple[dict, list[dict]]:
    """The header and the records of a ``records/<dataset>.jsonl`` file."""
    header: dict | None = None
    records = []
    for n, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except ValueError as exc:
            raise RsbenchError(f"{path}, line {n}: not JSON ({exc})") from None
        if n == 1 and isinstance(obj, dict) and HEADER_KEY in obj:
            header = obj
            continue
        record = parse_record(obj)
        if record is None:
            raise RsbenchError(f"{path}, line {n}: not a cell record of this rsbench version")
        try:
            check_record(record)
        except FieldError as exc:
            raise RsbenchError(
                f"record export {path}, line {n} (cell {record.get('cell_id')}): {exc}; fix the "
                "file or regenerate it from the run folder"
            ) from None
        records.append(record)
    if header is None:
        raise RsbenchError(f"{path}: no '{HEADER_KEY}' header line; not a leaderboard export")
    return header, records


@dataclass
class LoadedRecords:
    records: list[dict[str, Any]] = field(default_factory=list)
    #: (file, why) of each file left out
    left_out: list[tuple[Path, str]] = field(default_factory=list)
    #: (file, header) of each record export read; its tracks are the report's to read
    headers: list[tuple[Path, dict]] = field(default_factory=list)


def record_files(run_dirs: Iterable[Path]) -> list[Path]:
    files: list[Path] = []
    for run_dir in run_dirs:
        run_dir = Path(run_dir)
        files += [run_dir] if run_dir.is_file() else sorted((run_dir / CELLS_DIR).glob("*.json"))
    return files


def export_files(run_dirs: Iterable[Path]) -> list[Path]:
    """Leaderboard record exports among ``run_dirs``: ``.jsonl`` files, or folders of them
    that are not run folders."""
    files: list[Path] = []
    for run_dir in map(Path, run_dirs):
        if run_dir.is_file() and run_dir.suffix == ".jsonl":
            files.append(run_dir)
        elif run_dir.is_dir() and not (run_dir / CELLS_DIR).is_dir():
            files += sorted(run_dir.glob("*.jsonl"))
    return files


def load_records(run_dirs: Iterable[Path]) -> LoadedRecords:
    """Every record under ``run_dirs`` (run folders, record files or leaderboard exports);
    unreadable ones left out, malformed ones an error."""
    from rsbench.records.portable import anchors, portable

    loaded = LoadedRecords()
    run_dirs = list(map(Path, run_dirs))
    exports = export_files(run_dirs)
    for path in exports:
        header, records = read_records_export(path)  # each record checked there
        loaded.headers.append((path, header))
        loaded.records.extend(records)
    plain = [
        d
        for d in run_dirs
        if d not in exports
        and not (d.is_dir() and not (d / CELLS_DIR).is_dir() and any(d.glob("*.jsonl")))
    ]
    for path in record_files(plain):
        try:
            text = path.read_text(encoding="utf-8")
        except PermissionError:
            raise RsbenchError(
                f"cannot read record {path}: permission denied (check the run folder's permissions)"
            ) from None
        except (OSError, UnicodeDecodeError) as exc:
            loaded.left_out.append((path, f"unreadable ({getattr(exc, 'strerror', None) or exc})"))
            continue
        try:
            record = json.loads(text)
        except ValueError:
            why = "empty" if not text.strip() else "not valid JSON (truncated or damaged)"
            loaded.left_out.append((path, why))
            continue
        if not isinstance(record, dict):
            loaded.left_out.append((path, "not a JSON object"))
            continue
        if record.get("schema_version") != SCHEMA_VERSION:
            loaded.left_out.append(
                (
                    path,
                    f"schema_version {short_value(record.get('schema_version'))}, this rsbench reads "
                    f"{SCHEMA_VERSION}",
                )
            )
            continue
        try:
            check_record(record)
        except FieldError as exc:
            raise RsbenchError(
                f"record {path}: {exc}; fix the file or delete it (its cell then runs again)"
            ) from None
        # paths of a record from an older run made relative to its run folder (rsbench.records.portable)
        loaded.records.append(portable(record, anchors(run_folder(path))))
    return loaded


def run_folder(record_file: Path) -> Path | None:
    """The run folder of ``<run>/cells/<id>.json`` (None for a record file elsewhere)."""
    return record_file.parent.parent if record_file.parent.name == CELLS_DIR else None


def warn_left_out(loaded: LoadedRecords) -> None:
    import sys

    for path, why in loaded.left_out:
        print(
            f"rsbench: warning: left out {path}: {why}; rerunning its cell rewrites it",
            file=sys.stderr,
        )
    if loaded.left_out:
        sys.stderr.flush()

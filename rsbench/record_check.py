"""Reading run records for the leaderboard, checked field by field.

Records are data from disk: copied between machines, edited by hand, written by another
version. Each field the leaderboard reads is checked here, so that a damaged or crafted
record gives one line naming the file and the field (exit 2), never a ``KeyError`` from
deep inside the renderer, and its names can never steer a write out of the leaderboard
folder (`rsbench.names`).

- A file that is not a JSON object (truncated, empty) or that another schema version wrote
  is *left out* with a warning naming it: rerunning its cell rewrites it.
- A JSON record with a missing or wrong-typed field is an error: nothing is written.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rsbench.errors import RsbenchError
from rsbench.metrics import METRIC_NAMES
from rsbench.names import name_problem
from rsbench.records import CELLS_DIR, SCHEMA_VERSION


class FieldError(Exception):
    """A field of a record that the leaderboard cannot use."""


def _get(record: dict, dotted: str, required: bool = True) -> Any:
    value: Any = record
    for part in dotted.split("."):
        if not isinstance(value, dict) or part not in value:
            if required:
                raise FieldError(f"field {dotted!r} is missing")
            return None
        value = value[part]
    return value


def _typed(record: dict, dotted: str, kind: str, required: bool = True) -> Any:
    value = _get(record, dotted, required)
    if value is None and not required:
        return None
    ok = {
        "object": isinstance(value, dict),
        "string": isinstance(value, str),
        "integer": isinstance(value, int) and not isinstance(value, bool) and value >= 0,
        "number": isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(value),
        "boolean": isinstance(value, bool),
        "list": isinstance(value, list),
        "name": name_problem(value) is None,
    }[kind]
    if not ok:
        valid = {
            "integer": "an integer >= 0",
            "number": "a finite number",
            "name": "a plain name (letters, digits, . _ + -)",
        }.get(kind, f"a JSON {kind}")
        raise FieldError(f"field {dotted!r} must be {valid}, got {_short(value)}")
    return value


def _short(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def check_record(record: dict) -> None:
    """Raise `FieldError` for the first field the leaderboard cannot use."""
    _typed(record, "cell_id", "name")
    status = _typed(record, "status", "string")
    if status not in ("ok", "failed"):
        raise FieldError(f"field 'status' must be 'ok' or 'failed', got {_short(status)}")
    for dotted in ("method", "dataset", "noise", "environment"):
        _typed(record, dotted, "object")
    _typed(record, "method.name", "name")
    _typed(record, "method.version", "string")
    _typed(record, "method.params", "object")
    _typed(record, "method.given_options", "object", required=False)
    for dotted in ("method.profile", "method.plugin"):
        _typed(record, dotted, "string", required=False)
    _typed(record, "dataset.name", "name")
    sizes = _typed(record, "dataset.sizes", "object", required=False)
    if sizes is not None:
        for split in ("train", "val", "test"):
            for count in ("images", "captions"):
                _typed(record, f"dataset.sizes.{split}.{count}", "integer")
    _typed(record, "dataset.given_options", "object", required=False)
    _typed(record, "noise.model", "name")
    _typed(record, "noise.version", "string")
    _typed(record, "noise.params", "object")
    _typed(record, "noise.given_options", "object", required=False)
    ratio = _typed(record, "noise.ratio", "number")
    if not 0 <= ratio < 1:
        raise FieldError(f"field 'noise.ratio' must be in [0, 1), got {ratio}")
    _typed(record, "noise.seed", "integer")
    _typed(record, "seed", "integer")
    validation = _get(record, "validation", required=False)
    if validation not in (None, "clean", "noisy"):
        raise FieldError(f"field 'validation' must be 'clean' or 'noisy', got {_short(validation)}")
    _typed(record, "used_ground_truth", "boolean", required=False)
    _typed(record, "environment.hardware", "object", required=False)
    _typed(record, "environment.git", "object", required=False)
    _typed(record, "effective_batch_size", "integer", required=False)
    _typed(record, "resumed_from_epoch", "integer", required=False)
    if _typed(record, "test_hits", "object", required=False) is not None:
        for key in ("cap", "images", "captions"):
            _typed(record, f"test_hits.{key}", "integer")
        for key in ("i2t", "t2i"):
            _typed(record, f"test_hits.{key}", "string")
        _typed(record, "test_hits.captions_per_image", "list")
    if status == "ok":
        rate = _typed(record, "noise.effective_rate", "number")
        if not 0 <= rate <= 1:
            raise FieldError(f"field 'noise.effective_rate' must be in [0, 1], got {rate}")
        _typed(record, "noise.file_hash", "string")
        _typed(record, "noise.stats", "object", required=False)
        _typed(record, "noise.stats.same_class_rate", "number", required=False)
        for group in ("metrics", "metrics_multi"):
            if _typed(record, group, "object", required=group == "metrics") is not None:
                for metric in METRIC_NAMES:
                    _typed(record, f"{group}.{metric}", "number")
        detection = _typed(record, "detection", "object", required=False)
        if detection is not None and _typed(record, "detection.selected", "object", False):
            for metric in ("auc", "f1"):
                _typed(record, f"detection.selected.{metric}", "number", required=False)
    else:
        if _typed(record, "error", "object", required=False) is not None:
            _typed(record, "error.message", "string", required=False)


@dataclass
class LoadedRecords:
    records: list[dict[str, Any]] = field(default_factory=list)
    #: (file, why) of each file left out
    left_out: list[tuple[Path, str]] = field(default_factory=list)
    #: the tracks kept in the headers of the record exports read (``rsbench.report.tracks``)
    tracks: list = field(default_factory=list)


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
    from rsbench.portable import anchors, portable
    from rsbench.report.board import header_tracks, read_records_export

    loaded = LoadedRecords()
    run_dirs = list(map(Path, run_dirs))
    exports = export_files(run_dirs)
    for path in exports:
        header, records = read_records_export(path)  # each record checked there
        loaded.tracks.extend(header_tracks(header, path))
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
                    f"schema_version {_short(record.get('schema_version'))}, this rsbench reads "
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
        # paths of a record from an older run made relative to its run folder (rsbench.portable)
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

"""The fields of a run record, checked one by one before the leaderboard reads them.

Records are data from disk: copied between machines, edited by hand, written by another
version. Each field the leaderboard reads is checked here, so that a damaged or crafted
record gives one line naming the file and the field (exit 2), never a ``KeyError`` from
deep inside the renderer, and its names can never steer a write out of the leaderboard
folder (`rsbench.plugin.names`).

`rsbench.records.read` reads the files and calls `check_record` on each: a file that is not a JSON
object (truncated, empty) or that another schema version wrote is *left out* with a warning
naming it (rerunning its cell rewrites it); a JSON record with a missing or wrong-typed field
is an error, and nothing is written.
"""

from __future__ import annotations

import json
import math
from typing import Any

from rsbench.evaluate.retrieval import METRIC_NAMES
from rsbench.plugin.names import name_problem


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
        raise FieldError(f"field {dotted!r} must be {valid}, got {short_value(value)}")
    return value


def short_value(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def check_record(record: dict) -> None:
    """Raise `FieldError` for the first field the leaderboard cannot use."""
    _typed(record, "cell_id", "name")
    status = _typed(record, "status", "string")
    if status not in ("ok", "failed"):
        raise FieldError(f"field 'status' must be 'ok' or 'failed', got {short_value(status)}")
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
        raise FieldError(
            f"field 'validation' must be 'clean' or 'noisy', got {short_value(validation)}"
        )
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

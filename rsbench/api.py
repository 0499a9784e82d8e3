"""Everything a plugin takes from rsbench, in one module: the public surface for plugin authors.

A dataset, noise-model or executor plugin imports rsbench only through here (and the package
root's `hookimpl`); a training method also imports `rsbench.engine` (torch), and a plugin's
tests `rsbench.testing`. Everything else in rsbench may move between releases; these names
stay. The built-in plugins in ``plugins/`` are held to the same rule (an import-linter
contract in ``pyproject.toml``), so they are the examples to copy.

Names load on first use (PEP 562 ``__getattr__``): ``from rsbench.api import hookimpl`` in a
registration module costs no more than the package root, so ``rsbench list``, ``rsbench
plugins`` and ``--help`` stay fast, and this module never imports torch. The imports under
``TYPE_CHECKING`` name the same objects for type checkers and for import-linter's graph.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from rsbench import __version__, hookimpl

#: where each public name is defined: module -> names
_SOURCES: dict[str, tuple[str, ...]] = {
    "rsbench.components": (
        "CleanEstimate",
        "Component",
        "Corruption",
        "Dataset",
        "FitResult",
        "Method",
        "NoiseModel",
        "Retriever",
        "Scorer",
        "TrainPairs",
        "TrainTask",
    ),
    "rsbench.data": ("SPLIT_NAMES", "DatasetSplits", "EvalSet", "ImageItem", "Split", "make_split"),
    "rsbench.errors": ("CellError", "RsbenchError"),
    "rsbench.options": ("ADDED", "LOCAL"),
    "rsbench.searchspace": ("Choice", "Fixed", "IntRange", "LogUniform", "Uniform"),
    "rsbench.progress": ("bar", "say"),
    "rsbench.dataroot": ("find_dataset_root",),
    "rsbench.karpathy": (
        "KarpathyEntry",
        "caption_text",
        "class_from_filename",
        "read_json",
        "read_karpathy",
        "read_karpathy_entries",
        "safe_relative",
        "write_karpathy",
    ),
    "rsbench.images": ("check_image",),
    "rsbench.cache": ("cache_dir", "cache_folder", "cached_array", "fingerprint_items"),
    "rsbench.fileio": (
        "atomic_directory",
        "atomic_write_json",
        "atomic_write_text",
        "canonical_json",
        "held_lock",
    ),
    "rsbench.hashing_map": ("class_ids",),
    "rsbench.executors": ("CellJob", "Executor", "run_in_process"),
    "rsbench.worker": ("EXIT_NOT_RUN", "RESULT_PREFIX", "run_job"),
    "rsbench.runner": ("CellOutcome", "GridResult"),
    "rsbench.records": ("read_record", "record_path"),
    "rsbench.runstate": ("read_markers", "remove_marker", "write_marker"),
    "rsbench.celllock": ("pid_alive",),
}
_HOME = {name: module for module, names in _SOURCES.items() for name in names}

__all__ = ["__version__", "hookimpl", *sorted(_HOME)]


def __getattr__(name: str) -> Any:
    module = _HOME.get(name)
    if module is None:
        raise AttributeError(f"module 'rsbench.api' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # the next lookup is a plain attribute
    return value


def __dir__() -> list[str]:
    return list(__all__)


if TYPE_CHECKING:
    from rsbench.cache import cache_dir, cache_folder, cached_array, fingerprint_items
    from rsbench.celllock import pid_alive
    from rsbench.components import (
        CleanEstimate,
        Component,
        Corruption,
        Dataset,
        FitResult,
        Method,
        NoiseModel,
        Retriever,
        Scorer,
        TrainPairs,
        TrainTask,
    )
    from rsbench.data import SPLIT_NAMES, DatasetSplits, EvalSet, ImageItem, Split, make_split
    from rsbench.dataroot import find_dataset_root
    from rsbench.errors import CellError, RsbenchError
    from rsbench.executors import CellJob, Executor, run_in_process
    from rsbench.fileio import (
        atomic_directory,
        atomic_write_json,
        atomic_write_text,
        canonical_json,
        held_lock,
    )
    from rsbench.hashing_map import class_ids
    from rsbench.images import check_image
    from rsbench.karpathy import (
        KarpathyEntry,
        caption_text,
        class_from_filename,
        read_json,
        read_karpathy,
        read_karpathy_entries,
        safe_relative,
        write_karpathy,
    )
    from rsbench.options import ADDED, LOCAL
    from rsbench.progress import bar, say
    from rsbench.records import read_record, record_path
    from rsbench.runner import CellOutcome, GridResult
    from rsbench.runstate import read_markers, remove_marker, write_marker
    from rsbench.searchspace import Choice, Fixed, IntRange, LogUniform, Uniform
    from rsbench.worker import EXIT_NOT_RUN, RESULT_PREFIX, run_job

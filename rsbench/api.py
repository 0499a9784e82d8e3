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
    "rsbench.plugin.components": (
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
    "rsbench.plugin.split": (
        "SPLIT_NAMES",
        "DatasetSplits",
        "EvalSet",
        "ImageItem",
        "Split",
        "make_split",
    ),
    "rsbench.io.errors": ("CellError", "RsbenchError"),
    "rsbench.plugin.options": ("ADDED", "LOCAL"),
    "rsbench.plugin.searchspace": ("Choice", "Fixed", "IntRange", "LogUniform", "Uniform"),
    "rsbench.io.progress": ("bar", "say"),
    "rsbench.data.root": ("find_dataset_root",),
    "rsbench.data.karpathy": (
        "KarpathyEntry",
        "caption_text",
        "class_from_filename",
        "read_json",
        "read_karpathy",
        "read_karpathy_entries",
        "safe_relative",
        "write_karpathy",
    ),
    "rsbench.data.images": ("check_image",),
    "rsbench.io.cache": ("cache_dir", "cache_folder", "cached_array", "fingerprint_items"),
    "rsbench.io.files": (
        "atomic_directory",
        "atomic_write_json",
        "atomic_write_text",
        "canonical_json",
        "held_lock",
    ),
    "rsbench.evaluate.hashing_map": ("class_ids",),
    "rsbench.run.executors": ("CellJob", "Executor", "run_in_process"),
    "rsbench.run.worker": ("EXIT_NOT_RUN", "RESULT_PREFIX", "run_job"),
    "rsbench.run.runner": ("CellOutcome", "GridResult"),
    "rsbench.records.read": ("read_record", "record_path"),
    "rsbench.run.state": ("read_markers", "remove_marker", "write_marker"),
    "rsbench.run.celllock": ("pid_alive",),
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
    from rsbench.data.images import check_image
    from rsbench.data.karpathy import (
        KarpathyEntry,
        caption_text,
        class_from_filename,
        read_json,
        read_karpathy,
        read_karpathy_entries,
        safe_relative,
        write_karpathy,
    )
    from rsbench.data.root import find_dataset_root
    from rsbench.evaluate.hashing_map import class_ids
    from rsbench.io.cache import cache_dir, cache_folder, cached_array, fingerprint_items
    from rsbench.io.errors import CellError, RsbenchError
    from rsbench.io.files import (
        atomic_directory,
        atomic_write_json,
        atomic_write_text,
        canonical_json,
        held_lock,
    )
    from rsbench.io.progress import bar, say
    from rsbench.plugin.components import (
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
    from rsbench.plugin.options import ADDED, LOCAL
    from rsbench.plugin.searchspace import Choice, Fixed, IntRange, LogUniform, Uniform
    from rsbench.plugin.split import (
        SPLIT_NAMES,
        DatasetSplits,
        EvalSet,
        ImageItem,
        Split,
        make_split,
    )
    from rsbench.records.read import read_record, record_path
    from rsbench.run.celllock import pid_alive
    from rsbench.run.executors import CellJob, Executor, run_in_process
    from rsbench.run.runner import CellOutcome, GridResult
    from rsbench.run.state import read_markers, remove_marker, write_marker
    from rsbench.run.worker import EXIT_NOT_RUN, RESULT_PREFIX, run_job

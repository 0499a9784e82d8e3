"""Paths in records without the machine: relative to a named place, never absolute.

A record says where its data came from (the dataset folder, its annotation files, the noise
file, the saved ranks) for provenance. Written as absolute paths they tie a committed record to
the machine that ran it (``/home/alice/...``) and leak its layout. Each path is written relative
to the place it lives in: ``$RSBENCH_CACHE/…`` (rsbench's cache: generated datasets),
``$RSBENCH_DATA/…`` (the data root), or relative to the run folder (noise files, ranks), which
is how a record is read back. A path under none of them keeps its last two parts only, marked
``…/``: enough to recognise, nothing about the machine.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path, PureWindowsPath
from typing import Any

ELIDED = "…/"


def is_absolute(text: str) -> bool:
    """A POSIX absolute path or a Windows drive / UNC path."""
    return text.startswith("/") or PureWindowsPath(text).is_absolute() or text.startswith("\\\\")


def anchors(out: Path | None = None, data_root: Path | None = None) -> list[tuple[Path, str]]:
    """The named places, most specific first: the run folder (relative), the data root, the
    cache."""
    from rsbench.data.root import ENV
    from rsbench.io.cache import cache_dir

    places: list[tuple[Path, str]] = []
    if out is not None:
        places.append((Path(out), ""))
    root = data_root or (Path(os.environ[ENV]) if os.environ.get(ENV) else None)
    if root is not None:
        places.append((Path(root), f"${ENV}/"))
    places.append((cache_dir(), "$RSBENCH_CACHE/"))
    return places


def portable_path(text: str, places: Iterable[tuple[Path, str]]) -> str:
    """``text`` relative to the first place that holds it, or elided; relative text unchanged."""
    if not isinstance(text, str) or not is_absolute(text):
        return text
    path = Path(text)
    for base, name in places:
        for candidate in {Path(base), Path(base).resolve()}:
            if candidate.is_absolute():
                try:
                    rel = path.relative_to(candidate)
                except ValueError:
                    continue
                return name + rel.as_posix() if rel.parts else (name.rstrip("/") or ".")
    parts = PureWindowsPath(text).parts if "\\" in text else path.parts
    return ELIDED + "/".join(parts[-2:])


def portable(value: Any, places: list[tuple[Path, str]]) -> Any:
    """``value`` (a record or part of one) with every absolute path string made portable."""
    if isinstance(value, dict):
        return {k: portable(v, places) for k, v in value.items()}
    if isinstance(value, list):
        return [portable(v, places) for v in value]
    if isinstance(value, str):
        return portable_path(value, places)
    return value

"""Where a local dataset lives: ``--data-root`` / the config's ``data_root``, then ``RSBENCH_DATA``.

A data root is either the dataset's own folder or a folder holding one subfolder per dataset
(``RSITMD/``, ``RSICD/`` ...; names matched case-insensitively). Nothing is ever downloaded.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

from rsbench.io.errors import RsbenchError

ENV = "RSBENCH_DATA"


def _children(folder: Path, names: Sequence[str]) -> list[Path]:
    wanted = {n.lower() for n in names}
    try:
        return sorted(p for p in folder.iterdir() if p.is_dir() and p.name.lower() in wanted)
    except OSError:
        return []


def find_dataset_root(
    dataset: str,
    folder_names: Sequence[str],
    given: str | Path | None,
    looks_right: Callable[[Path], bool],
    expected: str,
) -> Path:
    """The first candidate folder that ``looks_right``, or an error saying where it looked."""
    candidates: list[Path] = []
    if given:
        root = Path(given).expanduser()
        candidates += [*_children(root, folder_names), root]
    env = os.environ.get(ENV)
    if env and not given:
        candidates += _children(Path(env).expanduser(), folder_names)
    for folder in candidates:
        if looks_right(folder):
            return folder
    if not given and not env:
        raise RsbenchError(
            f"dataset {dataset!r}: no data folder given; use --data-root PATH, RSBENCH_DATA or 'data_root:' in "
            f"the config (a folder named {folder_names[0]} holding {expected}, or its parent)"
        )
    looked = ", ".join(str(c) for c in candidates) or str(
        Path(given or env).expanduser() / folder_names[0]
    )
    raise RsbenchError(f"dataset {dataset!r} not found: looked for {expected} in {looked}")


def fill_options(component_class: type, options: dict, **values) -> dict:
    """``options`` with run-wide settings (``data_root``, ``skip_bad_images``) filled in where the
    component has such an option and the user did not set it for this component."""
    import dataclasses

    fields = {f.name for f in dataclasses.fields(component_class.Options)}
    filled = dict(options)
    for key, value in values.items():
        if value is not None and key in fields and filled.get(key) is None:
            filled[key] = str(value) if isinstance(value, Path) else value
    return filled

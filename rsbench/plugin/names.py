"""Names that become parts of file names must never lead out of their folder.

Component names (from plugins) and the dataset names of records name files and folders:
``leaderboards/<dataset>.md``, ``runs/noise/<dataset>/<noise model>-....json``. A name is
therefore a plain word: letters, digits and ``. _ + -``, starting with a letter or digit, so
it can hold no path separator, no ``..`` and nothing a file system treats specially.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from rsbench.io.errors import RsbenchError

_PLAIN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,99}")
VALID = "letters, digits and . _ + - (starting with a letter or digit, at most 100 characters)"


def name_problem(name: Any) -> str | None:
    """Why ``name`` cannot be used in a file name (None when it can)."""
    if not isinstance(name, str):
        return f"must be a string, got {name!r}"
    if not _PLAIN.fullmatch(name) or ".." in name:
        return f"{name!r} is not a plain name ({VALID})"
    return None


def check_name(name: Any, what: str) -> str:
    problem = name_problem(name)
    if problem:
        raise RsbenchError(f"{what} {problem}")
    return name


def child_path(folder: Path | str, name: str, suffix: str = "", what: str = "name") -> Path:
    """``folder / (name + suffix)``, refused unless it stays directly inside ``folder``."""
    check_name(name, what)
    path = Path(folder) / f"{name}{suffix}"
    if path.parent != Path(folder) or path.name != f"{name}{suffix}":
        raise RsbenchError(f"{what} {name!r} would leave the folder {folder}")
    return path

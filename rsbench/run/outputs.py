"""Checks of the places a command will write, made before any work starts, each failing with
one clear line: a grid never trains for an hour and then fails on a leaderboard folder that is
a file. (The values of settings are checked where they are read: `rsbench.run.settings`.)
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from rsbench.io.errors import RsbenchError


def output_dir_problem(path: Path) -> str | None:
    """Why rsbench could not create or write files in ``path`` (None when it can)."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        return "exists and is not a folder"
    probe = path
    while not probe.exists():  # the first existing ancestor must be a writable folder
        if probe.is_symlink():
            return f"{probe} is a broken symbolic link"
        parent = probe.parent
        if parent == probe:
            break
        probe = parent
    if probe.exists() and not probe.is_dir():
        return f"cannot be created: {probe} is a file"
    if not os.access(probe, os.W_OK | os.X_OK):
        return f"is not writable ({probe} does not allow it)"
    return None


def check_output_dir(path: Path, what: str, hint: str = "") -> None:
    problem = output_dir_problem(path)
    if problem:
        raise RsbenchError(f"{what} {path} {problem}; {hint or 'give a writable folder'}")


def check_output_file(path: Path, what: str) -> None:
    """A file rsbench will replace: it may exist, but not as a folder."""
    if path.is_dir():
        raise RsbenchError(f"{what} {path} is a folder; move it away or write elsewhere")


def check_run_outputs(
    out: Path, leaderboard_dir: Path | None, datasets: Iterable[str], cache: Path
) -> None:
    """Every place a grid will write, checked before it trains."""
    from rsbench.plugin.names import child_path

    check_output_dir(out, "run folder (--out)")
    for sub in ("cells", "noise", "scores", "work"):
        if (out / sub).exists() and not (out / sub).is_dir():
            raise RsbenchError(
                f"run folder {out}: {out / sub} is not a folder; rsbench keeps its {sub} there"
            )
    for name in datasets:
        noise_dir = child_path(out / "noise", name, what="dataset name")
        if noise_dir.exists() and not noise_dir.is_dir():
            raise RsbenchError(f"run folder {out}: {noise_dir} is not a folder")
    if leaderboard_dir is not None:
        check_output_dir(
            leaderboard_dir,
            "leaderboard folder (--leaderboard-dir)",
            "give another folder or --no-leaderboard",
        )
        for name in datasets:
            check_output_file(
                child_path(leaderboard_dir, name, ".md", "dataset name"), "leaderboard"
            )
    problem = output_dir_problem(cache)
    if problem and not (cache.is_dir() and problem.startswith("is not writable")):
        # a read-only cache that holds what is needed is fine; a file in its place is not
        raise RsbenchError(
            f"cache folder {cache} {problem}; set RSBENCH_CACHE to a folder rsbench may write"
        )

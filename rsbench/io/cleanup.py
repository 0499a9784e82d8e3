"""Removing what interrupted writes left behind: stale temporary files and folders.

A write killed before it finished leaves its temporary (``.<name>.<random>.tmp``, see
`rsbench.io.files`) and never the target itself. Such a leftover is *stale* when no process
holds its lock: a writer holds it from creation to the final rename and the kernel drops it
when the writer dies, so a write in progress in another process (a second grid sharing the
run folder, a colleague sharing the cache) is never touched. Where locks do not work (no
``fcntl``, or a file system without locks) a temporary untouched for `STALE_AGE_S` is stale.

Also recognised: the leftovers of rsbench versions before this scheme, half-written image
cache arrays ``.<key>.<random>.npy`` and half-generated ``.synthrs-<digest>.<random>`` folders.

The writers in `rsbench.io.files` never clean (cleaning sits above writing): each command that
writes cleans the folders it writes into when it starts. ``rsbench run`` and ``rsbench tune``
clean their run folder, leaderboards and the cache (`clean_run_outputs`), ``rsbench
leaderboard`` its output folder (`clean_folders`), and the cache's writers get their folder
from `rsbench.io.cache.cache_folder`, which cleans it; `clean_once` cleans a folder at most
once per process.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import time
from collections.abc import Iterable
from pathlib import Path

from rsbench.io.files import DIR_LOCK, IN_PROGRESS, TEMP_SUFFIX, same_file, try_lock

#: where locks cannot tell, a temporary untouched for this long is stale
STALE_AGE_S = 24 * 3600
#: ``tempfile``'s names: ``.<name>.<8 random characters>.tmp``, and folders moved aside
_TEMPORARY = re.compile(r"^\..+\.([a-z0-9_]{8}|[0-9a-f]{12}\.old)" + re.escape(TEMP_SUFFIX) + "$")
_LEGACY = (
    re.compile(r"^\.[0-9a-f]{32}\.[A-Za-z0-9_]{6,}\.npy$"),  # image cache arrays
    re.compile(r"^\.synthrs-[0-9a-f]{12}\.[A-Za-z0-9_]{6,}$"),  # generated datasets
)
_CLEANED: set[str] = set()


def is_temporary(name: str) -> bool:
    """Whether a file or folder name is one of rsbench's temporaries (or an old leftover)."""
    return bool(_TEMPORARY.match(name)) or any(pattern.match(name) for pattern in _LEGACY)


def remove_stale_temps(folder: Path | str) -> list[Path]:
    """Remove the stale temporaries directly inside ``folder``; return what was removed."""
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return []
    removed = []
    for entry in entries:
        if not is_temporary(entry.name) or os.path.abspath(entry.path) in IN_PROGRESS:
            continue
        with contextlib.suppress(OSError):
            if entry.is_symlink():
                continue  # rsbench never writes links: not one of ours
            if _remove_if_stale(entry.path, entry.is_dir(follow_symlinks=False)):
                removed.append(Path(entry.path))
    return removed


def _remove_if_stale(path: str, is_dir: bool) -> bool:
    lock_path = os.path.join(path, DIR_LOCK) if is_dir else path
    try:
        fd = os.open(lock_path, os.O_RDWR | getattr(os, "O_NOFOLLOW", 0))
    except FileNotFoundError:
        if not is_dir:
            return False  # renamed into place or removed meanwhile
        _remove(path, is_dir)  # a folder without a lock file: never a write in progress
        return True
    except OSError:  # e.g. another user's file we cannot open: judge by age
        if time.time() - os.lstat(path).st_mtime < STALE_AGE_S:
            return False
        _remove(path, is_dir)
        return True
    try:
        held = try_lock(fd)
        if held is False:
            return False  # a live writer holds it
        if held is None and time.time() - os.fstat(fd).st_mtime < STALE_AGE_S:
            return False
        if not same_file(lock_path, fd):
            return False
        _remove(path, is_dir)  # still holding the lock, so no writer can be using it
        return True
    finally:
        os.close(fd)


def _remove(path: str, is_dir: bool) -> None:
    if is_dir:
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)


def clean_once(folder: Path | str) -> None:
    """Clean ``folder`` unless this process already did (called before writing into it)."""
    key = os.path.abspath(folder)
    if key in _CLEANED:
        return
    _CLEANED.add(key)
    removed = remove_stale_temps(folder)
    if removed:
        from rsbench.io.progress import say

        say(
            f"rsbench: removed {len(removed)} stale temporary file(s) left by an interrupted "
            f"write in {folder}"
        )


def clean_folders(folders: Iterable[Path | str]) -> None:
    """Clean each of ``folders`` (not their subfolders)."""
    for folder in folders:
        if Path(folder).is_dir():
            clean_once(folder)


def run_folders(out: Path) -> list[Path]:
    """The folders of a run directory that rsbench writes into."""
    out = Path(out)
    noise = out / "noise"
    per_dataset = sorted(p for p in noise.iterdir() if p.is_dir()) if noise.is_dir() else []
    work = out / "work"
    per_cell = sorted(p for p in work.iterdir() if p.is_dir()) if work.is_dir() else []
    fixed = [out / name for name in ("cells", "scores", "ranks", "grids", "queue")]
    return [out, *fixed, noise, *per_dataset, *per_cell]


def clean_run_outputs(out: Path, leaderboard_dir: Path | None, cache: Path) -> None:
    """What ``rsbench run`` cleans when it starts: its run folder, leaderboards and the cache."""
    folders = [*run_folders(out), cache / "images", cache / "datasets"]
    clean_folders(folders + ([leaderboard_dir] if leaderboard_dir is not None else []))

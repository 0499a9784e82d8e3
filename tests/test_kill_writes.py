"""A kill in the middle of each kind of write: nothing finished is lost or damaged, the rerun
completes with identical results, and no temporary file is left behind.

The grid runs in a subprocess through `KILLER`, which wraps the one atomic-write helper
(`rsbench.io.files.commit`): at the first write whose target matches a pattern it cuts the
temporary file to half its size, as a kill mid-write leaves it, and sends itself SIGKILL. One
grid is killed at every kind of write in the order a first run makes them (the generated
dataset, the noise file, the decoded-image cache and its metadata, the per-epoch checkpoint,
the per-query ranks, the detection scores, the record, the leaderboard), each run resuming
what the last one left; then a ``--force`` rerun
is killed while replacing finished scores. The results are compared with an uninterrupted
recomputation and with images decoded afresh.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from rsbench.io.cleanup import is_temporary
from rsbench.io.files import DIR_LOCK

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL and flock are POSIX")

KILLER = """
import fnmatch, os, signal, sys
import rsbench.io.files as fileio

pattern = sys.argv[1]
real_commit = fileio.commit


def commit(tmp, path):
    if fnmatch.fnmatch(os.fspath(path), pattern):
        if os.path.isfile(tmp):  # a kill in the middle of writing leaves half a file
            os.truncate(tmp, os.path.getsize(tmp) // 2)
        os.kill(os.getpid(), signal.SIGKILL)
    real_commit(tmp, path)


fileio.commit = commit
from rsbench.cli.main import main

sys.exit(main(sys.argv[2:]))
"""

GRID = """
methods: {infonce_gmm: {warmup_epochs: 0}}
datasets: [synthrs-tiny]
noise: [0.4]
seeds: [0]
epochs: 1
out: runs
leaderboard_dir: boards
"""

#: (kind, pattern of the write's target), in the order a first run makes them
WRITES = [
    ("generated dataset", "*/.synthrs-*.tmp/synthrs.json"),
    ("noise file", "*runs/noise/synthrs-tiny/*.json"),
    ("image cache", "*/cache/images/*.npy"),
    ("image cache metadata", "*/cache/images/*.json"),
    ("checkpoint", "*runs/work/*/checkpoint.pt"),
    ("ranks", "*runs/ranks/*.npz"),
    ("scores", "*runs/scores/*.npz"),
    ("record", "*runs/cells/*.json"),
    ("leaderboard", "*boards/*.md"),
]


def rsbench(tmp_path: Path, *args: str, kill_at: str | None = None):
    env = {**os.environ, "RSBENCH_CACHE": str(tmp_path / "cache")}
    command = [sys.executable, "-m", "rsbench", *args]
    if kill_at is not None:
        (tmp_path / "killer.py").write_text(KILLER)
        command = [sys.executable, str(tmp_path / "killer.py"), kill_at, *args]
    return subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True)


def leftovers(*roots: Path) -> list[str]:
    """Temporaries (and a temporary folder's lock file) anywhere under ``roots``."""
    return sorted(
        str(p)
        for root in roots
        for p in root.rglob("*")
        if is_temporary(p.name) or p.name == DIR_LOCK
    )


def results(tmp_path: Path) -> dict:
    """Everything a run produced that must not depend on how often it was interrupted."""
    (record_path,) = (tmp_path / "runs" / "cells").glob("*.json")
    record = json.loads(record_path.read_text())
    (scores,) = (tmp_path / "runs" / "scores").glob("*.npz")
    with np.load(scores) as arrays:
        score_arrays = {k: arrays[k].tolist() for k in sorted(arrays.files)}
    (noise,) = (tmp_path / "runs" / "noise" / "synthrs-tiny").glob("*.json")
    return {
        "status": record["status"],
        "metrics": record["metrics"],
        "detection": record["detection"]["selected"],
        "noise_hash": record["noise"]["file_hash"],
        "noise_file": hashlib.sha256(noise.read_bytes()).hexdigest(),
        "scores": score_arrays,
        "board": (tmp_path / "boards" / "synthrs-tiny.md").read_text(),
    }


def test_a_kill_at_any_write_loses_nothing_and_leaves_nothing(tmp_path):
    (tmp_path / "grid.yaml").write_text(GRID)
    grid = ["run", "--config", "grid.yaml"]
    roots = [tmp_path / "runs", tmp_path / "boards", tmp_path / "cache"]

    for kind, pattern in WRITES:
        killed = rsbench(tmp_path, *grid, kill_at=pattern)
        assert killed.returncode == -9, f"{kind}: the run was not killed\n{killed.stderr}"
        assert leftovers(*[r for r in roots if r.exists()]), f"{kind}: the kill left no temporary"
        for root in roots:  # the kill never left a half-written target behind
            for path in root.rglob("*.json") if root.exists() else []:
                if not any(is_temporary(part) for part in path.parts):
                    json.loads(path.read_text())
    finished = rsbench(tmp_path, *grid)
    assert finished.returncode == 0, finished.stderr
    assert "0 cells run, 1 skipped" in finished.stderr  # the record was written by a killed run
    assert leftovers(*roots) == []
    interrupted = results(tmp_path)

    # a --force rerun killed while replacing finished scores: the old ones stay whole
    before = {  # (a lock file is no result: it says who held the cell last)
        p: p.read_bytes()
        for p in (tmp_path / "runs").rglob("*")
        if p.is_file() and p.parent.name != "locks"
    }
    killed = rsbench(tmp_path, *grid, "--force", kill_at=pattern_of("scores"))
    assert killed.returncode == -9
    assert leftovers(tmp_path / "runs" / "scores")
    assert {p: p.read_bytes() for p in before} == before
    skipped = rsbench(tmp_path, *grid)  # resumes (nothing to do) and cleans up
    assert skipped.returncode == 0 and "0 cells run, 1 skipped" in skipped.stderr
    assert leftovers(*roots) == []
    assert results(tmp_path) == interrupted

    # the same grid recomputed without interruption gives the same results
    recomputed = rsbench(tmp_path, *grid, "--force")
    assert recomputed.returncode == 0, recomputed.stderr
    assert results(tmp_path) == interrupted
    assert leftovers(*roots) == []
    check_cache(tmp_path / "cache")


def pattern_of(kind: str) -> str:
    return dict(WRITES)[kind]


def check_cache(cache: Path) -> None:
    """The generated dataset is complete and the cached arrays are what decoding gives."""
    from rsbench.data.images import decode_all
    from rsbench.plugin.manager import get_plugins

    (root,) = (cache / "datasets").glob("synthrs-*")
    dataset = get_plugins().datasets.get("synthrs-tiny").create({})
    assert dataset.damage(root) is None
    arrays = sorted((cache / "images").glob("*.npy"))
    assert arrays and len(arrays) == len(list((cache / "images").glob("*.json")))
    for path in arrays:
        cached = np.load(path)
        meta = json.loads(path.with_suffix(".json").read_text())
        assert cached.shape == (meta["images"], meta["size"], meta["size"], 3)
        first = decode_all([Path(meta["first"])], meta["size"], interpolation=meta["interpolation"])
        assert np.array_equal(first[0], cached[0])

"""Resume: a grid killed mid-run loses at most the cell in progress and completes on rerun."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time


def test_killed_grid_resumes_without_touching_finished_cells(tmp_path):
    args = [
        sys.executable,
        "-m",
        "rsbench",
        "run",
        "--methods",
        "infonce",
        "--datasets",
        "synthrs-tiny",
        "--noise",
        "0,0.2,0.4",
        "--seeds",
        "0,1",
        "--epochs",
        "2",
        "--out",
        "runs",
        "--no-leaderboard",
    ]
    cells = tmp_path / "runs" / "cells"
    proc = subprocess.Popen(args, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and proc.poll() is None:
        if cells.exists() and any(cells.glob("*.json")):
            break
        time.sleep(0.02)
    assert proc.poll() is None, (
        "the grid finished before it could be killed: " + proc.stderr.read().decode()
    )
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    proc.stderr.close()

    finished = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in cells.glob("*.json")}
    assert 1 <= len(finished) < 6
    for content, _ in finished.values():
        assert json.loads(content)["status"] == "ok"  # no half-written record

    rerun = subprocess.run(args, cwd=tmp_path, capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr
    assert f"{len(finished)} of 6 cells already done" in rerun.stderr
    assert f"{6 - len(finished)} cells run, {len(finished)} skipped" in rerun.stderr
    after = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in cells.glob("*.json")}
    assert len(after) == 6
    for name, before in finished.items():
        assert after[name] == before  # finished cells untouched

"""What stops a grid and what fails one cell (``rsbench.run.interrupts``): a method's ``os._exit``
and its own ``KeyboardInterrupt`` fail their cell and the grid goes on; Ctrl-C stops the grid,
resumable, with exit 130. Each grid runs in a subprocess: a broken guard must not end pytest."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest

from rsbench.records.read import iter_records
from tests.quick import install_quick


def grid(tmp_path, options: str) -> list[str]:
    (tmp_path / "grid.yaml").write_text(
        f"methods: {{quick: {{{options}}}}}\n"
        "datasets: [synthrs-tiny]\nnoise: [0.2]\nseeds: [0, 1]\nout: runs\n"
    )
    return [sys.executable, "-m", "rsbench", "run", "--config", "grid.yaml", "--no-leaderboard"]


def by_seed(tmp_path) -> dict[int, dict]:
    return {r["seed"]: r for r in iter_records([tmp_path / "runs"])}


@pytest.mark.parametrize(
    "options, message",
    [
        ("exit_seed: 0", "SystemExit: the cell called os._exit(0)"),
        ("interrupt_seed: 0", "KeyboardInterrupt raised by the method itself"),
    ],
)
def test_a_method_that_exits_or_interrupts_fails_its_cell_only(
    tmp_path, monkeypatch, options, message
):
    install_quick(tmp_path, monkeypatch)
    done = subprocess.run(grid(tmp_path, options), cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 1, done.stderr  # a failed cell: never a silent 0
    records = by_seed(tmp_path)
    assert records[0]["status"] == "failed" and message in records[0]["error"]["message"]
    assert records[1]["status"] == "ok"
    assert "1 cells run, 0 skipped (already done), 1 failed" in done.stderr


def test_ctrl_c_stops_the_grid_resumably_with_exit_130(tmp_path, monkeypatch):
    install_quick(tmp_path, monkeypatch)
    log, gate = tmp_path / "fits.log", tmp_path / "gate"
    command = grid(tmp_path, f"log: '{log}', gate: '{gate}'")
    process = subprocess.Popen(command, cwd=tmp_path, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not (log.exists() and log.read_text()) and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    err = process.communicate(timeout=60)[1]
    assert process.returncode == 130, err
    assert "interrupted; finished cells are saved" in err and "Traceback" not in err
    assert by_seed(tmp_path) == {}  # the interrupted cell is not recorded as failed
    gate.touch()
    rerun = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert rerun.returncode == 0, rerun.stderr
    assert {s: r["status"] for s, r in by_seed(tmp_path).items()} == {0: "ok", 1: "ok"}

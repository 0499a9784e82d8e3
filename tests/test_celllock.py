"""The cell lock: one holder at a time, named to the others, free again when its holder dies
(flock, or a lease where file locks do not work), and two grids on one run folder that never
train a cell twice."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from rsbench.run import celllock
from rsbench.run.celllock import CellLock, Holder, acquire, holder_of
from tests.quick import install_quick

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="flock and SIGKILL are POSIX")


def test_one_holder_at_a_time_and_the_others_are_told_who(tmp_path):
    lock = acquire(tmp_path, "cell1", by="worker gpu0")
    assert isinstance(lock, CellLock)
    other = acquire(tmp_path, "cell1")  # another open file: refused, as another process is
    assert isinstance(other, Holder) and other.pid == os.getpid() and other.by == "worker gpu0"
    assert "worker gpu0, pid" in other.describe()
    assert holder_of(tmp_path, "cell1").pid == os.getpid()
    assert holder_of(tmp_path, "cell2") is None
    lock.release()
    assert holder_of(tmp_path, "cell1") is None
    again = acquire(tmp_path, "cell1")
    assert isinstance(again, CellLock)
    again.release()


HOLD = """
import sys, time
from rsbench.run.celllock import acquire
lock = acquire(sys.argv[1], "cell1", by="doomed")
print("held", flush=True)
time.sleep(600)
"""


def test_a_lock_whose_holder_was_killed_is_free_at_once(tmp_path):
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout.readline().strip() == "held"
    found = acquire(tmp_path, "cell1")
    assert isinstance(found, Holder) and found.by == "doomed" and found.pid == holder.pid
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    holder.stdout.close()
    taken = acquire(tmp_path, "cell1")  # no waiting, no manual cleaning
    assert isinstance(taken, CellLock)
    taken.release()


def test_without_file_locks_a_lease_is_used_and_a_stale_one_taken_over(tmp_path, monkeypatch):
    monkeypatch.setattr(celllock, "try_lock", lambda fd, blocking=False: None)
    lock = acquire(tmp_path, "cell1", by="first")
    assert isinstance(lock, CellLock) and lock.lease.exists()
    held = acquire(tmp_path, "cell1")
    assert isinstance(held, Holder) and held.by == "first"
    lock.release()
    assert not (tmp_path / "locks" / "cell1.lease").exists()

    lease = tmp_path / "locks" / "cell1.lease"
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    gone = {"host": socket.gethostname(), "pid": int(dead.stdout), "since": "x", "by": "gone"}
    lease.write_text(json.dumps(gone))  # its holder has exited
    taken = acquire(tmp_path, "cell1")
    assert isinstance(taken, CellLock)  # its holder is dead on this host
    taken.release()
    lease.write_text(json.dumps({"host": "elsewhere", "pid": 1, "since": "x", "by": "far"}))
    assert isinstance(acquire(tmp_path, "cell1"), Holder)  # on another host and fresh: live
    old = time.time() - celllock.LEASE_STALE_S - 60
    os.utime(lease, (old, old))
    taken = acquire(tmp_path, "cell1")  # nobody refreshed it for too long
    assert isinstance(taken, CellLock)
    taken.release()


def test_two_grids_on_one_run_folder_train_every_cell_once(tmp_path, monkeypatch):
    install_quick(tmp_path, monkeypatch)
    log, gate = tmp_path / "fits.log", tmp_path / "gate"
    (tmp_path / "grid.yaml").write_text(
        f"methods: {{quick: {{log: '{log}', gate: '{gate}'}}}}\n"
        "datasets: [synthrs-tiny]\nnoise: [0.2]\nseeds: [0, 1, 2, 3]\nout: runs\n"
    )
    command = [sys.executable, "-m", "rsbench", "run", "--config", "grid.yaml", "--no-leaderboard"]
    grids = [
        subprocess.Popen(command, cwd=tmp_path, stderr=subprocess.PIPE, text=True) for _ in range(2)
    ]
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:  # both are inside a cell: the later one skipped one
        if log.exists() and len(log.read_text().splitlines()) >= 2:
            break
        time.sleep(0.05)
    gate.touch()
    errs = [grid.communicate()[1] for grid in grids]
    assert [grid.returncode for grid in grids] == [0, 0], errs
    seeds = [line.split()[0] for line in log.read_text().splitlines()]
    assert sorted(seeds) == ["0", "1", "2", "3"]  # every cell trained, and only once
    assert len({line.split()[1] for line in log.read_text().splitlines()}) == 2  # by both
    # a grid skipped what the other held, and said who held it
    assert "being run by rsbench run" in "".join(errs), errs
    assert len(list((tmp_path / "runs" / "cells").glob("*.json"))) == 4


def test_a_lease_of_a_killed_unreaped_process_is_taken_over_at_once(tmp_path, monkeypatch):
    """A rerun right after a kill -9, before the dead process is reaped: a zombie holds
    nothing, so its lease is taken over without waiting for it to go stale."""
    monkeypatch.setattr(celllock, "try_lock", lambda fd, blocking=False: None)
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    deadline = time.monotonic() + 30
    while not celllock._zombie(child.pid) and time.monotonic() < deadline:
        time.sleep(0.05)  # exited, and not reaped: this test holds its exit status
    assert celllock._zombie(child.pid)
    zombie = Holder(socket.gethostname(), child.pid, "x", "killed run")
    assert zombie.alive_here() is False
    lease = tmp_path / "locks" / "cell1.lease"
    lease.parent.mkdir(parents=True)
    lease.write_text(json.dumps(zombie.as_dict()))
    taken = acquire(tmp_path, "cell1")
    assert isinstance(taken, CellLock)
    taken.release()
    child.wait()
    assert Holder(socket.gethostname(), os.getpid()).alive_here() is True


def test_a_damaged_lease_holds_nothing_once_it_cannot_be_being_written(tmp_path, monkeypatch):
    monkeypatch.setattr(celllock, "try_lock", lambda fd, blocking=False: None)
    lease = tmp_path / "locks" / "cell1.lease"
    lease.parent.mkdir(parents=True)
    lease.write_bytes(b"\xff\xfe\x00garbage{")
    assert isinstance(acquire(tmp_path, "cell1"), Holder)  # just created: maybe being written
    old = time.time() - celllock.LEASE_WRITE_S - 1
    os.utime(lease, (old, old))
    assert celllock.holder_of(tmp_path, "cell1") is None
    taken = acquire(tmp_path, "cell1")
    assert isinstance(taken, CellLock)
    taken.release()


def test_a_run_never_calls_itself_complete_with_cells_another_process_abandoned(tmp_path):
    """A cell skipped as held by another process that then stopped without a record (and
    holds nothing now) is abandoned: the run reports it and exits non-zero."""
    from rsbench.plugin.manager import get_plugins
    from rsbench.run.runner import GridResult, Runner
    from rsbench.run.settings import parse_settings

    runner = Runner(parse_settings({"methods": "infonce", "out": str(tmp_path)}), get_plugins())
    result = GridResult(held={"abc": "pid 1 on elsewhere", "def": "pid 2"})
    (tmp_path / "cells").mkdir()
    (tmp_path / "cells" / "def.json").write_text(
        '{"schema_version": 1, "cell_id": "def", "status": "ok"}'
    )
    assert runner.abandoned(result) == ["abc"]
    lock = acquire(tmp_path, "abc", by="still at it")
    assert runner.abandoned(result) == []  # really running elsewhere
    lock.release()
    assert runner.abandoned(result) == ["abc"]

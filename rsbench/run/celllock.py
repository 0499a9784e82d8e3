"""One lock per grid cell: processes sharing a run folder never train the same cell twice.

``<out>/locks/<cell_id>.lock`` is held (``flock``) by the process that runs the cell, from
before it checks whether the cell is done until after its record is written. Any number of
``rsbench run`` processes, local workers and Slurm tasks can share a run folder: a cell held
by one is skipped by the others, which say who holds it.

Stale locks recover by themselves: the kernel drops a ``flock`` when its holder dies, however
it dies (an exception, SIGKILL, the out-of-memory killer), so the next process simply takes
it. The file itself stays (removing a lock file that another process has open would let two
holders coexist); it holds who holds the lock (host, pid, when, which worker), for messages
and ``rsbench status``, and is emptied on release.

Where file locks do not work (no ``fcntl``; a cluster file system mounted without them), the
lock is a *lease* instead: ``<cell_id>.lease``, created exclusively and refreshed every
`LEASE_REFRESH_S` by a thread of its holder. A lease whose holder is a dead process on this
host, or that nobody refreshed for `LEASE_STALE_S`, is stale and taken over.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rsbench.io.files import file_mode, try_lock

LOCKS_DIR = "locks"
LEASE_REFRESH_S = 60.0
LEASE_STALE_S = 10 * 60.0
#: a lease that cannot be read is being written for at most this long; after it, damaged
LEASE_WRITE_S = 5.0
#: a lock found taken is tried again this many times (a status probe holds one for an instant)
RETRIES = 5
RETRY_WAIT_S = 0.05


@dataclass
class Holder:
    """Who holds a cell's lock."""

    host: str = "?"
    pid: int = 0
    since: str = "?"
    by: str = ""

    @classmethod
    def here(cls, by: str = "") -> Holder:
        return cls(
            socket.gethostname(),
            os.getpid(),
            time.strftime("%Y-%m-%d %H:%M:%S"),
            by or "rsbench run",
        )

    @classmethod
    def parse(cls, text: str) -> Holder:
        try:
            data = json.loads(text)
            return cls(str(data["host"]), int(data["pid"]), str(data["since"]), str(data["by"]))
        except (ValueError, KeyError, TypeError):
            return cls()  # being written right now, or damaged: say "unknown"

    def as_dict(self) -> dict[str, Any]:
        return {"host": self.host, "pid": self.pid, "since": self.since, "by": self.by}

    def describe(self) -> str:
        if self.pid == 0:
            return "another process"
        by = f"{self.by}, " if self.by else ""
        return f"{by}pid {self.pid} on {self.host} since {self.since}"

    def alive_here(self) -> bool | None:
        """Whether the holder process runs (None: on another host, cannot tell)."""
        if self.host != socket.gethostname() or self.pid <= 0:
            return None
        return pid_alive(self.pid)


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` of this host runs: it exists and is not a zombie (killed, not
    yet reaped: it holds nothing any more)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return not _zombie(pid)


def _zombie(pid: int) -> bool:
    """Whether ``pid`` has ended and waits to be reaped (Linux: state Z in /proc/PID/stat)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[:1] == ["Z"]


def lock_path(out: Path, cell_id: str) -> Path:
    return Path(out) / LOCKS_DIR / f"{cell_id}.lock"


class CellLock:
    """A held cell lock; `release` (or leaving the ``with`` block) lets it go."""

    def __init__(self, path: Path, fd: int | None = None, lease: Path | None = None):
        self.path, self.fd, self.lease = path, fd, lease
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if lease is not None:
            self._thread = threading.Thread(target=self._refresh, daemon=True)
            self._thread.start()

    def _refresh(self) -> None:
        while not self._stop.wait(LEASE_REFRESH_S):
            with contextlib.suppress(OSError):
                os.utime(self.lease)

    def release(self) -> None:
        if self.fd is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(self.fd, 0)
            os.close(self.fd)  # closing drops the flock
            self.fd = None
        if self.lease is not None:
            self._stop.set()
            with contextlib.suppress(OSError):
                os.unlink(self.lease)
            self.lease = None

    def __enter__(self) -> CellLock:
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def acquire(out: Path, cell_id: str, by: str = "") -> CellLock | Holder:
    """Take the cell's lock without waiting: a `CellLock`, or the `Holder` that has it."""
    path = lock_path(out, cell_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    holder = Holder.here(by)
    for attempt in range(RETRIES):
        fd = os.open(path, os.O_RDWR | os.O_CREAT, file_mode())
        taken = try_lock(fd)
        if taken is None:
            os.close(fd)
            return _acquire_lease(path.with_suffix(".lease"), holder)
        if taken:
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps(holder.as_dict()).encode(), 0)
            return CellLock(path, fd=fd)
        os.close(fd)
        if attempt < RETRIES - 1:
            time.sleep(RETRY_WAIT_S)
    return holder_of(out, cell_id) or Holder()


def holder_of(out: Path, cell_id: str) -> Holder | None:
    """Who holds the cell's lock now (None: nobody). Probing takes the lock for an instant."""
    path = lock_path(out, cell_id)
    lease = path.with_suffix(".lease")
    if lease.exists():
        found = _lease_holder(lease)
        if found is not None:
            return found
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        if try_lock(fd) is False:
            return Holder.parse(os.pread(fd, 4096, 0).decode("utf-8", "replace"))
        return None
    finally:
        os.close(fd)  # also drops the probe's own lock


# ---- leases, where file locks do not work ----------------------------------------------------


def _lease_holder(lease: Path) -> Holder | None:
    """The lease's holder when the lease is live; None when it is absent or stale."""
    try:
        age = time.time() - lease.stat().st_mtime
        holder = Holder.parse(lease.read_bytes().decode("utf-8", "replace"))
    except OSError:
        return None
    if holder.alive_here() is False or age > LEASE_STALE_S:
        return None
    if holder.pid == 0 and age > LEASE_WRITE_S:  # damaged, not being written: nobody holds it
        return None
    return holder


def _acquire_lease(lease: Path, holder: Holder) -> CellLock | Holder:
    for _ in range(2):
        try:
            fd = os.open(lease, os.O_WRONLY | os.O_CREAT | os.O_EXCL, file_mode())
        except FileExistsError:
            live = _lease_holder(lease)
            if live is not None:
                return live
            # stale: move it aside under a unique name (one process wins the rename), retry
            aside = lease.with_name(f".{lease.name}.{os.getpid()}.stale")
            with contextlib.suppress(OSError):
                os.replace(lease, aside)
                os.unlink(aside)
            continue
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(json.dumps(holder.as_dict()))
        return CellLock(lease, lease=lease)
    return _lease_holder(lease) or Holder()

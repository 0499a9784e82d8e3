"""Cells that crashed the process running them in-process: noted at the crash, recorded after.

A cell that runs in a worker process and dies of a signal is recorded by the parent (the local
executor names the signal). A cell that runs in ``rsbench run``'s own process (the CPU default)
takes that process down with it when native code dies of a fatal signal (a segmentation
fault in a kernel, an abort on a corrupted heap): no Python code runs after it, so nothing
can be recorded at that moment. Instead, while such a cell runs:

- ``<out>/crashes/<cell_id>.txt`` holds one line on who runs it (pid, host, start), and
  Python's `faulthandler` writes there, at a fatal signal (SIGSEGV, SIGABRT, SIGBUS, SIGFPE,
  SIGILL), the signal's name and every thread's Python stack. The file is removed when the
  cell ends in any other way (finished, failed, interrupted);
- when the grid is run again, a note whose cell is no longer locked (its process is gone) and
  that names a fatal signal becomes the cell's record: failed, ``ProcessDied``, with the
  signal's name and the stack. The runner then runs that cell in a worker process of its own
  (`Runner.isolate`), so that if it crashes again only the cell fails and the grid goes on.

A note with no signal (the process was killed with SIGKILL, or the machine stopped) is only
removed: the cell resumes as after any interruption. ``rsbench status`` shows noted crashes
before the rerun records them. The note is written incrementally by `faulthandler` (it cannot
be atomic); it is a note, never a result.
"""

from __future__ import annotations

import contextlib
import faulthandler
import json
import os
import socket
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from rsbench.run.celllock import Holder, holder_of

CRASH_DIR = "crashes"
#: faulthandler's words for the fatal signals it catches → the signals' names
SIGNAL_WORDS = {
    "Segmentation fault": "SIGSEGV",
    "Aborted": "SIGABRT",
    "Bus error": "SIGBUS",
    "Floating-point exception": "SIGFPE",
    "Floating point exception": "SIGFPE",
    "Illegal instruction": "SIGILL",
}


def note_path(out: Path, cell_id: str) -> Path:
    return Path(out) / CRASH_DIR / f"{cell_id}.txt"


@contextlib.contextmanager
def watching(out: Path, cell_id: str) -> Iterator[None]:
    """Run a cell in this process under a crash note (module docstring)."""
    path = note_path(out, cell_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    was_enabled = faulthandler.is_enabled()
    with open(path, "w", encoding="utf-8") as fh:
        header = {"pid": os.getpid(), "host": socket.gethostname()}
        fh.write(json.dumps({**header, "since": time.strftime("%Y-%m-%d %H:%M:%S")}) + "\n")
        fh.flush()
        faulthandler.enable(file=fh, all_threads=True)
        try:
            yield
        finally:
            faulthandler.disable()
            if was_enabled and sys.__stderr__ is not None:
                with contextlib.suppress(ValueError, OSError, AttributeError):
                    faulthandler.enable(file=sys.__stderr__, all_threads=True)
            path.unlink(missing_ok=True)


@dataclass
class Crash:
    """A cell whose in-process run ended with the process."""

    cell_id: str
    signal: str | None  # None: no fatal signal noted (killed, or the machine stopped)
    pid: int
    host: str
    since: str
    trace: str  # faulthandler's report: the signal and the Python stacks

    def message(self) -> str:
        how = f"died of {self.signal}" if self.signal else "ended without a word"
        return (
            f"the rsbench process that ran this cell in-process (pid {self.pid} on {self.host}, "
            f"since {self.since}) {how}; it is retried in a worker process of its own"
        )


def signal_of(trace: str) -> str | None:
    """The fatal signal a faulthandler report names (``Fatal Python error: Aborted``)."""
    for line in trace.splitlines():
        if line.startswith("Fatal Python error:"):
            words = line.split(":", 1)[1].strip()
            return SIGNAL_WORDS.get(words, words or None)
    return None


def read_note(out: Path, cell_id: str) -> Crash | None:
    """The crash noted for ``cell_id``, or None (no note, or its cell still runs)."""
    path = note_path(out, cell_id)
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    if holder_of(Path(out), cell_id) is not None:
        return None  # its process (or another) runs the cell now
    head, _, trace = text.partition("\n")
    try:
        who = json.loads(head)
        pid, host, since = int(who["pid"]), str(who["host"]), str(who["since"])
    except (ValueError, KeyError, TypeError):
        pid, host, since = 0, "?", "?"
    if Holder(host, pid).alive_here():
        return None  # noted a moment ago by a live process that has not locked the cell yet
    return Crash(cell_id, signal_of(trace), pid, host, since, trace.strip())


def noted(out: Path) -> list[str]:
    """The ids of the cells with a crash note in ``out``."""
    return sorted(p.stem for p in (Path(out) / CRASH_DIR).glob("*.txt"))


def clear(out: Path, cell_id: str) -> None:
    note_path(out, cell_id).unlink(missing_ok=True)

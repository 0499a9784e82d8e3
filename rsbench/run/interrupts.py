"""What stops a grid and what only fails a cell, when a cell runs in the grid's own process.

- **Ctrl-C** (SIGINT from the terminal or ``kill -INT``) stops the grid cleanly: the cell being
  trained keeps its last per-epoch checkpoint, finished records stay, ``rsbench run`` exits 130
  and the same command resumes.
- A ``KeyboardInterrupt`` that a method **raises by itself**, with no SIGINT received, is a bug
  of that method: its cell fails with that error and the grid goes on.
- ``sys.exit`` in a method fails its cell (``SystemExit`` is caught like any error), and so does
  ``os._exit``, which would otherwise end the whole process at once with the exit code the
  method chose (0 included: a grid reporting success with cells missing). While a cell runs,
  ``os._exit`` called from the grid's main thread raises `OsExitCalled` instead; from another
  thread, or in a forked child process (data-loading workers), it is the real ``os._exit``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Iterator

_real_exit = os._exit


class OsExitCalled(SystemExit):
    """A method called ``os._exit(code)`` while its cell ran in the grid's process."""


@contextlib.contextmanager
def guard_os_exit() -> Iterator[None]:
    """While the block runs, ``os._exit`` in this process's main thread raises `OsExitCalled`."""
    pid, main = os.getpid(), threading.main_thread()

    def guarded(code: int) -> None:
        if os.getpid() != pid or threading.current_thread() is not main:
            _real_exit(code)
        raise OsExitCalled(code)

    previous = os._exit
    os._exit = guarded
    try:
        yield
    finally:
        os._exit = previous


class SigintWatch:
    """Whether a real SIGINT arrived while the block ran (``seen``); it still interrupts."""

    def __init__(self) -> None:
        self.seen = False
        self._previous = None

    def _handler(self, signum, frame) -> None:
        self.seen = True
        raise KeyboardInterrupt

    def __enter__(self) -> SigintWatch:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.getsignal(signal.SIGINT)
            if self._previous is signal.default_int_handler:
                signal.signal(signal.SIGINT, self._handler)
            else:  # someone else handles SIGINT (an embedding program): leave it to them
                self._previous = None
        return self

    def __exit__(self, *exc) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)

"""The devices a grid or a `TrainTask` may name: ``auto``, ``cpu``, ``cuda`` or ``cuda:N``.

Whether the machine has the device is asked when a cell runs
(`rsbench.engine.runtime.resolve_device`); the name is checked where it is read, with this.
"""

from __future__ import annotations

from typing import Any

from rsbench.io.errors import RsbenchError

DEVICES = ("auto", "cpu", "cuda")


def device_name(value: Any, what: str = "device") -> str:
    """The device named, or one line that says what is valid."""
    text = value.strip() if isinstance(value, str) else None
    if text is not None:
        head, colon, index = text.partition(":")
        if text in DEVICES or (head == "cuda" and colon and index.isascii() and index.isdigit()):
            return text
    raise RsbenchError(f"unknown {what} {value!r}; valid: {', '.join(DEVICES)} or cuda:N")

"""Errors that reach the user as one clear line (exit code 2), never as a traceback."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class RsbenchError(Exception):
    """Bad input or an unusable environment: the message says what was wrong and what is valid."""


class UnknownComponentError(RsbenchError):
    """A component name that no loaded plugin registered."""

    def __init__(self, kind: str, name: str, valid: Iterable[str]):
        valid = sorted(valid)
        message = f"unknown {kind} {name!r}"
        close = difflib.get_close_matches(name, valid, n=1)
        if close:
            message += f" (did you mean {close[0]!r}?)"
        message += "; valid: " + (", ".join(valid) if valid else "none are registered")
        super().__init__(message)
        self.kind, self.name, self.valid = kind, name, valid


class CellError(Exception):
    """A grid cell failed in a way worth a short message (e.g. a NaN loss), not a traceback."""

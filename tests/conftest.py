"""Test isolation: only rsbench's own plugins, a private cache, no progress bars."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = Path(os.environ.get("RSBENCH_SHARED_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path_factory):
    monkeypatch.setenv("RSBENCH_LOAD_PLUGINS", "rsbench")
    monkeypatch.setenv("RSBENCH_PROGRESS", "0")
    monkeypatch.delenv("RSBENCH_STRICT_PLUGINS", raising=False)
    monkeypatch.setenv("RSBENCH_CACHE", str(_shared_cache(tmp_path_factory)))
    from rsbench.plugin.manager import reset_plugins

    reset_plugins()
    yield
    reset_plugins()


_CACHE: list[Path] = []


def _shared_cache(factory) -> Path:
    """One cache per test session, so synthrs-tiny is generated once."""
    if not _CACHE:
        _CACHE.append(factory.mktemp("rsbench-cache"))
    return _CACHE[0]

"""Where rsbench keeps generated datasets and decoded images: a user cache directory.

``RSBENCH_CACHE`` overrides it; otherwise ``$XDG_CACHE_HOME/rsbench`` or ``~/.cache/rsbench``.
Never inside the installed package.
"""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    explicit = os.environ.get("RSBENCH_CACHE")
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "rsbench"

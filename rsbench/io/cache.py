"""Where rsbench keeps generated datasets, decoded images and cached arrays: a user cache directory.

``RSBENCH_CACHE`` overrides it; otherwise ``$XDG_CACHE_HOME/rsbench`` or ``~/.cache/rsbench``.
Never inside the installed package.

`cached_array` is the cache methods share across grid cells and seeds for anything computed
once from fixed inputs: frozen-backbone features (CHNR), a caption prior matrix (AMFMN). An
entry is named by the sha256 of its key, which must hold everything the array depends on (the
backbone, a fingerprint of its weights, the preprocessing, the exact list of items);
``<cache>/arrays/<namespace>/<digest>.npy`` is written atomically beside a JSON file holding the
key, and read back memory-mapped.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import tempfile
from collections import OrderedDict
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np

from rsbench.io.cleanup import clean_folders
from rsbench.io.files import atomic_write_text, canonical_json

_NAMESPACE = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")
_MEMO: OrderedDict[str, np.ndarray] = OrderedDict()
_MEMO_ENTRIES = 8


def cache_dir() -> Path:
    explicit = os.environ.get("RSBENCH_CACHE")
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "rsbench"


def cache_folder(name: str) -> Path:
    """``<cache>/<name>``, cleaned of the temporaries of interrupted writes the first time this
    process asks for it: whoever writes into a folder cleans it (`rsbench.io.cleanup`), and every
    writer into the cache asks here for its folder."""
    folder = cache_dir() / name
    clean_folders([folder])
    return folder


def fingerprint_items(items: Iterable[Any]) -> str:
    """sha256 of a list of items (paths, captions, ids) in order: the "exact item list" of a key."""
    h = hashlib.sha256()
    for item in items:
        h.update(str(item).encode("utf-8", "surrogatepass"))
        h.update(b"\0")
    return h.hexdigest()


def array_path(namespace: str, key: dict[str, Any]) -> Path:
    if not _NAMESPACE.match(namespace):
        raise ValueError(
            f"cache namespace {namespace!r}: use lower-case letters, digits, '_', '-', '.'"
        )
    digest = hashlib.sha256(
        canonical_json({"namespace": namespace, "key": key}).encode()
    ).hexdigest()
    return cache_folder(f"arrays/{namespace}") / f"{digest[:32]}.npy"


def cached_array(
    namespace: str,
    key: dict[str, Any],
    compute: Callable[[], np.ndarray],
    *,
    mmap: bool = True,
) -> np.ndarray:
    """``compute()``'s array, computed once per ``key`` and kept in the cache for every later call.

    A hit is read memory-mapped (read-only) unless ``mmap`` is False. An entry whose key file
    does not match (a hash collision, a hand-edited file) or that cannot be read is recomputed.
    ``RSBENCH_ARRAY_CACHE=0`` computes every time and writes nothing.
    """
    path = array_path(namespace, key)
    spelled = canonical_json(key)
    memo_key = str(path)
    if memo_key in _MEMO:
        _MEMO.move_to_end(memo_key)
        return _MEMO[memo_key]
    if os.environ.get("RSBENCH_ARRAY_CACHE", "1") in ("0", "false", "no"):
        return np.asarray(compute())
    array = _read(path, spelled, mmap)
    if array is None:
        array = np.ascontiguousarray(compute())
        _write(path, array, spelled)
        if mmap:
            array = _read(path, spelled, mmap) if path.exists() else array
    _MEMO[memo_key] = array
    while len(_MEMO) > _MEMO_ENTRIES:
        _MEMO.popitem(last=False)
    return array


def _read(path: Path, spelled_key: str, mmap: bool) -> np.ndarray | None:
    meta = path.with_suffix(".json")
    try:
        if json.loads(meta.read_text(encoding="utf-8")).get("key") != json.loads(spelled_key):
            return None
        return np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except (OSError, ValueError):
        return None


def _write(path: Path, array: np.ndarray, spelled_key: str) -> None:
    """The array, then its key file, each atomically (a reader never sees a partial entry)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".npy.tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                np.save(fh, array, allow_pickle=False)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        meta = {
            "key": json.loads(spelled_key),
            "shape": list(array.shape),
            "dtype": str(array.dtype),
        }
        atomic_write_text(
            path.with_suffix(".json"), json.dumps(meta, indent=1, sort_keys=True) + "\n"
        )
    except OSError:  # a read-only or full cache only costs time
        pass


def clear_memo() -> None:
    _MEMO.clear()

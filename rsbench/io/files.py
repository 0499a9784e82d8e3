"""Every file rsbench writes goes through here: atomic writes, canonical JSON for hashing.

An atomic write goes to a temporary sibling, ``.<name>.<random>.tmp``, which replaces the
target only once it is complete, so a reader (or a kill at any moment) sees either the old
file or the new one. A directory is written the same way (`atomic_directory`).

While it is being written, a temporary file is held under an exclusive ``flock``: the kernel
drops the lock when its writer dies, which is how `rsbench.io.cleanup` tells a stale leftover
from a write in progress in another process. A temporary directory is held through the lock
file `DIR_LOCK` inside it. Writing never cleans: the commands clean the folders they write
into when they start (`rsbench.io.cleanup`), so this module stays at the bottom of the imports.

Files and folders get the modes the user's umask gives (``mkstemp`` alone would make them
0600 / 0700, unreadable to colleagues sharing a run folder or a cache).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

try:
    import fcntl
except ImportError:  # not POSIX: temporaries are then judged by age alone (rsbench.io.cleanup)
    fcntl = None  # type: ignore[assignment]

TEMP_SUFFIX = ".tmp"
#: the lock file inside a temporary directory that marks it as being written
DIR_LOCK = ".rsbench-writing"
#: temporaries this process is writing right now, as absolute paths (a cleanup in this process
#: never touches them, even where locks are per process rather than per open file)
IN_PROGRESS: set[str] = set()


def canonical_json(obj: Any) -> str:
    """One spelling per value: sorted keys, no spaces. What hashes are taken of."""
    return json.dumps(
        obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )


# ---- modes -------------------------------------------------------------------------------


def current_umask() -> int:
    """The process umask, read without changing it where the system allows."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def file_mode() -> int:
    return 0o666 & ~current_umask()


def dir_mode() -> int:
    return 0o777 & ~current_umask()


# ---- locks -------------------------------------------------------------------------------


def try_lock(fd: int, blocking: bool = False) -> bool | None:
    """Take an exclusive lock on ``fd``: True when taken, False when another holder has it,
    None where locks do not work (no ``fcntl``, or a file system without them)."""
    if fcntl is None:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        return True
    except BlockingIOError:
        return False
    except OSError:
        return None


def same_file(path: str | Path, fd: int) -> bool:
    """Whether ``path`` still names the file open as ``fd`` (a cleanup may have removed it)."""
    try:
        a, b = os.stat(path), os.fstat(fd)
    except OSError:
        return False
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


def _locked_temp_file(path: Path) -> tuple[int, str]:
    """A new temporary sibling of ``path``, locked, with the umask's mode."""
    while True:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TEMP_SUFFIX, dir=path.parent)
        if hasattr(os, "fchmod"):
            os.fchmod(fd, file_mode())
        else:
            os.chmod(tmp, file_mode())
        try_lock(fd, blocking=True)
        if same_file(tmp, fd):  # not taken by a cleanup between creation and locking
            IN_PROGRESS.add(os.path.abspath(tmp))
            return fd, tmp
        os.close(fd)


# ---- files -------------------------------------------------------------------------------


@contextlib.contextmanager
def atomic_file(path: Path | str, text: bool = False) -> Iterator[IO[Any]]:
    """A file to write ``path`` through: it replaces ``path`` when the block ends without error.

    A crash or an error inside the block leaves ``path`` as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _locked_temp_file(path)
    try:
        with os.fdopen(fd, "w" if text else "wb", **({"encoding": "utf-8"} if text else {})) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
            commit(tmp, path)  # under the lock, so no cleanup can take the file first
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    finally:
        IN_PROGRESS.discard(os.path.abspath(tmp))


def commit(tmp: str | Path, path: Path) -> None:
    """The moment a complete temporary becomes the real file (or folder)."""
    os.replace(tmp, path)


def atomic_write_bytes(path: Path | str, data: bytes) -> None:
    with atomic_file(path) as fh:
        fh.write(data)


def atomic_write_text(path: Path | str, text: str) -> None:
    """Write ``text`` so that a reader (or a kill) sees either the old file or the new one."""
    with atomic_file(path, text=True) as fh:
        fh.write(text)


def atomic_write_json(path: Path | str, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False) + "\n")


def atomic_save(path: Path | str, save: Callable[[IO[bytes]], None]) -> None:
    """Atomically write what ``save(file)`` writes (``numpy.save``, ``numpy.savez`` ...)."""
    with atomic_file(path) as fh:
        save(fh)


@contextlib.contextmanager
def held_lock(path: Path | str) -> Iterator[None]:
    """Hold an exclusive lock on the (persistent) lock file ``path`` for the block: one
    process at a time does what it guards (e.g. generating a dataset into a shared cache)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, file_mode())
    try:
        try_lock(fd, blocking=True)
        yield
    finally:
        os.close(fd)


@contextlib.contextmanager
def folder_lock(folder: Path | str) -> Iterator[None]:
    """Hold an exclusive lock on the folder itself for the block (``flock`` on its descriptor:
    no lock file is left in it, which matters for committed folders). Where folders cannot be
    locked the block runs unlocked."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        yield
        return
    try:
        try_lock(fd, blocking=True)
        yield
    finally:
        os.close(fd)


# ---- directories -------------------------------------------------------------------------


@contextlib.contextmanager
def atomic_directory(path: Path | str, replace: bool = False) -> Iterator[Path]:
    """A temporary folder to fill; it becomes ``path`` when the block ends without error.

    With ``replace``, an existing ``path`` is moved aside and removed once the new folder is
    in place; without, an existing ``path`` is an error (`FileExistsError`).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=TEMP_SUFFIX, dir=path.parent))
        lock_path = tmp / DIR_LOCK
        try:
            os.chmod(tmp, dir_mode())
            fd = os.open(lock_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, file_mode())
        except FileNotFoundError:  # taken by a cleanup at once: try again
            continue
        try_lock(fd, blocking=True)
        if same_file(lock_path, fd):
            break
        os.close(fd)
    IN_PROGRESS.add(os.path.abspath(tmp))
    try:
        yield tmp
        aside = None
        if replace and (path.exists() or path.is_symlink()):
            aside = path.parent / f".{path.name}.{secrets.token_hex(6)}.old{TEMP_SUFFIX}"
            os.replace(path, aside)
        elif path.exists():
            raise FileExistsError(f"{path} exists")
        commit(tmp, path)
        with contextlib.suppress(OSError):
            os.unlink(path / DIR_LOCK)
        if aside is not None:
            if aside.is_dir() and not aside.is_symlink():
                shutil.rmtree(aside, ignore_errors=True)
            else:
                aside.unlink(missing_ok=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        os.close(fd)
        IN_PROGRESS.discard(os.path.abspath(tmp))

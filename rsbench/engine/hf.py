"""Backbones from transformers, loaded offline, and the folders they are looked for in.

rsbench never downloads weights. A checkpoint is a folder written by ``save_pretrained``
(``config.json`` plus ``model.safetensors`` and, for text models, the tokenizer files), found
under its Hugging Face name in the first of:

1. ``--weights-dir`` / the config's ``weights_dir`` / a method's ``weights_dir`` option;
2. ``RSBENCH_WEIGHTS`` (a folder, or several separated by ``:``);
3. the small pretrained encoders shipped with rsbench (``rsbench/small-*``, in ``rsbench/weights``);
4. the Hugging Face cache (``HF_HOME`` / ``HF_HUB_CACHE``), read with ``local_files_only``.

In a folder, ``<dir>/<org>/<name>`` and ``<dir>/<name>`` are both accepted. A checkpoint found
nowhere is one line naming it and where to put it (`MissingCheckpointError`, exit 2), raised
before any training by the runner's check of every cell.

Only concrete model classes are used (``CLIPModel``, ``BertModel``, ``ResNetModel``): the
``Auto*`` classes ask the Hub whether a repository exists even for a local folder.
"""

from __future__ import annotations

import hashlib
import os
from functools import lru_cache
from pathlib import Path
from typing import Any

from rsbench.io.errors import RsbenchError

#: the small pretrained encoders that ship inside the package (see `tools/pretrain_small_encoders.py`)
SHIPPED_DIR = Path(__file__).resolve().parent.parent / "weights"
#: other names under which the same weights are published or cached
ALIASES = {
    "google-bert/bert-base-uncased": ("bert-base-uncased",),
    "bert-base-uncased": ("google-bert/bert-base-uncased",),
}
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")


class MissingCheckpointError(RsbenchError):
    """A checkpoint that is in none of the places rsbench looks (nothing is downloaded)."""


def search_dirs(weights_dir: str | Path | None = None) -> list[Path]:
    """The folders searched for checkpoints, in order (the Hugging Face cache comes after)."""
    dirs = []
    if weights_dir:
        dirs.append(Path(weights_dir).expanduser())
    for part in os.environ.get("RSBENCH_WEIGHTS", "").split(os.pathsep):
        if part:
            dirs.append(Path(part).expanduser())
    dirs.append(SHIPPED_DIR)
    return dirs


def _hf_cache_folder(name: str) -> Path | None:
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:  # pragma: no cover - transformers depends on it
        return None
    found = try_to_load_from_cache(name, "config.json")
    return Path(found).parent if isinstance(found, str) else None


def find_checkpoint(name: str, weights_dir: str | Path | None = None) -> Path | None:
    """The folder holding checkpoint ``name``, or None."""
    candidates = (name, *ALIASES.get(name, ()))
    for base in search_dirs(weights_dir):
        for candidate in candidates:
            for folder in (base / candidate, base / candidate.split("/")[-1]):
                if (folder / "config.json").is_file():
                    return folder
    for candidate in candidates:
        folder = _hf_cache_folder(candidate)
        if folder is not None:
            return folder
    return None


def require_checkpoint(name: str, weights_dir: str | Path | None = None) -> Path:
    folder = find_checkpoint(name, weights_dir)
    if folder is None:
        place = Path(weights_dir) / name if weights_dir else Path("<weights-dir>") / name
        raise MissingCheckpointError(
            f"checkpoint {name!r} not found offline: put its save_pretrained folder at {place} "
            f"(with --weights-dir or RSBENCH_WEIGHTS) or into the Hugging Face cache; "
            f"looked in {', '.join(map(str, search_dirs(weights_dir)))} and the HF cache"
        )
    return folder


@lru_cache(maxsize=64)
def _file_sha256(path: str, size: int, mtime_ns: int) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()


def weights_fingerprint(folder: Path) -> str:
    """sha256 of a checkpoint's weights file: what feature caches and records name it by."""
    for filename in WEIGHT_FILES:
        path = Path(folder) / filename
        if path.is_file():
            st = path.stat()
            return _file_sha256(str(path.resolve()), st.st_size, st.st_mtime_ns)
    raise MissingCheckpointError(
        f"checkpoint folder {folder} has no weights file ({', '.join(WEIGHT_FILES)})"
    )


def checkpoint_info(name: str, folder: Path) -> dict[str, Any]:
    import transformers

    return {
        "checkpoint": name,
        "sha256": weights_fingerprint(folder),
        "transformers": transformers.__version__,
    }


def attention_for(device: str) -> str:
    """The attention kernel a transformers model is loaded with: ``eager`` on the CPU, where
    the small profile's CLIP (64-wide, 50 image and ~20 text tokens) trains a step in 48 ms
    with it against 61 ms with ``sdpa`` (batch 100, two threads; the scores agree to float
    rounding), and ``sdpa`` on GPUs, where its fused kernels win."""
    return "eager" if device == "cpu" else "sdpa"


def load_pretrained(cls: type, name: str, weights_dir: str | Path | None = None, **kwargs: Any):
    """``cls.from_pretrained`` on the checkpoint's folder, offline; returns (model, info).

    transformers prints a table for every load whose keys differ from the class's. Weights the
    checkpoint has and the class does not use (a pretraining head, a pooler no method reads)
    are dropped without a word; weights the class has and the checkpoint lacks are initialised
    at random, which changes results, so those are said in one line, named; weights of another
    shape are an error that names them.
    """
    from transformers.utils import logging as hf_logging

    folder = require_checkpoint(name, weights_dir)
    hf_logging.disable_progress_bar()  # rsbench reports its own progress
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        model, loading = cls.from_pretrained(
            folder,
            local_files_only=True,
            output_loading_info=True,
            ignore_mismatched_sizes=True,  # checked below, with the keys named
            **kwargs,
        )
    except (OSError, ValueError, RuntimeError) as exc:
        raise RsbenchError(
            f"checkpoint {name!r} in {folder} cannot be loaded as {cls.__name__}: {str(exc).splitlines()[0]}"
        ) from None
    finally:
        hf_logging.set_verbosity(verbosity)
    mismatched = sorted(loading.get("mismatched_keys") or [])
    if mismatched:
        key, stored, expected = mismatched[0]
        raise RsbenchError(
            f"checkpoint {name!r} in {folder} does not fit {cls.__name__}: {len(mismatched)} "
            f"weights have other shapes, e.g. {key} is {tuple(stored)} in the checkpoint and "
            f"{tuple(expected)} in the model"
        )
    missing = sorted(loading.get("missing_keys") or [])
    if missing:
        from rsbench.io import progress

        shown = ", ".join(missing[:4]) + (
            f" and {len(missing) - 4} more" if len(missing) > 4 else ""
        )
        progress.say(
            f"rsbench: checkpoint {name!r} lacks {len(missing)} weights of {cls.__name__}, "
            f"initialised at random: {shown}"
        )
    return model, checkpoint_info(name, folder)


def load_config(cls: type, name: str, weights_dir: str | Path | None = None):
    """A checkpoint's configuration only (for random initialisation at the same shapes)."""
    return cls.from_pretrained(require_checkpoint(name, weights_dir), local_files_only=True)


def load_tokenizer(cls: type, name: str, weights_dir: str | Path | None = None):
    """The tokenizer saved with a checkpoint, offline, checked for the silent-``[UNK]`` trap.

    transformers 5 builds a 5-token BERT vocabulary, without error, from a ``vocab_file=``
    argument it ignores; a tokenizer whose vocabulary is that small is refused here.
    """
    folder = require_checkpoint(name, weights_dir)
    try:
        tokenizer = cls.from_pretrained(folder, local_files_only=True)
    except (OSError, ValueError, TypeError) as exc:
        raise RsbenchError(
            f"the tokenizer of checkpoint {name!r} in {folder} cannot be loaded: {str(exc).splitlines()[0]}"
        ) from None
    if len(tokenizer) < 32:
        raise RsbenchError(
            f"the tokenizer of checkpoint {name!r} in {folder} has only {len(tokenizer)} tokens: "
            "its vocabulary files are missing or were not read"
        )
    return tokenizer

"""synthrs: the embedded synthetic remote-sensing retrieval dataset.

Procedurally rendered top-down scenes (`synthrs_scenes`) with five captions each, generated
once from a seed into the user cache directory **in the RSITMD file format** (a Karpathy-style
``dataset_synthrs.json`` plus ``images/<class>_<n>.tif``) and read back through the same
loader as the real datasets (`LocalDataset`: the Karpathy parser, the image-folder lookup, the
image check). So ``rsbench run`` needs no download, and the loading path it exercises is the
real one. Its split definition, ``synthrs``, is the file's own train / val / test split;
``chnr`` (CHNR's protocol, `split_definitions.chnr_split`) re-draws every generated image into
train / query / database.

Every image is rendered from its own generator, seeded by (dataset seed, split, index): the
dataset is identical on every machine and independent of generation order. Classes are
balanced within each split.

``synthrs-tiny`` is the same generator at a size meant for tests.

The folder is checked before each use: its completion marker,
``synthrs.json``, is written last and lists the sha256 of every file. A folder whose marker is
missing or whose files differ from it (a deleted annotation file, a truncated image, an
interrupted generation by an older version) is generated again, under a lock so that two
processes sharing the cache generate it once.
"""

from __future__ import annotations

import hashlib
import io
import json
import multiprocessing
import os
import random
import re
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from rsbench.api import (
    DatasetSplits,
    RsbenchError,
    atomic_directory,
    atomic_write_json,
    bar,
    cache_folder,
    canonical_json,
    held_lock,
    say,
    write_karpathy,
)
from rsbench_plugins.datasets.annotations import Annotation
from rsbench_plugins.datasets.local import LocalDataset
from rsbench_plugins.datasets.split_definitions import SplitParts, chnr_split, karpathy_split

JSON_NAME = "dataset_synthrs.json"
IMAGE_DIR = "images"
MARKER = "synthrs.json"


def _tiff_compression() -> str | None:
    from PIL import features

    return "tiff_deflate" if features.check("libtiff") else None


#: the options that decide what is generated (and so name the cache folder)
GENERATOR_OPTIONS = ("train", "val", "test", "image_size", "seed")


class SynthRS(LocalDataset):
    """Procedurally rendered RS scenes with grammar captions (embedded, no download)."""

    version = "1"
    default_profile = "small"  # ``--profile auto`` trains the small encoders here
    folder_names = ("synthrs",)
    annotation_files = (JSON_NAME,)
    image_folders = (IMAGE_DIR,)
    split_definitions = ("synthrs",)

    @dataclass
    class Options:
        train: int = 2000
        val: int = 250
        test: int = 500
        image_size: int = 128
        seed: int = 0
        split: Literal["synthrs", "chnr"] = "synthrs"
        skip_bad_images: bool = False

        def __post_init__(self):
            if min(self.train, self.val, self.test) < 1:
                raise ValueError("train, val and test sizes must be at least 1")
            if self.image_size < 32:
                raise ValueError("image_size must be at least 32")

    #: the cache folder's prefix; what else decides the content goes into `marker_spec`
    folder_prefix = "synthrs"

    def root(self) -> Path:
        digest = hashlib.sha256(canonical_json(self.marker_spec()).encode()).hexdigest()[:12]
        return cache_folder("datasets") / f"{self.folder_prefix}-{digest}"

    def keep_captions(self, captions: list[str]) -> list[str]:
        """The captions of a rendered scene that go into the dataset (all of them here)."""
        return captions

    def locate(self) -> Path:
        """The cache folder the dataset is generated into (and read from)."""
        return self.root()

    def read(self) -> DatasetSplits:
        self.ensure_generated()
        return super().read()

    def load(self) -> DatasetSplits:
        self.ensure_generated()
        return super().load()

    def ensure_generated(self) -> None:
        """Generate the folder unless it is complete (see module docstring)."""
        root = self.root()
        if self.damage(root) is None:  # hashing every file: about 0.2 s for the full synthrs
            return
        try:
            self._generate_locked(root)
        except (FileExistsError, NotADirectoryError, IsADirectoryError) as exc:
            raise RsbenchError(
                f"cannot generate {self.name} into {root}: {exc.strerror or exc} "
                f"({exc.filename}); set RSBENCH_CACHE to a folder rsbench may write"
            ) from None

    def _generate_locked(self, root: Path) -> None:
        with held_lock(root.parent / f".{root.name}.lock"):
            why = self.damage(root)  # another process may have generated it meanwhile
            if why is not None:
                if root.exists() or root.is_symlink():
                    say(f"rsbench: {root} is incomplete or damaged ({why}); generating it again")
                else:
                    say(f"rsbench: generating {self.name} into {root} (first use only)")
                self.generate(root, progress=bar)

    def marker_spec(self) -> dict:
        params = self.params()
        return {"generator": self.version, **{k: params[k] for k in GENERATOR_OPTIONS}}

    def damage(self, root: Path) -> str | None:
        """Why ``root`` is not a complete generated dataset (None when it is)."""
        if not root.is_dir():
            return "missing"
        try:
            marker = json.loads((root / MARKER).read_text(encoding="utf-8"))
            if isinstance(marker, dict) and "files" not in marker and "generator" in marker:
                return f"its marker {MARKER} has no content hash (an older rsbench made it)"
            files = marker["files"]
            content_hash = marker["content_hash"]
            spec = {k: marker[k] for k in self.marker_spec()}
        except (OSError, ValueError, KeyError, TypeError):
            return f"no valid completion marker {MARKER}"
        if spec != self.marker_spec() or _files_hash(files) != content_hash:
            return f"its marker {MARKER} does not match"
        for relpath, digest in sorted(files.items()):
            try:
                if _sha256(root / relpath) != digest:
                    return f"{relpath} differs from what was generated"
            except OSError:
                return f"{relpath} is missing"
        return None

    def _split_parts(self, annotations: list[Annotation], facts: dict) -> SplitParts:
        if self.options.split == "chnr":
            return chnr_split(annotations, self.name)
        return karpathy_split(annotations, self.name)  # the generated file's own three splits

    def generate(self, root: Path, progress=None) -> None:
        """Render every image and write the dataset, atomically (a crash leaves nothing half-made)."""
        with atomic_directory(root, replace=True) as tmp:
            self._write(tmp, progress)

    def _write(self, tmp: Path, progress=None) -> None:
        from rsbench_plugins.datasets.synthrs_scenes import SCENE_CLASSES

        o = self.options
        (tmp / IMAGE_DIR).mkdir()
        compression = _tiff_compression()
        sizes = {"train": o.train, "val": o.val, "test": o.test}
        jobs = []
        for split, count in sizes.items():
            classes = [SCENE_CLASSES[k % len(SCENE_CLASSES)] for k in range(count)]
            random.Random(f"synthrs-order-{o.seed}-{split}").shuffle(classes)
            jobs += [
                (scene_class, f"synthrs-{o.seed}-{split}-{k}", o.image_size, compression, split)
                for k, scene_class in enumerate(classes)
            ]
        bar = (
            progress(total=len(jobs), desc=f"generating {self.name}", unit="img")
            if progress
            else None
        )
        entries, number = [], 0
        with _renderer(len(jobs)) as render:
            for (scene_class, _, _, _, split), (tiff, captions) in zip(
                jobs, render(_render_tiff, jobs), strict=True
            ):
                if bar is not None:
                    bar.update(1)
                captions = self.keep_captions(captions)
                if not captions:
                    continue
                filename = f"{scene_class}_{number}.tif"
                (tmp / IMAGE_DIR / filename).write_bytes(tiff)
                entries.append({"filename": filename, "split": split, "sentences": captions})
                number += 1
        if bar is not None:
            bar.close()
        write_karpathy(tmp / JSON_NAME, entries)
        files = {
            p.relative_to(tmp).as_posix(): _sha256(p)
            for p in sorted((tmp / IMAGE_DIR).iterdir()) + [tmp / JSON_NAME]
        }
        marker = {**self.marker_spec(), "content_hash": _files_hash(files), "files": files}
        atomic_write_json(tmp / MARKER, marker)  # last: the dataset is complete


#: below this many images a process pool costs more than it saves (tests use tiny datasets)
PARALLEL_FROM = 500


def _render_tiff(job: tuple) -> tuple[bytes, list[str]]:
    """One scene rendered from its own seed and encoded as the TIFF file it is saved as."""
    from rsbench_plugins.datasets.synthrs_scenes import render_scene

    scene_class, seed, size, compression, _ = job
    image, captions = render_scene(scene_class, random.Random(seed), size=size)
    buffer = io.BytesIO()
    image.save(buffer, format="TIFF", compression=compression)
    return buffer.getvalue(), captions


@contextmanager
def _renderer(count: int):
    """``map`` over the scenes: in worker processes (one per CPU) for a full-size dataset,
    in this process otherwise. Every scene has its own seed, so the files are the same either
    way, byte for byte."""
    workers = min(os.cpu_count() or 1, 8)
    if count < PARALLEL_FROM or workers < 2:
        yield map
        return
    context = multiprocessing.get_context("spawn")  # no fork of a process that holds torch threads
    with ProcessPoolExecutor(workers, mp_context=context) as pool:
        yield lambda fn, jobs: pool.map(fn, jobs, chunksize=32)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _files_hash(files: dict) -> str:
    return hashlib.sha256(canonical_json(files).encode()).hexdigest()


class SynthRSTiny(SynthRS):
    """synthrs at test size: 54 training, 18 validation and 18 test images of 64 px."""

    @dataclass
    class Options(SynthRS.Options):
        train: int = 54
        val: int = 18
        test: int = 18
        image_size: int = 64


def caption_key(text: str) -> str:
    """A caption as compared for disjointness: lower-case words, punctuation and spacing dropped."""
    return " ".join(re.findall(r"[a-z0-9]+", text.lower()))


class SynthRSPretrain(SynthRS):
    """A separate synthrs corpus for pretraining the small encoders, disjoint from the benchmark.

    Rendered by the same generator with another seed (so no image is shared), at 4,000 / 200 /
    200 images, keeping only the captions whose text (compared as lower-case words) appears in
    no split of the default ``synthrs`` and ``synthrs-tiny``; an image left with no caption is
    dropped. About half of the grammar's captions recur across seeds ("a port with ships"),
    so about half are dropped. `tools/pretrain_small_encoders.py` trains rsbench's small CLIP,
    BERT and ResNets on its training split; nothing of the benchmark is seen in pretraining.
    """

    folder_prefix = "synthrs-pretrain"
    #: the datasets whose captions are excluded (default options)
    excluded_datasets = (SynthRS, SynthRSTiny)

    @dataclass
    class Options(SynthRS.Options):
        train: int = 4000
        val: int = 200
        test: int = 200
        seed: int = 1

    def marker_spec(self) -> dict:
        excluded = [cls().marker_spec() for cls in self.excluded_datasets]
        return {**super().marker_spec(), "corpus": "pretrain", "excluding": excluded}

    def _write(self, tmp: Path, progress=None) -> None:
        self._excluded = self.excluded_captions()
        super()._write(tmp, progress)

    def keep_captions(self, captions: list[str]) -> list[str]:
        return [c for c in captions if caption_key(c) not in self._excluded]

    def excluded_captions(self) -> set[str]:
        """The caption keys of every split of the excluded datasets (generating them if needed)."""
        keys: set[str] = set()
        for cls in self.excluded_datasets:
            dataset = cls()
            dataset.name = "synthrs" if cls is SynthRS else "synthrs-tiny"
            splits = dataset.read()
            for split in (splits.train, splits.val, splits.test):
                keys.update(caption_key(t) for t in split.texts)
        return keys

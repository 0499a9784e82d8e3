"""The data model every dataset plugin fills and every method reads.

A dataset gives three `Split`s. A split is a list of images, each with a stable id, a file
path, its captions (five usually; any count is allowed) and an optional scene class. The
*caption rows* of a split are its captions in image order, each image's captions
consecutive: that row order is what noise files index.

A split definition may give its test split a query/database partition (``Split.queries``: the
first that many images, with their captions, are the queries and the rest the retrieval
database), as the hashing literature evaluates (CHNR: 20 % queries, 80 % database). Only the
hashing metrics use it; R@K always ranks the whole split.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np

SPLIT_NAMES = ("train", "val", "test")


@dataclass(frozen=True)
class ImageItem:
    """One image and its captions."""

    id: str  # stable identifier, e.g. the file name
    path: Path
    captions: tuple[str, ...]
    scene_class: str | None = None
    keywords: tuple[str, ...] = ()  # RSITMD's keyword annotation, where a dataset has one


@dataclass(frozen=True)
class Split:
    """One split of a dataset: its images in a fixed order, captions consecutive per image."""

    name: str
    images: tuple[ImageItem, ...]
    #: the first ``queries`` images are the queries of a query/database protocol (None: none)
    queries: int | None = None

    def __len__(self) -> int:
        return len(self.images)

    @cached_property
    def texts(self) -> list[str]:
        """Caption rows: every caption, image by image."""
        return [caption for item in self.images for caption in item.captions]

    @cached_property
    def caption_image(self) -> np.ndarray:
        """For each caption row, the index of its image."""
        counts = [len(item.captions) for item in self.images]
        return np.repeat(np.arange(len(self.images), dtype=np.int64), counts)

    @cached_property
    def first_row(self) -> np.ndarray:
        """Index of each image's first caption row (length ``len(images) + 1``)."""
        counts = np.array([len(item.captions) for item in self.images], dtype=np.int64)
        return np.concatenate([[0], np.cumsum(counts)])

    @property
    def paths(self) -> list[Path]:
        return [item.path for item in self.images]

    def classes(self) -> list[str | None]:
        return [item.scene_class for item in self.images]

    def fingerprint(self) -> str:
        """Hash of membership, order and caption text: what a noise file depends on."""
        h = hashlib.sha256()
        for item in self.images:
            h.update(json.dumps([item.id, list(item.captions)], ensure_ascii=False).encode())
            h.update(b"\n")
        return h.hexdigest()

    def eval_set(self) -> EvalSet:
        return EvalSet(list(self.images), list(self.texts), self.caption_image.copy())


@dataclass
class DatasetSplits:
    """The three splits of a dataset under one split definition."""

    train: Split
    val: Split
    test: Split
    split_name: str = "default"
    info: dict = field(default_factory=dict)  # free-form facts for records (root, format ...)

    def __getitem__(self, name: str) -> Split:
        if name not in SPLIT_NAMES:
            raise KeyError(name)
        return getattr(self, name)

    def membership_hash(self) -> str:
        """Hash of which images are in which split, in order (not of caption text)."""
        h = hashlib.sha256()
        for name in SPLIT_NAMES:
            h.update(
                name.encode() + b":" + "\n".join(i.id for i in self[name].images).encode() + b"\n"
            )
            if self[name].queries is not None:  # a partition is part of the membership
                h.update(f"{name} queries:{self[name].queries}\n".encode())
        return h.hexdigest()


@dataclass
class EvalSet:
    """Images and captions to retrieve among, with each caption's ground-truth image.

    A clean split gives its own captions; a noisy validation set gives the noisy pairing.
    """

    images: list[ImageItem]
    texts: list[str]
    caption_image: np.ndarray

    def __post_init__(self) -> None:
        self.caption_image = np.asarray(self.caption_image, dtype=np.int64)
        if len(self.texts) != len(self.caption_image):
            raise ValueError("texts and caption_image differ in length")


def make_split(name: str, images: Sequence[ImageItem], queries: int | None = None) -> Split:
    """Build a split, refusing duplicate image ids (they would make rows ambiguous).

    ``queries``: the number of leading images that are queries (the rest: the database).
    """
    seen: set[str] = set()
    for item in images:
        if item.id in seen:
            raise ValueError(f"split {name!r}: image id {item.id!r} appears twice")
        seen.add(item.id)
    if queries is not None and not 0 < queries < len(images):
        raise ValueError(
            f"split {name!r}: {queries} query images of {len(images)}; a query/database "
            "partition needs at least one image on each side"
        )
    return Split(name, tuple(images), queries)

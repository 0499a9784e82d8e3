"""Scene classes for the class-based noise models: names, confusion maps, caption similarity.

Datasets spell the same class differently (NWPU ``dense_residential``, RSITMD
``denseresidential``), so classes are compared by `class_key`: lower case without spaces,
underscores or hyphens. Images without a class (RSICD's numeric file names) have key None and
are left alone by every class-based model.

The confusion maps are data, one JSON file per dataset under ``data/confusion/``: a list of
groups of look-alike classes. A split is matched to the map whose class list is closest to its
own: the one that knows most of the split's classes, then the one with the fewest others
(Jaccard), since a noise model only sees the split, not the dataset's name.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

from rsbench.api import RsbenchError, Split
from rsbench_plugins.noise.tfidf import cosine_matrix

DATA = Path(__file__).parent / "data"


def class_key(name: str | None) -> str | None:
    """The comparable form of a class name (None stays None)."""
    if name is None:
        return None
    key = re.sub(r"[^a-z0-9]", "", name.lower())
    return key or None


def image_classes(split: Split, model: str) -> list[str | None]:
    """The class key of every image; refuses a split where no image has a class."""
    keys = [class_key(c) for c in split.classes()]
    if len(keys) and all(k is None for k in keys):
        raise RsbenchError(
            f"noise model {model!r} needs scene classes, but no training image has one "
            "(the dataset gives no class, e.g. numeric file names)"
        )
    return keys


def rows_by_class(split: Split, keys: list[str | None]) -> dict[str, np.ndarray]:
    """The caption rows of each class, in row order."""
    row_keys = [keys[i] for i in split.caption_image.tolist()]
    out: dict[str, list[int]] = {}
    for row, key in enumerate(row_keys):
        if key is not None:
            out.setdefault(key, []).append(row)
    return {k: np.asarray(v, dtype=np.int64) for k, v in sorted(out.items())}


def rows_without_class(split: Split, keys: list[str | None]) -> int:
    """How many caption rows belong to images without a class (class models skip them)."""
    counts = np.diff(split.first_row)
    return int(sum(int(c) for c, k in zip(counts, keys, strict=True) if k is None))


@dataclass(frozen=True)
class ConfusionMap:
    """Groups of look-alike classes of one dataset."""

    name: str
    classes: frozenset[str]
    groups: tuple[frozenset[str], ...]

    def partners(self, key: str) -> set[str]:
        """Every class that shares a group with ``key``."""
        return {c for g in self.groups if key in g for c in g} - {key}


@cache
def confusion_maps() -> dict[str, ConfusionMap]:
    """The shipped maps, by dataset name."""
    maps = {}
    for path in sorted((DATA / "confusion").glob("*.json")):
        doc = json.loads(path.read_text())
        classes = frozenset(class_key(c) for c in doc["classes"])
        groups = tuple(frozenset(class_key(c) for c in g) for g in doc["groups"])
        unknown = set().union(*groups) - classes
        if unknown:  # a typo in a shipped map must not pass silently
            raise ValueError(f"confusion map {path.name} groups unknown classes {sorted(unknown)}")
        maps[doc["dataset"]] = ConfusionMap(doc["dataset"], classes, groups)
    return maps


def choose_map(name: str, present: set[str]) -> ConfusionMap | None:
    """The map called ``name``; for "auto" the one that fits the classes ``present`` best."""
    maps = confusion_maps()
    if name == "none":
        return None
    if name != "auto":
        return maps[name]

    def fit(m: ConfusionMap) -> tuple[float, float]:
        shared = len(m.classes & present)
        return shared / max(len(present), 1), shared / max(len(m.classes | present), 1)

    best = max(sorted(maps), key=lambda k: fit(maps[k]))
    return maps[best] if fit(maps[best])[0] > 0 else None


def similar_classes(split: Split, keys: list[str | None], k: int) -> dict[str, list[str]]:
    """For each class, the ``k`` classes whose captions are most alike (TF-IDF cosine).

    Each class is one document: all its training captions joined. Ties go to the class name
    that sorts first, so the answer is deterministic.
    """
    classes = sorted({c for c in keys if c is not None})
    joined = {c: [] for c in classes}
    for item, key in zip(split.images, keys, strict=True):
        if key is not None:
            joined[key].extend(item.captions)
    sim = cosine_matrix([" ".join(joined[c]) for c in classes])
    out = {}
    for i, c in enumerate(classes):
        order = sorted((j for j in range(len(classes)) if j != i), key=lambda j: (-sim[i, j], j))
        out[c] = [classes[j] for j in order[:k]]
    return out


@cache
def _readable_names() -> dict[str, str]:
    return json.loads((DATA / "class_names.json").read_text())["names"]


def readable(name: str) -> str:
    """How a class is written in a sentence ("denseresidential" -> "dense residential area")."""
    return _readable_names().get(class_key(name) or "", name.replace("_", " ").strip())

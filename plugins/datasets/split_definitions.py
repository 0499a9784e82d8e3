"""Split definitions by name: which images are train, val and test, and in which order.

- ``karpathy``: the annotation file's own ``split`` field. A file without validation images
  (RSITMD's) gets a validation split carved from its training images (`carve_validation`).
- ``rrsitr``: the membership RRSITR (MSFLabX/RRSITR, ``precomp/``) trains and evaluates on.
- ``amfmn``: the train / test membership of AMFMN's ``*_precomp/{train,test}_filename.txt``
  (xiaoyuan1996/AMFMN), with a carved validation split: AMFMN re-drew its validation images
  at random for every fold, so there is no published one.
- ``chnr``: CHNR's own protocol, on any dataset (`chnr_split`): half the images train, the
  rest split 20 % queries / 80 % retrieval database (the test split, with that partition), one
  caption per image.

The published definitions ship as file-name lists in ``splits/<definition>/<dataset>.json``,
written by ``tools/make_rrsitr_splits.py`` and ``tools/make_amfmn_splits.py`` (`SplitLists`).

**Order.** Caption rows are what noise files index, so the order of training images is part
of a definition. A list marked ``"train_order": "listed"`` (RRSITR's RSITMD training file,
whose row order the published noise files depend on) fixes the order; otherwise training
images keep the annotation file's order. Listed validation and test images keep the list's
order. Captions always keep the annotation file's order.

**Carved validation.** 10 % of the training images (rounded half up) become the
validation split: those whose ``sha256("rsbench-val:<dataset>:<file name>")`` hex digests are
smallest. The choice depends only on the dataset's name and the set of training file names
(not on file order, the Python version or a random generator), so anyone can recompute it,
and two definitions with the same training images (RSITMD's ``karpathy`` and ``amfmn``) carve
the same validation images. Both parts keep the training order.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from rsbench.api import SPLIT_NAMES, RsbenchError
from rsbench_plugins.datasets.annotations import Annotation

SPLITS_DIR = Path(__file__).resolve().parent / "splits"
VAL_PERCENT = 10
#: split definitions computed from the images themselves, available on every dataset
GENERATED_DEFINITIONS = ("chnr",)
#: what a Karpathy file may call a split, and the split it means (COCO's "restval" is training)
KARPATHY_SPLIT_NAMES = {"train": "train", "restval": "train", "val": "val", "test": "test"}


@dataclass(frozen=True)
class SplitLists:
    """A published split definition for one dataset: file-name lists per split.

    ``train`` None means every image in neither ``val`` nor ``test``; ``val`` None means a
    validation split carved from the training images.
    """

    definition: str
    dataset: str
    test: tuple[str, ...]
    train: tuple[str, ...] | None = None
    val: tuple[str, ...] | None = None
    train_order: str = "dataset"  # "listed": train images in list order; "dataset": file order
    source: dict[str, Any] = field(default_factory=dict)  # where the lists come from

    @classmethod
    def path(cls, definition: str, dataset: str) -> Path:
        return SPLITS_DIR / definition / f"{dataset}.json"

    @classmethod
    def load(cls, definition: str, dataset: str) -> SplitLists:
        path = cls.path(definition, dataset)
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise RsbenchError(
                f"split lists {path} are missing or broken ({exc}); reinstall rsbench"
            ) from None
        return cls(
            definition=doc["definition"],
            dataset=doc["dataset"],
            test=tuple(doc["test"]),
            train=None if doc["train"] is None else tuple(doc["train"]),
            val=None if doc["val"] is None else tuple(doc["val"]),
            train_order=doc["train_order"],
            source=doc.get("source", {}),
        )

    def to_json(self) -> str:
        """The shipped file: one file name per line, so that a change reads well in a diff."""
        doc = {
            "definition": self.definition,
            "dataset": self.dataset,
            "source": self.source,
            "train_order": self.train_order,
            "sizes": {
                name: None if names is None else len(names)
                for name, names in (("train", self.train), ("val", self.val), ("test", self.test))
            },
            "train": None if self.train is None else list(self.train),
            "val": None if self.val is None else list(self.val),
            "test": list(self.test),
        }
        return json.dumps(doc, indent=1, ensure_ascii=False) + "\n"


@dataclass
class SplitParts:
    """The images of each split under one definition, plus facts worth recording.

    ``test_queries``: the ids of the test images that are queries of a query/database
    partition (listed first in ``parts["test"]``); None when the test split has none.
    """

    parts: dict[str, list[Annotation]]
    info: dict[str, Any] = field(default_factory=dict)
    test_queries: frozenset[str] | None = None


def carve_validation(
    train: list[Annotation], dataset: str
) -> tuple[list[Annotation], list[Annotation]]:
    """Split ``train`` into (train, val) with `VAL_PERCENT` % of it in val (see the module docstring)."""
    count = (len(train) * VAL_PERCENT + 50) // 100  # rounded half up, in integers

    def rank(item: Annotation) -> str:
        return hashlib.sha256(f"rsbench-val:{dataset}:{item.id}".encode()).hexdigest()

    chosen = {item.id for item in sorted(train, key=rank)[:count]}
    return [a for a in train if a.id not in chosen], [a for a in train if a.id in chosen]


def karpathy_split(annotations: list[Annotation], dataset: str) -> SplitParts:
    """The annotation file's own split field; a validation split carved when it has none."""
    parts: dict[str, list[Annotation]] = {name: [] for name in SPLIT_NAMES}
    for annotation in annotations:
        name = KARPATHY_SPLIT_NAMES.get(str(annotation.split))
        if name is None:
            raise RsbenchError(
                f"{dataset}: image {annotation.id} has split {annotation.split!r}; "
                f"valid: {', '.join(KARPATHY_SPLIT_NAMES)}"
            )
        parts[name].append(annotation)
    info: dict[str, Any] = {}
    if not parts["val"]:
        parts["train"], parts["val"] = carve_validation(parts["train"], dataset)
        info["val"] = f"carved: {VAL_PERCENT} % of the annotation file's training images"
    return SplitParts(parts, info)


def listed_split(annotations: list[Annotation], lists: SplitLists) -> SplitParts:
    """A published definition applied to the images of an annotation file.

    Images a list names that the annotation file lacks are left out and counted (a partial
    copy of a dataset still loads, and its records say so through the membership hash);
    images in no list are left out too (UCM's and Sydney's ``amfmn`` lists cover 90 %).
    """
    by_id = {a.id: a for a in annotations}
    listed: dict[str, tuple[str, ...]] = {"test": lists.test}
    if lists.val is not None:
        listed["val"] = lists.val
    if lists.train is not None:
        listed["train"] = lists.train
    absent = {name: sum(1 for i in names if i not in by_id) for name, names in listed.items()}
    parts = {name: [by_id[i] for i in names if i in by_id] for name, names in listed.items()}
    if lists.train is None:
        taken = {i for names in listed.values() for i in names}
        parts["train"] = [a for a in annotations if a.id not in taken]
    elif lists.train_order == "dataset":
        members = set(lists.train)
        parts["train"] = [a for a in annotations if a.id in members]
    info: dict[str, Any] = {}
    if lists.val is None:
        parts["train"], parts["val"] = carve_validation(parts["train"], lists.dataset)
        info["val"] = f"carved: {VAL_PERCENT} % of the listed training images"
    assigned = {a.id for names in parts.values() for a in names}
    unassigned = sum(1 for a in annotations if a.id not in assigned)
    if any(absent.values()):
        info["listed_but_absent"] = {name: n for name, n in absent.items() if n}
    if unassigned:
        info["in_no_split"] = unassigned
    return SplitParts(parts, info)


#: CHNR's split (rrsitr-chnr.md §B.6): the share of images that train, and the share of the
#: other images that are queries (the rest is the retrieval database)
CHNR_TRAIN, CHNR_QUERY = 0.5, 0.2


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def chnr_split(annotations: list[Annotation], dataset: str) -> SplitParts:
    """CHNR's protocol (comrados/noisy_captions ``data_handler.py``), the annotation file's own
    split ignored, as CHNR ignores it:

    - the images ranked by ``sha256("rsbench-chnr:<dataset>:<file name>")``: the first
      ``int(0.5 · N)`` train, then ``int(0.2 · rest)`` are the queries and the others the
      retrieval database (UCM's 2,100 images: 1,050 / 210 / 840, as CHNR's);
    - the test split is the queries followed by the database (`rsbench.plugin.split.Split.queries`);
    - a validation split is carved from the training images (10 %, `carve_validation`): CHNR
      validated on its test split, which rsbench never selects on;
    - one caption per image in every split, picked by
      ``sha256("rsbench-chnr-caption:<dataset>:<file name>")`` modulo the image's caption count
      (CHNR draws one at random with seed 42 and never uses the other four).

    CHNR's own draw (Python's ``random`` with seed 42 over its image order) cannot be
    recomputed without its files; this one is fixed, order-independent and recomputable.
    """
    ranked = sorted(annotations, key=lambda a: _digest(f"rsbench-chnr:{dataset}:{a.id}"))
    n_train = int(len(ranked) * CHNR_TRAIN)
    n_query = int((len(ranked) - n_train) * CHNR_QUERY)
    if n_query < 1 or len(ranked) - n_train - n_query < 1:
        raise RsbenchError(
            f"{dataset}: split 'chnr' needs at least one query and one database image; "
            f"{len(ranked)} images are too few"
        )
    train_ids = {a.id for a in ranked[:n_train]}
    query_ids = frozenset(a.id for a in ranked[n_train : n_train + n_query])

    def one_caption(a: Annotation) -> Annotation:
        if len(a.captions) <= 1:
            return a
        pick = int(_digest(f"rsbench-chnr-caption:{dataset}:{a.id}"), 16) % len(a.captions)
        return replace(a, captions=(a.captions[pick],))

    kept = [one_caption(a) for a in annotations]  # annotation-file order within each part
    train = [a for a in kept if a.id in train_ids]
    test = [a for a in kept if a.id in query_ids]
    test += [a for a in kept if a.id not in train_ids and a.id not in query_ids]
    train, val = carve_validation(train, dataset)
    info = {
        "val": f"carved: {VAL_PERCENT} % of the chnr training images",
        "chnr": (
            f"{n_train} training images (validation carved from them), {n_query} queries, "
            f"{len(ranked) - n_train - n_query} database images; one caption per image"
        ),
    }
    return SplitParts({"train": train, "val": val, "test": test}, info, query_ids)

"""`check_dataset`: load a dataset and check its splits, ids, captions and file paths."""

from __future__ import annotations

import os
from pathlib import Path

from rsbench.plugin.components import Dataset
from rsbench.plugin.split import SPLIT_NAMES, DatasetSplits, Split
from rsbench.testing.rules import check_options, require


def check_dataset(dataset: Dataset, *, images: bool = True) -> DatasetSplits:
    """Load ``dataset`` twice and check the dataset contract; return its splits.

    Raises `ConformanceError` naming the rule a dataset breaks:

    - its options are recorded (`check_options`); ``default_profile`` is ``small`` or ``paper``;
    - ``load()`` returns `DatasetSplits` with non-empty ``train`` (two images at least), ``val``
      and ``test`` splits, each named as its field;
    - image ids are non-empty strings, unique within a split and never in two splits (a test
      image seen in training would inflate every result);
    - every image has a caption, every caption is a string, scene classes are strings or None;
    - paths are confined: every image path lies inside ``locate()``'s folder (where the
      dataset has one), links followed unless its ``follow_symlinks`` option allows them, so a
      dataset folder cannot make rsbench read other files;
      with ``images`` (default) every image file exists;
    - it is deterministic: a new instance built from ``params()`` loads the same images,
      captions and order, and ``read()`` gives the same membership as ``load()``.
    """
    check_options(dataset)
    require(
        type(dataset).default_profile in ("small", "paper"),
        dataset,
        f"default_profile must be 'small' or 'paper', got {type(dataset).default_profile!r}",
    )
    splits = dataset.load()
    require(
        isinstance(splits, DatasetSplits),
        dataset,
        f"load() returned {type(splits).__name__}, not DatasetSplits",
    )
    require(
        isinstance(splits.split_name, str) and splits.split_name, dataset, "split_name is empty"
    )
    require(isinstance(splits.info, dict), dataset, "info must be a dict (it goes into records)")
    owner: dict[str, str] = {}
    for name in SPLIT_NAMES:
        split = splits[name]
        _check_split(dataset, name, split)
        for item in split.images:
            other = owner.setdefault(item.id, name)
            require(
                other == name,
                dataset,
                f"image {item.id!r} is in both the {other} and the {name} split",
            )
    require(len(splits.train) >= 2, dataset, "the train split needs two images at least")
    folder = dataset.locate()
    if folder is not None:
        _check_confined(dataset, splits, Path(folder))
    if images:
        missing = [
            i.path for n in SPLIT_NAMES for i in splits[n].images if not Path(i.path).is_file()
        ]
        require(
            not missing, dataset, f"{len(missing)} image files do not exist, e.g. {missing[:1]}"
        )
    again = type(dataset)(**dataset.params())
    again.name, again.version = dataset.name, dataset.version
    second = again.load()
    for name in SPLIT_NAMES:
        require(
            splits[name].fingerprint() == second[name].fingerprint(),
            dataset,
            f"two loads gave different {name} splits (images, captions or their order)",
        )
    require(
        again.read().membership_hash() == splits.membership_hash(),
        dataset,
        "read() and load() put different images in the splits",
    )
    return splits


def _check_split(dataset: Dataset, name: str, split: Split) -> None:
    require(isinstance(split, Split), dataset, f"{name} is a {type(split).__name__}, not a Split")
    require(split.name == name, dataset, f"the {name} split is named {split.name!r}")
    require(len(split) > 0, dataset, f"the {name} split has no images")
    seen: set[str] = set()
    for item in split.images:
        require(
            isinstance(item.id, str) and item.id,
            dataset,
            f"{name}: image ids must be non-empty strings, got {item.id!r}",
        )
        require(item.id not in seen, dataset, f"{name}: image id {item.id!r} appears twice")
        seen.add(item.id)
        require(item.captions, dataset, f"{name}: image {item.id!r} has no caption")
        require(
            all(isinstance(c, str) for c in item.captions),
            dataset,
            f"{name}: image {item.id!r} has a caption that is not a string",
        )
        require(
            item.scene_class is None or isinstance(item.scene_class, str),
            dataset,
            f"{name}: image {item.id!r} has scene class {item.scene_class!r} (a string or None)",
        )


def _check_confined(dataset: Dataset, splits: DatasetSplits, folder: Path) -> None:
    """Every image path inside the folder; links followed too, unless ``follow_symlinks``."""
    follow = bool(getattr(dataset.options, "follow_symlinks", False))
    roots = [(os.path.abspath(folder), os.path.abspath)]
    if not follow:
        roots.append((os.path.realpath(folder), os.path.realpath))
    for name in SPLIT_NAMES:
        for item in splits[name].images:
            for root, resolve in roots:
                path = resolve(item.path)
                require(
                    os.path.commonpath([root, path]) == root,
                    dataset,
                    f"{name}: image {item.id!r} lies outside the dataset folder {folder} "
                    f"(it is {path})",
                )

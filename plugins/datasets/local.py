"""The shared base of datasets read from a downloaded folder: RSITMD, RSICD, NWPU, UCM, Sydney.

A dataset plugin only declares where its files are (`LocalDataset` class attributes) and,
where needed, how to read its annotation file and name its scene classes. This base does the
rest the same way for all of them:

1. **Find the dataset folder** (`locate`): ``data_root`` (``--data-root`` / the config) or
   ``RSBENCH_DATA``, either the dataset's own folder or a folder holding it
   (`rsbench.data.root.find_dataset_root`).
2. **Read the annotations**: the dataset's own annotation file when present, otherwise
   RRSITR's three CSV files when all of them are present (the one other complete layout).
3. **Apply the split definition** named by the ``split`` option (`split_definitions`).
4. **Find the image folder** among the known names for the dataset (`ImageFolder.choose`).
5. **Check every image** (`load` only; `read` skips this): a missing or unreadable image is an
   error that names it, says how many there are and where it looked, unless
   ``skip_bad_images`` drops them (with their captions) and counts them in
   ``info["skipped_images"]``.

Symbolic links: the dataset folder itself may be a link (``~/data/RSITMD -> /scratch/RSITMD``),
but every file read from it, annotation files and images, must lie inside it once links are
followed. A link inside the folder that leads out of it (an image, or an image folder) is
refused with an error naming it, unless ``follow_symlinks`` (``--follow-symlinks``) allows
it: a dataset folder received from elsewhere cannot make rsbench read other files.

Nothing is ever downloaded. Empty, one-word and duplicate captions are kept as they are.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rsbench.api import (
    LOCAL,
    SPLIT_NAMES,
    Dataset,
    DatasetSplits,
    ImageItem,
    RsbenchError,
    class_from_filename,
    find_dataset_root,
    make_split,
    say,
)
from rsbench_plugins.datasets.annotations import (
    Annotation,
    karpathy_annotations,
    rrsitr_csv_annotations,
)
from rsbench_plugins.datasets.split_definitions import (
    GENERATED_DEFINITIONS,
    SplitLists,
    SplitParts,
    chnr_split,
    karpathy_split,
    listed_split,
)

#: how many images of the annotation file decide which image folder and layout are used
PROBE_IMAGES = 32
#: how many bad images an error message names
NAMED_BAD_IMAGES = 3


@dataclass(frozen=True)
class ImageFolder:
    """The folder images are read from, and which of an annotation's layouts it uses."""

    path: Path
    layout: int  # index into `Annotation.relpaths`
    tried: tuple[Path, ...]  # every candidate folder, for messages

    def image_path(self, annotation: Annotation) -> Path:
        return self.path / annotation.relpaths[min(self.layout, len(annotation.relpaths) - 1)]

    def describe(self) -> str:
        others = [str(p) for p in self.tried if p != self.path]
        also = f" (also tried: {', '.join(others)})" if others else ""
        state = "" if self.path.is_dir() else " (which does not exist)"
        return f"{self.path}{state}{also}"

    @classmethod
    def choose(
        cls, root: Path, names: Sequence[str], annotations: Sequence[Annotation]
    ) -> ImageFolder:
        """The candidate folder and layout holding most of the first `PROBE_IMAGES` images.

        With none found there, the first candidate folder that exists (or the first name), so
        that the image check reports the missing files and where it looked.
        """
        tried = tuple(root / name for name in names)
        probe = annotations[:PROBE_IMAGES]
        layouts = max((len(a.relpaths) for a in probe), default=1)
        best, best_hits = None, 0
        for folder in tried:
            if not folder.is_dir():
                continue
            for layout in range(layouts):
                candidate = cls(folder, layout, tried)
                hits = sum(candidate.image_path(a).is_file() for a in probe)
                if hits > best_hits:
                    best, best_hits = candidate, hits
        if best is not None:
            return best
        existing = [folder for folder in tried if folder.is_dir()]
        return cls(existing[0] if existing else tried[0], 0, tried)


def bad_images(paths: Sequence[Path]) -> dict[Path, str]:
    """Why each unusable image is unusable (header check), checked on a few threads."""
    from rsbench.api import check_image  # PIL only when images are checked

    workers = min(16, (os.cpu_count() or 2) * 2)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        reasons = list(pool.map(check_image, paths))
    return {path: reason for path, reason in zip(paths, reasons, strict=True) if reason}


def _listed(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def links_out_of(root: Path, paths: Sequence[Path]) -> list[tuple[Path, Path]]:
    """``(path, where it really is)`` for each path that links lead outside ``root``."""
    real_root = Path(os.path.realpath(root))
    real_dirs: dict[Path, Path] = {}
    outside = []
    for path in paths:
        parent = real_dirs.get(path.parent)
        if parent is None:
            parent = real_dirs[path.parent] = Path(os.path.realpath(path.parent))
        real = Path(os.path.realpath(path)) if os.path.islink(path) else parent / path.name
        if not real.is_relative_to(real_root):
            outside.append((path, real))
    return outside


class LocalDataset(Dataset):
    """A retrieval dataset read from a downloaded folder (never downloaded by rsbench)."""

    version = "1"
    #: names the dataset's folder goes by under a data root (matched case-insensitively)
    folder_names: tuple[str, ...] = ()
    #: the annotation file, as paths relative to the dataset folder, tried in order
    annotation_files: tuple[str, ...] = ()
    #: RRSITR's CSV files for train, val and test, where RRSITR published this dataset
    rrsitr_csv_files: dict[str, str] = {}
    #: image folders relative to the dataset folder, tried in order
    image_folders: tuple[str, ...] = ("images",)
    #: the split definitions this dataset has from its files or published lists (the generated
    #: ones, `GENERATED_DEFINITIONS`, exist for every dataset)
    split_definitions: tuple[str, ...] = ("karpathy",)

    @dataclass
    class Options:
        data_root: str | None = field(default=None, metadata=LOCAL)
        split: str = "karpathy"
        skip_bad_images: bool = False
        follow_symlinks: bool = field(default=False, metadata=LOCAL)

    def __init__(self, **options: Any):
        super().__init__(**options)
        valid = self.all_split_definitions()
        if self.options.split not in valid:
            raise RsbenchError(  # the registry prefixes "dataset '<name>': "
                f"unknown split definition {self.options.split!r}; valid: {', '.join(valid)}"
            )

    @classmethod
    def all_split_definitions(cls) -> tuple[str, ...]:
        """The dataset's own split definitions, then the generated ones."""
        return cls.split_definitions + tuple(
            d for d in GENERATED_DEFINITIONS if d not in cls.split_definitions
        )

    # ---- what a dataset plugin may override ------------------------------------------
    def scene_class(self, filename: str) -> str | None:
        """The scene class of an image (default: the file-name prefix, ``airport_3.tif``)."""
        return class_from_filename(filename)

    def read_annotation_file(self, path: Path) -> list[Annotation]:
        """The dataset's own annotation file (default: Karpathy-style JSON)."""
        return karpathy_annotations(path, self.scene_class)

    # ---- the Dataset interface -------------------------------------------------------
    def locate(self) -> Path:
        """The dataset folder, or a RsbenchError saying where it looked."""
        return find_dataset_root(
            self.name,
            self.folder_names,
            self.options.data_root,
            lambda folder: self._layout_in(folder) is not None,
            self._expected(),
        )

    def read(self) -> DatasetSplits:
        return self._splits(check_images=False)

    def load(self) -> DatasetSplits:
        return self._splits(check_images=True)

    # ---- the steps -------------------------------------------------------------------
    def _expected(self) -> str:
        """What a dataset folder holds, for messages."""
        expected = " or ".join(self.annotation_files)
        if self.rrsitr_csv_files:
            expected += f" (or RRSITR's {', '.join(self.rrsitr_csv_files.values())})"
        return expected

    def _layout_in(self, folder: Path) -> str | None:
        """Which annotation layout ``folder`` holds: "json", "rrsitr-csv" or None."""
        if any((folder / name).is_file() for name in self.annotation_files):
            return "json"
        csvs = self.rrsitr_csv_files.values()
        if csvs and all((folder / name).is_file() for name in csvs):
            return "rrsitr-csv"
        return None

    def _annotations(self, root: Path) -> tuple[list[Annotation], dict[str, Any]]:
        if self._layout_in(root) == "json":
            path = next(root / n for n in self.annotation_files if (root / n).is_file())
            return self.read_annotation_file(path), {"format": "json", "annotations": str(path)}
        files = {split: root / name for split, name in self.rrsitr_csv_files.items()}
        annotations = rrsitr_csv_annotations(files, self.scene_class)
        return annotations, {
            "format": "rrsitr-csv",
            "annotations": [str(p) for p in files.values()],
        }

    def _split_parts(self, annotations: list[Annotation], facts: dict[str, Any]) -> SplitParts:
        definition = self.options.split
        if definition == "chnr":
            return chnr_split(annotations, self.name)
        if definition == "karpathy":
            if facts["format"] != "json":
                others = [d for d in self.all_split_definitions() if d != "karpathy"]
                raise RsbenchError(
                    f"dataset {self.name!r}: split 'karpathy' is the split field of "
                    f"{' or '.join(self.annotation_files)}, and {facts['annotations'][0]} is "
                    f"RRSITR's CSV layout; valid here: {', '.join(others)}"
                )
            return karpathy_split(annotations, self.name)
        return listed_split(annotations, SplitLists.load(definition, self.name))

    def _splits(self, check_images: bool) -> DatasetSplits:
        root = self.locate()
        annotations, facts = self._annotations(root)
        split = self._split_parts(annotations, facts)
        folder = ImageFolder.choose(root, self.image_folders, annotations)
        parts = {name: [self._item(a, folder) for a in split.parts[name]] for name in SPLIT_NAMES}
        info: dict[str, Any] = {"root": str(root), **facts, "image_dir": str(folder.path)}
        info.update(split.info)
        if "listed_but_absent" in split.info:
            say(
                f"rsbench: {self.name} split {self.options.split!r}: "
                f"{sum(split.info['listed_but_absent'].values())} listed images are not in "
                f"{facts['annotations']} (left out: {split.info['listed_but_absent']})"
            )
        if not getattr(self.options, "follow_symlinks", False):
            files = [Path(p) for p in _listed(facts["annotations"])]
            self._refuse_links_out(root, files + [i.path for n in SPLIT_NAMES for i in parts[n]])
        if check_images:
            parts, info["skipped_images"] = self._drop_bad_images(parts, folder)
        for name in SPLIT_NAMES:
            if not parts[name]:
                raise RsbenchError(
                    f"dataset {self.name!r} in {root}: split definition {self.options.split!r} "
                    f"leaves no {name} images"
                )
        queries = None
        if split.test_queries is not None:  # after dropping bad images, as many as are left
            queries = sum(item.id in split.test_queries for item in parts["test"])
            if not 0 < queries < len(parts["test"]):
                raise RsbenchError(
                    f"dataset {self.name!r} in {root}: split definition {self.options.split!r} "
                    f"leaves {queries} query images of {len(parts['test'])} test images"
                )
        return DatasetSplits(
            train=make_split("train", parts["train"]),
            val=make_split("val", parts["val"]),
            test=make_split("test", parts["test"], queries),
            split_name=self.options.split,
            info=info,
        )

    def _refuse_links_out(self, root: Path, paths: Sequence[Path]) -> None:
        """An error naming the files that symbolic links lead out of ``root`` (see module docstring)."""
        outside = links_out_of(root, paths)
        if outside:
            path, target = outside[0]
            raise RsbenchError(
                f"dataset {self.name!r}: {len(outside)} file(s) in {root} are symbolic links, or "
                f"in linked folders, that lead outside it (first: {path} -> {target}); rsbench "
                "reads only files inside the dataset folder unless follow_symlinks: true "
                "(--follow-symlinks) allows it"
            )

    @staticmethod
    def _item(annotation: Annotation, folder: ImageFolder) -> ImageItem:
        return ImageItem(
            id=annotation.id,
            path=folder.image_path(annotation),
            captions=annotation.captions,
            scene_class=annotation.scene_class,
            keywords=annotation.keywords,
        )

    def _drop_bad_images(
        self, parts: dict[str, list[ImageItem]], folder: ImageFolder
    ) -> tuple[dict[str, list[ImageItem]], int]:
        """``parts`` without bad images (with ``skip_bad_images``), else an error naming them."""
        items = [item for name in SPLIT_NAMES for item in parts[name]]
        if not folder.path.is_dir():
            raise RsbenchError(
                f"dataset {self.name!r}: no image folder; looked for {', '.join(str(p) for p in folder.tried)}"
            )
        bad = bad_images([item.path for item in items])
        if not bad:
            return parts, 0
        if not self.options.skip_bad_images:
            named = "; ".join(
                f"{path.relative_to(folder.path)}: {reason}"
                for path, reason in list(bad.items())[:NAMED_BAD_IMAGES]
            )
            raise RsbenchError(
                f"dataset {self.name!r}: {len(bad)} of {len(items)} images missing or unreadable "
                f"({named}{' …' if len(bad) > NAMED_BAD_IMAGES else ''}); looked in "
                f"{folder.describe()}; skip_bad_images: true (--skip-bad-images) leaves them out"
            )
        say(
            f"rsbench: {self.name}: skipping {len(bad)} missing or unreadable images of {len(items)}"
        )
        kept = {name: [i for i in parts[name] if i.path not in bad] for name in SPLIT_NAMES}
        return kept, len(bad)

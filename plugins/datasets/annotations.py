"""The annotation files of the real datasets, read into one neutral form: `Annotation`.

Three formats are read exactly as they are distributed:

- **Karpathy-style JSON** (RSITMD, RSICD, UCM-Captions, Sydney-Captions): a top-level
  ``images`` list whose entries give ``filename``, ``split`` and ``sentences[].raw``. RSITMD's
  entries may also carry a keyword list (kept in `Annotation.keywords`).
- **NWPU-Captions' JSON**: an object keyed by scene class; each entry gives ``filename``,
  ``split`` and its five captions as ``raw``, ``raw_1`` … ``raw_4``.
- **RRSITR's CSV files** (``filename,title``, one row per caption): ``filename`` is an
  absolute path on the RRSITR authors' machine, so only its base name is used.

An annotation is not yet tied to a split definition or to an image folder: it says where the
image may lie *inside* an image folder (`Annotation.relpaths`, one entry per known folder
layout) and leaves choosing the folder to `local.ImageFolder`. File names are checked here: an
absolute path or ``..`` is refused, so every image stays inside the dataset's folder.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from rsbench.api import RsbenchError, caption_text, read_json, read_karpathy_entries, safe_relative

#: a function giving an image's scene class from its file name (None when it has none)
Classifier = Callable[[str], "str | None"]

#: the caption keys of one NWPU-Captions entry, in order (more ``raw_N`` are read if present)
NWPU_CAPTION_KEYS = ("raw", "raw_1", "raw_2", "raw_3", "raw_4")


@dataclass(frozen=True)
class Annotation:
    """One image as its annotation file describes it."""

    id: str  # the image's file name: what split lists and noise files name it by
    relpaths: tuple[PurePosixPath, ...]  # where it may lie in an image folder, one per layout
    captions: tuple[str, ...]
    split: str | None  # the split the annotation file itself puts it in
    scene_class: str | None = None
    keywords: tuple[str, ...] = ()


def _file_name(filename: Any, where: str) -> PurePosixPath:
    """A file name from an annotation file, checked to stay inside the dataset folder."""
    if not isinstance(filename, str):
        raise RsbenchError(f"{where}: 'filename' must be a string, got {filename!r}")
    return PurePosixPath(safe_relative(filename, where).as_posix())


def karpathy_annotations(path: Path, scene_class: Classifier) -> list[Annotation]:
    """Every image of a Karpathy-style JSON file, in file order (parsed by `rsbench.data.karpathy`)."""
    annotations = [
        Annotation(
            id=entry.filename.name,
            relpaths=(entry.filename,),
            captions=entry.captions,
            split=entry.split,
            scene_class=scene_class(entry.filename.name),
            keywords=entry.keywords,
        )
        for entry in read_karpathy_entries(path)
    ]
    return check_unique(annotations, path)


def nwpu_annotations(path: Path) -> list[Annotation]:
    """Every image of NWPU-Captions' JSON file (keyed by class), in file order.

    An image may lie in ``<class>/<filename>`` (NWPU-Captions' ``NWPU_images/``, and the
    NWPU-RESISC45 release) or directly in the image folder (RRSITR's flat ``NWPU-RESISC45/``).
    """
    doc = read_json(path)
    if not isinstance(doc, dict) or not all(isinstance(v, list) for v in doc.values()):
        raise RsbenchError(
            f"{path} is not NWPU-Captions' caption file (an object of class -> list of images)"
        )
    annotations = []
    for scene_class, entries in doc.items():
        folder = _file_name(scene_class, f"{path}: class {scene_class!r}")
        if len(folder.parts) != 1:
            raise RsbenchError(
                f"{path}: refusing class name {scene_class!r} (it must be one folder name)"
            )
        for n, entry in enumerate(entries):
            where = f"{path}: {scene_class}[{n}]"
            try:
                filename, split = entry["filename"], entry["split"]
                keys = [*NWPU_CAPTION_KEYS, *_more_raw_keys(entry)]
                captions = tuple(caption_text(entry[key]) for key in keys if key in entry)
            except (KeyError, TypeError) as exc:
                raise RsbenchError(f"{where} lacks 'filename', 'split' or 'raw' ({exc})") from None
            rel = _file_name(filename, where)
            annotations.append(
                Annotation(
                    id=rel.name,
                    relpaths=(folder / rel, rel),
                    captions=captions,
                    split=str(split),
                    scene_class=str(scene_class),
                )
            )
    return check_unique(annotations, path)


def _more_raw_keys(entry: Mapping[str, Any]) -> list[str]:
    """``raw_5``, ``raw_6`` … should an entry have more than five captions."""
    extra = [k for k in entry if re.fullmatch(r"raw_\d+", k) and k not in NWPU_CAPTION_KEYS]
    return sorted(extra, key=lambda k: int(k.split("_")[1]))


def base_name(path_text: str, where: str) -> str:
    """The file name at the end of another machine's absolute path (``/`` or ``\\``)."""
    name = re.split(r"[\\/]", path_text.strip())[-1]
    return _file_name(name, where).name


def rrsitr_csv_annotations(files: Mapping[str, Path], scene_class: Classifier) -> list[Annotation]:
    """Every image of RRSITR's CSV files (``{split: path}``), rows grouped by image.

    Images come in order of first appearance, split by split in the order given; captions in
    row order. An image in two files is refused (the splits must be disjoint).
    """
    annotations: list[Annotation] = []
    seen: dict[str, str] = {}
    for split, path in files.items():
        captions: dict[str, list[str]] = {}
        for row_number, filename, title in _csv_rows(path):
            name = base_name(filename, f"{path}: row {row_number}")
            if seen.get(name, split) != split:
                raise RsbenchError(
                    f"{path}: {name} is also in the {seen[name]} file; RRSITR's splits are disjoint"
                )
            seen[name] = split
            captions.setdefault(name, []).append(title)
        annotations += [
            Annotation(name, (PurePosixPath(name),), tuple(texts), split, scene_class(name))
            for name, texts in captions.items()
        ]
    return annotations


def _csv_rows(path: Path) -> Sequence[tuple[int, str, str]]:
    try:
        with open(path, encoding="utf-8-sig", newline="") as fh:
            reader = csv.DictReader(fh)
            if not reader.fieldnames or not {"filename", "title"} <= set(reader.fieldnames):
                raise RsbenchError(
                    f"{path}: expected a CSV with columns 'filename,title', got {reader.fieldnames}"
                )
            return [
                (n, row["filename"] or "", caption_text(row["title"]))
                for n, row in enumerate(reader, 2)
            ]
    except FileNotFoundError:
        raise RsbenchError(f"annotation file not found: {path}") from None
    except (OSError, csv.Error, UnicodeDecodeError) as exc:
        raise RsbenchError(f"cannot read annotation file {path}: {exc}") from None


def check_unique(annotations: list[Annotation], path: Path) -> list[Annotation]:
    """Refuse an annotation file that lists one image twice (its caption rows would be ambiguous)."""
    seen: set[str] = set()
    for annotation in annotations:
        if annotation.id in seen:
            raise RsbenchError(f"{path} lists image {annotation.id!r} twice")
        seen.add(annotation.id)
    return annotations

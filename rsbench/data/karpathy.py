"""Karpathy-style caption JSON: the file format of RSITMD, RSICD, UCM and Sydney.

The file has a top-level ``images`` list; each entry gives ``filename`` (relative to the image
folder), ``split`` (``train`` / ``val`` / ``test``) and ``sentences`` with a ``raw`` text each
(``tokens``, ``imgid``, ``sentid`` and, for RSITMD, keywords may be present too). The scene
class is the file-name prefix before the last ``_`` (``airport_12.tif`` -> ``airport``);
purely numeric names have none.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from rsbench.io.errors import RsbenchError
from rsbench.io.files import atomic_write_text
from rsbench.plugin.split import ImageItem

_CLASS_PREFIX = re.compile(r"^(?P<cls>.*[^\d_])_\d+$")


def class_from_filename(filename: str) -> str | None:
    """``denseresidential_3.tif`` -> ``denseresidential``; ``123.tif`` -> None."""
    stem = Path(filename).stem
    match = _CLASS_PREFIX.match(stem)
    return match.group("cls").lower() if match else None


def safe_relative(filename: str, where: str) -> Path:
    """A file name from an annotation file, refused if it could leave the data folder."""
    path = Path(filename)
    if path.is_absolute() or ".." in path.parts or not filename:
        raise RsbenchError(
            f"{where}: refusing image file name {filename!r} (absolute or outside the data folder)"
        )
    return path


def read_json(path: Path) -> Any:
    """A JSON annotation file, or a RsbenchError naming it (a BOM is accepted)."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8-sig"))
    except FileNotFoundError:
        raise RsbenchError(f"annotation file not found: {path}") from None
    except (OSError, ValueError) as exc:
        raise RsbenchError(f"cannot read annotation file {path}: {exc}") from None


@dataclass(frozen=True)
class KarpathyEntry:
    """One image entry of a Karpathy-style file."""

    filename: PurePosixPath  # relative to the image folder, checked to stay inside it
    split: str
    captions: tuple[str, ...]
    keywords: tuple[str, ...] = ()


def caption_text(value: Any) -> str:
    """A missing or null caption is an empty one: kept (it is real noise), never a crash."""
    return "" if value is None else str(value)


def _keywords(entry: dict[str, Any]) -> tuple[str, ...]:
    """RSITMD's keyword annotation: a list of phrases, or one comma-separated string."""
    value = entry.get("keywords", entry.get("keyword"))
    phrases = value.split(",") if isinstance(value, str) else value
    if not isinstance(phrases, list):
        return ()
    return tuple(str(p).strip() for p in phrases if str(p).strip())


def read_karpathy_entries(path: Path) -> list[KarpathyEntry]:
    """Every image entry of a Karpathy-style JSON file, in file order: the one parser of the format."""
    doc = read_json(path)
    entries = doc.get("images") if isinstance(doc, dict) else None
    if not isinstance(entries, list):
        raise RsbenchError(
            f"{path} is not a Karpathy-style caption file (no top-level 'images' list)"
        )
    out = []
    for n, entry in enumerate(entries):
        where = f"{path}: images[{n}]"
        try:
            filename, split, sentences = entry["filename"], entry["split"], entry["sentences"]
            captions = tuple(caption_text(s.get("raw")) for s in sentences)
        except (KeyError, TypeError, AttributeError) as exc:
            raise RsbenchError(
                f"{where} lacks 'filename', 'split' or 'sentences[].raw' ({exc})"
            ) from None
        if not isinstance(filename, str):
            raise RsbenchError(f"{where}: 'filename' must be a string, got {filename!r}")
        rel = PurePosixPath(safe_relative(filename, where).as_posix())
        out.append(KarpathyEntry(rel, str(split), captions, _keywords(entry)))
    return out


def read_karpathy(json_path: Path, image_dir: Path) -> dict[str, list[ImageItem]]:
    """Images per split name, in file order, with classes from file names (simple datasets)."""
    splits: dict[str, list[ImageItem]] = {}
    for entry in read_karpathy_entries(json_path):
        item = ImageItem(
            id=entry.filename.as_posix(),
            path=Path(image_dir) / entry.filename,
            captions=entry.captions,
            scene_class=class_from_filename(entry.filename.name),
            keywords=entry.keywords,
        )
        splits.setdefault(entry.split, []).append(item)
    return splits


def write_karpathy(json_path: Path, images: Iterable[dict[str, Any]]) -> None:
    """Write ``images`` (dicts with filename, split, sentences: list[str]) in Karpathy layout."""
    out, sentid = [], 0
    for imgid, image in enumerate(images):
        sentences = []
        for raw in image["sentences"]:
            tokens = re.findall(r"[a-z0-9]+", raw.lower())
            sentences.append({"raw": raw, "tokens": tokens, "imgid": imgid, "sentid": sentid})
            sentid += 1
        entry = {
            "filename": image["filename"],
            "imgid": imgid,
            "split": image["split"],
            "sentences": sentences,
            "sentids": [s["sentid"] for s in sentences],
        }
        out.append(entry)
    atomic_write_text(json_path, json.dumps({"images": out}, ensure_ascii=False) + "\n")

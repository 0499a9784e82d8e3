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
from pathlib import Path
from typing import Any

from rsbench.data import ImageItem
from rsbench.errors import RsbenchError
from rsbench.fileio import atomic_write_text

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


def read_karpathy(json_path: Path, image_dir: Path) -> dict[str, list[ImageItem]]:
    """Images per split name, in file order."""
    try:
        doc = json.loads(Path(json_path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RsbenchError(f"caption file not found: {json_path}") from None
    except (OSError, ValueError) as exc:
        raise RsbenchError(f"cannot read caption file {json_path}: {exc}") from exc
    entries = doc.get("images") if isinstance(doc, dict) else None
    if not isinstance(entries, list):
        raise RsbenchError(
            f"{json_path} is not a Karpathy-style caption file (no top-level 'images' list)"
        )
    splits: dict[str, list[ImageItem]] = {}
    for n, entry in enumerate(entries):
        where = f"{json_path}: images[{n}]"
        try:
            filename = entry["filename"]
            split = entry["split"]
            captions = tuple(str(s.get("raw", "")) for s in entry["sentences"])
        except (KeyError, TypeError, AttributeError) as exc:
            raise RsbenchError(
                f"{where} lacks 'filename', 'split' or 'sentences[].raw' ({exc})"
            ) from None
        rel = safe_relative(filename, where)
        item = ImageItem(
            id=rel.as_posix(),
            path=Path(image_dir) / rel,
            captions=captions,
            scene_class=class_from_filename(filename),
        )
        splits.setdefault(split, []).append(item)
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

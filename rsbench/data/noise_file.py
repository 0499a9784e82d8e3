"""Noise as data: the noisy training pairs of a grid cell, saved once, hashed, shared.

A noise file holds, for every caption row of the training split, the image it is paired with,
where its text comes from, and a ground-truth ``clean`` flag. It is a pure function of
(dataset, split definition, noise model and its version and options, ratio, noise seed); its
name is a hash of those inputs and its content hash goes into every result that used it.

Clean flag (protocol decision 3): a row is clean when its caption text is one of its image's
own captions, so a shuffle that lands a caption back on its image counts as clean.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rsbench.io.errors import RsbenchError
from rsbench.io.files import atomic_write_text, canonical_json
from rsbench.plugin.components import Corruption, NoiseModel, TrainPairs
from rsbench.plugin.names import child_path
from rsbench.plugin.split import Split

SCHEMA_VERSION = 1


def clean_by_text(split: Split, image: np.ndarray, texts: list[str]) -> np.ndarray:
    """True where ``texts[i]`` is one of the captions of image ``image[i]``."""
    own = [set(item.captions) for item in split.images]
    return np.fromiter(
        (t in own[j] for t, j in zip(texts, image.tolist(), strict=True)),
        dtype=bool,
        count=len(texts),
    )


@dataclass
class NoiseFile:
    """The noisy pairing of one training split (see module docstring)."""

    spec: dict[str, Any]
    image_ids: list[str]
    image: np.ndarray
    caption: np.ndarray
    texts: dict[int, str]
    clean: np.ndarray
    stats: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return noise_key(self.spec)

    def content(self) -> dict[str, Any]:
        return {
            "image_ids": self.image_ids,
            "image": self.image.tolist(),
            "caption": self.caption.tolist(),
            "texts": {str(k): v for k, v in sorted(self.texts.items())},
            "clean": self.clean.astype(int).tolist(),
        }

    @property
    def content_hash(self) -> str:
        return hashlib.sha256(canonical_json(self.content()).encode()).hexdigest()

    @property
    def effective_rate(self) -> float:
        return float(1.0 - self.clean.mean()) if len(self.clean) else 0.0

    def row_texts(self, split: Split) -> list[str]:
        base = split.texts
        return [self.texts.get(i, base[c]) for i, c in enumerate(self.caption.tolist())]

    def train_pairs(self, split: Split) -> TrainPairs:
        if [item.id for item in split.images] != self.image_ids:
            raise RsbenchError(
                "noise file does not belong to this training split (image ids differ)"
            )
        return TrainPairs(
            image_ids=list(self.image_ids),
            image_paths=split.paths,
            image_classes=split.classes(),
            texts=self.row_texts(split),
            image=self.image.copy(),
        )

    def save(self, path: Path) -> None:
        doc = {
            "schema_version": SCHEMA_VERSION,
            "key": self.key,
            "content_hash": self.content_hash,
            "spec": self.spec,
            "stats": self.stats,
            **self.content(),
        }
        atomic_write_text(path, json.dumps(doc, ensure_ascii=False, separators=(",", ":")) + "\n")

    @classmethod
    def load(cls, path: Path) -> NoiseFile:
        try:
            doc = json.loads(Path(path).read_text())
            nf = cls(
                spec=doc["spec"],
                image_ids=list(doc["image_ids"]),
                image=np.asarray(doc["image"], dtype=np.int64),
                caption=np.asarray(doc["caption"], dtype=np.int64),
                texts={int(k): v for k, v in doc["texts"].items()},
                clean=np.asarray(doc["clean"], dtype=bool),
                stats=doc.get("stats", {}),
            )
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise RsbenchError(f"cannot read noise file {path}: {exc}") from exc
        if nf.content_hash != doc.get("content_hash"):
            raise RsbenchError(f"noise file {path} is corrupt: its content does not match its hash")
        return nf


def noise_key(spec: dict[str, Any]) -> str:
    return hashlib.sha256(canonical_json(spec).encode()).hexdigest()


def noise_stats(
    split: Split,
    nf_image: np.ndarray,
    nf_caption: np.ndarray,
    texts: dict[int, str],
    clean: np.ndarray,
) -> dict[str, Any]:
    """Facts about a noisy pairing: how much changed, how much is wrong, how hard it is."""
    n = len(clean)
    own_image = split.caption_image
    changed = (nf_image != own_image[nf_caption]) | (nf_caption != np.arange(n))
    if texts:
        changed[list(texts)] = True
    stats: dict[str, Any] = {
        "rows": int(n),
        "images": len(split.images),
        "changed_rate": float(changed.mean()) if n else 0.0,
        "effective_rate": float(1 - clean.mean()) if n else 0.0,
    }
    # Of the noisy pairs whose caption comes from another image (edited captions are left
    # out), the share whose two images are of the same scene class: how hard the noise is.
    classes = split.classes()
    origin = own_image[nf_caption]
    moved = ~clean & (nf_image != origin)
    if texts:
        moved[list(texts)] = False
    pairs = [
        (classes[a], classes[b])
        for a, b in zip(nf_image[moved].tolist(), origin[moved].tolist(), strict=True)
        if classes[a] is not None and classes[b] is not None
    ]
    if pairs:
        stats["same_class_rate"] = float(np.mean([a == b for a, b in pairs]))
        stats["same_class_pairs"] = len(pairs)
    return stats


def check_corruption(corruption: Corruption, split: Split, model_name: str) -> None:
    n, m = len(split.texts), len(split.images)
    for field_name in ("image", "caption"):
        arr = np.asarray(getattr(corruption, field_name))
        if arr.shape != (n,):
            raise RsbenchError(
                f"noise model {model_name!r} returned {field_name} of shape {arr.shape}, expected ({n},)"
            )
    limits = {"image": m, "caption": n}
    for field_name, limit in limits.items():
        arr = np.asarray(getattr(corruption, field_name))
        if n and (arr.min() < 0 or arr.max() >= limit):
            raise RsbenchError(
                f"noise model {model_name!r} returned {field_name} indices outside [0, {limit})"
            )
    bad = [k for k in corruption.texts if not 0 <= int(k) < n]
    if bad:
        raise RsbenchError(f"noise model {model_name!r} edited rows outside [0, {n}): {bad[:3]}")


def build_noise_file(
    split: Split, model: NoiseModel, ratio: float, seed: int, dataset_spec: dict[str, Any]
) -> NoiseFile:
    """Apply ``model`` to ``split`` and wrap the result with its spec, flags and statistics."""
    if not 0.0 <= ratio < 1.0:
        raise RsbenchError(f"noise ratio {ratio} is outside [0, 1)")
    corruption = model.corrupt(split, ratio, seed)
    check_corruption(corruption, split, model.name)
    image = np.asarray(corruption.image, dtype=np.int64)
    caption = np.asarray(corruption.caption, dtype=np.int64)
    texts = {int(k): str(v) for k, v in corruption.texts.items()}
    base = split.texts
    row_texts = [texts.get(i, base[c]) for i, c in enumerate(caption.tolist())]
    clean = clean_by_text(split, image, row_texts)
    spec = noise_spec(dataset_spec, model, ratio, seed)
    stats = {
        "nominal_rate": ratio,
        **noise_stats(split, image, caption, texts, clean),
        **corruption.info,
    }
    return NoiseFile(spec, [i.id for i in split.images], image, caption, texts, clean, stats)


def noise_spec(
    dataset_spec: dict[str, Any], model: NoiseModel, ratio: float, seed: int
) -> dict[str, Any]:
    return {
        "dataset": dataset_spec,
        "noise_model": {
            "name": model.name,
            "version": model.version,
            "options": model.identity_params(),
        },
        "ratio": ratio,
        "seed": seed,
    }


def noise_file_for(
    directory: Path,
    split: Split,
    model: NoiseModel,
    ratio: float,
    seed: int,
    dataset_spec: dict[str, Any],
) -> tuple[NoiseFile, Path]:
    """Load the cell's noise file from ``directory``, or build and save it once.

    A file that cannot be read or fails its hash (damaged on disk) is built again: it is a
    pure function of its spec, so the rebuilt file is the one every earlier record used.
    """
    spec = noise_spec(dataset_spec, model, ratio, seed)
    key = noise_key(spec)
    path = child_path(directory, f"{model.name}-r{ratio:g}-s{seed}-{key[:12]}", ".json")
    if path.exists():
        try:
            nf = NoiseFile.load(path)
        except RsbenchError as exc:
            from rsbench.io.progress import say

            say(f"rsbench: {exc}; building it again")
        else:
            if nf.key == key:
                return nf, path
    nf = build_noise_file(split, model, ratio, seed, dataset_spec)
    nf.save(path)
    return nf, path

"""`rsbench data check`: what a dataset folder holds, and whether rsbench can use it.

Per split: images, captions, captions per image, scene classes, empty and one-word captions,
duplicate captions (within one image, and shared across images), missing and unreadable
images, and image sizes. Usable means every split has images and every image can be read
(or bad images are skipped with ``--skip-bad-images``).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rsbench.data.images import check_image, image_size
from rsbench.plugin.split import SPLIT_NAMES, DatasetSplits, Split


@dataclass
class SplitReport:
    name: str
    images: int
    captions: int
    captions_per_image: dict[int, int]
    classes: int
    unlabelled_images: int
    empty_captions: int
    one_word_captions: int
    duplicates_within_image: int
    captions_shared_across_images: int
    distinct_captions: int
    bad_images: list[tuple[str, str]] = field(default_factory=list)
    sizes: Counter = field(default_factory=Counter)

    @property
    def missing(self) -> int:
        return sum(1 for _, why in self.bad_images if why == "missing")

    @property
    def unreadable(self) -> int:
        return len(self.bad_images) - self.missing


def check_split(split: Split, deep: bool = True, progress=None) -> SplitReport:
    texts = split.texts
    per_image = Counter(len(item.captions) for item in split.images)
    images_of_text: dict[str, set[int]] = {}
    within = 0
    for i, item in enumerate(split.images):
        seen: set[str] = set()
        for caption in item.captions:
            key = caption.strip()
            within += key in seen
            seen.add(key)
            images_of_text.setdefault(key, set()).add(i)
    shared = sum(1 for t in texts if len(images_of_text[t.strip()]) > 1)
    report = SplitReport(
        name=split.name,
        images=len(split.images),
        captions=len(texts),
        captions_per_image=dict(sorted(per_image.items())),
        classes=len({item.scene_class for item in split.images if item.scene_class}),
        unlabelled_images=sum(1 for item in split.images if not item.scene_class),
        empty_captions=sum(1 for t in texts if not t.strip() or t.strip() in {".", ","}),
        one_word_captions=sum(
            1 for t in texts if len(t.split()) == 1 and t.strip() not in {".", ","}
        ),
        duplicates_within_image=within,
        captions_shared_across_images=shared,
        distinct_captions=len(images_of_text),
    )
    bar = (
        progress(total=len(split.images), desc=f"checking {split.name} images", unit="img")
        if progress
        else None
    )
    for item in split.images:
        why = check_image(item.path, deep=deep)
        if why:
            report.bad_images.append((str(item.path), why))
        else:
            size = image_size(item.path)
            report.sizes[f"{size[0]}x{size[1]}" if size else "?"] += 1
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    return report


def check_dataset(splits: DatasetSplits, deep: bool = True, progress=None) -> list[SplitReport]:
    return [check_split(splits[name], deep, progress) for name in SPLIT_NAMES]


def format_report(
    dataset: str, splits: DatasetSplits, reports: list[SplitReport], root: Path | None
) -> str:
    from tabulate import tabulate

    def sizes(r: SplitReport) -> str:
        common = r.sizes.most_common(2)
        text = ", ".join(f"{size} ({n})" for size, n in common)
        return text + (f", {len(r.sizes) - 2} more" if len(r.sizes) > 2 else "") if common else "–"

    rows: list[list[Any]] = [
        ["images", *(r.images for r in reports)],
        ["captions", *(r.captions for r in reports)],
        [
            "captions per image",
            *(", ".join(f"{k}: {v}" for k, v in r.captions_per_image.items()) for r in reports),
        ],
        [
            "scene classes",
            *(f"{r.classes} ({r.unlabelled_images} images without)" for r in reports),
        ],
        ["empty or '.' captions", *(r.empty_captions for r in reports)],
        ["one-word captions", *(r.one_word_captions for r in reports)],
        ["distinct captions", *(r.distinct_captions for r in reports)],
        ["duplicates within an image", *(r.duplicates_within_image for r in reports)],
        ["captions shared across images", *(r.captions_shared_across_images for r in reports)],
        ["missing images", *(r.missing for r in reports)],
        ["unreadable images", *(r.unreadable for r in reports)],
        ["image sizes", *(sizes(r) for r in reports)],
    ]
    head = f"{dataset}: split definition {splits.split_name!r}"
    if root is not None:
        head += f", read from {root}"
    skipped = splits.info.get("skipped_images")
    if skipped:
        head += f" ({skipped} bad images skipped)"
    table = tabulate(
        rows, headers=["", *(r.name for r in reports)], tablefmt="simple", disable_numparse=True
    )
    bad = [(path, why) for r in reports for path, why in r.bad_images]
    lines = [head, "", table]
    if bad:
        lines += ["", f"bad images ({len(bad)}):", *(f"  {path}: {why}" for path, why in bad[:10])]
        if len(bad) > 10:
            lines.append(f"  ... and {len(bad) - 10} more")
    return "\n".join(lines)


def unusable_reason(reports: list[SplitReport], skip_bad_images: bool) -> str | None:
    for r in reports:
        if r.images == 0:
            return f"the {r.name} split has no images"
    bad = [(path, why) for r in reports for path, why in r.bad_images]
    if bad and not skip_bad_images:
        path, why = bad[0]
        return f"{len(bad)} images are missing or unreadable (first: {path}: {why}); fix them or use --skip-bad-images"
    return None

"""Write the ``rrsitr`` split lists shipped in ``plugins/datasets/splits/rrsitr/``.

RRSITR (MSFLabX/RRSITR, ``precomp/<dataset>/``) publishes its splits as CSV files with one row
per caption (``filename,title``; absolute paths of the authors' machine). This script keeps
the file names only, never the captions:

- RSITMD: ``RSITMD-NC-00.csv`` (training, clean), ``rsitmd_val.csv``, ``rsitmd_test.csv``.
  The training images keep their order of first appearance in ``RSITMD-NC-00.csv``: RRSITR's
  noise files (``RSITMD-NC-02/04/06/08.csv``) index that row order.
- RSICD and NWPU-Captions: only ``<dataset>_val.csv`` and ``<dataset>_test.csv`` are published
  (the training CSVs are not in the repository), so their training split is every other image.

Usage (from the repository root, with rsbench installed)::

    python tools/make_rrsitr_splits.py ../shared/data/rrsitr-splits

Checks: the published sizes (images per split), five rows per image, rows of an image
consecutive, splits disjoint. Output is deterministic: running it twice gives the same files.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import re
import sys
from pathlib import Path

from rsbench.io.files import atomic_write_text
from rsbench_plugins.datasets.split_definitions import SplitLists

REPO = Path(__file__).resolve().parent.parent

SOURCE = "MSFLabX/RRSITR precomp/{folder}/ (commit 49ac0a46)"
#: dataset -> (folder, {split: CSV file}, {split: published image count})
DATASETS = {
    "rsitmd": (
        "rsitmd",
        {"train": "RSITMD-NC-00.csv", "val": "rsitmd_val.csv", "test": "rsitmd_test.csv"},
        {"train": 3861, "val": 430, "test": 452},
    ),
    "rsicd": (
        "rsicd",
        {"val": "rsicd_val.csv", "test": "rsicd_test.csv"},
        {"val": 983, "test": 1093},
    ),
    "nwpu": ("nwpu", {"val": "nwpu_val.csv", "test": "nwpu_test.csv"}, {"val": 2835, "test": 3150}),
}
CAPTIONS_PER_IMAGE = 5


def image_names(path: Path) -> list[str]:
    """Base names in order of first appearance, checking rows per image and their contiguity."""
    with open(path, encoding="utf-8-sig", newline="") as fh:
        names = [re.split(r"[\\/]", row["filename"])[-1] for row in csv.DictReader(fh)]
    runs = [n for i, n in enumerate(names) if i == 0 or names[i - 1] != n]
    unique = list(dict.fromkeys(names))
    if len(runs) != len(unique):
        sys.exit(f"{path}: the rows of an image are not consecutive")
    if len(names) != CAPTIONS_PER_IMAGE * len(unique):
        sys.exit(
            f"{path}: {len(names)} rows for {len(unique)} images, expected {CAPTIONS_PER_IMAGE} each"
        )
    return unique


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def build(dataset: str, source_dir: Path) -> SplitLists:
    folder, files, sizes = DATASETS[dataset]
    missing = [name for name in files.values() if not (source_dir / folder / name).is_file()]
    if missing:
        sys.exit(f"{source_dir / folder}: missing {', '.join(missing)}")
    lists = {split: image_names(source_dir / folder / name) for split, name in files.items()}
    for split, names in lists.items():
        if len(names) != sizes[split]:
            sys.exit(f"{dataset} {split}: {len(names)} images, RRSITR publishes {sizes[split]}")
    splits = list(lists)
    for i, a in enumerate(splits):
        for b in splits[i + 1 :]:
            if set(lists[a]) & set(lists[b]):
                sys.exit(f"{dataset}: {a} and {b} share images")
    return SplitLists(
        definition="rrsitr",
        dataset=dataset,
        train=tuple(lists["train"]) if "train" in lists else None,
        val=tuple(lists["val"]),
        test=tuple(lists["test"]),
        train_order="listed" if "train" in lists else "dataset",
        source={
            "from": SOURCE.format(folder=folder),
            "files": {name: sha256(source_dir / folder / name) for name in files.values()},
            "generated_by": "tools/make_rrsitr_splits.py",
            "train": "RSITMD-NC-00.csv in row order"
            if "train" in lists
            else "not published: every image in neither val nor test",
        },
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "source", type=Path, help="folder holding rsitmd/, rsicd/ and nwpu/ of RRSITR's CSVs"
    )
    parser.add_argument(
        "--out", type=Path, default=REPO / "plugins" / "datasets" / "splits" / "rrsitr"
    )
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    for dataset in DATASETS:
        lists = build(dataset, args.source)
        atomic_write_text(args.out / f"{dataset}.json", lists.to_json())
        sizes = {
            k: len(v)
            for k, v in (("train", lists.train), ("val", lists.val), ("test", lists.test))
            if v
        }
        print(f"{dataset}: {sizes} -> {args.out / f'{dataset}.json'}")


if __name__ == "__main__":
    main()

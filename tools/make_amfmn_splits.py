"""Write the ``amfmn`` split lists shipped in ``plugins/datasets/splits/amfmn/``.

AMFMN (xiaoyuan1996/AMFMN, ``AMFMN/data/<dataset>_precomp/``) publishes its train / test
membership as ``train_filename.txt`` (one line per image) and ``test_filename.txt`` (one line
per caption, each file name five times). This script keeps the file names only, never the
captions (``*_caps.txt``) or any code. RSITMD and RSICD are in the repository today; UCM and
Sydney were removed in commit a206aa0 and are read from commit e7060c6, e.g.::

    git -C AMFMN archive e7060c6 AMFMN/data | tar -x -C /tmp/amfmn-e7060c6
    python tools/make_amfmn_splits.py /tmp/amfmn-e7060c6/AMFMN/data

(run from the repository root, with rsbench installed). The argument is the folder holding
``rsitmd_precomp/``, ``rsicd_precomp/``, ``ucm_precomp/`` and ``sydney_precomp/``.

AMFMN has no fixed validation split (it draws a random 20 % of the training images per fold),
so the lists have none and rsbench carves one (see ``split_definitions.carve_validation``).
Training membership is kept in AMFMN's order but used as a set: training images follow the
annotation file's order. Test images keep AMFMN's order.

Checks: the published sizes, train and test disjoint, test lines five per image and
consecutive. Output is deterministic.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

from rsbench.io.files import atomic_write_text
from rsbench_plugins.datasets.split_definitions import SplitLists

REPO = Path(__file__).resolve().parent.parent
SOURCE = "xiaoyuan1996/AMFMN AMFMN/data/{dataset}_precomp/ (commit {commit})"
#: dataset -> (train images, test images, commit the files were read at)
SIZES = {
    "rsitmd": (4291, 452, "c09bcfba; unchanged since e7060c6"),
    "rsicd": (9828, 1093, "c09bcfba; unchanged since e7060c6"),
    "ucm": (1680, 210, "e7060c6; removed in a206aa0"),
    "sydney": (497, 58, "e7060c6; removed in a206aa0"),
}
CAPTIONS_PER_IMAGE = 5


def lines(path: Path) -> list[str]:
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def build(dataset: str, source_dir: Path) -> SplitLists:
    folder = source_dir / f"{dataset}_precomp"
    if not folder.is_dir():
        sys.exit(f"{folder} not found: give AMFMN's data folder (it holds <dataset>_precomp/)")
    train_file, test_file = folder / "train_filename.txt", folder / "test_filename.txt"
    train, test_lines = lines(train_file), lines(test_file)
    test = list(dict.fromkeys(test_lines))
    runs = [n for i, n in enumerate(test_lines) if i == 0 or test_lines[i - 1] != n]
    if len(runs) != len(test) or len(test_lines) != CAPTIONS_PER_IMAGE * len(test):
        sys.exit(f"{test_file}: expected each file name on {CAPTIONS_PER_IMAGE} consecutive lines")
    if len(set(train)) != len(train):
        sys.exit(f"{train_file}: a file name appears twice")
    n_train, n_test, commit = SIZES[dataset]
    if (len(train), len(test)) != (n_train, n_test):
        sys.exit(
            f"{dataset}: {len(train)} / {len(test)} images, AMFMN publishes {n_train} / {n_test}"
        )
    if set(train) & set(test):
        sys.exit(f"{dataset}: train and test share images")
    return SplitLists(
        definition="amfmn",
        dataset=dataset,
        train=tuple(train),
        val=None,
        test=tuple(test),
        train_order="dataset",
        source={
            "from": SOURCE.format(dataset=dataset, commit=commit),
            "files": {
                "train_filename.txt": hashlib.sha256(train_file.read_bytes()).hexdigest(),
                "test_filename.txt": hashlib.sha256(test_file.read_bytes()).hexdigest(),
            },
            "generated_by": "tools/make_amfmn_splits.py",
            "val": "not published (random per fold in AMFMN): carved from train by rsbench",
        },
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, help="AMFMN's data folder holding <dataset>_precomp/")
    parser.add_argument(
        "--out", type=Path, default=REPO / "plugins" / "datasets" / "splits" / "amfmn"
    )
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    for dataset in SIZES:
        lists = build(dataset, args.source)
        atomic_write_text(args.out / f"{dataset}.json", lists.to_json())
        print(
            f"{dataset}: train {len(lists.train)}, test {len(lists.test)} -> {args.out / f'{dataset}.json'}"
        )


if __name__ == "__main__":
    main()

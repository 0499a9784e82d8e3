"""RSITMD: the Remote Sensing Image-Text Match Dataset.

Published with Z. Yuan et al., "Exploring a Fine-Grained Multiscale Method for Cross-Modal
Remote Sensing Image Retrieval", IEEE TGRS 60, 2022 (doi:10.1109/TGRS.2021.3078451); the
release is linked from ``RSITMD/README.md`` of https://github.com/xiaoyuan1996/AMFMN.
4,743 ``.tif`` images with five captions each and 1–5 keyword phrases; the scene class is the
file-name prefix (``railwaystation_3254.tif``: 33 prefixes; the paper's Table I lists 32).

Layout read (a folder named ``RSITMD`` under the data root, or the data root itself)::

    RSITMD/
      dataset_RSITMD.json    Karpathy-style; its split field has train (4,291) and test (452)
      images/<class>_<n>.tif

or RRSITR's CSV layout in place of the JSON: ``RSITMD-NC-00.csv``, ``rsitmd_val.csv``,
``rsitmd_test.csv`` (``filename,title``; the paths' base names are looked up in ``images/``).

Split definitions (`split_definitions`): ``rrsitr`` (default; 3,861 / 430 / 452, training
images in the row order of RRSITR's ``RSITMD-NC-00.csv``, which its noise files index),
``karpathy`` (the JSON's split, with 10 % of train carved as val: 3,862 / 429 / 452) and
``amfmn`` (AMFMN's 4,291 / 452, the same images as ``karpathy``, so the same carved val).

Keywords: the keyword annotation's field name is not documented anywhere public
(``rsitmd_api.py`` is not in a repository); this reads an image entry's ``keywords`` (a list
of phrases, or one comma-separated string) into `ImageItem.keywords` [reconstructed]. The
README notes four images whose blank captions were fixed in the JSON on 2021-10-28; blank
captions that remain in a copy are kept.
"""

from __future__ import annotations

from dataclasses import dataclass

from rsbench_plugins.datasets.local import LocalDataset


class RSITMD(LocalDataset):
    """RSITMD (Yuan et al., TGRS 2022): 4,743 .tif images, 5 captions and keywords each"""

    version = "1"
    folder_names = ("RSITMD",)
    annotation_files = ("dataset_RSITMD.json",)
    rrsitr_csv_files = {
        "train": "RSITMD-NC-00.csv",
        "val": "rsitmd_val.csv",
        "test": "rsitmd_test.csv",
    }
    image_folders = ("images",)
    split_definitions = ("rrsitr", "karpathy", "amfmn")

    @dataclass
    class Options(LocalDataset.Options):
        split: str = "rrsitr"

"""RSICD: the Remote Sensing Image Captioning Dataset.

Published with X. Lu, B. Wang, X. Zheng and X. Li, "Exploring Models and Data for Remote
Sensing Image Caption Generation", IEEE TGRS 56(4), 2018 (doi:10.1109/TGRS.2017.2776321);
release: https://github.com/201528014227051/RSICD_optimal (images in the repository, the
caption file through the links in its README). 10,921 ``.jpg`` images of 224 × 224 pixels with
five captions each (many padded by repeating one, and a few as short as "."). The scene class is
the file-name prefix (``airport_348.jpg``, 30 classes); the 921 images with purely numeric
names (``00623.jpg``) have none.

Layout read (a folder named ``RSICD`` under the data root, or the data root itself)::

    RSICD/
      dataset_rsicd.json    Karpathy-style (or annotations_rsicd/dataset_rsicd.json)
      RSICD_images/*.jpg    (or images/)

or RRSITR's CSV layout in place of the JSON, where complete: ``RSICD-NC-00.csv`` (not in
RRSITR's repository), ``rsicd_val.csv``, ``rsicd_test.csv``.

Split definitions (`split_definitions`): ``rrsitr`` (default; RRSITR's 983 validation and
1,093 test images; its training file is not published, so training is the other 8,845),
``karpathy`` (the JSON's split: 8,734 / 1,094 / 1,093) and ``amfmn`` (AMFMN's 9,828 / 1,093,
i.e. the JSON's train and val merged, with 10 % carved as val).
"""

from __future__ import annotations

from dataclasses import dataclass

from rsbench_plugins.datasets.local import LocalDataset


class RSICD(LocalDataset):
    """RSICD (Lu et al., TGRS 2018): 10,921 .jpg images, 5 captions each"""

    version = "1"
    folder_names = ("RSICD",)
    annotation_files = ("dataset_rsicd.json", "annotations_rsicd/dataset_rsicd.json")
    rrsitr_csv_files = {
        "train": "RSICD-NC-00.csv",
        "val": "rsicd_val.csv",
        "test": "rsicd_test.csv",
    }
    image_folders = ("RSICD_images", "images")
    split_definitions = ("rrsitr", "karpathy", "amfmn")

    @dataclass
    class Options(LocalDataset.Options):
        split: str = "rrsitr"

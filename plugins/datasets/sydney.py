"""Sydney-Captions: captions for the 613 images of the Sydney scene dataset.

Published with B. Qu, X. Li, D. Tao and X. Lu, "Deep Semantic Understanding of High
Resolution Remote Sensing Image", Proc. CITS 2016 (doi:10.1109/CITS.2016.7546397), like
UCM-Captions and distributed the same way (``Sydney_captions/``: ``dataset.json`` + ``imgs/``;
no repository of its own). The images are the Sydney dataset of F. Zhang, B. Du and L. Zhang
("Saliency-Guided Unsupervised Feature Learning for Scene Classification", IEEE TGRS 53(4),
2015): 613 ``.tif`` images of 500 × 500 pixels in 7 classes, five captions each.

Layout read (a folder named ``Sydney_captions``, ``Sydney-Captions`` or ``Sydney`` under the
data root, or the data root itself)::

    Sydney_captions/
      dataset.json     Karpathy-style
      imgs/1.tif … imgs/613.tif      (or images/, as re-packagings name it)

Classes [reconstructed]: the release names files by number only and its JSON carries no class.
Images are numbered class by class in the order of `SYDNEY_CLASSES` with 242, 22, 50, 45, 92, 96
and 66 images: the majority scene word of each image's captions (AMFMN's Sydney captions at
commit e7060c6) changes at exactly these boundaries wherever captions were available, and the
counts are the class sizes of the Sydney dataset.

Split definitions (`split_definitions`): ``karpathy`` (default; the JSON's split) and
``amfmn`` (AMFMN's lists from commit e7060c6: 497 train / 58 test; the other 58 images are in
neither; val carved from train: 447 / 50 / 58).
"""

from __future__ import annotations

from pathlib import PurePosixPath

from rsbench_plugins.datasets.local import LocalDataset

#: (class, number of images), in file-number order
SYDNEY_CLASSES = (
    ("residential", 242),
    ("airport", 22),
    ("meadow", 50),
    ("river", 45),
    ("ocean", 92),
    ("industrial", 96),
    ("runway", 66),
)


def sydney_class(filename: str) -> str | None:
    """``1.tif`` … ``242.tif`` -> residential, ``243.tif`` -> airport, …; other names: None."""
    stem = PurePosixPath(filename).stem
    if not stem.isdigit():
        return None
    number, first = int(stem), 1
    for scene_class, count in SYDNEY_CLASSES:
        if first <= number < first + count:
            return scene_class
        first += count
    return None


class SydneyCaptions(LocalDataset):
    """Sydney-Captions (Qu et al., CITS 2016): 613 .tif images of 7 classes, 5 captions each"""

    version = "1"
    folder_names = ("Sydney_captions", "Sydney-Captions", "Sydney")
    annotation_files = ("dataset.json",)
    image_folders = ("imgs", "images")
    split_definitions = ("karpathy", "amfmn")

    def scene_class(self, filename: str) -> str | None:
        return sydney_class(filename)

"""UCM-Captions: captions for the 2,100 images of the UC Merced Land Use dataset.

Published with B. Qu, X. Li, D. Tao and X. Lu, "Deep Semantic Understanding of High
Resolution Remote Sensing Image", Proc. CITS 2016 (doi:10.1109/CITS.2016.7546397). The release
has no repository of its own: ``UCM_captions/`` (``dataset.json`` + ``imgs/``) circulates
through the download links collected with RSICD (github.com/201528014227051/RSICD_optimal) and
in torchrs (github.com/isaaccorley/torchrs). The images are UC Merced Land Use (Y. Yang and
S. Newsam, ACM SIGSPATIAL 2010): 21 classes of 100 ``.tif`` images of 256 × 256 pixels.

Layout read (a folder named ``UCM_captions``, ``UCM-Captions`` or ``UCM`` under the data root,
or the data root itself)::

    UCM_captions/
      dataset.json     Karpathy-style: train 1,680 / val 210 / test 210
      imgs/1.tif … imgs/2100.tif     (or images/, as re-packagings name it)

Classes: images are numbered class by class in alphabetical order, 100 each, so ``n.tif`` is
class ``(n - 1) // 100`` of `UCM_CLASSES` (verified against the per-image ``classname`` of the
copy of ``dataset.json`` in github.com/comrados/duch, ``data/UCM.json``).

Split definitions (`split_definitions`): ``karpathy`` (default; the JSON's split) and
``amfmn`` (AMFMN's lists from commit e7060c6: 1,680 train, and as test the JSON's 210 *val*
images; the JSON's test images are in neither; val carved from train: 1,512 / 168 / 210).
"""

from __future__ import annotations

from pathlib import PurePosixPath

from rsbench_plugins.datasets.local import LocalDataset

UCM_CLASSES = (
    "agricultural",
    "airplane",
    "baseballdiamond",
    "beach",
    "buildings",
    "chaparral",
    "denseresidential",
    "forest",
    "freeway",
    "golfcourse",
    "harbor",
    "intersection",
    "mediumresidential",
    "mobilehomepark",
    "overpass",
    "parkinglot",
    "river",
    "runway",
    "sparseresidential",
    "storagetanks",
    "tenniscourt",
)
IMAGES_PER_CLASS = 100


def ucm_class(filename: str) -> str | None:
    """``1.tif`` … ``100.tif`` -> agricultural, ``101.tif`` -> airplane, …; other names: None."""
    stem = PurePosixPath(filename).stem
    if not stem.isdigit() or not 1 <= int(stem) <= IMAGES_PER_CLASS * len(UCM_CLASSES):
        return None
    return UCM_CLASSES[(int(stem) - 1) // IMAGES_PER_CLASS]


class UCMCaptions(LocalDataset):
    """UCM-Captions (Qu et al., CITS 2016): 2,100 .tif images of 21 classes, 5 captions each"""

    version = "1"
    folder_names = ("UCM_captions", "UCM-Captions", "UCM")
    annotation_files = ("dataset.json",)
    image_folders = ("imgs", "images")
    split_definitions = ("karpathy", "amfmn")

    def scene_class(self, filename: str) -> str | None:
        return ucm_class(filename)

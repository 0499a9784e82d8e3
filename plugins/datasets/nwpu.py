"""NWPU-Captions: captions for the 31,500 images of NWPU-RESISC45.

Published with Q. Cheng, H. Huang, Y. Xu, Y. Zhou, H. Li and Z. Wang, "NWPU-Captions Dataset
and MLCA-Net for Remote Sensing Image Captioning", IEEE TGRS 60, 2022; release:
https://github.com/HaiyanHuang98/NWPU-Captions. The images are NWPU-RESISC45 (G. Cheng, J. Han
and X. Lu, "Remote Sensing Image Scene Classification: Benchmark and State of the Art", Proc.
IEEE 105(10), 2017): 45 classes of 700 ``.jpg`` images (``airplane_001.jpg``), five captions each.

Layout read (a folder named ``NWPU-Captions`` or ``NWPU`` under the data root, or the data root
itself)::

    NWPU-Captions/
      dataset_nwpu.json     {class: [{filename, split, raw, raw_1 … raw_4, …}, …], …}
      NWPU_images/<class>/<class>_<nnn>.jpg

with the images also accepted flat in ``NWPU-RESISC45/`` (where RRSITR's files point) or as
the NWPU-RESISC45 release unpacks, ``NWPU-RESISC45/<class>/``. The class is the JSON key. Or
RRSITR's CSV layout in place of the JSON, where complete: ``NWPU-NC-00.csv`` (not in RRSITR's
repository), ``nwpu_val.csv``, ``nwpu_test.csv``; the class is then the file-name prefix.

Split definitions (`split_definitions`): ``rrsitr`` (default; RRSITR's 2,835 validation and
3,150 test images; its training file is not published, so training is the other 25,515) and
``karpathy`` (the JSON's split field).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rsbench_plugins.datasets.annotations import Annotation, nwpu_annotations
from rsbench_plugins.datasets.local import LocalDataset


class NWPUCaptions(LocalDataset):
    """NWPU-Captions (Cheng et al., TGRS 2022): 31,500 .jpg images of 45 classes, 5 captions each"""

    version = "1"
    folder_names = ("NWPU-Captions", "NWPU_Captions", "NWPU")
    annotation_files = ("dataset_nwpu.json",)
    rrsitr_csv_files = {"train": "NWPU-NC-00.csv", "val": "nwpu_val.csv", "test": "nwpu_test.csv"}
    image_folders = ("NWPU_images", "NWPU-RESISC45", "images")
    split_definitions = ("rrsitr", "karpathy")

    @dataclass
    class Options(LocalDataset.Options):
        split: str = "rrsitr"

    def read_annotation_file(self, path: Path) -> list[Annotation]:
        return nwpu_annotations(path)

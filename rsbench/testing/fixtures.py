"""Small things to test plugins with: fake splits, a tiny dataset folder, fake installed plugins.

None of them needs a download or a GPU; each builds in well under a second.
"""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

import numpy as np

from rsbench.io.files import atomic_write_text
from rsbench.plugin.split import ImageItem, Split, make_split

#: the colour of each scene class of `write_tiny_dataset` (solid squares with a little noise)
TINY_CLASSES = {"red": (220, 30, 30), "green": (30, 200, 40), "blue": (40, 50, 210)}


def entry_point(name: str, module: str) -> metadata.EntryPoint:
    """An ``rsbench`` entry point object, for `rsbench.plugin.manager.load_plugins`."""
    return metadata.EntryPoint(name=name, value=module, group="rsbench")


def write_distribution(
    directory: Path,
    name: str,
    entry_points: dict[str, str],
    modules: dict[str, str] | None = None,
    version: str = "0.1",
) -> Path:
    """Make ``directory`` look like site-packages holding one plugin distribution.

    Put ``directory`` on ``PYTHONPATH`` and ``importlib.metadata`` finds the distribution and
    its ``rsbench`` entry points, exactly as for a pip-installed plugin.
    """
    directory = Path(directory)
    dist_info = directory / f"{name.replace('-', '_')}-{version}.dist-info"
    dist_info.mkdir(parents=True, exist_ok=True)
    atomic_write_text(
        dist_info / "METADATA", f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
    )
    lines = ["[rsbench]", *(f"{ep} = {module}" for ep, module in entry_points.items())]
    atomic_write_text(dist_info / "entry_points.txt", "\n".join(lines) + "\n")
    for filename, source in (modules or {}).items():
        path = directory / filename
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, source)
    return directory


def tiny_split(
    n_images: int = 12, captions_per_image: int | list[int] = 5, classes: int = 3
) -> Split:
    """A training split of ``n_images`` fake images (no files) with distinct captions."""
    counts = (
        [captions_per_image] * n_images
        if isinstance(captions_per_image, int)
        else list(captions_per_image)
    )
    images = [
        ImageItem(
            id=f"class{i % classes}_{i}.tif",
            path=Path(f"class{i % classes}_{i}.tif"),
            captions=tuple(f"caption {j} of image {i}" for j in range(counts[i])),
            scene_class=f"class{i % classes}",
        )
        for i in range(n_images)
    ]
    return make_split("train", images)


def write_tiny_dataset(
    folder: Path | str,
    sizes: tuple[int, int, int] = (6, 3, 3),
    annotations: str = "dataset.json",
    images: str = "images",
) -> Path:
    """Write a tiny dataset in the Karpathy layout of RSITMD, RSICD and UCM, and return its folder.

    ``folder/annotations`` lists every image with its split and five captions;
    ``folder/images/<class>_<n>.png`` are 16 px squares of the class colour. ``sizes`` gives
    the train, val and test images (classes taken in turn). For a dataset plugin's tests.
    """
    from PIL import Image

    from rsbench.data.karpathy import write_karpathy

    folder = Path(folder)
    (folder / images).mkdir(parents=True, exist_ok=True)
    entries, n = [], 0
    for split, count in zip(("train", "val", "test"), sizes, strict=True):
        for _ in range(count):
            colour = list(TINY_CLASSES)[n % len(TINY_CLASSES)]
            filename = f"{colour}_{n}.png"
            rng = np.random.default_rng(n)
            pixels = np.clip(
                np.array(TINY_CLASSES[colour]) + rng.integers(0, 25, (16, 16, 3)), 0, 255
            )
            Image.fromarray(pixels.astype(np.uint8)).save(folder / images / filename)
            captions = [
                f"a {colour} square number {n}",
                f"{colour} colour {n}",
                *(f"picture {n} of something {colour}, take {k}" for k in range(3)),
            ]
            entries.append({"filename": filename, "split": split, "sentences": captions})
            n += 1
    write_karpathy(folder / annotations, entries)
    return folder

"""Images per second of the two data paths: decoding every epoch vs. the decoded-image cache.

    python benchmarks/data_path.py [--images 1000] [--source-size 256] [--size 224] [--format jpg]

(a) what the official codes do: open, decode and resize each image with PIL, every epoch;
(b) rsbench: decode once into the cache (`rsbench.data.images.load_images`), then every later
    epoch or grid cell reads the memory-mapped array.

The images are generated (noise plus shapes, so JPEG/TIFF compression is realistic) in a
temporary folder, in the format and size of the real datasets (NWPU/RSICD: 256 px JPEG;
RSITMD: 256 px TIFF).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw


def make_images(folder: Path, n: int, size: int, fmt: str) -> list[Path]:
    rng = np.random.default_rng(0)
    paths = []
    for i in range(n):
        base = rng.integers(60, 200, size=(size, size, 3), dtype=np.uint8)
        image = Image.fromarray(base)
        draw = ImageDraw.Draw(image)
        for _ in range(12):
            x, y = rng.integers(0, size, 2)
            draw.rectangle(
                [x, y, x + size // 8, y + size // 10],
                fill=tuple(int(c) for c in rng.integers(0, 255, 3)),
            )
        path = folder / f"scene_{i}.{fmt}"
        image.save(path)
        paths.append(path)
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--source-size", type=int, default=256)
    parser.add_argument("--size", type=int, default=224, help="training size")
    parser.add_argument("--format", default="jpg", choices=("jpg", "tif", "png"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["RSBENCH_CACHE"] = str(Path(tmp) / "cache")
        from rsbench.data import images

        paths = make_images(Path(tmp), args.images, args.source_size, args.format)
        started = time.perf_counter()
        decoded = images.decode_all(paths, args.size)
        pil_rate = len(paths) / (time.perf_counter() - started)

        started = time.perf_counter()
        images.load_images(paths, args.size)  # first use: decode and write the cache
        build = time.perf_counter() - started
        rates = []
        for _ in range(3):
            images.clear_memo()  # a new epoch in a new process: nothing in memory
            started = time.perf_counter()
            cached = np.array(images.load_images(paths, args.size))
            rates.append(len(paths) / (time.perf_counter() - started))
        assert (cached == decoded).all()
        print(
            f"{args.images} {args.format} images of {args.source_size} px, trained at {args.size} px, one CPU process"
        )
        print(f"(a) PIL decode + resize every epoch: {pil_rate:10.0f} images/s")
        print(
            f"(b) decoded-image cache:              {max(rates):10.0f} images/s "
            f"(built once in {build:.1f} s, {cached.nbytes / 1e6:.0f} MB)"
        )


if __name__ == "__main__":
    main()

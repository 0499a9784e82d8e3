"""Decoding images into arrays, once per process for each (image list, size).

Every grid cell on a dataset trains on the same images, so the decoded array is kept in
memory and shared by the cells of one ``rsbench run``. Grayscale, palette, CMYK, RGBA and
16-bit images are converted to 8-bit RGB.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from rsbench.errors import RsbenchError

_MEMO: OrderedDict[str, np.ndarray] = OrderedDict()
_MEMO_ENTRIES = 4


def to_rgb(image: Image.Image) -> Image.Image:
    """8-bit RGB from any mode PIL reads (16-bit and float are rescaled to their range)."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        arr = np.asarray(image, dtype=np.float64)
        lo, hi = float(arr.min()), float(arr.max())
        arr = np.zeros_like(arr) if hi <= lo else (arr - lo) / (hi - lo) * 255.0
        image = Image.fromarray(arr.round().astype(np.uint8), mode="L")
    return image.convert("RGB")


def decode_image(path: Path, size: int) -> np.ndarray:
    """One image as a ``size`` × ``size`` × 3 uint8 array."""
    try:
        with Image.open(path) as image:
            image.load()
            rgb = to_rgb(image)
    except FileNotFoundError:
        raise RsbenchError(f"image not found: {path}") from None
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise RsbenchError(f"cannot read image {path}: {exc}") from exc
    if rgb.size != (size, size):
        rgb = rgb.resize((size, size), Image.BILINEAR)
    return np.asarray(rgb, dtype=np.uint8)


def load_images(paths: Sequence[Path], size: int) -> np.ndarray:
    """All images as one ``N × size × size × 3`` uint8 array (memoised per process)."""
    key = hashlib.sha256(("\n".join(map(str, paths)) + f"\n{size}").encode()).hexdigest()
    if key in _MEMO:
        _MEMO.move_to_end(key)
        return _MEMO[key]
    out = np.empty((len(paths), size, size, 3), dtype=np.uint8)
    for i, path in enumerate(paths):
        out[i] = decode_image(Path(path), size)
    _MEMO[key] = out
    while len(_MEMO) > _MEMO_ENTRIES:
        _MEMO.popitem(last=False)
    return out

"""Decoding images, checking them, and the decoded-image cache.

Every image file is decoded and resized **once per (image list, size, interpolation)** into a uint8 array
file in the user cache (``<cache>/images/<key>.npy``, memory-mapped when read), so later epochs
and later grid cells never open an image file again. The key hashes the size, the interpolation (bilinear or bicubic) and every file's
path, byte size and modification time: changing, adding or touching a source file gives a new
entry. Entries are written atomically. ``RSBENCH_IMAGE_CACHE=0`` keeps arrays in memory only.

Colour handling: grayscale, palette, CMYK and RGBA images become 8-bit RGB (alpha dropped);
16-bit and float images are stretched from their own min..max to 0..255; multi-band TIFFs
(read with tifffile where PIL cannot) keep their first three bands.

Images larger than `MAX_PIXELS` are refused before they are decoded (a 20000 × 20000 file of
a few kilobytes would otherwise take gigabytes), and the libraries' own log lines and
warnings about damaged files are kept quiet: the reason is in the one error rsbench gives.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import warnings
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from rsbench.io.cache import cache_folder
from rsbench.io.errors import RsbenchError
from rsbench.io.files import atomic_save, atomic_write_json

_MEMO: OrderedDict[str, np.ndarray] = OrderedDict()
_MEMO_ENTRIES = 4
TIFF_SUFFIXES = (".tif", ".tiff")
#: the largest image rsbench decodes (PIL's own limit, about 9459 × 9459)
MAX_PIXELS = Image.MAX_IMAGE_PIXELS or 89_478_485
_PIL_ERRORS = (UnidentifiedImageError, OSError, ValueError, SyntaxError)

# Damaged files make tifffile log and PIL warn before they fail; the error says why instead.
logging.getLogger("tifffile").addHandler(logging.NullHandler())


def _quiet() -> None:
    """Silence PIL's warnings about damaged and huge files (idempotent: no filter piles up)."""
    warnings.filterwarnings("ignore", category=UserWarning, module=r"PIL\.TiffImagePlugin")
    warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)


class ImageTooLarge(Exception):
    """An image whose pixel count exceeds `MAX_PIXELS`."""


def _check_pixels(width: int, height: int) -> None:
    if width * height > MAX_PIXELS:
        raise ImageTooLarge(
            f"{width} x {height} pixels is more than the {MAX_PIXELS:,} rsbench decodes "
            "(a decompression bomb, or not a dataset image)"
        )


def _bomb_size(exc: Exception) -> str:
    """PIL's refusal of a huge image, in the words of `_check_pixels`."""
    import re

    found = re.search(r"\((\d+) pixels\)", str(exc))
    pixels = f"{int(found.group(1)):,} pixels" if found else "too many pixels"
    return f"{pixels} is more than the {MAX_PIXELS:,} rsbench decodes (a decompression bomb?)"


def _read_tiff(path: Path) -> np.ndarray:
    """A TIFF PIL cannot read (16-bit RGB, multi-band), with tifffile, size-checked first."""
    import tifffile

    with tifffile.TiffFile(path) as tif:
        if not tif.pages:
            raise ValueError("no image in the file (truncated or damaged TIFF)")
        page = tif.pages[0]
        _check_pixels(int(page.imagewidth), int(page.imagelength))
        arr = page.asarray()
    if arr.size == 0:
        raise ValueError("no image data (truncated or damaged TIFF)")
    return arr


def _stretch(arr: np.ndarray) -> np.ndarray:
    """Any numeric array to uint8: 8-bit stays, wider types are stretched from min..max."""
    if arr.dtype == np.uint8:
        return arr
    arr = arr.astype(np.float64)
    lo, hi = float(np.nanmin(arr)), float(np.nanmax(arr))
    if not np.isfinite(lo) or hi <= lo:
        return np.zeros(arr.shape, dtype=np.uint8)
    return np.nan_to_num((arr - lo) / (hi - lo) * 255.0).round().astype(np.uint8)


def array_to_rgb(arr: np.ndarray) -> np.ndarray:
    """``H × W``, ``H × W × C`` or band-first ``C × H × W`` to ``H × W × 3`` uint8."""
    if arr.ndim == 3 and arr.shape[0] <= 16 and arr.shape[0] < min(arr.shape[1:]):
        arr = np.moveaxis(arr, 0, -1)  # band-first (planar) TIFF
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.ndim != 3:
        raise ValueError(f"unsupported image array of shape {arr.shape}")
    arr = _stretch(arr)
    if arr.shape[2] == 1:
        arr = np.repeat(arr, 3, axis=2)
    elif arr.shape[2] == 2:  # gray + alpha
        arr = np.repeat(arr[:, :, :1], 3, axis=2)
    return np.ascontiguousarray(arr[:, :, :3])


def to_rgb(image: Image.Image) -> Image.Image:
    """8-bit RGB from any mode PIL reads."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        return Image.fromarray(array_to_rgb(np.asarray(image)), mode="RGB")
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    return image.convert("RGB")


def read_rgb(path: Path) -> Image.Image:
    """An image file as an 8-bit RGB PIL image, or a RsbenchError naming the file."""
    path = Path(path)
    if not path.is_file():
        raise RsbenchError(f"image not found: {path}")
    _quiet()
    identified = False  # PIL recognised the file (so a failure is damage, not the format)
    try:
        with Image.open(path) as image:
            identified = True
            _check_pixels(*image.size)
            image.load()
            return to_rgb(image)
    except ImageTooLarge as exc:
        raise RsbenchError(f"cannot read image {path}: {exc}") from None
    except Image.DecompressionBombError as exc:
        raise RsbenchError(f"cannot read image {path}: {_bomb_size(exc)}") from None
    except _PIL_ERRORS as exc:
        error = str(exc)
    if path.suffix.lower() in TIFF_SUFFIXES:  # 16-bit RGB, multi-band: beyond PIL
        try:
            return Image.fromarray(array_to_rgb(_read_tiff(path)), mode="RGB")
        except ImageTooLarge as exc:
            error = str(exc)
        except Exception as exc:
            error = f"truncated or damaged TIFF ({error})" if identified else str(exc)
    raise RsbenchError(f"cannot read image {path}: {error}")


RESAMPLING = {"bilinear": Image.BILINEAR, "bicubic": Image.BICUBIC}


def decode_image(path: Path, size: int, interpolation: str = "bilinear") -> np.ndarray:
    """One image as a ``size`` × ``size`` × 3 uint8 array (PIL resize, antialiased)."""
    if interpolation not in RESAMPLING:
        raise ValueError(f"unknown interpolation {interpolation!r}; valid: {', '.join(RESAMPLING)}")
    rgb = read_rgb(path)
    if rgb.size != (size, size):
        rgb = rgb.resize((size, size), RESAMPLING[interpolation])
    return np.asarray(rgb, dtype=np.uint8)


def check_image(path: Path, deep: bool = False) -> str | None:
    """Why ``path`` is not a usable image (None when it is): missing, or unreadable.

    The quick check reads the header only; ``deep`` decodes every pixel.
    """
    path = Path(path)
    if not path.is_file():
        return "missing"
    _quiet()
    if deep:
        try:
            read_rgb(path)
        except RsbenchError as exc:
            return f"unreadable ({str(exc).split(': ', 2)[-1]})"
        return None
    try:
        with Image.open(path) as image:
            _check_pixels(*image.size)  # the header is parsed on open
        return None
    except ImageTooLarge as exc:
        return f"unreadable ({exc})"
    except Image.DecompressionBombError as exc:
        return f"unreadable ({_bomb_size(exc)})"
    except _PIL_ERRORS as exc:
        if path.suffix.lower() in TIFF_SUFFIXES:
            try:
                import tifffile

                with tifffile.TiffFile(path) as tif:
                    page = tif.pages[0]
                    _check_pixels(int(page.imagewidth), int(page.imagelength))
                return None
            except ImageTooLarge as too_large:
                return f"unreadable ({too_large})"
            except Exception:
                pass
        return f"unreadable ({exc})"


def image_size(path: Path) -> tuple[int, int] | None:
    """Width and height from the file header (PIL, or tifffile for TIFFs PIL cannot read)."""
    _quiet()
    try:
        with Image.open(path) as image:
            return image.size
    except (*_PIL_ERRORS, Image.DecompressionBombError):
        pass
    if Path(path).suffix.lower() in TIFF_SUFFIXES:
        with contextlib.suppress(Exception):
            import tifffile

            with tifffile.TiffFile(path) as tif:
                page = tif.pages[0]
                return int(page.imagewidth), int(page.imagelength)
    return None


# ---- the decoded-image cache ---------------------------------------------------------------


def _cache_key(paths: Sequence[Path], size: int, interpolation: str = "bilinear") -> str:
    h = hashlib.sha256(f"rsbench-images-v2 {size} {interpolation}\n".encode())
    for path in paths:
        path = Path(path)
        try:
            st = path.stat()
            h.update(f"{path.resolve()}\t{st.st_size}\t{st.st_mtime_ns}\n".encode())
        except OSError:
            h.update(f"{path}\tmissing\n".encode())
    return h.hexdigest()


def _disk_cache_enabled() -> bool:
    return os.environ.get("RSBENCH_IMAGE_CACHE", "1") not in ("0", "false", "no")


def decode_all(
    paths: Sequence[Path], size: int, progress=None, interpolation: str = "bilinear"
) -> np.ndarray:
    """Decode every image, PIL and resize each time: what the cache saves (and its fallback)."""
    out = np.empty((len(paths), size, size, 3), dtype=np.uint8)
    bar = (
        progress(
            total=len(paths),
            desc=f"decoding images ({size} px {interpolation}, cached once)",
            unit="img",
        )
        if progress
        else None
    )
    for i, path in enumerate(paths):
        out[i] = decode_image(Path(path), size, interpolation)
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    return out


def load_images(paths: Sequence[Path], size: int, interpolation: str = "bilinear") -> np.ndarray:
    """All images as one ``N × size × size × 3`` uint8 array: memory, then disk cache, then decode.

    The key of an entry holds the size and the interpolation as well as the files.
    """
    key = _cache_key(paths, size, interpolation)
    if key in _MEMO:
        _MEMO.move_to_end(key)
        return _MEMO[key]
    array = None
    if _disk_cache_enabled():
        path = cache_folder("images") / f"{key[:32]}.npy"
        if path.exists():
            with contextlib.suppress(OSError, ValueError):
                cached = np.load(path, mmap_mode="r")
                if cached.shape == (len(paths), size, size, 3) and cached.dtype == np.uint8:
                    array = cached
            if array is not None and not path.with_suffix(".json").exists():
                _write_meta(path, paths, size, interpolation)  # killed between the two writes
        if array is None:
            from rsbench.io.progress import bar

            array = decode_all(
                paths,
                size,
                progress=bar if len(paths) >= 200 else None,
                interpolation=interpolation,
            )
            _write_cache(path, array, paths, size, interpolation)
    else:
        array = decode_all(paths, size, interpolation=interpolation)
    _MEMO[key] = array
    while len(_MEMO) > _MEMO_ENTRIES:
        _MEMO.popitem(last=False)
    return array


def _write_cache(
    path: Path, array: np.ndarray, paths: Sequence[Path], size: int, interpolation: str
) -> None:
    """The array, then its description (what it holds), each written atomically."""
    try:
        atomic_save(path, lambda fh: np.save(fh, array))
    except OSError:  # a read-only or full cache only costs speed
        return
    _write_meta(path, paths, size, interpolation)


def _write_meta(path: Path, paths: Sequence[Path], size: int, interpolation: str) -> None:
    meta = {
        "size": size,
        "interpolation": interpolation,
        "images": len(paths),
        "first": str(paths[0]) if len(paths) else None,
    }
    with contextlib.suppress(OSError):
        atomic_write_json(path.with_suffix(".json"), meta)


def clear_memo() -> None:
    _MEMO.clear()

"""Image decoding (all the colour modes datasets use) and the decoded-image cache."""

from __future__ import annotations

import os

import numpy as np
import pytest
import tifffile
from PIL import Image

from rsbench.data import images
from rsbench.io.cache import cache_dir
from rsbench.io.errors import RsbenchError


@pytest.fixture
def picture_dir(tmp_path):
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, size=(20, 24, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(tmp_path / "rgb.png")
    Image.fromarray(rgb).convert("L").save(tmp_path / "gray.jpg")
    Image.fromarray(rgb).convert("CMYK").save(tmp_path / "cmyk.jpg")
    Image.fromarray(rgb).convert("P").save(tmp_path / "palette.png")
    Image.fromarray(rgb).convert("RGBA").save(tmp_path / "rgba.png")
    Image.fromarray(rgb).save(tmp_path / "rgb.tif")
    Image.fromarray((rng.integers(0, 65535, size=(20, 24))).astype(np.uint16)).save(
        tmp_path / "gray16.tif"
    )
    tifffile.imwrite(
        tmp_path / "rgb16.tif", rng.integers(0, 65535, size=(20, 24, 3), dtype=np.uint16)
    )
    tifffile.imwrite(
        tmp_path / "bands.tif",
        rng.integers(0, 4000, size=(5, 20, 24), dtype=np.uint16),
        planarconfig="separate",
    )
    (tmp_path / "broken.jpg").write_bytes(b"not a jpeg at all")
    return tmp_path


@pytest.mark.parametrize(
    "name",
    [
        "rgb.png",
        "gray.jpg",
        "cmyk.jpg",
        "palette.png",
        "rgba.png",
        "rgb.tif",
        "gray16.tif",
        "rgb16.tif",
        "bands.tif",
    ],
)
def test_every_mode_decodes_to_8_bit_rgb(picture_dir, name):
    array = images.decode_image(picture_dir / name, 16)
    assert array.shape == (16, 16, 3) and array.dtype == np.uint8
    assert array.max() > array.min()  # not a blank image
    assert images.check_image(picture_dir / name) is None
    assert images.check_image(picture_dir / name, deep=True) is None


def test_sixteen_bit_is_stretched_to_its_own_range(picture_dir):
    rgb = images.read_rgb(picture_dir / "rgb16.tif")
    values = np.asarray(rgb)
    assert values.min() == 0 and values.max() == 255


def test_bad_images_are_named(picture_dir):
    with pytest.raises(RsbenchError, match="cannot read image .*broken.jpg"):
        images.decode_image(picture_dir / "broken.jpg", 8)
    with pytest.raises(RsbenchError, match="image not found: .*absent.png"):
        images.decode_image(picture_dir / "absent.png", 8)
    assert images.check_image(picture_dir / "absent.png") == "missing"
    assert images.check_image(picture_dir / "broken.jpg").startswith("unreadable")


def test_the_disk_cache_decodes_once_and_notices_changed_files(picture_dir, monkeypatch):
    paths = [picture_dir / "rgb.png", picture_dir / "gray.jpg"]
    images.clear_memo()
    first = images.load_images(paths, 12)
    cached = list((cache_dir() / "images").glob("*.npy"))
    assert cached
    images.clear_memo()

    def no_decoding(*args, **kwargs):
        raise AssertionError("decoded again despite the cache")

    monkeypatch.setattr(images, "decode_image", no_decoding)
    second = images.load_images(paths, 12)
    assert isinstance(second, np.memmap) and (np.asarray(second) == first).all()
    images.clear_memo()
    os.utime(paths[1], ns=(1, 1))  # a changed source file: a new entry, decoded again
    with pytest.raises(AssertionError, match="decoded again"):
        images.load_images(paths, 12)


def test_the_cache_can_be_turned_off(picture_dir, monkeypatch):
    monkeypatch.setenv("RSBENCH_IMAGE_CACHE", "0")
    images.clear_memo()
    before = (
        set((cache_dir() / "images").glob("*.npy")) if (cache_dir() / "images").exists() else set()
    )
    images.load_images([picture_dir / "rgba.png"], 9)
    after = (
        set((cache_dir() / "images").glob("*.npy")) if (cache_dir() / "images").exists() else set()
    )
    assert after == before


def test_the_cache_key_holds_the_interpolation(picture_dir):
    paths = [picture_dir / "rgb.png"]
    images.clear_memo()
    bilinear = np.asarray(images.load_images(paths, 7, "bilinear"))
    bicubic = np.asarray(images.load_images(paths, 7, "bicubic"))
    assert not np.array_equal(bilinear, bicubic)
    with pytest.raises(ValueError, match="unknown interpolation 'nearest'"):
        images.decode_image(paths[0], 7, "nearest")


def test_resized_crop_keeps_shape_and_is_identity_at_full_scale():
    import torch

    from rsbench.engine.pipeline import ImagePipeline

    batch = torch.randint(0, 256, (4, 16, 16, 3), dtype=torch.uint8)
    full = ImagePipeline(size=16, train="resized_crop", crop_scale=(1.0, 1.0), crop_ratio=(1, 1))
    same = full.train_batch(batch, torch.Generator().manual_seed(0))
    assert same.shape == (4, 3, 16, 16)
    assert torch.allclose(same, full.eval_batch(batch), atol=1e-4)
    crops = ImagePipeline(size=16, train="resized_crop", crop_scale=(0.3, 0.5))
    cropped = crops.train_batch(batch, torch.Generator().manual_seed(0))
    assert cropped.shape == (4, 3, 16, 16) and not torch.allclose(cropped, crops.eval_batch(batch))

"""Noise models and noise files: the RRSITR golden files, determinism, clean flags, hashing."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from rsbench.data.noise_file import NoiseFile, build_noise_file, clean_by_text, noise_file_for
from rsbench.io.errors import RsbenchError
from rsbench.plugin.manager import get_plugins
from rsbench.plugin.split import ImageItem, make_split
from rsbench.testing import check_noise_model, tiny_split

from .conftest import SHARED_DATA

RSITMD = SHARED_DATA / "rrsitr-splits" / "rsitmd"


def noise_model(name, **options):
    return get_plugins().noise_models.get(name).create(options)


def read_rows(path: Path) -> list[tuple[str, str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return [(Path(row["filename"]).name, row["title"]) for row in csv.DictReader(fh)]


@pytest.mark.skipif(
    not (RSITMD / "RSITMD-NC-00.csv").exists(), reason=f"RRSITR files not found under {RSITMD}"
)
def test_rrsitr_mode_reproduces_the_published_rsitmd_noise_files():
    clean = read_rows(RSITMD / "RSITMD-NC-00.csv")
    order, captions = [], {}
    for name, title in clean:
        if name not in captions:
            order.append(name)
            captions[name] = []
        captions[name].append(title)
    split = make_split(
        "train", [ImageItem(n, Path(n), tuple(captions[n]), n.rsplit("_", 1)[0]) for n in order]
    )
    assert split.texts == [t for _, t in clean]  # the row order the procedure depends on
    model = noise_model("caption_shuffle", mode="rrsitr")
    for ratio, suffix in [(0.2, "02"), (0.4, "04"), (0.6, "06"), (0.8, "08")]:
        nf = build_noise_file(split, model, ratio, 42, {"name": "rsitmd"})
        published = read_rows(RSITMD / f"RSITMD-NC-{suffix}.csv")
        assert [name for name, _ in published] == [name for name, _ in clean]
        assert nf.row_texts(split) == [title for _, title in published], f"NC-{suffix} differs"
        assert nf.effective_rate == pytest.approx(ratio, abs=0.0005)
        assert (
            nf.stats["same_class_rate"] < 0.1
        )  # random shuffles rarely stay in class (about 3.5 %)


def test_rrsitr_mode_refuses_ratios_outside_its_schedule():
    with pytest.raises(RsbenchError, match="supports ratios 0, 0.2, 0.4, 0.6, 0.8; got 0.3"):
        noise_model("caption_shuffle", mode="rrsitr").corrupt(tiny_split(), 0.3, 42)


@pytest.mark.parametrize("name", ["caption_shuffle", "image_shuffle"])
def test_noise_models_honour_the_contract(name):
    check_noise_model(noise_model(name))
    check_noise_model(noise_model(name), tiny_split(30, [1, 2, 3, 4, 5, 6] * 5))


def test_caption_shuffle_moves_exactly_the_chosen_rows_and_keeps_images():
    split = tiny_split(100)
    nf = build_noise_file(split, noise_model("caption_shuffle"), 0.4, 3, {"name": "t"})
    assert (nf.image == split.caption_image).all()
    moved = nf.caption != np.arange(len(split.texts))
    assert moved.sum() <= int(0.4 * 500) and moved.sum() > 0.35 * 500
    assert sorted(nf.caption.tolist()) == list(range(500))  # a permutation: every caption used once
    assert nf.stats["nominal_rate"] == 0.4 and nf.effective_rate == pytest.approx(
        1 - nf.clean.mean()
    )


def test_independent_mode_draws_each_ratio_on_its_own():
    split = tiny_split(50)
    model = noise_model("caption_shuffle")
    alone = build_noise_file(split, model, 0.4, 1, {"name": "t"})
    model.corrupt(split, 0.2, 1)  # asking for another ratio first changes nothing
    again = build_noise_file(split, model, 0.4, 1, {"name": "t"})
    assert alone.content_hash == again.content_hash


def test_image_shuffle_corrupts_whole_images():
    split = tiny_split(60)
    nf = build_noise_file(split, noise_model("image_shuffle"), 0.5, 5, {"name": "t"})
    assert (nf.caption == np.arange(len(split.texts))).all()
    for i in range(60):
        rows = slice(split.first_row[i], split.first_row[i + 1])
        assert len(set(nf.image[rows].tolist())) == 1  # all captions of an image move together
        assert len(set(nf.clean[rows].tolist())) == 1
    moved = {int(split.caption_image[r]) for r in np.flatnonzero(nf.image != split.caption_image)}
    assert len(moved) <= 30 and nf.effective_rate == pytest.approx(len(moved) / 60)


def test_clean_flag_follows_the_text():
    images = [
        ImageItem("a", Path("a"), ("two ships", "a port")),
        ImageItem("b", Path("b"), ("a port", "green trees")),
    ]
    split = make_split("train", images)
    # rows: 0 "two ships"(a) 1 "a port"(a) 2 "a port"(b) 3 "green trees"(b)
    image = np.array([1, 1, 0, 0])
    texts = ["two ships", "a port", "a port", "green trees"]
    # "a port" is a caption of both images, so wherever it lands it is clean
    assert clean_by_text(split, image, texts).tolist() == [False, True, True, False]


def test_noise_files_are_saved_once_hashed_and_verified(tmp_path):
    split = tiny_split(20)
    model = noise_model("caption_shuffle")
    spec = {"name": "t", "fingerprint": split.fingerprint()}
    nf, path = noise_file_for(tmp_path, split, model, 0.2, 9, spec)
    assert path.exists() and path.parent == tmp_path
    mtime = path.stat().st_mtime_ns
    again, same_path = noise_file_for(tmp_path, split, model, 0.2, 9, spec)
    assert same_path == path and path.stat().st_mtime_ns == mtime  # reused, not rewritten
    assert again.content_hash == nf.content_hash
    loaded = NoiseFile.load(path)
    assert (loaded.clean == nf.clean).all() and loaded.row_texts(split) == nf.row_texts(split)
    other, other_path = noise_file_for(tmp_path, split, model, 0.2, 10, spec)
    assert other_path != path and other.content_hash != nf.content_hash
    text = path.read_text().replace('"clean":[', '"clean":[1,', 1)
    path.write_text(text)
    with pytest.raises(RsbenchError, match="corrupt"):
        NoiseFile.load(path)


def test_noise_file_refuses_another_split():
    nf = build_noise_file(tiny_split(10), noise_model("caption_shuffle"), 0.2, 1, {"name": "t"})
    with pytest.raises(RsbenchError, match="does not belong"):
        nf.train_pairs(tiny_split(11))

"""The real-dataset plugins on tiny copies in their real layouts (`tests/fixtures/rs_datasets.py`).

Checks: what each plugin reads (counts, classes, caption order, keywords, odd captions), every
split definition, RRSITR's CSV layout, image folders and layouts, path confinement, missing
and unreadable images, where the data is looked for, the shipped split lists, a golden check
of the ``rrsitr`` split against RRSITR's published files, and one `rsbench run` end to end.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from rsbench.io.errors import RsbenchError
from rsbench.plugin.manager import get_plugins
from rsbench_plugins.datasets.split_definitions import SplitLists, carve_validation
from rsbench_plugins.datasets.sydney import sydney_class
from rsbench_plugins.datasets.ucm import ucm_class

from .conftest import SHARED_DATA
from .fixtures.rs_datasets import (
    SHARED_CAPTION,
    make_nwpu,
    make_rsicd,
    make_rsitmd,
    make_sydney,
    make_ucm,
    write_karpathy_json,
)

RRSITR = SHARED_DATA / "rrsitr-splits"
DEFINITIONS = {
    "rsitmd": ("rrsitr", "karpathy", "amfmn"),
    "rsicd": ("rrsitr", "karpathy", "amfmn"),
    "nwpu": ("rrsitr", "karpathy"),
    "ucm": ("karpathy", "amfmn"),
    "sydney": ("karpathy", "amfmn"),
}


def dataset(name: str, **options):
    return get_plugins().datasets.get(name).create(options)


def load(name: str, root: Path, **options):
    return dataset(name, data_root=str(root), **options).load()


def ids(split) -> list[str]:
    return [item.id for item in split.images]


# ---- registration and options -----------------------------------------------------------


def test_each_dataset_is_registered_with_its_split_definitions():
    registry = get_plugins().datasets
    for name, definitions in DEFINITIONS.items():
        cls = registry.get(name).resolve()
        assert cls.split_definitions == definitions
        assert cls.Options().split == definitions[0]
        module_doc = sys.modules[cls.__module__].__doc__ or ""
        assert "Layout read" in module_doc  # where it is published, and the layout it reads
        assert "github.com" in module_doc or "doi:" in module_doc
        instance = dataset(name, data_root="/somewhere")
        assert "data_root" not in instance.identity_params()  # machine-local: not in cell ids
        assert instance.identity_params()["skip_bad_images"] is False


def test_an_unsupported_split_definition_is_refused_with_the_valid_ones():
    with pytest.raises(
        RsbenchError,
        match=r"dataset 'ucm': unknown split definition 'rrsitr'; valid: karpathy, amfmn",
    ):
        dataset("ucm", split="rrsitr")


# ---- RSITMD -----------------------------------------------------------------------------


def test_rsitmd_reads_counts_classes_captions_and_keywords(tmp_path):
    fx = make_rsitmd(tmp_path)
    splits = load("rsitmd", tmp_path, split="karpathy")
    assert splits.split_name == "karpathy"
    sizes = (len(splits.train), len(splits.val), len(splits.test))
    assert sizes == (10, 1, 3)  # the JSON's 11 training images: 1 carved as val
    assert ids(splits.test) == fx.splits["test"]
    assert sorted(ids(splits.train) + ids(splits.val)) == fx.splits["train"]
    everything = [item for name in ("train", "val", "test") for item in splits[name].images]
    for item in everything:
        assert list(item.captions) == fx.captions[item.id]  # file order, nothing dropped
        assert item.scene_class == item.id.rsplit("_", 1)[0]
        assert item.path == fx.root / "images" / item.id
    texts = [t for item in everything for t in item.captions]
    assert "" in texts and "." in texts  # a blank and a one-word caption are kept
    assert texts.count(SHARED_CAPTION) == 2  # a caption on two images is kept on both
    with_keywords = [item for item in everything if item.keywords]
    assert with_keywords and all(item.keywords == ("blue sea", "- port") for item in with_keywords)
    assert len(with_keywords) < len(everything)  # images without keywords have none
    assert splits.info["skipped_images"] == 0


def test_carved_validation_is_fixed_by_the_file_names(tmp_path):
    make_rsitmd(tmp_path, n_train=40, n_val=5)
    splits = load("rsitmd", tmp_path, split="karpathy")
    train_ids = ids(splits.train) + ids(splits.val)
    assert len(train_ids) == 45 and len(splits.val) == 5  # 10 %, rounded half up

    def rank(name):  # the rule the docstring states
        return hashlib.sha256(f"rsbench-val:rsitmd:{name}".encode()).hexdigest()

    assert set(ids(splits.val)) == set(sorted(train_ids, key=rank)[:5])
    amfmn = load("rsitmd", tmp_path, split="amfmn")  # the same training images: the same val
    assert ids(amfmn.val) == ids(splits.val) and ids(amfmn.train) == ids(splits.train)
    items = list(splits.train.images + splits.val.images)
    _, val = carve_validation(list(reversed(items)), "rsitmd")
    assert {i.id for i in val} == set(ids(splits.val))  # independent of order


def test_rsitmd_rrsitr_split_follows_the_published_lists_and_training_order(tmp_path):
    fx = make_rsitmd(tmp_path)
    splits = load("rsitmd", tmp_path)  # rrsitr is the default
    lists = SplitLists.load("rrsitr", "rsitmd")
    present = {n for names in fx.splits.values() for n in names}
    for name in ("train", "val", "test"):
        assert ids(splits[name]) == [n for n in getattr(lists, name) if n in present]
    assert ids(splits.train) != sorted(ids(splits.train))  # not the file's (sorted) order
    assert splits.split_name == "rrsitr"
    assert splits.info["listed_but_absent"]["train"] == 3861 - len(splits.train)


def test_rrsitr_csv_layout_reads_like_the_json(tmp_path):
    make_rsitmd(tmp_path / "json")
    fx = make_rsitmd(tmp_path / "csv", layout="csv")
    from_json = load("rsitmd", tmp_path / "json")
    from_csv = load("rsitmd", tmp_path / "csv")
    assert from_csv.info["format"] == "rrsitr-csv"
    assert from_csv.membership_hash() == from_json.membership_hash()
    for name in ("train", "val", "test"):
        assert from_csv[name].fingerprint() == from_json[name].fingerprint()
    assert from_csv.train.images[0].path == fx.root / "images" / from_csv.train.images[0].id
    assert load("rsitmd", tmp_path / "csv", split="amfmn").test.texts == from_json.test.texts
    with pytest.raises(
        RsbenchError, match=r"split 'karpathy'.*CSV layout; valid here: rrsitr, amfmn"
    ):
        load("rsitmd", tmp_path / "csv", split="karpathy")


# ---- RSICD, NWPU, UCM, Sydney -----------------------------------------------------------


def test_rsicd_numeric_names_have_no_class_and_every_definition_loads(tmp_path):
    fx = make_rsicd(tmp_path)
    splits = load("rsicd", tmp_path, split="karpathy")
    for name in ("train", "val", "test"):
        assert ids(splits[name]) == fx.splits[name]
    classes = {
        item.id: item.scene_class for name in ("train", "test") for item in splits[name].images
    }
    numeric = [n for n in classes if n[0].isdigit()]
    assert len(numeric) == 2 and all(classes[n] is None for n in numeric)
    assert classes[fx.splits["train"][1]] == fx.splits["train"][1].rsplit("_", 1)[0]
    assert splits.info["image_dir"] == str(fx.root / "RSICD_images")
    rrsitr = load("rsicd", tmp_path)
    assert ids(rrsitr.val) == fx.splits["val"]  # RRSITR's val images are in the fixture's val
    assert ids(rrsitr.train) == fx.splits["train"]  # training: every image in neither
    amfmn = load("rsicd", tmp_path, split="amfmn")
    assert len(amfmn.train) + len(amfmn.val) == len(fx.splits["train"]) + len(fx.splits["val"])


def test_fixture_images_decode_to_rgb(tmp_path):
    """The awkward files (16-bit, multi-band, gray TIFF; CMYK, gray JPEG) pass the image check."""
    from rsbench.data.images import check_image, decode_image

    rsitmd = make_rsitmd(tmp_path / "a")
    rsicd = make_rsicd(tmp_path / "b")
    paths = [rsitmd.root / "images" / n for n in rsitmd.special.values()]
    paths += [rsicd.root / "RSICD_images" / n for n in rsicd.special.values()]
    assert set(rsitmd.special) | set(rsicd.special) == {"rgb16", "multiband", "gray", "cmyk"}
    for path in paths:
        assert check_image(path) is None, path
        assert decode_image(path, 8).shape == (8, 8, 3)


@pytest.mark.parametrize("image_layout", ["nested", "flat"])
def test_nwpu_reads_class_keyed_json_with_images_nested_or_flat(tmp_path, image_layout):
    fx = make_nwpu(tmp_path, image_layout=image_layout)
    splits = load("nwpu", tmp_path, split="karpathy")
    folder = "NWPU_images" if image_layout == "nested" else "NWPU-RESISC45"
    assert splits.info["image_dir"] == str(fx.root / folder)
    for name in ("train", "val", "test"):
        assert ids(splits[name]) == fx.splits[name]
        for item in splits[name].images:
            assert list(item.captions) == fx.captions[item.id]  # raw, raw_1 … raw_4
            assert item.scene_class == item.id.rsplit("_", 1)[0]
            assert item.path.is_file()
    rrsitr = SplitLists.load("rrsitr", "nwpu")
    assert ids(load("nwpu", tmp_path).test) == [n for n in rrsitr.test if n in fx.splits["test"]]


@pytest.mark.parametrize(
    "make, name, image_folder",
    [(make_ucm, "ucm", "imgs"), (make_ucm, "ucm", "images"), (make_sydney, "sydney", "imgs")],
)
def test_numbered_datasets_read_classes_and_either_image_folder(tmp_path, make, name, image_folder):
    fx = make(tmp_path, image_folder)
    splits = load(name, tmp_path)
    assert splits.split_name == "karpathy"
    assert splits.info["image_dir"] == str(fx.root / image_folder)
    classify = ucm_class if name == "ucm" else sydney_class
    for split in ("train", "val", "test"):
        assert ids(splits[split]) == fx.splits[split]
        assert all(
            item.scene_class == classify(item.id) is not None for item in splits[split].images
        )
    # AMFMN's UCM test images are the JSON's val split; the JSON's test is in no split
    amfmn = load(name, tmp_path, split="amfmn")
    assert ids(amfmn.test) == (fx.splits["val"] if name == "ucm" else fx.splits["test"])
    assert amfmn.info["in_no_split"] == 3


def test_class_ranges_of_ucm_and_sydney():
    assert [ucm_class(f"{n}.tif") for n in (1, 100, 101, 2000, 2001, 2100)] == [
        "agricultural",
        "agricultural",
        "airplane",
        "storagetanks",
        "tenniscourt",
        "tenniscourt",
    ]
    assert ucm_class("2101.tif") is ucm_class("0.tif") is ucm_class("a_1.tif") is None
    counts = Counter(sydney_class(f"{n}.tif") for n in range(1, 614))
    assert counts == {
        "residential": 242,
        "airport": 22,
        "meadow": 50,
        "river": 45,
        "ocean": 92,
        "industrial": 96,
        "runway": 66,
    }
    assert sydney_class("243.tif") == "airport" and sydney_class("614.tif") is None


# ---- paths, missing images, where the data is -------------------------------------------


@pytest.mark.parametrize("filename", ["../escape.tif", "/etc/passwd", "a/../../b.tif"])
def test_file_names_leaving_the_dataset_folder_are_refused(tmp_path, filename):
    write_karpathy_json(
        tmp_path / "RSITMD" / "dataset_RSITMD.json",
        {"train": [filename]},
        {filename: ["a caption"]},
    )
    with pytest.raises(RsbenchError, match="refusing image file name"):
        dataset("rsitmd", data_root=str(tmp_path), split="karpathy").read()


def test_nwpu_class_names_and_csv_base_names_are_confined_too(tmp_path):
    folder = tmp_path / "NWPU-Captions"
    folder.mkdir()
    entry = {"filename": "x_001.jpg", "split": "train", "raw": "a"}
    (folder / "dataset_nwpu.json").write_text(json.dumps({"..": [entry]}))
    with pytest.raises(RsbenchError, match="refusing"):
        dataset("nwpu", data_root=str(tmp_path)).read()
    fx = make_rsitmd(tmp_path / "csv", layout="csv")
    with open(fx.root / "rsitmd_test.csv", "a", newline="") as fh:
        csv.writer(fh).writerow(["/elsewhere/..", "a caption"])
    with pytest.raises(RsbenchError, match="refusing"):
        dataset("rsitmd", data_root=str(tmp_path / "csv")).read()


def test_an_image_listed_twice_is_refused(tmp_path):
    write_karpathy_json(
        tmp_path / "dataset.json",
        {"train": ["1.tif", "1.tif"]},
        {"1.tif": ["a"]},
    )
    with pytest.raises(RsbenchError, match="lists image '1.tif' twice"):
        dataset("ucm", data_root=str(tmp_path)).read()


def test_a_missing_image_is_a_clear_error_and_read_does_not_check(tmp_path):
    fx = make_rsitmd(tmp_path)
    gone = fx.splits["test"][0]
    (fx.root / "images" / gone).unlink()
    with pytest.raises(RsbenchError) as error:
        load("rsitmd", tmp_path)
    message = str(error.value)
    assert f"{gone}: missing" in message and "1 of 14 images" in message
    assert str(fx.root / "images") in message and "skip_bad_images" in message
    assert len(dataset("rsitmd", data_root=str(tmp_path)).read().test) == 3


def test_skip_bad_images_drops_them_with_their_captions_and_counts_them(tmp_path):
    fx = make_rsitmd(tmp_path)
    missing, corrupt = fx.splits["test"][0], fx.splits["train"][-1]
    (fx.root / "images" / missing).unlink()
    (fx.root / "images" / corrupt).write_bytes(b"not an image")
    with pytest.raises(RsbenchError, match=r"2 of 14 images .*unreadable"):
        load("rsitmd", tmp_path)
    splits = load("rsitmd", tmp_path, skip_bad_images=True)
    assert splits.info["skipped_images"] == 2
    kept = {i for name in ("train", "val", "test") for i in ids(splits[name])}
    assert missing not in kept and corrupt not in kept and len(kept) == 12
    assert sum(len(splits[name].texts) for name in ("train", "val", "test")) == 12 * 5


def test_no_image_folder_says_where_it_looked(tmp_path):
    fx = make_ucm(tmp_path)
    shutil.rmtree(fx.root / "imgs")
    with pytest.raises(RsbenchError, match=r"no image folder; looked for .*imgs, .*images"):
        load("ucm", tmp_path, skip_bad_images=True)


def test_locate_uses_the_data_root_or_rsbench_data(tmp_path, monkeypatch):
    fx = make_sydney(tmp_path)
    assert dataset("sydney", data_root=str(tmp_path)).locate() == fx.root
    assert dataset("sydney", data_root=str(fx.root)).locate() == fx.root  # the folder itself
    monkeypatch.setenv("RSBENCH_DATA", str(tmp_path))
    assert dataset("sydney").locate() == fx.root
    with pytest.raises(RsbenchError, match=r"'rsicd' not found: looked for dataset_rsicd.json"):
        dataset("rsicd").locate()
    monkeypatch.delenv("RSBENCH_DATA")
    with pytest.raises(RsbenchError, match="no data folder given"):
        dataset("sydney").load()


# ---- the shipped split lists, and the golden check against RRSITR's files ------------------


def test_shipped_split_lists_have_the_published_sizes():
    sizes = {
        ("rrsitr", "rsitmd"): (3861, 430, 452),
        ("rrsitr", "rsicd"): (None, 983, 1093),
        ("rrsitr", "nwpu"): (None, 2835, 3150),
        ("amfmn", "rsitmd"): (4291, None, 452),
        ("amfmn", "rsicd"): (9828, None, 1093),
        ("amfmn", "ucm"): (1680, None, 210),
        ("amfmn", "sydney"): (497, None, 58),
    }
    lists = {key: SplitLists.load(*key) for key in sizes}
    for key, expected in sizes.items():
        parts = [lists[key].train, lists[key].val, lists[key].test]
        assert tuple(None if p is None else len(set(p)) for p in parts) == expected, key
        named = [n for p in parts if p for n in p]
        assert len(named) == len(set(named)), f"{key}: splits overlap"
    rr, am = lists["rrsitr", "rsitmd"], lists["amfmn", "rsitmd"]
    assert rr.train_order == "listed" and am.train_order == "dataset"
    assert set(am.train) == set(rr.train) | set(rr.val) and am.test == rr.test
    assert set(lists["amfmn", "rsicd"].test) == set(lists["rrsitr", "rsicd"].test)


def csv_rows(path: Path) -> list[tuple[str, str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return [(Path(row["filename"]).name, row["title"]) for row in csv.DictReader(fh)]


def first_seen(rows: list[tuple[str, str]]) -> list[str]:
    return list(dict.fromkeys(name for name, _ in rows))


@pytest.mark.skipif(
    not (RRSITR / "rsitmd" / "RSITMD-NC-00.csv").exists(),
    reason=f"RRSITR's files not found under {RRSITR}",
)
def test_rrsitr_split_reproduces_rrsitrs_published_files(tmp_path):
    """All 4,743 RSITMD names in a JSON sorted by name: the rrsitr split gives RRSITR's
    membership, its training row order (captions and all), and so its first noise file."""
    from rsbench.data.noise_file import build_noise_file

    rows = {
        s: csv_rows(RRSITR / "rsitmd" / f)
        for s, f in [
            ("train", "RSITMD-NC-00.csv"),
            ("val", "rsitmd_val.csv"),
            ("test", "rsitmd_test.csv"),
        ]
    }
    captions: dict[str, list[str]] = {}
    for split_rows in rows.values():
        for name, title in split_rows:
            captions.setdefault(name, []).append(title)
    assert len(captions) == 4743
    own = {
        "train": first_seen(rows["train"]) + first_seen(rows["val"]),
        "test": first_seen(rows["test"]),
    }
    write_karpathy_json(
        tmp_path / "RSITMD" / "dataset_RSITMD.json", own, captions, order=sorted(captions)
    )
    splits = dataset("rsitmd", data_root=str(tmp_path)).read()
    for name in ("train", "val", "test"):
        assert ids(splits[name]) == first_seen(rows[name]), name
        assert splits[name].texts == [title for _, title in rows[name]], name
    assert "listed_but_absent" not in splits.info and "in_no_split" not in splits.info
    noise = get_plugins().noise_models.get("caption_shuffle").create({"mode": "rrsitr"})
    noisy = build_noise_file(splits.train, noise, 0.2, 42, {"name": "rsitmd"})
    assert noisy.row_texts(splits.train) == [
        t for _, t in csv_rows(RRSITR / "rsitmd" / "RSITMD-NC-02.csv")
    ]
    # RRSITR's CSV layout, as published, reads the same
    shutil.copytree(RRSITR / "rsitmd", tmp_path / "csv" / "RSITMD")
    from_csv = dataset("rsitmd", data_root=str(tmp_path / "csv")).read()
    assert from_csv.membership_hash() == splits.membership_hash()
    assert from_csv.train.fingerprint() == splits.train.fingerprint()
    for name, folder in [("rsicd", "rsicd"), ("nwpu", "nwpu")]:
        lists = SplitLists.load("rrsitr", name)
        assert list(lists.val) == first_seen(csv_rows(RRSITR / folder / f"{folder}_val.csv"))
        assert list(lists.test) == first_seen(csv_rows(RRSITR / folder / f"{folder}_test.csv"))


@pytest.mark.skipif(
    not (RRSITR / "rsitmd" / "RSITMD-NC-00.csv").exists(),
    reason=f"RRSITR's files not found under {RRSITR}",
)
def test_shipped_rrsitr_lists_are_what_the_tool_writes(tmp_path):
    import runpy

    tool = runpy.run_path(str(Path(__file__).parent.parent / "tools" / "make_rrsitr_splits.py"))
    tool["main"]([str(RRSITR), "--out", str(tmp_path)])
    for name in ("rsitmd", "rsicd", "nwpu"):
        assert (tmp_path / f"{name}.json").read_bytes() == SplitLists.path(
            "rrsitr", name
        ).read_bytes()


# ---- end to end -------------------------------------------------------------------------


def test_rsbench_run_trains_on_a_real_layout(tmp_path):
    make_rsitmd(tmp_path / "data", n_train=30, n_val=6, n_test=6, image_size=32)
    out = tmp_path / "runs"
    result = subprocess.run(
        [sys.executable, "-m", "rsbench", "run", "--methods", "infonce", "--datasets", "rsitmd",
         "--data-root", str(tmp_path / "data"), "--noise", "0", "--epochs", "1", "--seeds", "0", "--profile", "small",
         "--out", str(out), "--no-leaderboard"],
        capture_output=True, text=True, env=os.environ.copy(), timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    (record_file,) = (out / "cells").glob("*.json")
    record = json.loads(record_file.read_text())
    assert record["status"] == "ok"
    assert record["dataset"]["split"] == "rrsitr"
    assert record["dataset"]["sizes"]["train"] == {"images": 30, "captions": 150}
    assert 0 <= record["metrics"]["mR"] <= 100


def test_all_five_datasets_pass_data_check_and_run_through_the_cli(tmp_path):
    data = tmp_path / "data"
    make_rsitmd(data)
    make_rsicd(data)
    make_nwpu(data)
    make_ucm(data)
    make_sydney(data)
    env = {**os.environ, "RSBENCH_DATA": str(data)}  # found without --data-root
    names = ["rsitmd", "rsicd", "nwpu", "ucm", "sydney"]
    for name in names:
        check = subprocess.run([sys.executable, "-m", "rsbench", "data", "check", name],
                               capture_output=True, text=True, env=env, timeout=300)  # fmt: skip
        assert check.returncode == 0, (name, check.stdout, check.stderr)
        assert f"{name}: usable" in check.stdout
    for name, model in [
        ("rsitmd", "class_confusion"),
        ("nwpu", "word_swap"),
        ("rsicd", "degenerate"),
    ]:
        show = subprocess.run(
            [sys.executable, "-m", "rsbench", "noise", "show", "--dataset", name, "--noise-model", model,
             "--ratio", "0.4", "--n", "2"],
            capture_output=True, text=True, env=env, timeout=300,
        )  # fmt: skip
        assert show.returncode == 0, (name, model, show.stderr)
        assert (
            "effective noise rate:" in show.stdout and show.stdout.count("assigned caption:") == 2
        )
    out = tmp_path / "runs"
    result = subprocess.run(
        [sys.executable, "-m", "rsbench", "run", "--methods", "infonce,rrsitr", "--datasets", ",".join(names),
         "--noise", "0.2", "--epochs", "1", "--seeds", "0", "--profile", "small", "--out", str(out), "--no-leaderboard"],
        capture_output=True, text=True, env=env, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    records = [json.loads(p.read_text()) for p in (out / "cells").glob("*.json")]
    assert sorted(r["dataset"]["name"] for r in records) == sorted(names * 2)
    assert all(r["status"] == "ok" and r["noise"]["effective_rate"] > 0 for r in records)
    rrsitr = [r for r in records if r["method"]["name"] == "rrsitr"]
    assert all(r["detection"]["history"][0]["groups"] for r in rrsitr)
    assert all("global_only" in r["metrics_diagnostic"] for r in rrsitr)

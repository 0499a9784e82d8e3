"""The embedded synthetic dataset: determinism, the RSITMD file format, balance, captions."""

from __future__ import annotations

import hashlib
import json
import random

from PIL import Image

from rsbench.data.karpathy import class_from_filename, read_karpathy
from rsbench.plugin.manager import get_plugins
from rsbench_plugins.datasets.synthrs import IMAGE_DIR, JSON_NAME
from rsbench_plugins.datasets.synthrs_scenes import SCENE_CLASSES, render_scene


def tiny(**options):
    return get_plugins().datasets.get("synthrs-tiny").create(options)


def digest_tree(root):
    h = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        if path.is_file():
            h.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes())
    return h.hexdigest()


def test_generation_is_deterministic_across_caches(tmp_path, monkeypatch):
    roots = []
    for name in ("one", "two"):
        monkeypatch.setenv("RSBENCH_CACHE", str(tmp_path / name))
        dataset = tiny(train=12, val=4, test=4)
        dataset.load()
        roots.append(dataset.root())
    assert roots[0] != roots[1]
    assert digest_tree(roots[0]) == digest_tree(roots[1])
    monkeypatch.setenv("RSBENCH_CACHE", str(tmp_path / "three"))
    other_seed = tiny(train=12, val=4, test=4, seed=1)
    other_seed.load()
    assert digest_tree(other_seed.root()) != digest_tree(roots[0])


def test_generation_in_worker_processes_writes_the_same_files(tmp_path, monkeypatch):
    """A full-size dataset renders its scenes in a process pool; the files are those of the
    one-process generation, byte for byte (each scene has its own seed)."""
    import rsbench_plugins.datasets.synthrs as synthrs

    pools = []

    class CountedPool(synthrs.ProcessPoolExecutor):
        def __init__(self, *args, **kwargs):
            pools.append(args)
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(synthrs, "ProcessPoolExecutor", CountedPool)
    monkeypatch.setattr(synthrs.os, "cpu_count", lambda: 2)
    roots = []
    for name, threshold in (("serial", 10**9), ("pool", 0)):
        monkeypatch.setattr(synthrs, "PARALLEL_FROM", threshold)
        monkeypatch.setenv("RSBENCH_CACHE", str(tmp_path / name))
        dataset = tiny(train=12, val=4, test=4)
        dataset.load()
        roots.append(dataset.root())
    assert len(pools) == 1  # the second generation only
    assert digest_tree(roots[0]) == digest_tree(roots[1])


def test_written_in_the_rsitmd_format_and_read_back_by_the_karpathy_loader():
    dataset = tiny()
    splits = dataset.load()
    root = dataset.root()
    doc = json.loads((root / JSON_NAME).read_text())
    entry = doc["images"][0]
    assert {"filename", "imgid", "split", "sentences", "sentids"} <= set(entry)
    assert {"raw", "tokens", "imgid", "sentid"} <= set(entry["sentences"][0])
    assert entry["filename"].endswith(".tif")
    with Image.open(root / IMAGE_DIR / entry["filename"]) as image:
        assert image.format == "TIFF" and image.mode == "RGB" and image.size == (64, 64)
    raw = read_karpathy(root / JSON_NAME, root / IMAGE_DIR)
    assert {k: len(v) for k, v in raw.items()} == {"train": 54, "val": 18, "test": 18}
    assert [i.id for i in splits.train.images] == [i.id for i in raw["train"]]
    for split in (splits.train, splits.val, splits.test):
        assert all(len(item.captions) == 5 for item in split.images)
        assert all(item.scene_class == class_from_filename(item.id) for item in split.images)
        assert all(item.path.exists() for item in split.images)
    ids = [i.id for s in (splits.train, splits.val, splits.test) for i in s.images]
    assert len(ids) == len(set(ids))  # splits are disjoint


def test_classes_are_balanced_and_numerous():
    assert len(SCENE_CLASSES) >= 15
    splits = tiny(train=len(SCENE_CLASSES) * 2, val=4, test=4).load()
    counts = {}
    for item in splits.train.images:
        counts[item.scene_class] = counts.get(item.scene_class, 0) + 1
    assert set(counts) == set(SCENE_CLASSES) and set(counts.values()) == {2}


def test_scenes_are_deterministic_and_captions_vary():
    for scene_class in SCENE_CLASSES:
        a_img, a_caps = render_scene(scene_class, random.Random(5), size=96)
        b_img, b_caps = render_scene(scene_class, random.Random(5), size=96)
        assert a_img.tobytes() == b_img.tobytes() and a_caps == b_caps
        assert a_img.size == (96, 96) and len(a_caps) == 5
        assert all(3 <= len(c.split()) <= 25 for c in a_caps)
        c_img, c_caps = render_scene(scene_class, random.Random(6), size=96)
        assert c_img.tobytes() != a_img.tobytes()
    # many distinct captions per class: the class name alone cannot solve retrieval
    captions = [c for k in range(40) for c in render_scene("airport", random.Random(k))[1]]
    assert len(set(captions)) > 100


def test_captions_name_the_objects_drawn():
    """Numbers in airport captions match: 'three ... planes' appears only with three planes drawn."""
    words = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6}
    seen = 0
    for k in range(30):
        _, captions = render_scene("airport", random.Random(k))
        counts = {
            words[w]
            for c in captions
            for w in c.split()
            if w in words and ("plane" in c or "aircraft" in c)
        }
        assert len(counts) <= 1, captions  # one image, one number of planes
        seen += len(counts)
    assert seen > 10

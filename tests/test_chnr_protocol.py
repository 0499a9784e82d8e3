"""CHNR's own protocol: the ``chnr`` split definition with its query/database test partition,
hashing mAP@k on that partition, and the CHNR-native experiment configs run end to end."""

from __future__ import annotations

import json
import random
from pathlib import Path, PurePosixPath

import numpy as np
import pytest
import yaml

from rsbench.evaluate.hashing_map import hashing_metrics, map_at_k
from rsbench.io.errors import RsbenchError
from rsbench.plugin.manager import get_plugins
from rsbench.plugin.split import ImageItem, make_split
from rsbench.run.cell import hashing_record
from rsbench.run.settings import parse_settings, read_config
from rsbench_plugins.datasets.annotations import Annotation
from rsbench_plugins.datasets.split_definitions import chnr_split
from tests.fixtures.rs_datasets import make_rsicd, make_ucm

REPO = Path(__file__).resolve().parent.parent
CONFIGS = sorted((REPO / "configs").glob("chnr-*.yaml"))


def annotations(n: int) -> list[Annotation]:
    return [
        Annotation(
            id=f"{i}.tif",
            relpaths=(PurePosixPath(f"{i}.tif"),),
            captions=tuple(f"caption {k} of {i}" for k in range(5)),
            split="train",
            scene_class=f"c{i % 21}",
        )
        for i in range(n)
    ]


# ---- the split definition -----------------------------------------------------------------------


def test_chnr_split_has_chnrs_sizes_and_one_caption_per_image():
    parts = chnr_split(annotations(2100), "ucm")
    train, val, test = (parts.parts[name] for name in ("train", "val", "test"))
    # UCM's 2,100 images: 1,050 train (105 carved for validation), 210 queries, 840 database
    assert (len(train), len(val), len(test), len(parts.test_queries)) == (945, 105, 1050, 210)
    assert {a.id for a in test[:210]} == parts.test_queries  # queries first
    everything = train + val + test
    assert len({a.id for a in everything}) == 2100
    assert all(len(a.captions) == 1 for a in everything)
    # the picked caption is one of the image's own
    assert all(a.captions[0].endswith(f"of {a.id[:-4]}") for a in everything)


def test_chnr_split_is_fixed_and_independent_of_file_order():
    items = annotations(300)
    shuffled = list(items)
    random.Random(0).shuffle(shuffled)
    a, b = chnr_split(items, "ucm"), chnr_split(shuffled, "ucm")
    for name in ("train", "val", "test"):
        assert {x.id for x in a.parts[name]} == {x.id for x in b.parts[name]}
        assert {x.captions for x in a.parts[name]} == {x.captions for x in b.parts[name]}
    assert a.test_queries == b.test_queries
    # another dataset name draws other images
    assert chnr_split(items, "rsicd").test_queries != a.test_queries


def test_chnr_split_refuses_too_few_images():
    with pytest.raises(RsbenchError, match="at least one query and one database image"):
        chnr_split(annotations(4), "ucm")


def test_a_dataset_loads_the_chnr_split_with_its_partition(tmp_path):
    make_ucm(tmp_path)
    datasets = get_plugins().datasets
    chnr = datasets.get("ucm").create({"data_root": str(tmp_path), "split": "chnr"}).load()
    karpathy = datasets.get("ucm").create({"data_root": str(tmp_path)}).load()
    n = sum(len(s) for s in (chnr.train, chnr.val, chnr.test))
    assert n == sum(len(s) for s in (karpathy.train, karpathy.val, karpathy.test))
    assert chnr.split_name == "chnr" and chnr.test.queries == int((n - n // 2) * 0.2)
    assert karpathy.test.queries is None
    assert chnr.membership_hash() != karpathy.membership_hash()
    assert all(len(i.captions) == 1 for s in (chnr.train, chnr.val, chnr.test) for i in s.images)
    with pytest.raises(RsbenchError, match="valid: karpathy, amfmn, chnr"):
        datasets.get("ucm").create({"split": "nope"})


def test_the_partition_is_part_of_the_membership_hash():
    from rsbench.plugin.split import DatasetSplits

    items = [ImageItem(f"{i}", Path(f"{i}.png"), ("x",)) for i in range(6)]
    train, val = make_split("train", items[:2]), make_split("val", items[2:3])
    plain = DatasetSplits(train, val, make_split("test", items[3:]))
    one = DatasetSplits(train, val, make_split("test", items[3:], queries=1))
    two = DatasetSplits(train, val, make_split("test", items[3:], queries=2))
    assert len({plain.membership_hash(), one.membership_hash(), two.membership_hash()}) == 3
    with pytest.raises(ValueError, match="at least one image on each side"):
        make_split("test", items[3:], queries=3)


# ---- hashing metrics on a query/database partition -----------------------------------------------


def test_hashing_metrics_on_a_partition_hand_computed():
    # images 0, 1 are queries (classes 0, 1); images 2, 3, 4 the database (classes 0, 1, 0)
    image_codes = np.array([[1, 1], [-1, -1], [1, -1], [-1, -1], [-1, 1]])
    text_codes = np.array([[1, 1], [-1, 1], [1, 1], [-1, -1], [-1, -1]])  # one caption each
    labels = np.array([0, 1, 0, 1, 0])
    queries = np.array([True, True, False, False, False])
    m = hashing_metrics(
        image_codes,
        text_codes,
        labels,
        labels,
        ks=(1, 2),
        image_queries=queries,
        text_queries=queries,
    )
    # I→T, query 0 (1, 1): database captions 2 (1, 1) d0 c0, 3 (-1,-1) d2 c1, 4 (-1,-1) d2 c0
    #   ranking 2, 3, 4: relevant at ranks 1 and 3 -> AP@1 = 1, AP@2 = (1/1 + 2/3) / 2
    # I→T, query 1 (-1, -1): 3 d0 c1, 4 d0 c0, 2 d2 c0 -> ranking 3, 4, 2: relevant (c1) at 1
    #   -> AP@1 = AP@2 = 1 (R = 1)
    assert m["i2t_mAP@1"] == pytest.approx(1.0)
    assert m["i2t_mAP@2"] == pytest.approx(((1 + 2 / 3) / 2 + 1) / 2)
    # I→I, query 0 (1, 1): database images 2 (1,-1) d1 c0, 3 (-1,-1) d2 c1, 4 (-1,1) d1 c0
    #   ranking 2, 4, 3 -> relevant at 1, 2 -> AP@2 = 1; query 1: 3 d0 c1 first -> 1
    assert m["i2i_mAP@2"] == pytest.approx(1.0)
    # the database never holds a query: without the partition the numbers differ
    assert m != hashing_metrics(image_codes, text_codes, labels, labels, ks=(1, 2))
    with pytest.raises(ValueError, match="both image_queries and text_queries"):
        hashing_metrics(image_codes, text_codes, labels, labels, image_queries=queries)


def test_map_at_k_equals_a_port_of_the_official_calc_map_k_without_ties():
    """On rankings without ties, rsbench's mAP@k is the official loop's (written here in its
    style: per query, sort by Hamming distance, the first min(k, R) relevant ranks anywhere)."""
    rng = np.random.default_rng(3)
    bits, n_db = 16, 12

    def official(q, db, q_label, db_labels, k):
        relevant = (db_labels == q_label).astype(float)
        if relevant.sum() == 0:
            return 0.0
        relevant = relevant[np.argsort(0.5 * (bits - db @ q))]
        t = min(k, int(relevant.sum()))
        ranks = np.nonzero(relevant)[0][:t] + 1.0
        return float(np.mean(np.arange(1, t + 1) / ranks))

    for _ in range(20):
        q = rng.choice([-1, 1], size=bits)
        db = np.tile(q, (n_db, 1))
        for j, d in enumerate(rng.permutation(n_db)):  # every item at its own distance
            db[j, rng.choice(bits, size=d, replace=False)] *= -1
        q_label, db_labels = rng.integers(0, 3), rng.integers(0, 3, n_db)
        for k in (1, 5, 20):
            got = map_at_k(q[None], db, [q_label], db_labels, k)
            assert got == pytest.approx(official(q, db, q_label, db_labels, k))


class FixedCodes:
    def __init__(self, image_codes, text_codes):
        self.image_codes, self.text_codes = image_codes, text_codes

    def codes(self, images, texts):
        return self.image_codes, self.text_codes


def test_the_runner_ranks_the_database_for_the_queries_of_the_test_split():
    items = [
        ImageItem(f"{i}", Path(f"{i}.png"), (f"t{i}a", f"t{i}b"), scene_class=f"c{i % 2}")
        for i in range(6)
    ]
    test = make_split("test", items, queries=2)
    rng = np.random.default_rng(0)
    image_codes = rng.choice([-1, 1], size=(6, 8)).astype(np.int8)
    text_codes = rng.choice([-1, 1], size=(12, 8)).astype(np.int8)
    got = hashing_record(FixedCodes(image_codes, text_codes), test)
    labels = np.array([0, 1, 0, 1, 0, 1])
    text_labels = np.repeat(labels, 2)
    expected = map_at_k(image_codes[:2], text_codes[4:], labels[:2], text_labels[4:], 20)
    assert got["i2t_mAP@20"] == pytest.approx(expected)
    expected = map_at_k(text_codes[:4], image_codes[2:], text_labels[:4], labels[2:], 5)
    assert got["t2i_mAP@5"] == pytest.approx(expected)


# ---- the CHNR-native configs ----------------------------------------------------------------------


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_chnr_native_configs_are_valid_grids(path, tmp_path):
    make_ucm(tmp_path)
    make_rsicd(tmp_path)
    grid = parse_settings({**read_config(path), "data_root": str(tmp_path)})
    assert [m.name for m in grid.methods] == ["chnr", "duch"]
    assert [d.options for d in grid.datasets] == [{"split": "chnr"}]
    assert [n.name for n in grid.noise_models] == ["wrong_class"]
    assert grid.ratios == [0.05, 0.1, 0.2, 0.3, 0.4, 0.5]
    from rsbench.run.runner import Runner

    cells = Runner(grid).prepare()  # every component and option resolves
    assert {c.method.name for c in cells} == {"chnr", "duch"}
    trusted = {"chnr-ucm": 0.3, "chnr-rsicd": 0.2, "chnr-synthrs": 0.2}[path.stem]
    assert grid.methods[0].options == {"trusted_fraction": trusted}


def test_the_chnr_native_protocol_runs_end_to_end(tmp_path):
    """configs/chnr-synthrs.yaml on synthrs-tiny, two epochs: the records carry the partition,
    hashing mAP@k, the trusted subset and the detector's per-epoch detection metrics."""
    from rsbench.cli.main import main

    config = yaml.safe_load((REPO / "configs" / "chnr-synthrs.yaml").read_text())
    config.update(
        datasets={"synthrs-tiny": {"split": "chnr"}},
        noise=[0.3],
        epochs=2,
        out=str(tmp_path / "runs"),
        leaderboard_dir=str(tmp_path / "boards"),
    )
    config["methods"]["chnr"]["hidden_dim"] = 64
    config["methods"]["duch"] = {"hidden_dim": 64}
    path = tmp_path / "grid.yaml"
    path.write_text(yaml.safe_dump(config))
    assert main(["run", "--config", str(path), "--no-leaderboard"]) == 0
    records = {
        r["method"]["name"]: r
        for r in (json.loads(p.read_text()) for p in (tmp_path / "runs" / "cells").glob("*.json"))
    }
    for record in records.values():
        assert record["status"] == "ok", record["error"]
        assert record["dataset"]["split"] == "chnr" and record["dataset"]["test_queries"] == 9
        assert record["noise"]["model"] == "wrong_class"
        hashing = record["metrics_hashing"]
        assert {"i2t_mAP@20", "t2i_mAP@20", "i2i_mAP@20", "t2t_mAP@20"} <= set(hashing)
        assert record["best_epoch"] == 2  # the last epoch
    assert records["chnr"]["trusted_subset"]["fraction"] == 0.2
    detection = records["chnr"]["detection"]
    assert [h["epoch"] for h in detection["history"]] == [1, 2]
    for metrics in (*detection["history"], detection["selected"]):
        assert {"auc", "precision", "recall", "f1", "noisy_rows", "rows"} <= set(metrics)
        assert 0 <= metrics["auc"] <= 1 and metrics["noisy_rows"] > 0
    assert detection["selected"]["auc"] == detection["history"][-1]["auc"]  # the last epoch
    assert records["duch"]["trusted_subset"] is None and "detection" not in records["duch"]


@pytest.mark.slow
@pytest.mark.parametrize("dataset", ["ucm", "rsicd", "rsitmd", "nwpu", "sydney"])
def test_chnr_and_duch_run_on_the_fixture_datasets(dataset, tmp_path):
    """The real-dataset plugins on their tiny fixtures (CHNR's UCM and RSICD, RSICD with images
    without a class, and the other three), small profile, through the command line."""
    from rsbench.cli.main import main
    from tests.fixtures import rs_datasets

    getattr(rs_datasets, f"make_{dataset}")(tmp_path / "data")
    argv = ["run", "--methods", "chnr,duch", "--datasets", dataset, "--profile", "small"]
    argv += ["--noise", "0.4", "--noise-model", "wrong_class", "--epochs", "2", "--seeds", "0"]
    argv += ["--data-root", str(tmp_path / "data"), "--out", str(tmp_path / "runs")]
    argv += ["--leaderboard-dir", str(tmp_path / "boards")]
    assert main(argv) == 0
    records = [json.loads(p.read_text()) for p in (tmp_path / "runs" / "cells").glob("*.json")]
    assert sorted(r["method"]["name"] for r in records) == ["chnr", "duch"]
    for record in records:
        assert record["status"] == "ok" and "metrics_hashing" in record
        assert record["info"]["checkpoint"]["image"]["checkpoint"] == "rsbench/small-resnet-18"

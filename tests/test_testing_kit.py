"""The conformance checks of `rsbench.testing` catch each broken rule, and pass good components.

Methods here are toys that score without training (a hash of caption and image id), so each
check costs a dataset load, not a fit; the engine's methods go through `check_method` in
test_detection.py and test_hf.py, and the example plugin in its own tests.
"""

from __future__ import annotations

import random
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from rsbench.data.karpathy import read_karpathy
from rsbench.plugin.components import (
    Corruption,
    Dataset,
    FitResult,
    Method,
    NoiseModel,
    Retriever,
    Scorer,
)
from rsbench.plugin.manager import load_plugins
from rsbench.plugin.split import DatasetSplits, make_split
from rsbench.testing import (
    ConformanceError,
    check_dataset,
    check_method,
    check_noise_model,
    check_registered,
    entry_point,
    tiny_split,
    write_tiny_dataset,
)

# ---- methods ---------------------------------------------------------------------------------


class HashScorer(Scorer):
    def __init__(self, images, texts, salt: float):
        self.n_texts, self.n_images = len(texts), len(images)
        self.scores = np.array(
            [[zlib.crc32(f"{salt}|{t}|{i.id}".encode()) / 2**32 for i in images] for t in texts],
            dtype=np.float32,
        )

    def block(self, text_rows, image_rows):
        return self.scores[text_rows, image_rows]


class HashRetriever(Retriever):
    def __init__(self, salt: float):
        self.salt = salt

    def scorer(self, images, texts):
        return HashScorer(images, texts, self.salt)


class Toy(Method):
    """Scores by a hash of caption and image id: well-formed, deterministic, instant."""

    @dataclass
    class Options:
        salt: float = 1.0

    def fit(self, task):
        return FitResult(HashRetriever(self.options.salt), best_epoch=1, history=[{"epoch": 1}])


def test_a_conforming_method_passes_and_gets_its_metrics():
    metrics = check_method(Toy(), clean_estimates=False)
    assert set(metrics) >= {"mR", "i2t_R@1", "t2i_R@10"} and 0 <= metrics["mR"] <= 100


def test_a_method_said_to_estimate_clean_pairs_must_report_some():
    with pytest.raises(ConformanceError, match="says it estimates clean pairs but reported no"):
        check_method(Toy(), clean_estimates=True)


class Unseeded(Toy):
    def fit(self, task):
        return FitResult(HashRetriever(random.random()))


class KeepsState(Toy):
    def fit(self, task):
        self.last_rows = len(task.pairs)
        return super().fit(task)


class ChangesItsOptions(Toy):
    def __init__(self, **options):
        super().__init__(**options)
        self.options.salt *= 2  # the recorded value is not the one given


class ReadsGroundTruth(Toy):
    def fit(self, task):
        task.ground_truth_clean()
        return super().fit(task)


class Float64Scores(HashScorer):
    def block(self, text_rows, image_rows):
        return super().block(text_rows, image_rows).astype(np.float64)


class BlockDependent(HashScorer):
    def block(self, text_rows, image_rows):
        return super().block(text_rows, image_rows) + np.float32(text_rows.start or 0)


class MiscountedScorer(HashScorer):
    def __init__(self, images, texts, salt):
        super().__init__(images, texts, salt)
        self.n_texts -= 1


def with_scorer(scorer_cls):
    class Method_(Toy):
        def fit(self, task):
            retriever = HashRetriever(1.0)
            retriever.scorer = lambda images, texts: scorer_cls(images, texts, 1.0)
            return FitResult(retriever)

    return Method_()


class ShortEstimate(Toy):
    def fit(self, task):
        fit = super().fit(task)
        fit.clean_scores = np.ones(len(task.pairs) - 1)
        return fit


class OpaqueInfo(Toy):
    def fit(self, task):
        fit = super().fit(task)
        fit.info["model"] = object()
        return fit


class BadCodes(HashRetriever):
    def codes(self, images, texts):
        return np.ones((len(images), 8)), np.ones((len(texts), 8))


class GivesBadCodes(Toy):
    def fit(self, task):
        return FitResult(BadCodes(1.0))


@pytest.mark.parametrize(
    "method, rule",
    [
        (Unseeded(), "two fits with seed 0 on the CPU gave different test scores"),
        (KeepsState(), r"fit changed the instance's attributes \['last_rows'\]"),
        (ChangesItsOptions(), r"built again from its params\(\) it has other options \(salt"),
        (ReadsGroundTruth(), "read the ground-truth clean flags"),
        (with_scorer(Float64Scores), "gave float64, expected float32"),
        (with_scorer(BlockDependent), "must not depend on which block"),
        (with_scorer(MiscountedScorer), "n_texts × n_images = 89 × 18, expected 90 × 18"),
        (ShortEstimate(), "clean-estimate scores must have one value per training row"),
        (OpaqueInfo(), "FitResult.info goes into the record and must be JSON"),
        (GivesBadCodes(), "image codes must be an int8 array"),
    ],
    ids=lambda v: type(v).__name__ if not isinstance(v, str) else "",
)
def test_each_broken_method_rule_is_caught_and_named(method, rule):
    with pytest.raises(ConformanceError, match=rule):
        check_method(method)


def test_an_oracle_or_a_declared_reader_may_read_the_ground_truth():
    check_method(ReadsGroundTruth(), uses_ground_truth=True, deterministic=False)


# ---- noise models ----------------------------------------------------------------------------


class Rotate(NoiseModel):
    """Each chosen row takes the caption of the next chosen row."""

    version = "1"

    def corrupt(self, split, ratio, seed):
        n = len(split.texts)
        chosen = np.random.default_rng(seed).choice(n, size=int(n * ratio), replace=False)
        caption = np.arange(n)
        caption[chosen] = np.roll(chosen, 1)
        return Corruption(image=split.caption_image.copy(), caption=caption)


class Drifting(Rotate):
    calls = 0  # class-level: survives rebuilding from params

    def corrupt(self, split, ratio, seed):
        Drifting.calls += 1
        return super().corrupt(split, ratio, seed + Drifting.calls)


class IgnoresSeed(Rotate):
    def corrupt(self, split, ratio, seed):
        return super().corrupt(split, ratio, 0)


class NoisyAtZero(Rotate):
    def corrupt(self, split, ratio, seed):
        return super().corrupt(split, max(ratio, 0.3), seed)


class BorrowsRows(Rotate):
    def corrupt(self, split, ratio, seed):
        out = super().corrupt(split, ratio, seed)
        out.caption[0] = len(split.texts)  # a caption row this split does not have
        return out


class OddLevel(Rotate):
    level = "pixel"


def test_a_conforming_noise_model_passes_on_even_and_uneven_splits():
    check_noise_model(Rotate())
    check_noise_model(Rotate(), tiny_split(30, [1, 2, 3, 4, 5, 6] * 5))


@pytest.mark.parametrize(
    "model, rule",
    [
        (Drifting(), "the same seed gave different noise"),
        (IgnoresSeed(), "the noise seed has no effect"),
        (NoisyAtZero(), "ratio 0 must leave every pair clean"),
        (BorrowsRows(), r"caption indices outside \[0, 200\) \(training split only\)"),
        (OddLevel(), "level must be 'caption' or 'image'"),
    ],
    ids=lambda v: type(v).__name__ if not isinstance(v, str) else "",
)
def test_each_broken_noise_rule_is_caught_and_named(model, rule):
    with pytest.raises(ConformanceError, match=rule):
        check_noise_model(model)


# ---- datasets --------------------------------------------------------------------------------


class Folder(Dataset):
    """The Karpathy layout of `write_tiny_dataset`."""

    version = "1"

    @dataclass
    class Options:
        data_root: str = ""

    def locate(self):
        return Path(self.options.data_root)

    def images(self):
        root = self.locate()
        return read_karpathy(root / "dataset.json", root / "images")

    def load(self):
        by_split = self.images()
        return DatasetSplits(*(make_split(n, by_split[n]) for n in ("train", "val", "test")))


class Leaks(Folder):
    def images(self):
        by_split = super().images()
        by_split["test"].append(by_split["train"][0])
        return by_split


class Shuffles(Folder):
    def images(self):
        by_split = super().images()
        random.shuffle(by_split["train"])
        return by_split


class NoValidation(Folder):
    def images(self):
        return {**super().images(), "val": []}


class ReachesOut(Folder):
    def images(self):
        by_split = super().images()
        first = by_split["train"][0]
        outside = self.locate().parent / "elsewhere.png"
        outside.write_bytes(first.path.read_bytes())
        by_split["train"][0] = type(first)(first.id, outside, first.captions)
        return by_split


class LinksOut(Folder):
    def images(self):
        by_split = super().images()
        path = by_split["train"][0].path
        outside = self.locate().parent / "linked.png"
        if not path.is_symlink():
            outside.write_bytes(path.read_bytes())
            path.unlink()
            path.symlink_to(outside)
        return by_split


def test_a_conforming_dataset_passes_and_gives_its_splits(tmp_path):
    splits = check_dataset(Folder(data_root=str(write_tiny_dataset(tmp_path / "data"))))
    assert [len(splits[n]) for n in ("train", "val", "test")] == [6, 3, 3]
    assert splits.train.images[0].scene_class == "red"


@pytest.mark.parametrize(
    "cls, rule",
    [
        (Leaks, "is in both the train and the test split"),
        (Shuffles, "two loads gave different train splits"),
        (NoValidation, "the val split has no images"),
        (ReachesOut, "lies outside the dataset folder"),
        (LinksOut, "lies outside the dataset folder"),
    ],
    ids=lambda v: v.__name__ if isinstance(v, type) else "",
)
def test_each_broken_dataset_rule_is_caught_and_named(tmp_path, cls, rule):
    random.seed(0)
    folder = write_tiny_dataset(tmp_path / "data")
    with pytest.raises(ConformanceError, match=rule):
        check_dataset(cls(data_root=str(folder)))


def test_a_missing_image_file_is_caught(tmp_path):
    folder = write_tiny_dataset(tmp_path / "data")
    next((folder / "images").iterdir()).unlink()
    with pytest.raises(ConformanceError, match="1 image files do not exist"):
        check_dataset(Folder(data_root=str(folder)))
    check_dataset(Folder(data_root=str(folder)), images=False)


# ---- registration ----------------------------------------------------------------------------


def test_check_registered_finds_a_clean_plugin_and_names_what_is_wrong(tmp_path, monkeypatch):
    assert check_registered("infonce", "method").plugin == "builtin-methods"
    assert check_registered("synthrs-tiny", "dataset").name == "synthrs-tiny"
    with pytest.raises(ConformanceError, match="no installed plugin registers the noise 'nope'"):
        check_registered("nope", "noise")
    (tmp_path / "rsb_kit_dup.py").write_text(
        "from rsbench import hookimpl\n"
        "@hookimpl\n"
        "def register_methods(register):\n"
        "    register('mine', 'rsbench_plugins.methods.vse:VSE', version='1', description='x')\n"
        "    register('infonce', 'rsbench_plugins.methods.vse:VSE', version='1', description='x')\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    load_plugins(
        [
            entry_point("builtin-methods", "rsbench_plugins.methods"),
            entry_point("rsb_kit_dup", "rsb_kit_dup"),
        ]
    )
    with pytest.raises(ConformanceError, match="plugin 'rsb_kit_dup' reported errors: duplicate"):
        check_registered("mine")

"""A test kit for plugin authors (and rsbench's own tests).

Run the conformance checks against your components in your own test suite::

    from rsbench.testing import check_method, check_noise_model

    def test_my_noise_model():
        check_noise_model(MyNoise())

    def test_my_method():
        check_method(MyMethod(epochs=1))

Also: `tiny_split` (a fake split without image files, for noise models), and
`write_distribution` (an installed-looking plugin distribution in a folder, to test entry
points in a subprocess).
"""

from __future__ import annotations

import tempfile
from importlib import metadata
from pathlib import Path

import numpy as np

from rsbench.components import Method, NoiseModel, TrainTask
from rsbench.data import ImageItem, Split, make_split
from rsbench.fileio import atomic_write_text
from rsbench.noise import build_noise_file, check_corruption, clean_by_text


def entry_point(name: str, module: str) -> metadata.EntryPoint:
    """An ``rsbench`` entry point object, for `rsbench.plugins.load_plugins`."""
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


def check_noise_model(
    model: NoiseModel, split: Split | None = None, ratios=(0.0, 0.2, 0.6)
) -> None:
    """Assert the noise-model contract: valid output, deterministic, seed-dependent, clean at 0."""
    split = split or tiny_split(40)
    spec = {"name": "tiny"}
    model.name = model.name or type(model).__name__
    for ratio in ratios:
        a = build_noise_file(split, model, ratio, 7, spec)
        b = build_noise_file(split, model, ratio, 7, spec)
        assert a.content_hash == b.content_hash, (
            f"{model.name}: same seed gave different noise at ratio {ratio}"
        )
        check_corruption(model.corrupt(split, ratio, 7), split, model.name)
        assert (a.clean == clean_by_text(split, a.image, a.row_texts(split))).all()
        if ratio == 0:
            assert a.clean.all(), f"{model.name}: ratio 0 must leave every pair clean"
        else:
            c = build_noise_file(split, model, ratio, 8, spec)
            assert c.content_hash != a.content_hash, (
                f"{model.name}: the noise seed has no effect at ratio {ratio}"
            )
            assert not a.clean.all(), f"{model.name}: ratio {ratio} corrupted nothing"


def check_method(
    method: Method, dataset: str = "synthrs-tiny", ratio: float = 0.2
) -> dict[str, float]:
    """Train ``method`` on a tiny noisy dataset and evaluate it; return its test metrics."""
    from rsbench.metrics import retrieval_metrics
    from rsbench.plugins import get_plugins

    plugins = get_plugins()
    splits = plugins.datasets.get(dataset).create().load()
    noise = plugins.noise_models.get("caption_shuffle").create()
    nf = build_noise_file(splits.train, noise, ratio, 0, {"name": dataset})
    with tempfile.TemporaryDirectory() as work:
        task = TrainTask(
            pairs=nf.train_pairs(splits.train),
            val=splits.val.eval_set(),
            seed=0,
            device="cpu",
            work_dir=Path(work),
            clean_flags=nf.clean,
        )
        fit = method.fit(task)
    test = splits.test
    metrics = retrieval_metrics(fit.retriever.scorer(test.images, test.texts), test.caption_image)
    assert all(np.isfinite(v) for v in metrics.values()), metrics
    if fit.clean_scores is not None:
        assert len(fit.clean_scores) == len(nf.clean), (
            "clean_scores needs one value per training row"
        )
    return metrics

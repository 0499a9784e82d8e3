"""`check_method`: train a method on a tiny noisy dataset, as a grid cell would, and check it."""

from __future__ import annotations

import hashlib
import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from rsbench.data.noise_file import NoiseFile, build_noise_file
from rsbench.io.files import canonical_json
from rsbench.plugin.components import CleanEstimate, FitResult, Method, Retriever, Scorer, TrainTask
from rsbench.plugin.split import DatasetSplits, Split
from rsbench.testing.rules import (
    ConformanceError,
    check_options,
    check_unchanged,
    instance_state,
    label,
    require,
)


@dataclass
class _Run:
    fit: FitResult
    task: TrainTask
    reported: list[tuple[int, CleanEstimate]] = field(default_factory=list)


def check_method(
    method: Method,
    dataset: str = "synthrs-tiny",
    ratio: float = 0.2,
    *,
    seed: int = 0,
    clean_estimates: bool | None = None,
    uses_ground_truth: bool = False,
    deterministic: bool = True,
) -> dict[str, float]:
    """Train ``method`` on ``dataset`` at ``ratio`` caption noise and check the method contract.

    Returns the test metrics. Raises `ConformanceError` naming the rule a method breaks:

    - its options are recorded (`check_options`);
    - ``fit`` returns a `FitResult` whose history and info are plain JSON (they go into the
      record) and whose retriever gives a well-formed scorer: the right size, float32, finite,
      the same scores whichever blocks they are asked in; diagnostic scorers and binary codes
      likewise, where it gives them;
    - clean estimates, reported per epoch or returned, have one value per training row and can
      be scored; with ``clean_estimates=True`` the method must give some, with ``False`` none;
    - it reads the ground-truth clean flags only as an oracle (``oracle: clean``) or with
      ``uses_ground_truth=True``;
    - it keeps no per-fit state on the instance;
    - with ``deterministic`` (default), a second fit, by a new instance built from the first
      one's ``params()`` with the same seed on the CPU, gives the same test scores exactly.

    Keep it fast: pass options that make a short fit (``epochs=1`` for engine methods).
    """
    name = label(method)
    check_options(method)
    splits, noise = _noisy_dataset(dataset, ratio)
    before = instance_state(method)
    first = _fit(method, splits, noise, seed)
    check_unchanged(method, before, "fit")
    _check_fit(method, first.fit)
    test = splits.test
    scores = _score_matrix(method, first.fit.retriever.scorer(test.images, test.texts), test)
    _check_extras(method, first.fit.retriever, test)
    _check_estimates(method, first, noise, clean_estimates)
    oracle = getattr(getattr(method, "options", None), "oracle", "none") == "clean"
    require(
        not first.task.used_ground_truth or oracle or uses_ground_truth,
        method,
        "read the ground-truth clean flags (task.ground_truth_clean()); only an oracle "
        "(oracle: clean) may, and its rows are marked as such",
    )
    from rsbench.evaluate.retrieval import retrieval_metrics

    metrics = retrieval_metrics(_Fixed(scores), test.caption_image)
    require(all(np.isfinite(v) for v in metrics.values()), method, f"metrics not finite: {metrics}")
    if deterministic:
        again = type(method)(**method.params())
        again.name, again.version = method.name, method.version
        second = _fit(again, splits, noise, seed)
        repeat = _score_matrix(again, second.fit.retriever.scorer(test.images, test.texts), test)
        if not np.array_equal(scores, repeat):
            gap = float(np.abs(scores - repeat).max())
            raise ConformanceError(
                f"{name}: two fits with seed {seed} on the CPU gave different test scores "
                f"(max |difference| {gap:.3g}): seed every random draw from task.seed (the "
                "engine's state.generator), and record every setting as an option"
            )
    return metrics


def _noisy_dataset(dataset: str, ratio: float) -> tuple[DatasetSplits, NoiseFile]:
    from rsbench.plugin.manager import get_plugins

    plugins = get_plugins()
    splits = plugins.datasets.get(dataset).create().load()
    noise = plugins.noise_models.get("caption_shuffle").create()
    return splits, build_noise_file(splits.train, noise, ratio, 0, {"name": dataset})


def _fit(method: Method, splits: DatasetSplits, noise: NoiseFile, seed: int) -> _Run:
    reported: list[tuple[int, CleanEstimate]] = []
    fingerprint = hashlib.sha256(
        canonical_json(
            {"membership": splits.membership_hash(), "noise": noise.content_hash}
        ).encode()
    ).hexdigest()
    with tempfile.TemporaryDirectory() as work:
        task = TrainTask(
            pairs=noise.train_pairs(splits.train),
            val=splits.val.eval_set(),
            seed=seed,
            device="cpu",
            work_dir=Path(work),
            fingerprint=fingerprint,
            noise_ratio=noise.stats.get("nominal_rate"),
            clean_flags=noise.clean.copy(),
            on_clean_scores=lambda epoch, estimate: reported.append((epoch, estimate)),
        )
        fit = method.fit(task)
    require(
        isinstance(fit, FitResult), method, f"fit returned {type(fit).__name__}, not a FitResult"
    )
    return _Run(fit, task, reported)


def _check_fit(method: Method, fit: FitResult) -> None:
    require(
        isinstance(fit.retriever, Retriever),
        method,
        f"FitResult.retriever is a {type(fit.retriever).__name__}, not an rsbench Retriever",
    )
    require(
        fit.best_epoch is None or (isinstance(fit.best_epoch, int) and fit.best_epoch >= 1),
        method,
        f"best_epoch must be None or a 1-based epoch, got {fit.best_epoch!r}",
    )
    require(
        isinstance(fit.history, list) and all(isinstance(h, dict) for h in fit.history),
        method,
        "history must be a list of dicts (one per epoch)",
    )
    for what, value in (("history", fit.history), ("info", fit.info)):
        try:
            json.dumps(value, allow_nan=True)
        except (TypeError, ValueError) as exc:
            raise ConformanceError(
                f"{label(method)}: FitResult.{what} goes into the record and must be JSON ({exc})"
            ) from None


def _score_matrix(method: Method, scorer: Scorer, test: Split, what: str = "scorer") -> np.ndarray:
    """The whole score matrix, checked for size, type and values, and against its blocks."""
    n_texts, n_images = len(test.texts), len(test.images)
    require(isinstance(scorer, Scorer), method, f"{what} is not an rsbench Scorer")
    require(
        (scorer.n_texts, scorer.n_images) == (n_texts, n_images),
        method,
        f"{what} has n_texts × n_images = {scorer.n_texts} × {scorer.n_images}, "
        f"expected {n_texts} × {n_images}",
    )
    full = scorer.block(slice(0, n_texts), slice(0, n_images))
    require(
        isinstance(full, np.ndarray) and full.shape == (n_texts, n_images),
        method,
        f"{what}.block gave {getattr(full, 'shape', type(full).__name__)}, "
        f"expected an array of shape {(n_texts, n_images)}",
    )
    require(full.dtype == np.float32, method, f"{what}.block gave {full.dtype}, expected float32")
    require(np.isfinite(full).all(), method, f"{what}.block gave NaN or infinite scores")
    t, i = max(1, n_texts // 3), max(1, n_images // 2)
    for rows in (slice(0, t), slice(t, n_texts)):
        for cols in (slice(0, i), slice(i, n_images)):
            part = np.asarray(scorer.block(rows, cols))
            require(
                part.shape == full[rows, cols].shape
                and np.allclose(part, full[rows, cols], rtol=1e-4, atol=1e-5),
                method,
                f"{what}.block(texts {rows.start}:{rows.stop}, images {cols.start}:{cols.stop}) "
                "differs from the same part of the whole matrix: a score must not depend on "
                "which block it is asked in",
            )
    return full


def _check_extras(method: Method, retriever: Retriever, test: Split) -> None:
    diagnostics = retriever.diagnostic_scorers(test.images, test.texts)
    require(isinstance(diagnostics, dict), method, "diagnostic_scorers must return a dict")
    for name, scorer in diagnostics.items():
        _score_matrix(method, scorer, test, what=f"diagnostic scorer {name!r}")
    codes = retriever.codes(test.images, test.texts)
    if codes is None:
        return
    require(
        isinstance(codes, tuple) and len(codes) == 2,
        method,
        "codes must return (image_codes, text_codes) or None",
    )
    for what, array, rows in (
        ("image", codes[0], len(test.images)),
        ("text", codes[1], len(test.texts)),
    ):
        array = np.asarray(array)
        require(
            array.ndim == 2 and len(array) == rows and array.dtype == np.int8,
            method,
            f"{what} codes must be an int8 array of {rows} rows, got {array.dtype} {array.shape}",
        )
        require(np.isin(array, (-1, 1)).all(), method, f"{what} codes must be ±1")
    require(codes[0].shape[1] == codes[1].shape[1], method, "image and text codes differ in bits")


def _check_estimates(
    method: Method, run: _Run, noise: NoiseFile, clean_estimates: bool | None
) -> None:
    from rsbench.evaluate.detection import detection_metrics

    n_rows = len(noise.clean)
    selected = run.fit.estimate()
    given = [(f"the epoch {epoch} estimate", e) for epoch, e in run.reported]
    if selected is not None:
        given.append(("the estimate at the selected checkpoint", selected))
    if clean_estimates is True:
        require(given, method, "says it estimates clean pairs but reported no estimate")
    if clean_estimates is False:
        require(not given, method, "says it gives no clean estimates but reported some")
    for what, estimate in given:
        require(isinstance(estimate, CleanEstimate), method, f"{what} is not a CleanEstimate")
        try:
            estimate.check(n_rows)
        except ValueError as exc:
            raise ConformanceError(f"{label(method)}: {what}: {exc}") from None
        require(
            estimate.scores.ndim == 1 and not np.isnan(estimate.scores).all(),
            method,
            f"{what} scores no row (all NaN)",
        )
        if estimate.groups is not None:
            groups = estimate.groups
            require(
                ((groups >= -1) & (groups < len(estimate.group_names))).all(),
                method,
                f"{what} has group numbers outside -1..{len(estimate.group_names) - 1}",
            )
        metrics = detection_metrics(
            estimate.scores,
            noise.clean,
            estimate.decisions,
            estimate.groups,
            estimate.group_names,
        )
        require(
            metrics.get("auc") is None or np.isfinite(metrics["auc"]),
            method,
            f"{what} cannot be scored: {metrics}",
        )


class _Fixed(Scorer):
    """A computed score matrix, handed to the metrics."""

    def __init__(self, scores: np.ndarray):
        self.scores = scores
        self.n_texts, self.n_images = scores.shape

    def block(self, text_rows: slice, image_rows: slice) -> np.ndarray:
        return self.scores[text_rows, image_rows]

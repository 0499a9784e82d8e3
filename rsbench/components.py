"""Base classes for the three kinds of plugin component: Dataset, NoiseModel, Method.

Each component class declares its options as a nested dataclass ``Options``; the registry
stamps ``name`` and ``version`` on every instance. Everything a method may see of a grid cell
is in `TrainTask`; what it returns is a `FitResult` whose `Retriever` the runner evaluates on
the test split (methods never see test labels).
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rsbench.data import DatasetSplits, EvalSet, ImageItem, Split
from rsbench.options import identity_dict, options_dict, parse_options


class Component:
    """Shared by all components: typed options and provenance."""

    name: str = ""
    version: str = "0"

    @dataclass
    class Options:
        pass

    def __init__(self, **options: Any):
        self.options = parse_options(self.Options, options)

    def params(self) -> dict[str, Any]:
        """The options in use, defaults included: recorded in every result."""
        return options_dict(self.options)

    def identity_params(self) -> dict[str, Any]:
        """The options that define the experiment (no machine-local paths): hashed into cell ids."""
        return identity_dict(self.options)

    @classmethod
    def option_defaults(cls) -> dict[str, Any]:
        return {
            f.name: (f.default if f.default is not dataclasses.MISSING else f.default_factory())
            for f in dataclasses.fields(cls.Options)
            if f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING
        }


class Dataset(Component, ABC):
    """A retrieval dataset: images with captions in train / val / test splits.

    Datasets read from local files give their folder an option ``data_root`` (marked
    `rsbench.options.LOCAL`); the runner fills it from ``--data-root`` / ``RSBENCH_DATA`` /
    the config when the user did not.
    """

    @abstractmethod
    def load(self) -> DatasetSplits:
        """Read the dataset (generating or locating it as needed), check its images, return its splits."""

    def read(self) -> DatasetSplits:
        """The splits from the annotations alone, without checking image files (`rsbench data check`)."""
        return self.load()

    def locate(self) -> Path | None:
        """The folder the dataset would be read from (None for a dataset that needs none)."""
        return None


@dataclass
class Corruption:
    """What a noise model decides for the training caption rows.

    Row ``i`` of the training split is trained as the pair (image ``image[i]``, caption text
    of row ``caption[i]``), unless ``texts`` overrides the text of that row (a model that
    edits captions). The clean flag is not the model's to set: it follows from the text
    (`rsbench.noise`).
    """

    image: np.ndarray
    caption: np.ndarray
    texts: dict[int, str] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)  # statistics worth recording


class NoiseModel(Component, ABC):
    """Turns a clean training split into noisy training pairs, deterministically."""

    #: the unit that is corrupted: "caption" rows or whole "image"s (shown in tables)
    level: str = "caption"

    @abstractmethod
    def corrupt(self, split: Split, ratio: float, seed: int) -> Corruption:
        """Corrupt ``ratio`` of ``split`` using only ``seed`` for randomness."""


@dataclass
class TrainPairs:
    """The noisy training pairs a method learns from.

    Images are given by path and id only: their own (clean) captions are not shown, since
    they would reveal which pairs are noisy.
    """

    image_ids: list[str]
    image_paths: list[Path]
    image_classes: list[str | None]
    texts: list[str]  # one per training row, as the noise file assigns it
    image: np.ndarray  # one per training row: index into the image lists

    def __len__(self) -> int:
        return len(self.texts)


class Scorer(ABC):
    """Similarity of captions to images, computed block by block on demand."""

    n_texts: int
    n_images: int

    @abstractmethod
    def block(self, text_rows: slice, image_rows: slice) -> np.ndarray:
        """Scores for ``texts[text_rows]`` × ``images[image_rows]`` as a float32 array."""


class Retriever(ABC):
    """A trained model, able to score any captions against any images."""

    @abstractmethod
    def scorer(self, images: Sequence[ImageItem], texts: Sequence[str]) -> Scorer:
        """A scorer for these images and captions."""


@dataclass
class FitResult:
    """What `Method.fit` returns."""

    retriever: Retriever
    best_epoch: int | None = None
    history: list[dict[str, Any]] = field(default_factory=list)
    #: optional per-training-row estimate that the pair is clean (higher = cleaner), and the
    #: method's own clean (True) / noisy (False) decision, both at the selected checkpoint
    clean_scores: np.ndarray | None = None
    clean_decisions: np.ndarray | None = None
    info: dict[str, Any] = field(default_factory=dict)


@dataclass
class TrainTask:
    """Everything a method gets for one grid cell."""

    pairs: TrainPairs
    val: EvalSet
    seed: int
    device: str
    work_dir: Path
    progress: Callable[..., Any] | None = None  # tqdm-like factory, or None for silence
    #: ground truth, hidden from methods: read it only through `ground_truth_clean`
    clean_flags: np.ndarray | None = field(default=None, repr=False)
    used_ground_truth: bool = False
    #: called by `report_clean_scores`; the runner scores the estimates against the ground truth
    on_clean_scores: Callable[[int, np.ndarray, np.ndarray | None], None] | None = field(
        default=None, repr=False
    )

    def report_clean_scores(
        self, epoch: int, scores: np.ndarray, decisions: np.ndarray | None = None
    ) -> None:
        """Hand this epoch's per-row clean scores (higher = cleaner) and clean/noisy decisions."""
        if len(scores) != len(self.pairs) or (
            decisions is not None and len(decisions) != len(self.pairs)
        ):
            raise ValueError(
                f"clean scores must have one value per training row ({len(self.pairs)})"
            )
        if self.on_clean_scores is not None:
            self.on_clean_scores(
                epoch, np.asarray(scores), None if decisions is None else np.asarray(decisions)
            )

    def ground_truth_clean(self) -> np.ndarray:
        """The true clean flag per training row. Calling it marks the result as an oracle."""
        if self.clean_flags is None:
            raise RuntimeError("no ground truth is available for this task")
        self.used_ground_truth = True
        return self.clean_flags.copy()


class Method(Component, ABC):
    """A training method: noisy pairs in, a retriever out."""

    @property
    def profile(self) -> str:
        """ "small" (small encoders, CPU-friendly) or "paper" (the published backbones)."""
        return getattr(self.options, "profile", "small")

    @abstractmethod
    def fit(self, task: TrainTask) -> FitResult:
        """Train on ``task.pairs``, select a checkpoint on ``task.val``, return a retriever."""

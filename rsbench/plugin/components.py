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
from typing import Any, ClassVar

import numpy as np

from rsbench.io.errors import RsbenchError
from rsbench.plugin.options import identity_dict, options_dict, parse_options
from rsbench.plugin.split import DatasetSplits, EvalSet, ImageItem, Split


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
    `rsbench.plugin.options.LOCAL`); the runner fills it from ``--data-root`` / ``RSBENCH_DATA`` /
    the config when the user did not. ``default_profile`` is the method profile that
    ``--profile auto`` picks on this dataset.
    """

    default_profile: ClassVar[str] = "paper"

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
    (`rsbench.data.noise_file`).
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

    def diagnostic_scorers(
        self, images: Sequence[ImageItem], texts: Sequence[str]
    ) -> dict[str, Scorer]:
        """Other scores worth recording beside the main one (name → scorer); none by default.

        The runner evaluates each on the test split into ``metrics_diagnostic[name]``; they are
        never used for selection or in the main tables.
        """
        return {}

    def codes(
        self, images: Sequence[ImageItem], texts: Sequence[str]
    ) -> tuple[np.ndarray, np.ndarray] | None:
        """Binary codes (±1, int8) of the images and captions, for hashing methods; None otherwise.

        When a retriever gives codes, the runner adds hashing metrics (mAP@k) to the record.
        """
        return None


@dataclass
class CleanEstimate:
    """A method's estimate, per training row, of whether the pair is clean.

    ``scores``: higher = more likely clean (NaN for a row the method did not score);
    ``decisions``: the method's own call, True = clean; ``groups``: an optional partition of the
    rows (e.g. RRSITR's clean / ambiguous / noisy, -1 for none) named by ``group_names``.
    """

    scores: np.ndarray
    decisions: np.ndarray | None = None
    groups: np.ndarray | None = None
    group_names: tuple[str, ...] = ()

    def __post_init__(self):
        self.scores = np.asarray(self.scores, dtype=np.float64)
        if self.decisions is not None:
            self.decisions = np.asarray(self.decisions, dtype=bool)
        if self.groups is not None:
            self.groups = np.asarray(self.groups, dtype=np.int64)
            if not self.group_names:
                raise ValueError("groups need their group_names")

    def check(self, n_rows: int) -> None:
        for name in ("scores", "decisions", "groups"):
            value = getattr(self, name)
            if value is not None and len(value) != n_rows:
                raise ValueError(
                    f"clean-estimate {name} must have one value per training row ({n_rows}), got {len(value)}"
                )


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
    #: the same estimate with its groups, where the method partitions the rows
    clean_estimate: CleanEstimate | None = None
    info: dict[str, Any] = field(default_factory=dict)

    def estimate(self) -> CleanEstimate | None:
        if self.clean_estimate is not None:
            return self.clean_estimate
        if self.clean_scores is None:
            return None
        return CleanEstimate(self.clean_scores, self.clean_decisions)


@dataclass
class TrainTask:
    """Everything a method gets for one grid cell."""

    pairs: TrainPairs
    val: EvalSet
    seed: int
    device: str
    work_dir: Path
    progress: Callable[..., Any] | None = None  # tqdm-like factory, or None for silence
    #: the noise file's seed (trusted subsets are drawn from it, never from the training seed)
    noise_seed: int = 0
    #: the cell's nominal noise ratio: the protocol's setting, which an experimenter knows (not
    #: which pairs are noisy). Methods that assume a known noise rate read it and record so.
    noise_ratio: float | None = None
    #: sha256 of what the training pairs are (dataset, split membership, noise file): a key for
    #: caches of anything computed from the pairs alone
    fingerprint: str = ""
    #: ground truth, hidden from methods: read it only through `ground_truth_clean` or
    #: `trusted_clean_subset`
    clean_flags: np.ndarray | None = field(default=None, repr=False)
    used_ground_truth: bool = False
    #: set by `trusted_clean_subset`: what the method was given (recorded, marked in tables)
    trusted_subset: dict[str, Any] | None = None
    #: called by `report_clean_scores`; the runner scores the estimates against the ground truth
    on_clean_scores: Callable[[int, CleanEstimate], None] | None = field(default=None, repr=False)
    #: where an engine method keeps its per-epoch checkpoint (None: no checkpoints); a fit that
    #: finds one of its own there continues after its epoch (`rsbench.engine.checkpoint`)
    checkpoint_path: Path | None = None
    #: the caller's own state across epochs (the runner's per-epoch detection metrics): saved
    #: with every checkpoint and restored with it, so it matches the epoch a fit resumes from
    resume_state: dict[str, Any] = field(default_factory=dict, repr=False)
    #: set when a fit resumed from a checkpoint: the epochs that checkpoint had completed
    resumed_from_epoch: int | None = None
    #: called after each epoch's validation with (epoch, validation mR); a true answer stops
    #: the fit there (a pruned tuning trial). Methods with their own loop may call it too.
    on_epoch: Callable[[int, float], bool] | None = field(default=None, repr=False)

    def report_clean_scores(
        self,
        epoch: int,
        scores: np.ndarray | CleanEstimate,
        decisions: np.ndarray | None = None,
    ) -> None:
        """Hand this epoch's per-row clean scores (higher = cleaner) and clean/noisy decisions."""
        estimate = scores if isinstance(scores, CleanEstimate) else CleanEstimate(scores, decisions)
        estimate.check(len(self.pairs))
        if self.on_clean_scores is not None:
            self.on_clean_scores(epoch, estimate)

    def ground_truth_clean(self) -> np.ndarray:
        """The true clean flag per training row. Calling it marks the result as an oracle."""
        if self.clean_flags is None:
            raise RuntimeError("no ground truth is available for this task")
        self.used_ground_truth = True
        return self.clean_flags.copy()

    def trusted_clean_subset(self, fraction: float = 0.2) -> np.ndarray:
        """Training rows verified clean, as a method with a small trusted set may ask for.

        The protocol (decision 6) draws ``round(fraction × images)`` training images with a
        generator seeded by the noise seed alone and returns, sorted, the rows paired with those
        images whose pair is clean. The same noise file and fraction give the same rows for every
        method and training seed. What it reveals: these rows are clean, and by elimination the
        other rows of the drawn images are noisy. The record says the method used it, with the
        fraction, image and row counts; leaderboards mark such rows.
        """
        if self.clean_flags is None:
            raise RuntimeError("no ground truth is available for this task")
        if not 0 < fraction <= 1:
            raise ValueError(f"trusted subset fraction must be in (0, 1], got {fraction}")
        images = np.unique(self.pairs.image)
        count = max(1, int(round(fraction * len(images))))
        rng = np.random.default_rng([self.noise_seed, TRUSTED_SUBSET_STREAM])
        drawn = np.sort(rng.choice(images, size=count, replace=False))
        rows = np.flatnonzero(np.isin(self.pairs.image, drawn) & self.clean_flags)
        self.trusted_subset = {
            "fraction": fraction,
            "images": int(count),
            "rows": int(len(rows)),
            "policy": "clean rows of images drawn with the noise seed",
            "noise_seed": self.noise_seed,
        }
        return rows


#: a fixed second word of the trusted subset's seed, so its stream differs from the noise stream
TRUSTED_SUBSET_STREAM = 0x7472757374


class Method(Component, ABC):
    """A training method: noisy pairs in, a retriever out.

    A method with a ``profile`` option has option presets per profile in ``PROFILES`` (the first
    is its default): ``small`` (small encoders, CPU-friendly) and ``paper`` (the published
    backbones and hyper-parameters). Presets apply under the options the user gave, so the
    resolved values are the instance's options, recorded and hashed into the cell id.
    """

    PROFILES: ClassVar[dict[str, dict[str, Any]]] = {"small": {}}
    #: per profile, option name → distribution (`rsbench.plugin.searchspace`): what an equal-budget
    #: hyperparameter search draws from; the profile's values are trial 0
    SEARCH_SPACES: ClassVar[dict[str, dict[str, Any]]] = {}

    def __init__(self, **options: Any):
        if "profile" in {f.name for f in dataclasses.fields(self.Options)}:
            profile = options.get("profile", next(iter(self.PROFILES)))
            if profile not in self.PROFILES:
                raise RsbenchError(
                    f"method {self.name or type(self).__name__!r} has no {profile!r} profile; "
                    f"valid: {', '.join(self.PROFILES)}"
                )
            options = {**self.preset(profile, options), **options, "profile": profile}
        super().__init__(**options)

    @classmethod
    def preset(cls, profile: str, given: dict[str, Any]) -> dict[str, Any]:
        """The option values of ``profile`` (a method may vary them with the given options)."""
        return dict(cls.PROFILES[profile])

    @classmethod
    def search_space(cls, profile: str) -> dict[str, Any]:
        """The distributions of a hyperparameter search at ``profile`` (empty: none declared)."""
        return dict(cls.SEARCH_SPACES.get(profile, {}))

    @classmethod
    def has_profiles(cls) -> bool:
        return "profile" in {f.name for f in dataclasses.fields(cls.Options)}

    @property
    def profile(self) -> str:
        """ "small" (small encoders, CPU-friendly) or "paper" (the published backbones)."""
        return getattr(self.options, "profile", "small")

    def check_ready(self) -> None:
        """Raise a `RsbenchError` now if the method cannot run here (e.g. missing weights)."""

    def backbone_info(self) -> dict[str, Any] | None:
        """Which backbone the method trains and how it starts (``init``: pretrained / scratch)."""
        return None

    @abstractmethod
    def fit(self, task: TrainTask) -> FitResult:
        """Train on ``task.pairs``, select a checkpoint on ``task.val``, return a retriever."""

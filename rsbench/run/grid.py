"""The experiment grid: methods × datasets × noise models × ratios × seeds, and its cells.

`GridSpec` is a grid's settings, parsed and checked (`rsbench.run.settings` reads them from a
config file and the command line, once); its cells are the product of its lists. Every cell
has an id: a hash of its canonical spec (component names, versions and full options, ratio,
seeds, validation mode), so the same experiment always lands in the same record.
"""

from __future__ import annotations

import hashlib
import itertools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rsbench.io.files import canonical_json


@dataclass(frozen=True)
class ComponentRef:
    """A component name with the options the user gave it."""

    name: str
    options: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)


@dataclass
class GridSpec:
    """The settings of a grid, typed and checked; a setting not given keeps its default here.

    Built by `rsbench.run.settings.parse_settings`, then only read (or copied with
    `dataclasses.replace`, as the tuner does for each trial).
    """

    methods: list[ComponentRef]
    datasets: list[ComponentRef] = field(default_factory=lambda: [ComponentRef("synthrs")])
    noise_models: list[ComponentRef] = field(
        default_factory=lambda: [ComponentRef("caption_shuffle")]
    )
    ratios: list[float] = field(default_factory=lambda: [0.0, 0.2, 0.4, 0.6, 0.8])
    seeds: list[int] = field(default_factory=lambda: [0])
    noise_seed: int = 42
    epochs: int | None = None
    validation: str = "clean"
    device: str = "auto"
    out: Path = Path("runs")
    #: where ``rsbench run`` writes its leaderboards: inside the run folder (``out``/leaderboards)
    #: unless a config or ``--leaderboard-dir`` says otherwise (a run never rewrites committed
    #: files by default)
    leaderboard_dir: Path | None = None
    data_root: Path | None = None
    skip_bad_images: bool = False
    follow_symlinks: bool = False
    profile: str = "auto"  # auto: each dataset's default (small for synthrs, paper for real data)
    weights_dir: Path | None = None
    #: how the cells run (an executor plugin and its options): not part of any cell's identity
    executor: ComponentRef = field(default_factory=lambda: ComponentRef("local"))
    keep_checkpoints: bool = False
    #: a hyperparameter-search grid (`rsbench tune`): its cells never read the test split;
    #: they score the clean validation split beside the one that selects (the oracle)
    search: bool = False
    #: a search grid whose trials may stop early (``rsbench tune --pruner``): part of each
    #: trial's identity, since a pruned trial trained fewer epochs than its options say
    prune: str = ""
    #: the config's ``track:`` block (what ``rsbench leaderboard --track`` shows); no cell's
    #: identity
    track: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        if self.leaderboard_dir is None:
            self.leaderboard_dir = self.out / "leaderboards"

    def cells(self) -> list[Cell]:
        """The grid as a product, in a fixed order (datasets, noise models, ratios, seeds, methods)."""
        return [
            Cell(method, dataset, noise, ratio, seed, self.noise_seed, self.validation, self.epochs)
            for dataset, noise, ratio, seed, method in itertools.product(
                self.datasets, self.noise_models, self.ratios, self.seeds, self.methods
            )
        ]


@dataclass(frozen=True)
class Cell:
    method: ComponentRef
    dataset: ComponentRef
    noise_model: ComponentRef
    ratio: float
    seed: int
    noise_seed: int
    validation: str = "clean"
    epochs: int | None = None

    def method_options(self) -> dict[str, Any]:
        options = dict(self.method.options)
        if self.epochs is not None:
            options["epochs"] = self.epochs
        return options

    def label(self) -> str:
        options = ", ".join(f"{k}={v}" for k, v in sorted(self.method.options.items()))
        method = f"{self.method.name} ({options})" if options else self.method.name
        return f"{method} on {self.dataset.name}, {self.noise_model.name} {self.ratio:g}, seed {self.seed}"


def cell_spec(cell: Cell, method, dataset, noise_model) -> dict[str, Any]:
    """The canonical description of a cell, from its instantiated components."""
    return {
        "method": {
            "name": method.name,
            "version": method.version,
            "options": method.identity_params(),
        },
        "dataset": {
            "name": dataset.name,
            "version": dataset.version,
            "options": dataset.identity_params(),
        },
        "noise_model": {
            "name": noise_model.name,
            "version": noise_model.version,
            "options": noise_model.identity_params(),
        },
        "ratio": cell.ratio,
        "noise_seed": cell.noise_seed,
        "seed": cell.seed,
        "validation": cell.validation,
    }


def cell_id(spec: dict[str, Any]) -> str:
    return hashlib.sha256(canonical_json(spec).encode()).hexdigest()[:16]

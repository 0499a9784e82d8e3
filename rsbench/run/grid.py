"""The experiment grid: methods × datasets × noise models × ratios × seeds, from CLI and YAML.

A YAML config holds the same keys as the command-line flags, and components may carry
options there::

    methods: {infonce: {temperature: 0.05}, vse: {}}   # or a list of names
    datasets: [synthrs]
    noise_models: [caption_shuffle]
    noise: [0, 0.2, 0.4, 0.6, 0.8]
    seeds: [0, 1, 2]
    noise_seed: 42
    epochs: 8

Flags given on the command line override the file. Every cell has an id: a hash of its
canonical spec (component names, versions and full options, ratio, seeds, validation mode),
so the same experiment always lands in the same record.
"""

from __future__ import annotations

import hashlib
import itertools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rsbench.io.errors import RsbenchError
from rsbench.io.files import canonical_json
from rsbench.run.validation import (
    bool_setting,
    integer_setting,
    path_setting,
    seed_setting,
    string_setting,
)

CONFIG_KEYS = (
    "methods",
    "datasets",
    "noise_models",
    "noise",
    "seeds",
    "noise_seed",
    "epochs",
    "validation",
    "device",
    "out",
    "leaderboard_dir",
    "data_root",
    "skip_bad_images",
    "follow_symlinks",
    "profile",
    "weights_dir",
    "executor",
    "keep_checkpoints",
    "track",
)
VALIDATION_MODES = ("clean", "noisy")
PROFILES = ("auto", "small", "paper")


@dataclass(frozen=True)
class ComponentRef:
    """A component name with the options the user gave it."""

    name: str
    options: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)


@dataclass
class GridSpec:
    methods: list[ComponentRef]
    datasets: list[ComponentRef]
    noise_models: list[ComponentRef]
    ratios: list[float]
    seeds: list[int]
    noise_seed: int = 42
    epochs: int | None = None
    validation: str = "clean"
    device: str = "auto"
    out: Path = Path("runs")
    #: where ``rsbench run`` writes its leaderboards: inside the run folder unless a config or
    #: ``--leaderboard-dir`` says otherwise (a run never rewrites committed files by default)
    leaderboard_dir: Path = Path("runs/leaderboards")
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


# ---- parsing -----------------------------------------------------------------------------


def split_list(text: str, what: str) -> list[str]:
    items = [item.strip() for item in str(text).split(",")]
    if not text or any(not item for item in items):
        raise RsbenchError(
            f"malformed {what} list {text!r}: expected comma-separated values such as 'a,b'"
        )
    return items


def parse_ratio(value: Any) -> float:
    try:
        ratio = float(value)
    except (TypeError, ValueError):
        raise RsbenchError(
            f"noise ratio {value!r} is not a number; valid: numbers in [0, 1)"
        ) from None
    if not 0.0 <= ratio < 1.0:
        raise RsbenchError(f"noise ratio {value!r} is outside [0, 1)")
    return round(ratio, 6)


def parse_seed(value: Any, what: str = "seed") -> int:
    return seed_setting(value, what)


def _dedupe(values: list) -> list:
    seen, out = set(), []
    for v in values:
        key = v.name + canonical_json(v.options) if isinstance(v, ComponentRef) else v
        if key in seen:
            raise RsbenchError(f"{v.name if isinstance(v, ComponentRef) else v!r} is listed twice")
        seen.add(key)
        out.append(v)
    return out


def parse_components(value: Any, what: str) -> list[ComponentRef]:
    """A comma string, a list of names, or a mapping name -> options."""
    if isinstance(value, str):
        return _dedupe([ComponentRef(name) for name in split_list(value, what)])
    if isinstance(value, list):
        refs = []
        for item in value:
            if isinstance(item, str) and item.strip():
                refs.append(ComponentRef(item.strip()))
            elif isinstance(item, dict) and len(item) == 1:
                ((name, options),) = item.items()
                refs.append(ComponentRef(str(name), _options(options, what, name)))
            else:
                raise RsbenchError(
                    f"malformed {what} entry {item!r}: expected a name or {{name: {{options}}}}"
                )
        if not refs:
            raise RsbenchError(f"the {what} list is empty")
        return _dedupe(refs)
    if isinstance(value, dict):
        if not value:
            raise RsbenchError(f"the {what} mapping is empty")
        return [
            ComponentRef(str(name), _options(options, what, name))
            for name, options in value.items()
        ]
    raise RsbenchError(
        f"malformed {what}: expected a comma list, a list of names or a name -> options mapping"
    )


def _options(options: Any, what: str, name: str) -> dict[str, Any]:
    if options is None:
        return {}
    if not isinstance(options, dict):
        raise RsbenchError(f"options of {name!r} in {what} must be a mapping, got {options!r}")
    return dict(options)


def _as_list(value: Any, what: str) -> list:
    if isinstance(value, str):
        return split_list(value, what)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return [value]
    if isinstance(value, list) and value:
        return value
    raise RsbenchError(f"malformed {what}: expected a comma list or a non-empty list")


def read_config(path: Path) -> dict[str, Any]:
    import yaml

    from rsbench.io import yamltext

    try:
        data = yamltext.load(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RsbenchError(f"config file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise RsbenchError(f"cannot read config file {path}: {exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise RsbenchError(f"config file {path} is not valid YAML{where}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise RsbenchError(
            f"config file {path} must be a mapping of settings, e.g. 'methods: [infonce]'"
        )
    unknown = sorted(set(data) - set(CONFIG_KEYS))
    if unknown:
        raise RsbenchError(
            f"config file {path}: unknown key {unknown[0]!r}; valid keys: {', '.join(CONFIG_KEYS)}"
        )
    parse_track_block(data.get("track"), f"config file {path}")  # read by rsbench leaderboard
    return data


#: a record in no track of a tracked board is shown under this name (`rsbench.report.tracks`),
#: never dropped; so no config may name its track so
OTHER_TRACK = "other"


def parse_track_block(block: Any, where: str) -> dict[str, Any]:
    """A config's ``track:`` block, checked: a mapping with a ``name`` (and free-form facts);
    ``notes`` maps a method to what explains its numbers, printed under the track's table."""
    if block is None:
        return {}
    if not isinstance(block, dict) or not isinstance(block.get("name"), str) or not block["name"]:
        raise RsbenchError(
            f"{where}: 'track' must be a mapping with a non-empty 'name', e.g. "
            "'track: {name: tuned, title: tuned hyperparameters}'"
        )
    if block["name"] == OTHER_TRACK:
        raise RsbenchError(f"{where}: the track name {OTHER_TRACK!r} is reserved; choose another")
    notes = block.get("notes")
    if notes is not None and not (
        isinstance(notes, dict)
        and all(isinstance(k, str) and isinstance(v, str) and v.strip() for k, v in notes.items())
    ):
        raise RsbenchError(
            f"{where}: track 'notes' must map method names to a text, e.g. "
            "'notes: {rrsitr: \"why its number is what it is\"}'"
        )
    return block


def build_grid(settings: dict[str, Any]) -> GridSpec:
    """A grid from merged settings (config file overlaid by command-line flags)."""
    if not settings.get("methods"):
        raise RsbenchError(
            "no methods given: use --methods (e.g. --methods infonce,vse) or 'methods:' in --config"
        )
    validation = settings.get("validation", "clean")
    if validation not in VALIDATION_MODES:
        raise RsbenchError(
            f"validation {validation!r} is not one of: {', '.join(VALIDATION_MODES)}"
        )
    profile = string_setting(settings.get("profile", "auto"), "profile")
    if profile not in PROFILES:
        raise RsbenchError(f"profile {profile!r} is not one of: {', '.join(PROFILES)}")
    epochs = settings.get("epochs")
    if epochs is not None:
        epochs = integer_setting(epochs, "epochs", 1)
    return GridSpec(
        methods=parse_components(settings["methods"], "methods"),
        datasets=parse_components(settings.get("datasets", "synthrs"), "datasets"),
        noise_models=parse_components(
            settings.get("noise_models", "caption_shuffle"), "noise models"
        ),
        ratios=_dedupe(
            [
                parse_ratio(r)
                for r in _as_list(settings.get("noise", "0,0.2,0.4,0.6,0.8"), "noise ratios")
            ]
        ),
        seeds=_dedupe([parse_seed(s) for s in _as_list(settings.get("seeds", "0"), "seeds")]),
        noise_seed=parse_seed(settings.get("noise_seed", 42), "noise seed"),
        epochs=epochs,
        validation=validation,
        device=string_setting(settings.get("device", "auto"), "device"),
        out=path_setting(settings.get("out", "runs"), "out"),
        leaderboard_dir=path_setting(settings["leaderboard_dir"], "leaderboard_dir")
        if settings.get("leaderboard_dir") is not None
        else path_setting(settings.get("out", "runs"), "out") / "leaderboards",
        data_root=path_setting(settings["data_root"], "data_root")
        if settings.get("data_root") is not None
        else None,
        skip_bad_images=bool_setting(settings.get("skip_bad_images", False), "skip_bad_images"),
        follow_symlinks=bool_setting(settings.get("follow_symlinks", False), "follow_symlinks"),
        profile=profile,
        weights_dir=path_setting(settings["weights_dir"], "weights_dir")
        if settings.get("weights_dir") is not None
        else None,
        executor=parse_executor(settings.get("executor", "local")),
        keep_checkpoints=bool_setting(settings.get("keep_checkpoints", False), "keep_checkpoints"),
    )


def parse_executor(value: Any) -> ComponentRef:
    """``executor: slurm`` or ``executor: {slurm: {partition: gpu, ...}}``."""
    if isinstance(value, ComponentRef):
        return value
    if isinstance(value, str) and value.strip():
        return ComponentRef(value.strip())
    if isinstance(value, dict) and len(value) == 1:
        ((name, options),) = value.items()
        return ComponentRef(str(name), _options(options, "executor", name))
    raise RsbenchError(
        f"malformed executor {value!r}: expected a name (local, slurm) or {{name: {{options}}}}"
    )

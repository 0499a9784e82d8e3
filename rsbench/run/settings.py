"""The settings of a grid, read once into the typed `GridSpec` that the runner is handed.

``rsbench run`` and ``rsbench tune`` take their settings from a YAML config (``--config``) and
from flags, a flag given overriding the file. Every setting is declared once, in `SETTINGS`:
its YAML key, the `GridSpec` field it fills, its flag and help, and the one function that
parses and checks its value. The pass is:

- the command line (`rsbench.cli.flags`) puts the settings' flags on ``run`` and ``tune``
  from this table (argparse only collects strings), then lays the flags given over
- `read_config`'s reading of the config file (valid YAML holding a mapping) and calls
- `parse_settings`, which parses and checks every value once (one line and exit code 2 for a
  bad one, naming the config file when the value came from there) into a GridSpec.

Nothing downstream parses a setting again: the runner, the tuner, dry runs and leaderboard
tracks take the GridSpec as it is. The options of a component (a method's ``lr``, an executor's
``partition``) are the component's own: its ``Options`` type checks them when the runner
resolves the grid (`rsbench.plugin.options`). `plan_settings` writes a GridSpec back as
settings (the run folder's plan).

This module imports only the standard library at its top (the grid's classes load when a
value is parsed), so that the command line's flags cost little to build.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from rsbench.io.errors import RsbenchError
from rsbench.plugin.devices import device_name

if TYPE_CHECKING:
    from rsbench.run.grid import ComponentRef, GridSpec

VALIDATION_MODES = ("clean", "noisy")
PROFILES = ("auto", "small", "paper")
#: seeds are 32-bit: every random generator in use (python, numpy's legacy streams, torch)
#: takes them as they are; larger values were silently folded onto small ones
SEED_MAX = 2**32 - 1
#: a record in no track of a tracked board is shown under this name (`rsbench.report.tracks`),
#: never dropped; so no config may name its track so
OTHER_TRACK = "other"


# ---- values ---------------------------------------------------------------------------------
# Each parser takes the value (a command-line string or any YAML value) and the name the
# message calls it by, and returns the typed value or raises one line that says what is valid.


def integer_setting(value: Any, what: str, low: int, high: int | None = None) -> int:
    """An integer in ``[low, high]`` from a YAML value or a command-line string."""
    valid = f"an integer >= {low}" if high is None else f"an integer from {low} to {high}"
    if isinstance(value, bool):
        raise RsbenchError(f"{what} {value!r} is not an integer; valid: {valid}")
    try:
        number = int(value) if isinstance(value, int) else int(str(value).strip())
    except (TypeError, ValueError):
        raise RsbenchError(f"{what} {value!r} is not an integer; valid: {valid}") from None
    if number < low or (high is not None and number > high):
        raise RsbenchError(f"{what} {value!r} is out of range; valid: {valid}")
    return number


def seed_setting(value: Any, what: str = "seed") -> int:
    return integer_setting(value, what, 0, SEED_MAX)


def path_setting(value: Any, what: str) -> Path:
    """A folder or file: a non-empty string (YAML ``out: 5`` or ``out: [a]`` is not)."""
    if isinstance(value, Path):
        return value
    if not isinstance(value, str) or not value.strip() or "\0" in value:
        raise RsbenchError(f"{what} must be a path (a non-empty string), got {value!r}")
    return Path(value).expanduser()


def bool_setting(value: Any, what: str) -> bool:
    """A YAML boolean: ``true`` or ``false`` (the string ``"no"`` would be read as true)."""
    if not isinstance(value, bool):
        raise RsbenchError(f"{what} must be true or false, got {value!r}")
    return value


def string_setting(value: Any, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise RsbenchError(f"{what} must be a non-empty string, got {value!r}")
    return value.strip()


def choice_setting(choices: tuple[str, ...]) -> Callable[[Any, str], str]:
    def parse(value: Any, what: str) -> str:
        text = value.strip() if isinstance(value, str) else value
        if text not in choices:
            raise RsbenchError(f"{what} {text!r} is not one of: {', '.join(choices)}")
        return text

    return parse


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


def _as_list(value: Any, what: str) -> list:
    if isinstance(value, str):
        return split_list(value, what)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return [value]
    if isinstance(value, list) and value:
        return value
    raise RsbenchError(f"malformed {what}: expected a comma list or a non-empty list")


def _dedupe(values: list) -> list:
    from rsbench.io.files import canonical_json
    from rsbench.run.grid import ComponentRef

    seen, out = set(), []
    for v in values:
        key = v.name + canonical_json(v.options) if isinstance(v, ComponentRef) else v
        if key in seen:
            raise RsbenchError(f"{v.name if isinstance(v, ComponentRef) else v!r} is listed twice")
        seen.add(key)
        out.append(v)
    return out


def ratios_setting(value: Any, what: str = "noise ratios") -> list[float]:
    return _dedupe([parse_ratio(r) for r in _as_list(value, what)])


def seeds_setting(value: Any, what: str = "seeds") -> list[int]:
    return _dedupe([seed_setting(s) for s in _as_list(value, what)])


def _options(options: Any, what: str, name: str) -> dict[str, Any]:
    if options is None:
        return {}
    if not isinstance(options, dict):
        raise RsbenchError(f"options of {name!r} in {what} must be a mapping, got {options!r}")
    return dict(options)


def components_setting(value: Any, what: str) -> list[ComponentRef]:
    """A comma string, a list of names (or ``{name: {options}}``), or a name -> options mapping."""
    from rsbench.run.grid import ComponentRef

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


def executor_setting(value: Any, what: str = "executor") -> ComponentRef:
    """``executor: slurm`` or ``executor: {slurm: {partition: gpu, ...}}``."""
    from rsbench.run.grid import ComponentRef

    if isinstance(value, ComponentRef):
        return value
    if isinstance(value, str) and value.strip():
        return ComponentRef(value.strip())
    if isinstance(value, dict) and len(value) == 1:
        ((name, options),) = value.items()
        return ComponentRef(str(name), _options(options, what, name))
    raise RsbenchError(
        f"malformed {what} {value!r}: expected a name (local, slurm) or {{name: {{options}}}}"
    )


def track_setting(block: Any, what: str = "track") -> dict[str, Any]:
    """A config's ``track:`` block: a mapping with a ``name`` (and free-form facts, which
    ``rsbench leaderboard --track`` shows); ``notes`` maps a method to what explains its
    numbers, printed under the track's table."""
    if block is None:
        return {}
    if not isinstance(block, dict) or not isinstance(block.get("name"), str) or not block["name"]:
        raise RsbenchError(
            f"'{what}' must be a mapping with a non-empty 'name', e.g. "
            "'track: {name: tuned, title: tuned hyperparameters}'"
        )
    if block["name"] == OTHER_TRACK:
        raise RsbenchError(f"the {what} name {OTHER_TRACK!r} is reserved; choose another")
    notes = block.get("notes")
    if notes is not None and not (
        isinstance(notes, dict)
        and all(isinstance(k, str) and isinstance(v, str) and v.strip() for k, v in notes.items())
    ):
        raise RsbenchError(
            f"{what} 'notes' must map method names to a text, e.g. "
            "'notes: {rrsitr: \"why its number is what it is\"}'"
        )
    return dict(block)


def _optional(parse: Callable[[Any, str], Any]) -> Callable[[Any, str], Any]:
    """``None`` (YAML ``null``) leaves the setting at its default."""

    def parse_or_none(value: Any, what: str) -> Any:
        return None if value is None else parse(value, what)

    return parse_or_none


# ---- the settings ---------------------------------------------------------------------------


class Setting(NamedTuple):
    """One setting of a grid: where it is written and how its value is read."""

    key: str  # the config key, and the parsed flag's ``dest``
    parse: Callable[[Any, str], Any]
    what: str = ""  # what messages call it [key]
    field: str = ""  # the GridSpec field it fills [key]
    flags: tuple[str, ...] = ()  # () for a config-only setting
    help: str = ""
    metavar: str | None = None
    switch: bool = False  # a flag without a value, which sets it to true

    @property
    def name(self) -> str:
        return self.what or self.key

    @property
    def target(self) -> str:
        return self.field or self.key


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "methods",
        components_setting,
        flags=("--methods",),
        help="comma-separated method names (see 'rsbench list methods')",
    ),
    Setting(
        "datasets",
        components_setting,
        flags=("--datasets",),
        help="comma-separated dataset names [synthrs]",
    ),
    Setting(
        "noise_models",
        components_setting,
        what="noise models",
        flags=("--noise-model", "--noise-models"),
        metavar="NAMES",
        help="comma-separated noise models [caption_shuffle]",
    ),
    Setting(
        "noise",
        ratios_setting,
        what="noise ratios",
        field="ratios",
        flags=("--noise",),
        metavar="RATIOS",
        help="comma-separated noise ratios in [0, 1) [0,0.2,0.4,0.6,0.8]",
    ),
    Setting("seeds", seeds_setting, flags=("--seeds",), help="comma-separated training seeds [0]"),
    Setting(
        "noise_seed",
        seed_setting,
        what="noise seed",
        flags=("--noise-seed",),
        help="seed of the noise files [42]",
    ),
    Setting(
        "epochs",
        _optional(lambda value, what: integer_setting(value, what, 1)),
        flags=("--epochs",),
        help="override every method's number of epochs",
    ),
    Setting(
        "validation",
        choice_setting(VALIDATION_MODES),
        flags=("--validation",),
        metavar="{clean,noisy}",
        help="checkpoint selection split: clean or noisy [clean]",
    ),
    Setting("device", device_name, flags=("--device",), help="auto, cpu or cuda [auto]"),
    Setting(
        "profile",
        choice_setting(PROFILES),
        flags=("--profile",),
        help="method profile: small (small encoders), paper (published backbones) or auto "
        "(small on synthrs, paper on real datasets) [auto]",
    ),
    Setting(
        "weights_dir",
        _optional(path_setting),
        flags=("--weights-dir",),
        help="folder of pretrained checkpoints (or RSBENCH_WEIGHTS; the HF cache is also read)",
    ),
    Setting(
        "out",
        path_setting,
        flags=("--out",),
        help="run directory for records and noise files [runs]",
    ),
    Setting(
        "data_root",
        _optional(path_setting),
        flags=("--data-root",),
        help="folder of local datasets (or RSBENCH_DATA)",
    ),
    Setting(
        "leaderboard_dir",
        _optional(path_setting),
        flags=("--leaderboard-dir",),
        help="where the run's leaderboards go [OUT/leaderboards: inside the run folder]",
    ),
    Setting(
        "skip_bad_images",
        bool_setting,
        flags=("--skip-bad-images",),
        switch=True,
        help="skip missing or unreadable images of local datasets (counted in the records)",
    ),
    Setting(
        "follow_symlinks",
        bool_setting,
        flags=("--follow-symlinks",),
        switch=True,
        help="read images through symbolic links that lead outside the dataset folder",
    ),
    Setting(
        "keep_checkpoints",
        bool_setting,
        flags=("--keep-checkpoints",),
        switch=True,
        help="keep each cell's last per-epoch checkpoint (<out>/work/<cell>/) when it finishes",
    ),
    Setting(
        "executor",
        executor_setting,
        flags=("--executor",),
        metavar="NAME",
        help="local, slurm or an executor plugin [local]",
    ),
    Setting("track", track_setting),
)
BY_KEY = {s.key: s for s in SETTINGS}
CONFIG_KEYS = tuple(BY_KEY)


# ---- files and the pass ---------------------------------------------------------------------


def read_config(path: Path) -> dict[str, Any]:
    """A config file's settings as written: valid YAML holding a mapping of known keys."""
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
    _check_keys(data, f"config file {path}")
    return data


def _check_keys(settings: Mapping[str, Any], where: str) -> None:
    unknown = sorted(set(settings) - set(CONFIG_KEYS), key=str)
    if unknown:
        lead = f"{where}: " if where else ""
        raise RsbenchError(
            f"{lead}unknown key {unknown[0]!r}; valid keys: {', '.join(CONFIG_KEYS)}"
        )


def parse_settings(
    config: Mapping[str, Any], flags: Mapping[str, Any] | None = None, where: str = ""
) -> GridSpec:
    """Every setting parsed and checked, once, into a GridSpec.

    ``config`` holds the settings of a config file (``where`` names it in messages), ``flags``
    those given on the command line, which win. A setting given in neither keeps GridSpec's
    default.
    """
    from rsbench.run.grid import GridSpec

    flags = flags or {}
    _check_keys(config, where)
    _check_keys(flags, "")
    merged = {**config, **flags}
    if not merged.get("methods"):
        raise RsbenchError(
            "no methods given: use --methods (e.g. --methods infonce,vse) or 'methods:' in --config"
        )
    values: dict[str, Any] = {}
    for s in SETTINGS:
        if s.key not in merged:
            continue
        try:
            value = s.parse(merged[s.key], s.name)
        except RsbenchError as exc:
            if where and s.key not in flags:
                raise RsbenchError(f"{where}: {exc}") from None
            raise
        if value is not None:
            values[s.target] = value
    return GridSpec(**values)


def plan_settings(grid: GridSpec) -> dict[str, Any]:
    """The settings that define a grid's cells, as plain values (the run folder's plan)."""

    def refs(items: list[ComponentRef]) -> list[dict[str, Any]]:
        return [{r.name: r.options} for r in items]

    return {
        "methods": refs(grid.methods),
        "datasets": refs(grid.datasets),
        "noise_models": refs(grid.noise_models),
        "noise": list(grid.ratios),
        "seeds": list(grid.seeds),
        "noise_seed": grid.noise_seed,
        "epochs": grid.epochs,
        "validation": grid.validation,
        "profile": grid.profile,
    }

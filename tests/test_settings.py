"""The settings pass: every setting of a grid is declared once, parsed and checked once, from a
config file and the command line, into the GridSpec the runner is handed."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from rsbench.cli.flags import EXECUTOR_FLAGS, settings_of
from rsbench.cli.parser import build_parser
from rsbench.io.errors import RsbenchError
from rsbench.run.grid import ComponentRef, GridSpec
from rsbench.run.settings import (
    CONFIG_KEYS,
    SETTINGS,
    parse_settings,
    plan_settings,
    read_config,
)

#: per setting: a value as YAML or a flag would give it, and the field's typed value
GOOD = {
    "methods": ("infonce,vse", [ComponentRef("infonce"), ComponentRef("vse")]),
    "datasets": ({"synthrs-tiny": {"captions": 2}}, [ComponentRef("synthrs-tiny")]),
    "noise_models": ("caption_shuffle", [ComponentRef("caption_shuffle")]),
    "noise": ("0,0.4", [0.0, 0.4]),
    "seeds": ([1, "2"], [1, 2]),
    "noise_seed": ("7", 7),
    "epochs": (3, 3),
    "validation": ("noisy", "noisy"),
    "device": ("cuda:1", "cuda:1"),
    "profile": ("paper", "paper"),
    "weights_dir": ("w", Path("w")),
    "out": ("elsewhere", Path("elsewhere")),
    "data_root": ("d", Path("d")),
    "leaderboard_dir": ("b", Path("b")),
    "skip_bad_images": (True, True),
    "follow_symlinks": (True, True),
    "keep_checkpoints": (True, True),
    "executor": ({"slurm": {"partition": "gpu"}}, ComponentRef("slurm")),
    "track": ({"name": "mine", "title": "t"}, {"name": "mine", "title": "t"}),
}
#: per setting: a value it refuses, and what the one line says
BAD = {
    "methods": ("infonce,,vse", "malformed methods list"),
    "datasets": ([3], "malformed datasets entry 3"),
    "noise_models": ({}, "the noise models mapping is empty"),
    "noise": ("0.2,1", "noise ratio '1' is outside [0, 1)"),
    "seeds": ("0,0", "0 is listed twice"),
    "noise_seed": (-1, "noise seed -1 is out of range"),
    "epochs": ("zero", "epochs 'zero' is not an integer"),
    "validation": ("dirty", "validation 'dirty' is not one of: clean, noisy"),
    "device": ("cuda:x", "unknown device 'cuda:x'; valid: auto, cpu, cuda or cuda:N"),
    "profile": ("large", "profile 'large' is not one of: auto, small, paper"),
    "weights_dir": (5, "weights_dir must be a path"),
    "out": ("", "out must be a path"),
    "data_root": ([], "data_root must be a path"),
    "leaderboard_dir": (1.5, "leaderboard_dir must be a path"),
    "skip_bad_images": ("no", "skip_bad_images must be true or false"),
    "follow_symlinks": (1, "follow_symlinks must be true or false"),
    "keep_checkpoints": ("yes", "keep_checkpoints must be true or false"),
    "executor": ([], "malformed executor []"),
    "track": ({"title": "x"}, "'track' must be a mapping with a non-empty 'name'"),
}


def test_the_table_holds_every_setting_and_each_fills_a_field_of_the_grid():
    fields = {f.name for f in dataclasses.fields(GridSpec)}
    assert set(GOOD) == set(BAD) == set(CONFIG_KEYS)
    assert {s.target for s in SETTINGS} <= fields


@pytest.mark.parametrize("key", CONFIG_KEYS)
def test_each_setting_is_parsed_into_its_typed_field(key):
    value, typed = GOOD[key]
    base = {} if key == "methods" else {"methods": "infonce"}
    grid = parse_settings({**base, key: value})
    target = next(s.target for s in SETTINGS if s.key == key)
    assert getattr(grid, target) == typed
    if key in ("datasets", "executor"):  # options travel with the name
        ref = getattr(grid, target)
        assert (ref[0] if isinstance(ref, list) else ref).options == next(iter(value.values()))


@pytest.mark.parametrize("key", CONFIG_KEYS)
def test_a_bad_value_is_one_line_naming_the_config_file_it_came_from(key):
    value, message = BAD[key]
    base = {} if key == "methods" else {"methods": "infonce"}
    with pytest.raises(RsbenchError) as caught:
        parse_settings({**base, key: value}, where="config file g.yaml")
    assert str(caught.value).startswith("config file g.yaml: ")
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_a_bad_flag_is_not_blamed_on_the_config_file_and_a_flag_wins_over_the_file():
    with pytest.raises(RsbenchError) as caught:
        parse_settings({"methods": "infonce"}, {"epochs": "0"}, where="config file g.yaml")
    assert str(caught.value).startswith("epochs '0' is out of range")
    grid = parse_settings({"methods": "infonce", "epochs": 0}, {"epochs": "2"}, "config file g")
    assert grid.epochs == 2  # the file's value is overridden, so never read


def test_a_setting_not_given_keeps_the_grids_default():
    grid = parse_settings({"methods": "infonce"})
    assert grid == GridSpec([ComponentRef("infonce")])
    assert grid.ratios == [0.0, 0.2, 0.4, 0.6, 0.8] and grid.datasets == [ComponentRef("synthrs")]
    assert grid.leaderboard_dir == Path("runs/leaderboards")
    assert parse_settings({"methods": "infonce", "out": "x"}).leaderboard_dir == Path(
        "x/leaderboards"
    )
    assert parse_settings({"methods": "infonce", "epochs": None}).epochs is None  # YAML null


def test_unknown_keys_are_refused_with_the_valid_ones():
    with pytest.raises(RsbenchError, match="^config file g.yaml: unknown key 'speed'; valid keys"):
        parse_settings({"methods": "infonce", "speed": 1}, where="config file g.yaml")


def test_every_flag_of_run_belongs_to_a_setting_an_executor_option_or_the_command():
    """The parser's grid flags come from the table: none is declared twice or left out."""
    parser = build_parser()
    run = parser._subparsers._group_actions[0].choices["run"]
    run.complete()  # its grid flags are added when it is used
    dests = {a.dest for a in run._actions}
    command_only = {"help", "config", "no_leaderboard", "multi_positive", "force", "dry_run"}
    flagged = {s.key for s in SETTINGS if s.flags}
    assert dests == flagged | set(EXECUTOR_FLAGS) | {"executor_options"} | command_only
    assert flagged == set(CONFIG_KEYS) - {"track"}  # the track is a config file's only


def test_the_command_line_lays_its_flags_over_the_config_file(tmp_path):
    config = tmp_path / "g.yaml"
    config.write_text(
        "methods: {infonce: {lr: 0.001}}\nepochs: 4\nseeds: [0, 1]\n"
        "executor: {local: {workers: 2}}\ntrack: {name: mine}\n"
    )
    args = build_parser().parse_args(
        ["run", "--config", str(config), "--seeds", "3", "--cells-per-gpu", "2"]
    )
    grid = settings_of(args)
    assert grid.methods[0].options == {"lr": 0.001} and grid.epochs == 4 and grid.seeds == [3]
    assert grid.executor.options == {"workers": 2, "cells_per_gpu": 2}
    assert grid.track == {"name": "mine"}
    config.write_text("methods: [infonce]\nepochs: 0\n")
    args = build_parser().parse_args(["run", "--config", str(config)])
    with pytest.raises(RsbenchError, match=f"^config file {config}: epochs 0 is out of range"):
        settings_of(args)


def test_tune_takes_the_same_settings_with_its_own_defaults():
    args = build_parser().parse_args(["tune", "--methods", "infonce", "--epochs", "2"])
    grid = settings_of(args)
    assert grid.out == Path("runs/tune") and grid.ratios == [0.4] and grid.epochs == 2
    assert grid.executor == ComponentRef("local")


def test_the_plan_written_back_reads_as_the_same_grid(tmp_path):
    config = tmp_path / "g.yaml"
    config.write_text(
        "methods: [{infonce: {lr: 0.001}}, {infonce: {oracle: clean}}]\n"
        "datasets: [synthrs-tiny]\nnoise: [0, 0.2]\nseeds: [0, 5]\nepochs: 2\n"
        "validation: noisy\nprofile: small\nnoise_seed: 9\n"
    )
    grid = parse_settings(read_config(config))
    again = parse_settings(plan_settings(grid))
    assert again.cells() == grid.cells()
    assert [m.options for m in again.methods] == [{"lr": 0.001}, {"oracle": "clean"}]

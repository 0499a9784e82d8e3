"""The grid: product, order, cell ids, config files, and bad input."""

from __future__ import annotations

import subprocess
import sys

import pytest

from rsbench.io.errors import RsbenchError
from rsbench.run.grid import cell_id
from rsbench.run.runner import Runner
from rsbench.run.settings import parse_settings, read_config


def test_grid_is_the_full_product_in_a_fixed_order():
    grid = parse_settings(
        {
            "methods": "infonce,vse",
            "datasets": "synthrs-tiny",
            "noise_models": "caption_shuffle,image_shuffle",
            "noise": "0,0.2,0.4",
            "seeds": "0,1",
        }
    )
    cells = grid.cells()
    assert len(cells) == 2 * 1 * 2 * 3 * 2
    assert len({(c.method.name, c.noise_model.name, c.ratio, c.seed) for c in cells}) == len(cells)
    # methods vary fastest, so consecutive cells share one noise file
    assert [c.method.name for c in cells[:2]] == ["infonce", "vse"]
    assert cells[0].ratio == cells[1].ratio and cells[0].seed == cells[1].seed


def test_cell_ids_are_stable_and_depend_on_everything_that_matters():
    def ids(**settings):
        base = {"methods": "infonce", "datasets": "synthrs-tiny", "noise": "0.2", "seeds": "0"}
        runner = Runner(parse_settings({**base, **settings}))
        return [pc.cell_id for pc in runner.prepare()]

    first = ids()
    assert first == ids()  # stable
    assert len(first[0]) == 16
    assert ids(epochs=4) != first
    assert ids(seeds="1") != first
    assert ids(noise="0.4") != first
    assert ids(noise_seed=7) != first
    assert ids(methods={"infonce": {"temperature": 0.07}}) != first
    assert ids(methods={"infonce": {"temperature": 0.05}}) == first  # the default, spelled out
    assert ids(profile="small") == first  # auto is small on synthrs-tiny: the resolved value
    assert ids(profile="paper") != first
    assert ids(noise="0.20000000000000001") == first  # ratios are normalised


def test_profile_auto_takes_each_dataset_default_and_is_recorded_in_the_options(tmp_path):
    from tests.test_datasets import make_rsitmd

    make_rsitmd(tmp_path / "data", n_train=6, n_val=2, n_test=2, image_size=32)
    base = {"methods": "infonce", "noise": "0.2", "seeds": "0", "data_root": str(tmp_path / "data")}
    synth, real = Runner(parse_settings({**base, "datasets": "synthrs-tiny,rsitmd"})).prepare()
    assert synth.method.profile == "small" and synth.spec["method"]["options"]["profile"] == "small"
    assert real.method.profile == "paper"
    assert real.method.options.checkpoint == "openai/clip-vit-base-patch32"
    assert real.method.options.lr == 7e-6 and real.method.options.precision == "fp16"
    forced = Runner(parse_settings({**base, "datasets": "rsitmd", "profile": "small"})).prepare()
    assert forced[0].method.profile == "small" and forced[0].method.options.lr == 2e-4
    # a profile set on the method itself wins over the grid's
    own = Runner(
        parse_settings({**base, "datasets": "rsitmd", "methods": {"infonce": {"profile": "small"}}})
    ).prepare()
    assert own[0].method.profile == "small"


def test_the_scratch_backbone_has_its_own_recipe_and_no_paper_profile():
    grid = {"noise": "0", "datasets": "synthrs-tiny"}
    (pc,) = Runner(parse_settings({**grid, "methods": {"vse": {"backbone": "scratch"}}})).prepare()
    assert pc.method.options.image_size == 48 and pc.method.options.sum_warmup_epochs == 2
    assert pc.method.backbone_info() == {"backbone": "scratch", "init": "scratch"}
    with pytest.raises(RsbenchError, match="backbone 'scratch' exists in the small profile only"):
        Runner(
            parse_settings(
                {**grid, "methods": {"vse": {"backbone": "scratch"}}, "profile": "paper"}
            )
        ).prepare()


def test_cell_id_is_a_hash_of_the_canonical_spec():
    assert cell_id({"a": 1, "b": [1, 2]}) == cell_id({"b": [1, 2], "a": 1})


@pytest.mark.parametrize(
    "settings, message",
    [
        ({"methods": "infonce", "noise": "0.2,1.0"}, "outside [0, 1)"),
        (
            {"methods": "infonce", "profile": "large"},
            "profile 'large' is not one of: auto, small, paper",
        ),
        ({"methods": "infonce", "noise": "0.2,,0.4"}, "malformed noise ratios list"),
        ({"methods": "infonce", "noise": "abc"}, "is not a number"),
        ({"methods": "infonce", "seeds": "1,x"}, "seed 'x' is not an integer"),
        ({"methods": "infonce", "seeds": "-1"}, "valid: an integer from 0 to 4294967295"),
        ({"methods": "infonce,infonce"}, "listed twice"),
        ({}, "no methods given"),
        ({"methods": "infonce", "validation": "dirty"}, "validation 'dirty'"),
        ({"methods": "infonce", "epochs": 0}, "epochs 0 is out of range; valid: an integer >= 1"),
    ],
)
def test_bad_settings_are_clear_errors(settings, message):
    with pytest.raises(
        RsbenchError, match=message.replace("[", r"\[").replace("(", r"\(").replace(")", r"\)")
    ):
        parse_settings(settings)


def test_unknown_components_and_options_fail_before_anything_runs():
    with pytest.raises(RsbenchError, match="did you mean 'synthrs'"):
        Runner(parse_settings({"methods": "infonce", "datasets": "synthr"})).prepare()
    with pytest.raises(
        RsbenchError, match="method 'infonce': unknown option 'temp'; valid options: .*temperature"
    ):
        Runner(parse_settings({"methods": {"infonce": {"temp": 1}}})).prepare()
    with pytest.raises(RsbenchError, match="method 'vse': option margin must be a number"):
        Runner(parse_settings({"methods": {"vse": {"margin": "wide"}}})).prepare()


def test_config_file(tmp_path):
    path = tmp_path / "grid.yaml"
    path.write_text(
        "methods: {infonce: {temperature: 0.1}, vse: null}\nnoise: [0, 0.4]\nseeds: [0, 1]\nepochs: 2\n"
    )
    grid = parse_settings(read_config(path))
    assert [m.name for m in grid.methods] == ["infonce", "vse"]
    assert grid.methods[0].options == {"temperature": 0.1}
    assert grid.ratios == [0.0, 0.4] and grid.seeds == [0, 1] and grid.epochs == 2
    path.write_text("methods: [infonce]\nspeed: fast\n")
    with pytest.raises(RsbenchError, match="unknown key 'speed'; valid keys"):
        read_config(path)
    path.write_text("methods: [infonce\n")
    with pytest.raises(RsbenchError, match="not valid YAML"):
        read_config(path)
    with pytest.raises(RsbenchError, match="config file not found"):
        read_config(tmp_path / "missing.yaml")


def test_numbers_in_exponent_form_are_numbers_in_configs(tmp_path):
    """PyYAML alone reads ``1e-4`` (no dot) as a string; a config's ``lr: 1e-4`` must be 0.0001."""
    path = tmp_path / "grid.yaml"
    path.write_text("methods: {infonce: {lr: 1e-4, weight_decay: 2E-3}}\nepochs: 2\n")
    grid = parse_settings(read_config(path))
    assert grid.methods[0].options == {"lr": 0.0001, "weight_decay": 0.002}
    Runner(grid).prepare()  # the options check takes them as numbers
    path.write_text("methods: {infonce: {lr: 1e}}\n")  # not a number: left a string
    assert read_config(path)["methods"]["infonce"]["lr"] == "1e"


def run_cli(*args, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "rsbench", *args], capture_output=True, text=True, cwd=cwd
    )


@pytest.mark.parametrize(
    "args, message",
    [
        (["run", "--methods", "infonse"], "unknown method 'infonse' (did you mean 'infonce'?)"),
        (
            ["run", "--methods", "infonce", "--noise", "0.2,1.5"],
            "noise ratio '1.5' is outside [0, 1)",
        ),
        (["run", "--methods", "infonce", "--noise", "0.2,"], "malformed noise ratios list"),
        (["run", "--config", "does-not-exist.yaml"], "config file not found"),
        (["run", "--methods", "infonce", "--device", "tpu"], "unknown device 'tpu'"),
        (["run", "--methods", "infonce", "--validation", "x"], "validation 'x' is not one of"),
        (["list", "models"], "invalid choice: 'models'"),
        (["leaderboard", "no-such-dir"], "run directory not found"),
        (
            ["run", "--methods", "infonce", "--datasets", "rsitmd", "--data-root", "nowhere"],
            "dataset 'rsitmd' not found",
        ),
    ],
)
def test_cli_bad_input_is_one_line_and_exit_2(args, message, tmp_path):
    result = run_cli(*args, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert message in lines[0]
    assert "Traceback" not in result.stderr


def test_cli_unwritable_output_dir(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    result = run_cli(
        "run", "--methods", "infonce", "--datasets", "synthrs-tiny", "--out", str(blocker / "runs")
    )
    assert result.returncode == 2
    assert "cannot be created" in result.stderr and "is a file" in result.stderr
    assert "Traceback" not in result.stderr

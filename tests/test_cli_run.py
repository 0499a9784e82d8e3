"""A full tiny `rsbench run` through the CLI: records, resume, leaderboard, failed cells."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from rsbench.evaluate.retrieval import METRIC_NAMES
from rsbench.records.read import iter_records
from rsbench.testing import write_distribution

TINY = ["--datasets", "synthrs-tiny", "--epochs", "1", "--seeds", "0"]

FAILING_PLUGIN = """
import torch
from rsbench import hookimpl
from rsbench.io.errors import RsbenchError
from rsbench_plugins.methods.infonce import InfoNCE


class NaNLoss(InfoNCE):
    '''A method whose loss turns NaN on noisy data.'''
    version = "1"

    def objective(self, out, batch, model):
        loss = super().objective(out, batch, model)
        return loss * float("nan") if model.noisy else loss

    def build(self, task):
        model = super().build(task)
        model.noisy = not task.ground_truth_clean().all()
        return model


@hookimpl
def register_methods(register):
    register("nanloss", NaNLoss)
"""


def rsbench(*args, cwd, env=None):
    return subprocess.run(
        [sys.executable, "-m", "rsbench", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=env or os.environ.copy(),
    )


def test_full_tiny_run(tmp_path):
    args = [
        "run",
        "--methods",
        "infonce,vse",
        "--noise",
        "0,0.4",
        *TINY,
        "--out",
        "runs",
        "--leaderboard-dir",
        "boards",
    ]
    first = rsbench(*args, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "4 cells run, 0 skipped" in first.stderr
    records = list(iter_records([tmp_path / "runs"]))
    assert len(records) == 4 and all(r["status"] == "ok" for r in records)
    r = next(r for r in records if r["method"]["name"] == "vse" and r["noise"]["ratio"] == 0.4)
    assert set(r["metrics"]) == set(METRIC_NAMES) == set(r["metrics_multi"])
    assert all(
        r["metrics_multi"][m] >= r["metrics"][m] for m in METRIC_NAMES
    )  # more positives, never fewer hits
    assert all(0 <= v <= 100 for v in r["metrics"].values())
    assert r["noise"]["file_hash"] and 0.3 < r["noise"]["effective_rate"] <= 0.4
    assert r["method"]["params"]["epochs"] == 1 and r["seed"] == 0 and r["noise"]["seed"] == 42
    assert (
        r["environment"]["torch"]
        and r["environment"]["rsbench"]
        and r["environment"]["device"] == "cpu"
    )
    # the oneDNN workaround, on by default, found nothing to change in the small checkpoints
    onednn = r["environment"]["onednn"]
    assert onednn["guard"] == "on" and onednn["convolutions"] == 0 and onednn["version"]
    assert set(r["health"]["checked"]) >= {"near_chance", "collapse", "non_finite_loss"}
    assert r["health"]["test_score_spread"] > 0 and isinstance(r["health"]["warnings"], list)
    assert r["dataset"]["sizes"]["train"] == {"images": 54, "captions": 270}
    assert len(r["history"]) == 1 and r["best_epoch"] == 1 and r["duration_s"] > 0
    # every method at a cell read the same noise file
    hashes = {(x["noise"]["ratio"], x["noise"]["file_hash"]) for x in records}
    assert len(hashes) == 2
    board = (tmp_path / "boards" / "synthrs-tiny.md").read_text()
    assert "# synthrs-tiny leaderboard" in board and "| vse " in board and "### Reproduce" in board
    # with its figure and the records behind it, which regenerate it unchanged
    assert "](plots/synthrs-tiny/caption-shuffle-small-mr.png)" in board
    assert (tmp_path / "boards/plots/synthrs-tiny/caption-shuffle-small-mr.svg").is_file()
    check = rsbench("leaderboard", "--check", "--out", "boards", cwd=tmp_path)
    assert check.returncode == 0, check.stderr

    again = rsbench(*args, cwd=tmp_path)
    assert again.returncode == 0 and "0 cells run, 4 skipped" in again.stderr
    assert "already done" in again.stderr
    assert (tmp_path / "boards" / "synthrs-tiny.md").read_text() == board  # deterministic

    forced = rsbench(
        *args[:-4],
        "--methods",
        "infonce",
        "--noise",
        "0",
        "--out",
        "runs",
        "--no-leaderboard",
        "--force",
        cwd=tmp_path,
    )
    assert forced.returncode == 0 and "1 cells run, 0 skipped" in forced.stderr

    dry = rsbench(*args, "--dry-run", cwd=tmp_path)
    assert dry.returncode == 0 and dry.stdout.count("  done  ") == 4

    rebuilt = rsbench("leaderboard", "runs", "--out", "boards2", cwd=tmp_path)
    assert rebuilt.returncode == 0
    assert (tmp_path / "boards2" / "synthrs-tiny.md").read_text() == board


def test_the_reproduce_block_reruns_the_same_cells(tmp_path):
    done = rsbench(
        "run",
        "--methods",
        "infonce",
        "--noise",
        "0.2",
        *TINY,
        "--out",
        "runs",
        "--leaderboard-dir",
        "b",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    board = (tmp_path / "b" / "synthrs-tiny.md").read_text()
    config = board.split("```yaml\n", 1)[1].split("```", 1)[0]
    (tmp_path / "grid.yaml").write_text(config)
    rerun = rsbench(
        "run", "--config", "grid.yaml", "--out", "runs", "--no-leaderboard", cwd=tmp_path
    )
    assert rerun.returncode == 0 and "0 cells run, 1 skipped" in rerun.stderr, rerun.stderr + config


def test_a_failing_cell_is_recorded_and_the_grid_goes_on(tmp_path):
    site = write_distribution(
        tmp_path / "site",
        "rsbench-nanloss",
        {"nanloss": "rsb_nanloss"},
        {"rsb_nanloss.py": FAILING_PLUGIN},
    )
    env = {**os.environ, "PYTHONPATH": str(site), "RSBENCH_LOAD_PLUGINS": "rsbench,nanloss"}
    grid = ["run", "--methods", "nanloss,infonce", "--noise", "0,0.4", *TINY, "--out", "runs"]
    result = rsbench(
        *grid,
        "--leaderboard-dir",
        "boards",
        cwd=tmp_path,
        env=env,
    )
    assert result.returncode == 1, result.stderr
    assert "3 cells run, 0 skipped (already done), 1 failed" in result.stderr
    assert "Traceback" not in result.stderr
    records = {
        (r["method"]["name"], r["noise"]["ratio"]): r for r in iter_records([tmp_path / "runs"])
    }
    failed = records[("nanloss", 0.4)]
    assert failed["status"] == "failed" and "loss became nan" in failed["error"]["message"]
    assert (
        records[("nanloss", 0.0)]["status"] == "ok" and records[("infonce", 0.4)]["status"] == "ok"
    )
    assert records[("nanloss", 0.0)]["used_ground_truth"] is True
    board = (tmp_path / "boards" / "synthrs-tiny.md").read_text()
    assert "## Failed cells" in board and "nanloss, caption_shuffle 0.4, seed 0" in board
    # failed cells are retried on the next run; done ones are not
    retry = rsbench(
        *grid,
        "--no-leaderboard",
        cwd=tmp_path,
        env=env,
    )
    assert (
        retry.returncode == 1 and "0 cells run, 3 skipped (already done), 1 failed" in retry.stderr
    )


@pytest.mark.parametrize("command", [["--help"], ["run", "--help"], ["list"], ["--version"]])
def test_help_and_listing_work(command, tmp_path):
    result = rsbench(*command, cwd=tmp_path)
    assert result.returncode == 0 and result.stdout


def test_record_files_are_valid_json(tmp_path):
    result = rsbench(
        "run",
        "--methods",
        "infonce",
        "--noise",
        "0",
        *TINY,
        "--out",
        "runs",
        "--no-leaderboard",
        cwd=tmp_path,
    )
    assert result.returncode == 0
    (path,) = (tmp_path / "runs" / "cells").glob("*.json")
    record = json.loads(path.read_text())
    assert record["cell_id"] == path.stem and record["schema_version"] == 1


def test_noisy_validation_selects_on_a_noisy_val_split(tmp_path):
    result = rsbench("run", "--methods", "infonce", "--noise", "0.4", *TINY, "--validation", "noisy",
                     "--out", "runs", "--no-leaderboard", cwd=tmp_path)  # fmt: skip
    assert result.returncode == 0, result.stderr
    (record,) = iter_records([tmp_path / "runs"])
    assert record["validation"] == "noisy" and record["spec"]["validation"] == "noisy"
    noise_files = sorted((tmp_path / "runs" / "noise" / "synthrs-tiny").glob("*.json"))
    specs = [json.loads(p.read_text())["spec"]["dataset"]["split"] for p in noise_files]
    assert sorted(specs) == ["train", "val"]  # the val split got its own noise file


def test_the_nc_family_runs_end_to_end_with_one_epoch(tmp_path):
    """``rsbench run --methods ncr,npc,gsc,clip_filter --datasets synthrs-tiny --epochs 1``:
    one epoch leaves NCR no warm-up (it shrinks to 0) and each reports detection."""
    result = rsbench(
        "run",
        "--methods",
        "ncr,npc,gsc,clip_filter",
        "--noise",
        "0.4",
        *TINY,
        "--out",
        "runs",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    records = {r["method"]["name"]: r for r in iter_records([tmp_path / "runs"])}
    assert set(records) == {"ncr", "npc", "gsc", "clip_filter"}
    assert all(r["status"] == "ok" and 0 <= r["metrics"]["mR"] <= 100 for r in records.values())
    assert records["ncr"]["method"]["params"]["warmup_epochs"] == 0
    assert records["ncr"]["info"]["gmm"]["random_state"] == 0
    assert records["clip_filter"]["info"]["filter"]["noise_ratio_used"] == 0.4
    assert records["npc"]["info"]["memory_bank"]["pairs"] > 0
    assert all(0.5 < r["detection"]["selected"]["auc"] <= 1 for r in records.values())

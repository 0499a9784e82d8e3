"""`rsbench status` and `rsbench run --dry-run`: every cell's state, what is missing, the
budget, and the RRSITR experiment file."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from rsbench.cli.main import main
from rsbench.records.read import write_record
from rsbench.run.celllock import acquire
from rsbench.run.estimate import estimate
from rsbench.run.settings import parse_settings, read_config
from rsbench.run.state import write_plan
from tests.conftest import REPO
from tests.test_leaderboard import record


def test_status_names_each_cells_state_and_the_failures_error(tmp_path, capsys):
    out = tmp_path / "runs"
    cells = [{"cell_id": c, "label": f"m on d, seed {n}"} for n, c in enumerate("abcd")]
    write_plan(out, cells, {})
    done = record("m", 0.2, 0, 40.0)
    done["cell_id"], done["duration_s"] = "a", 12.0
    failed = record("m", 0.2, 1, 0.0, status="failed")
    failed["cell_id"] = "b"
    failed["error"]["message"] = "WorkerDied: killed by SIGKILL\nmore lines"
    for r in (done, failed):
        write_record(out, r)
    lock = acquire(out, "c", by="rsbench run pid 1, worker gpu3")
    try:
        assert main(["status", str(out), "--all"]) == 0
    finally:
        lock.release()
    text = capsys.readouterr().out
    assert f"{out}: 4 cells: 1 done, 1 running, 0 queued, 1 failed, 1 pending" in text
    assert "  c  m on d, seed 2: rsbench run pid 1, worker gpu3, pid" in text
    assert "  b  m on d, seed 1: WorkerDied: killed by SIGKILL\n" in text
    assert "  a  m on d, seed 0: mR 40.00, 12 s" in text and "  d  m on d, seed 3\n" in text
    assert main(["status", str(out)]) == 0  # without --all: counts of done and pending only
    text = capsys.readouterr().out
    assert "pending: 2 (--all lists them)" in text and "seed 0" not in text  # c was let go
    assert main(["status", str(tmp_path)]) == 2
    assert "is not a run folder" in capsys.readouterr().err


def test_status_lists_done_cells_with_health_warnings(tmp_path, capsys):
    out = tmp_path / "runs"
    for cid, seed, val in (("a", 0, [30.0, 40.0, 39.0]), ("b", 1, [30.0, 20.0])):
        r = record("m", 0.2, seed, 40.0)
        r["cell_id"], r["duration_s"] = cid, 12.0
        r["history"] = [{"epoch": e + 1, "val_mR": v} for e, v in enumerate(val)]
        r["dataset"]["sizes"]["val"] = {"images": 250, "captions": 1250}  # chance: 2.1
        write_record(out, r)
    assert main(["status", str(out)]) == 0
    text = capsys.readouterr().out
    assert "done: 2 (--all lists them)\ndone with health warnings: 1\n" in text
    assert "  b  m on toy, caption_shuffle 0.2, seed 1: mR 40.00, 12 s; ⚠ no improvement" in text
    assert "  a  " not in text


STANDINS = '''
from dataclasses import dataclass
from rsbench import hookimpl
from rsbench.plugin.components import Method


class Standin(Method):
    """A method that is only planned, never trained."""

    version = "1"
    PROFILES = {"small": {"epochs": 2}, "paper": {"epochs": 50}}

    @dataclass
    class Options:
        epochs: int = 2
        profile: str = "small"

    def fit(self, task):
        raise RuntimeError("a dry run trains nothing")


@hookimpl
def register_methods(register):
    for name in ("rrsitr", "msa", "amfmn", "infonce"):
        register(name, Standin)
'''


def test_the_rrsitr_experiment_file_holds_rrsitrs_protocol():
    grid = parse_settings(read_config(REPO / "experiments" / "rrsitr-table.yaml"))
    assert [d.name for d in grid.datasets] == ["rsitmd", "rsicd", "nwpu"]
    assert {d.options["split"] for d in grid.datasets} == {"rrsitr"}
    ((noise),) = grid.noise_models
    assert noise.name == "caption_shuffle" and noise.options == {"mode": "rrsitr"}
    assert grid.ratios == [0.0, 0.2, 0.4, 0.6, 0.8] and grid.seeds == [3, 13, 25, 42, 65]
    assert grid.noise_seed == 42 and grid.profile == "paper" and grid.validation == "clean"
    assert len(grid.cells()) == 300


def test_a_dry_run_of_the_rrsitr_experiment_lists_cells_budget_and_what_is_missing(
    tmp_path, monkeypatch, capsys
):
    from rsbench.plugin.manager import reset_plugins
    from rsbench.testing import write_distribution

    site = write_distribution(
        tmp_path / "site", "standins", {"standins": "rsb_standins"}, {"rsb_standins.py": STANDINS}
    )
    monkeypatch.syspath_prepend(str(site))
    # the real methods are not loaded: stand-ins with the same names plan the grid
    monkeypatch.setenv(
        "RSBENCH_LOAD_PLUGINS", "builtin-datasets,builtin-noise,builtin-executors,standins"
    )
    monkeypatch.delenv("RSBENCH_DATA", raising=False)
    monkeypatch.chdir(tmp_path)
    reset_plugins()
    config = REPO / "experiments" / "rrsitr-table.yaml"
    assert main(["run", "--config", str(config), "--dry-run"]) == 0
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    assert len(lines) == 300 and all("  todo     " in line for line in lines)
    assert "rrsitr on rsitmd, caption_shuffle 0.2, seed 13" in captured.out
    err = captured.err
    assert "300 cells, 0 done" in err and "300 to run in runs/rrsitr" in err
    assert "budget: 300 cells, 15,000 epochs of training in all" in err
    assert "300 of 300 cells have no measured time yet" in err
    assert "missing before this grid can run" in err
    for dataset in ("rsitmd", "rsicd", "nwpu"):
        assert f"dataset '{dataset}': no data folder given" in err
    assert not Path("runs").exists()  # a dry run writes nothing


def cell(method: str, dataset: str, epochs: int):
    options = SimpleNamespace(epochs=epochs)
    return SimpleNamespace(
        method=SimpleNamespace(name=method, profile="paper", options=options),
        dataset=SimpleNamespace(name=dataset),
    )


def timed(method: str, dataset: str, epoch_seconds: list[float], duration: float, gpu: str):
    r = record(method, 0.2, 0, 30.0)
    r["method"]["profile"] = "paper"
    r["dataset"]["name"] = dataset
    r["history"] = [{"epoch": i + 1, "seconds": s} for i, s in enumerate(epoch_seconds)]
    r["duration_s"] = duration
    r["environment"] = {"device": "cuda", "hardware": {"gpus": [{"name": gpu}]}}
    return r


def test_the_estimate_is_epochs_times_the_median_epoch_plus_the_cells_overhead():
    records = [
        timed("rrsitr", "rsitmd", [10, 12, 11], 40.0, "NVIDIA H200"),  # median 11, 7 s outside
        timed("rrsitr", "rsitmd", [13, 13], 30.0, "NVIDIA H200"),  # median 13, 4 s outside
    ]
    result = estimate([cell("rrsitr", "rsitmd", 50), cell("msa", "rsitmd", 50)], records)
    # median epoch of the two cells: 12 s; median overhead: 5.5 s
    assert result.seconds == pytest.approx(50 * 12 + 5.5)
    assert result.estimated == 1 and result.unknown == {("msa", "paper", "rsitmd"): 1}
    assert result.epochs == 100
    (timing,) = result.used.values()
    assert timing.hardware == {"NVIDIA H200"}

"""Per-epoch checkpoints: what they hold comes back exactly, and a cell killed mid-training
resumes to the same result as an uninterrupted run (on the CPU)."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from rsbench.components import CleanEstimate
from rsbench.engine.checkpoint import Checkpoints, NotCheckpointable, pack, unpack
from rsbench.engine.optim import Schedule, make_optimizer
from rsbench.engine.precision import Precision
from rsbench.engine.trainer import Optim

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")


def test_buffers_of_every_checkpointable_kind_come_back_through_weights_only_load(tmp_path):
    estimate = CleanEstimate(
        np.array([0.1, np.nan, 0.9]),
        np.array([False, True, True]),
        np.array([0, -1, 2]),
        ("clean", "ambiguous", "noisy"),
    )
    buffers = {
        "codes": torch.arange(6.0).reshape(2, 3),
        "counts": np.array([3, 1, 2], dtype=np.int64),
        "flags": np.array([True, False]),
        "names": np.array(["a", "bc"]),
        "estimate": estimate,
        "nested": {"epochs": [1, 2], "pair": (0.5, "x", None), "scalar": np.float32(2.5)},
    }
    path = tmp_path / "c.pt"
    torch.save(pack(buffers, "buffers"), path)
    back = unpack(torch.load(path, weights_only=True), "cpu")
    assert torch.equal(back["codes"], buffers["codes"])
    for key in ("counts", "flags", "names"):
        assert back[key].dtype == buffers[key].dtype and np.array_equal(back[key], buffers[key])
    got = back["estimate"]
    np.testing.assert_array_equal(got.scores, estimate.scores)  # NaN where NaN
    assert np.array_equal(got.decisions, estimate.decisions)
    assert np.array_equal(got.groups, estimate.groups) and got.group_names == estimate.group_names
    assert back["nested"] == {"epochs": [1, 2], "pair": (0.5, "x", None), "scalar": 2.5}
    with pytest.raises(NotCheckpointable, match=r"buffers\['gmm'\] holds a .*Random"):
        pack({"gmm": random.Random(0)}, "buffers")


def tiny_state(tmp_path, seed: int = 0):
    """A state with a model, an optimiser and every random generator, as the engine has."""
    torch.manual_seed(seed)
    model = torch.nn.Linear(4, 2)
    optimizer = make_optimizer("adamw", [{"params": list(model.parameters())}], 0.01)
    task = SimpleNamespace(
        checkpoint_path=tmp_path / "work" / "checkpoint.pt",
        seed=seed,
        fingerprint="pairs",
        resume_state={"detection_history": [{"epoch": 1, "auc": 0.5}]},
        trusted_subset=None,
        used_ground_truth=False,
        resumed_from_epoch=None,
    )
    return SimpleNamespace(
        task=task,
        model=model,
        optimizers=[Optim(optimizer, Schedule(), list(model.parameters()))],
        precision=Precision("fp32", "cpu"),
        generator=torch.Generator().manual_seed(seed),
        buffers={},
        device="cpu",
        epoch=0,
        step=0,
        n_rows=10,
    )


def train_step(state) -> None:
    loss = state.model(torch.randn(3, 4, generator=state.generator)).pow(2).sum()
    state.optimizers[0].optimizer.zero_grad()
    loss.backward()
    state.optimizers[0].optimizer.step()
    state.step += 1


def draws(state) -> list[float]:
    """One number from every random generator a fit uses."""
    return [
        float(torch.rand(1)),
        float(torch.rand(1, generator=state.generator)),
        float(np.random.rand()),
        random.random(),
    ]


def test_restore_brings_back_weights_optimiser_generators_and_task_state(tmp_path):
    method = SimpleNamespace(name="m", version="1", identity_params=lambda: {"lr": 1})
    state = tiny_state(tmp_path)
    train_step(state)
    checkpoints = Checkpoints.for_fit(method, state)
    state.buffers = {"codes": torch.ones(2), "eval_pixels": torch.zeros(1)}
    checkpoints.transient = frozenset({"eval_pixels"})
    history, best = [{"epoch": 1, "val_mR": 3.0}], {"score": 3.0, "epoch": 1, "state": None}
    assert checkpoints.save(state, history, best)
    train_step(state)  # what an uninterrupted fit does next
    expected_weights = [p.detach().clone() for p in state.model.parameters()]
    expected_draws = draws(state)

    fresh = tiny_state(tmp_path, seed=0)
    fresh.task.resume_state = {}
    history2, best2 = [], {"score": -1.0, "epoch": None, "state": None}
    assert Checkpoints.for_fit(method, fresh).restore(fresh, history2, best2) == 1
    assert history2 == history and best2["epoch"] == 1 and fresh.step == 1
    assert fresh.task.resume_state == {"detection_history": [{"epoch": 1, "auc": 0.5}]}
    assert set(fresh.buffers) == {"codes"} and fresh.task.resumed_from_epoch == 1
    train_step(fresh)
    for a, b in zip(fresh.model.parameters(), expected_weights, strict=True):
        assert torch.equal(a.detach(), b)
    assert draws(fresh) == expected_draws


def test_a_checkpoint_of_another_fit_or_a_damaged_one_is_ignored(tmp_path, capsys):
    method = SimpleNamespace(name="m", version="1", identity_params=lambda: {"lr": 1})
    state = tiny_state(tmp_path)
    Checkpoints.for_fit(method, state).save(state, [], {"score": 0, "epoch": None, "state": None})
    other = SimpleNamespace(name="m", version="1", identity_params=lambda: {"lr": 2})
    assert Checkpoints.for_fit(other, tiny_state(tmp_path)).load() is None
    assert "belongs to another fit" in capsys.readouterr().err
    state.task.checkpoint_path.write_bytes(b"not a checkpoint")
    assert Checkpoints.for_fit(method, tiny_state(tmp_path)).load() is None
    assert "ignoring unreadable checkpoint" in capsys.readouterr().err


def test_a_method_keeping_an_uncheckpointable_buffer_is_warned_once_and_still_runs(
    tmp_path, capsys
):
    method = SimpleNamespace(name="m", version="1", identity_params=lambda: {})
    state = tiny_state(tmp_path)
    state.buffers["mixture"] = random.Random(1)
    checkpoints = Checkpoints.for_fit(method, state)
    best = {"score": 0, "epoch": None, "state": None}
    assert not checkpoints.save(state, [], best) and not checkpoints.save(state, [], best)
    err = capsys.readouterr().err
    assert err.count("no checkpoint for this cell") == 1 and "mixture" in err
    assert not state.task.checkpoint_path.exists()


KILLER = """
import fnmatch, os, signal, sys
import rsbench.fileio as fileio

pattern, count = sys.argv[1], int(sys.argv[2])
real_commit = fileio.commit
seen = []


def commit(tmp, path):
    real_commit(tmp, path)
    if fnmatch.fnmatch(os.fspath(path), pattern):
        seen.append(path)
        if len(seen) == count:  # the checkpoint of epoch `count` is on disk: die now
            os.kill(os.getpid(), signal.SIGKILL)


fileio.commit = commit
from rsbench.cli import main

sys.exit(main(sys.argv[3:]))
"""

# the GMM selects rows from the first epoch on, so its per-epoch detection metrics (kept by the
# runner in the task's resume state) must survive the kill as well; the from-scratch encoders
# (with a learnt temperature) keep the test quick
CONFIG = """
methods: {infonce_gmm: {warmup_epochs: 0, backbone: scratch}}
datasets: [synthrs-tiny]
noise: [0.4]
seeds: [0]
epochs: 2
"""
GRID = ["run", "--config", "grid.yaml", "--no-leaderboard"]


def only_record(out):
    (path,) = (out / "cells").glob("*.json")
    return json.loads(path.read_text())


def comparable(record: dict) -> dict:
    """What must not depend on whether the cell was interrupted (not timings or paths)."""
    history = [{k: v for k, v in h.items() if k != "seconds"} for h in record["history"]]
    detection = {k: v for k, v in record["detection"].items() if k != "scores_file"}
    keys = ("status", "metrics", "metrics_multi", "best_epoch", "val_metrics", "test_hits")
    return {**{k: record[k] for k in keys}, "history": history, "detection": detection}


def test_a_cell_killed_after_an_epoch_resumes_to_the_same_result(tmp_path, monkeypatch):
    from rsbench.cli import main

    (tmp_path / "killer.py").write_text(KILLER)
    (tmp_path / "grid.yaml").write_text(CONFIG)
    killed = subprocess.run(
        [sys.executable, "killer.py", "*resumed/work/*/checkpoint.pt", "1", *GRID]
        + ["--out", "resumed"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert killed.returncode == -9, killed.stderr
    (checkpoint,) = (tmp_path / "resumed" / "work").glob("*/checkpoint.pt")
    assert not (tmp_path / "resumed" / "cells").exists() or not any(
        (tmp_path / "resumed" / "cells").iterdir()
    )
    saved = torch.load(checkpoint, weights_only=True)
    assert saved["epoch"] == 1 and len(saved["task"]["resume_state"]["detection_history"]) == 1

    monkeypatch.chdir(tmp_path)
    assert main([*GRID, "--out", "resumed"]) == 0
    assert main([*GRID, "--out", "straight", "--keep-checkpoints"]) == 0
    resumed, straight = only_record(tmp_path / "resumed"), only_record(tmp_path / "straight")
    assert resumed["resumed_from_epoch"] == 1 and "resumed_from_epoch" not in straight
    assert comparable(resumed) == comparable(straight)
    assert len(resumed["detection"]["history"]) == 2  # one per epoch, the first from before
    assert not checkpoint.exists()  # removed once the cell finished
    (kept,) = (tmp_path / "straight" / "work").glob("*/checkpoint.pt")  # unless kept
    assert torch.load(kept, weights_only=True)["epoch"] == 2
    for name in ("scores", "ranks"):
        (a,) = (tmp_path / "resumed" / name).glob("*.npz")
        (b,) = (tmp_path / "straight" / name).glob("*.npz")
        with np.load(a) as x, np.load(b) as y:
            assert sorted(x.files) == sorted(y.files)
            for key in x.files:
                np.testing.assert_array_equal(x[key], y[key])
    # records say what they ran on and how many rows a step saw
    env = straight["environment"]
    assert env["hardware"]["cpu"] and env["hardware"]["gpu_count"] == 0
    assert "git" in env
    assert straight["effective_batch_size"] == min(straight["method"]["params"]["batch_size"], 270)

"""Per-epoch checkpoints: what they hold comes back exactly, and a cell killed mid-training
resumes to the same result as an uninterrupted run (on the CPU)."""

from __future__ import annotations

import dataclasses
import json
import random
import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from rsbench.engine import Optim
from rsbench.engine.checkpoint import Checkpoints, NotCheckpointable, pack, unpack
from rsbench.engine.optim import Schedule, make_optimizer
from rsbench.engine.precision import Precision
from rsbench.plugin.components import CleanEstimate

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


class Codes:
    """A per-fit object in ``state.buffers``: features rebuilt at fit start, codes that train."""

    def __init__(self, features: torch.Tensor):
        self.features, self.codes, self.threshold = features, torch.zeros(3), 0.5

    def state_dict(self) -> dict:
        return {"codes": self.codes, "threshold": self.threshold}

    def load_state_dict(self, saved: dict) -> None:
        self.codes, self.threshold = saved["codes"], saved["threshold"]


def test_a_stateful_buffer_saves_its_state_dict_and_loads_into_the_rebuilt_object(tmp_path, capsys):
    method = SimpleNamespace(name="m", version="1", identity_params=lambda: {})
    state = tiny_state(tmp_path)
    state.buffers["fit"] = Codes(torch.ones(1000))
    state.buffers["fit"].codes, state.buffers["fit"].threshold = torch.tensor([1.0, -1, 1]), 0.7
    best = {"score": 0, "epoch": 1, "state": None}
    assert Checkpoints.for_fit(method, state).save(state, [], best)
    saved = torch.load(state.task.checkpoint_path, weights_only=True)
    assert set(saved["buffers"]["fit"]["state"]) == {"codes", "threshold"}  # no features

    fresh = tiny_state(tmp_path)
    rebuilt = fresh.buffers["fit"] = Codes(torch.full((1000,), 2.0))  # as on_fit_start does
    assert Checkpoints.for_fit(method, fresh).restore(fresh, [], dict(best)) == 1
    assert fresh.buffers["fit"] is rebuilt and torch.equal(
        rebuilt.features, torch.full((1000,), 2.0)
    )
    assert torch.equal(rebuilt.codes, torch.tensor([1.0, -1, 1])) and rebuilt.threshold == 0.7

    # not rebuilt at fit start: nothing to load it into, so the checkpoint is ignored as a
    # whole (the model is left as it was) and the fit starts from its first epoch
    bare = tiny_state(tmp_path)
    with torch.no_grad():
        bare.model.weight.add_(1.0)  # unlike the saved weights
    weights = [p.detach().clone() for p in bare.model.parameters()]
    assert Checkpoints.for_fit(method, bare).restore(bare, [], dict(best)) == 0
    assert "did not build state.buffers 'fit'" in capsys.readouterr().err
    assert all(torch.equal(a, b) for a, b in zip(bare.model.parameters(), weights, strict=True))


class Stop(Exception):
    """Stands for a kill right after a checkpoint reached the disk."""


def stopped_then_resumed(make_method, task, stop_after: int, tmp_path, monkeypatch):
    """A fit stopped right after writing the checkpoint of epoch ``stop_after``, then resumed by
    a fresh method on a fresh copy of the task, and an uninterrupted fit without checkpoints:
    (resumed fit, its task, uninterrupted fit, the checkpoint the resume read)."""
    path = tmp_path / "work" / "checkpoint.pt"
    real_save, saved = Checkpoints.save, {}

    def save(self, state, history, best):
        written = real_save(self, state, history, best)
        if written and state.epoch + 1 == stop_after:
            saved.update(torch.load(self.path, weights_only=True))
            raise Stop
        return written

    def fresh(checkpoint_path=None):
        return dataclasses.replace(
            task,
            checkpoint_path=checkpoint_path,
            resume_state={},
            trusted_subset=None,
            used_ground_truth=False,
            resumed_from_epoch=None,
        )

    with monkeypatch.context() as patch:
        patch.setattr(Checkpoints, "save", save)
        with pytest.raises(Stop):
            make_method().fit(fresh(path))
    assert saved, "the fit wrote no checkpoint"
    resumed_task = fresh(path)
    resumed = make_method().fit(resumed_task)
    straight = make_method().fit(fresh())
    return resumed, resumed_task, straight, saved


def assert_same_fit(resumed, straight) -> None:
    """The same history (timings aside), selected epoch, weights and clean estimate."""

    def steady(history):
        return [{k: v for k, v in h.items() if k != "seconds"} for h in history]

    assert steady(resumed.history) == steady(straight.history)
    assert resumed.best_epoch == straight.best_epoch
    a, b = resumed.retriever.model.state_dict(), straight.retriever.model.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    if straight.clean_scores is None:
        assert resumed.clean_scores is None
    else:
        np.testing.assert_array_equal(resumed.clean_scores, straight.clean_scores)
        np.testing.assert_array_equal(resumed.clean_decisions, straight.clean_decisions)


def test_amfmn_resumes_to_the_same_fit_and_leaves_its_prior_out_of_checkpoints(
    tmp_path, monkeypatch
):
    from rsbench_plugins.methods.amfmn import AMFMN
    from tests.test_amfmn import noisy_task

    resumed, task, straight, saved = stopped_then_resumed(
        lambda: AMFMN(epochs=2, batch_size=50, lr=2e-3, step_epochs=[]),
        noisy_task(tmp_path=tmp_path),
        1,
        tmp_path,
        monkeypatch,
    )
    assert task.resumed_from_epoch == 1
    assert "prior" not in saved["buffers"] and "info" in saved["buffers"]  # rebuilt from its cache
    assert_same_fit(resumed, straight)
    assert resumed.info["prior"]["shape"] == straight.info["prior"]["shape"]


KILLER = """
import fnmatch, os, signal, sys
import rsbench.io.files as fileio

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
from rsbench.cli.main import main

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
    from rsbench.cli.main import main

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

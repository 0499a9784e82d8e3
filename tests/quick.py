"""A stand-in method for tests of the runner at scale (locks, workers, executors, status).

``quick`` trains nothing: its retriever scores test pairs at random (seeded by the cell's
training seed), so a cell costs its process start-up and the evaluation. Options make a cell
note that it ran (``log``: one line per fit, to count trainings), pause (``pause``), or kill
its own process (``crash_seed``: the cell with that seed dies of ``crash_signal``, SIGKILL by
default, as under the out-of-memory killer; SIGSEGV as in a faulty kernel), or wait until a file exists (``gate``) after noting it ran. ``delay`` adds a pause that is not searched; ``exit_seed`` calls ``os._exit(0)`` and ``interrupt_seed`` raises
``KeyboardInterrupt`` in that seed's cell. With ``curve``, it reports
``epochs`` epochs whose validation mR rises by 1000 × ``pause`` each (``TrainTask.on_epoch``
may stop it: a pruned trial).
"""

from __future__ import annotations

from pathlib import Path

from rsbench.testing import write_distribution

QUICK = '''
import os, signal, time
from dataclasses import dataclass

import numpy as np

from rsbench import hookimpl
from rsbench.plugin.components import FitResult, Method, Retriever
from rsbench.evaluate.retrieval import MatrixScorer
from rsbench.plugin.searchspace import IntRange, Uniform


class Scores(Retriever):
    def __init__(self, seed):
        self.seed = seed

    def scorer(self, images, texts):
        rng = np.random.default_rng(self.seed)
        return MatrixScorer(rng.random((len(texts), len(images)), dtype=np.float32))


class Quick(Method):
    """Random scores after an optional pause: a stand-in for runner tests."""

    version = "1"
    SEARCH_SPACES = {"small": {"epochs": IntRange(1, 3), "pause": Uniform(0.0, 0.01)}}

    @dataclass
    class Options:
        epochs: int = 1
        pause: float = 0.0
        crash_seed: int = -1
        exit_seed: int = -1
        interrupt_seed: int = -1
        crash_signal: str = "SIGKILL"
        log: str = ""
        gate: str = ""
        curve: bool = False
        delay: float = 0.0

    def fit(self, task):
        if self.options.log:
            with open(self.options.log, "a") as fh:
                fh.write(f"{task.seed} {os.getpid()}\\n")
        deadline = time.monotonic() + 300
        while self.options.gate and not os.path.exists(self.options.gate):
            if time.monotonic() > deadline:
                raise RuntimeError("the gate never opened")
            time.sleep(0.05)
        if task.seed == self.options.exit_seed:
            os._exit(0)
        if task.seed == self.options.interrupt_seed:
            raise KeyboardInterrupt
        if task.seed == self.options.crash_seed:
            print("quick: about to die", flush=True)
            os.kill(os.getpid(), getattr(signal, self.options.crash_signal))
        time.sleep(self.options.pause + self.options.delay)
        if not self.options.curve:
            history = [{"epoch": 1, "seconds": 2.0, "val_mR": 1.0 + self.options.pause}]
            return FitResult(retriever=Scores(task.seed), history=history, best_epoch=1)
        history, info = [], {}
        for epoch in range(1, self.options.epochs + 1):  # mR rising by 1000 × pause an epoch
            score = 1000 * self.options.pause * epoch
            history.append({"epoch": epoch, "seconds": 0.1, "val_mR": score})
            if task.on_epoch is not None and task.on_epoch(epoch, score):
                info["stopped_after_epoch"] = epoch
                break
        return FitResult(
            retriever=Scores(task.seed), history=history, best_epoch=len(history), info=info
        )


@hookimpl
def register_methods(register):
    register("quick", Quick)
'''


def install_quick(tmp_path: Path, monkeypatch) -> Path:
    """Make ``quick`` a plugin of this process and of its subprocesses."""
    from rsbench.plugin.manager import reset_plugins

    site = write_distribution(
        tmp_path / "site", "rsbench-quick", {"quick": "rsb_quick"}, {"rsb_quick.py": QUICK}
    )
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setenv("PYTHONPATH", str(site))
    monkeypatch.setenv("RSBENCH_LOAD_PLUGINS", "rsbench,quick")
    reset_plugins()
    return site

"""Slow checks of what the default synthetic benchmark is for (run with `pytest -m slow`).

synthrs must leave room between methods (clean mR well inside (30, 70)) and show a clear drop
under heavy caption noise. These train the real default configuration, about a minute.
"""

from __future__ import annotations

import pytest

from rsbench.run.runner import Runner
from rsbench.run.settings import parse_settings

pytestmark = pytest.mark.slow


def test_infonce_on_synthrs_is_neither_trivial_nor_hopeless_and_noise_hurts(tmp_path):
    grid = parse_settings(
        {
            "methods": "infonce",
            "datasets": "synthrs",
            "noise": "0,0.8",
            "seeds": "0",
            "out": str(tmp_path / "runs"),
        }
    )
    runner = Runner(grid)
    records = {pc.cell.ratio: runner.run_cell(pc, "cpu") for pc in runner.prepare()}
    clean, noisy = records[0.0]["metrics"]["mR"], records[0.8]["metrics"]["mR"]
    assert 30 < clean < 70, clean
    assert noisy < clean - 15, (clean, noisy)

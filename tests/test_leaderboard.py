"""Leaderboard rendering: layout, mean ± std, bold best, failed cells, determinism.

The records here are built by the test to exercise the renderer; real records come from
`rsbench run` (see test_cli_run.py).
"""

from __future__ import annotations

import random

from rsbench.evaluate.retrieval import METRIC_NAMES
from rsbench.report.markdown import render_dataset, write_leaderboards


def record(method, ratio, seed, mr, status="ok", params=None):
    metrics = {m: mr for m in METRIC_NAMES}
    return {
        "schema_version": 1,
        "cell_id": f"{method}-{ratio}-{seed}-{mr}",
        "status": status,
        "error": None
        if status == "ok"
        else {"message": "CellError: loss became nan at epoch 2, step 5"},
        "method": {
            "name": method,
            "version": "1",
            "plugin": "builtin-methods",
            "profile": "small",
            "params": params or {"epochs": 8},
        },
        "dataset": {
            "name": "toy",
            "version": "1",
            "split": "toy",
            "membership_hash": "ab",
            "sizes": {s: {"images": 10, "captions": 50} for s in ("train", "val", "test")},
        },
        "noise": {
            "model": "caption_shuffle",
            "version": "1",
            "params": {"mode": "independent"},
            "level": "caption",
            "ratio": ratio,
            "seed": 42,
            "file_hash": f"hash{ratio}",
            "effective_rate": ratio * 0.99,
        },
        "seed": seed,
        "validation": "clean",
        "metrics": metrics if status == "ok" else None,
        "environment": {"rsbench": "0.1.0"},
    }


RECORDS = [
    record("infonce", 0.0, 0, 50.0),
    record("infonce", 0.0, 1, 54.0),
    record("vse", 0.0, 0, 40.0),
    record("vse", 0.0, 1, 42.0),
    record("infonce", 0.4, 0, 30.0),
    record("vse", 0.4, 0, 35.0),
    record("vse", 0.4, 1, 0.0, status="failed"),
]


def table(text: str, heading: str) -> list[list[str]]:
    """The rows of the Markdown table under ``heading``, as stripped cells (header first)."""
    block = text.split(heading, 1)[1].split("\n#", 1)[0]
    rows = [line for line in block.splitlines() if line.startswith("|")]
    return [
        [c.strip() for c in row.strip("|").split("|")]
        for row in rows
        if not set(row) <= set("|-: ")
    ]


def test_tables_show_mean_std_and_bold_best():
    text = render_dataset("toy", RECORDS)
    assert text.startswith("# toy leaderboard\n")
    assert "## caption_shuffle (caption-level noise), small profile" in text
    header, *rows = table(text, "### Retrieval under noise")
    assert header[:3] == ["Noise", "Effective", "Method"] and header[-2:] == ["mR", "Seeds"]
    by = {(r[0], r[2]): r for r in rows}
    # infonce at 0 %: mean 52, sample std of (50, 54) = 2.83, the best; vse 41 ± 1.41; the lead
    # (differences 10 and 12: t = 11 with one degree of freedom, p = 0.058) is not significant
    assert by[("0%", "infonce")][3:9] == ["**52.00 ± 2.83**"] * 6
    assert by[("0%", "infonce")][9] == "**52.00 ± 2.83** †"
    assert by[("0%", "vse")][9] == "41.00 ± 1.41"
    # at 40 % one seed each (the failed one is left out): no std; vse is best, and without
    # per-query hits in these records its lead cannot be tested
    assert by[("40%", "vse")][9] == "**35.00** ‡" and by[("40%", "infonce")][9] == "30.00"
    assert by[("40%", "vse")][1] == "39.60%"  # effective rate beside the nominal ratio
    assert by[("40%", "vse")][10] == "1" and by[("0%", "vse")][10] == "2"
    header, *rows = table(text, "### mR by noise ratio")
    assert header == ["Method", "0%", "40%"]
    assert rows == [
        ["infonce", "**52.00 ± 2.83** †", "30.00"],
        ["vse", "41.00 ± 1.41", "**35.00** ‡"],
    ]
    assert (
        "## Failed cells" in text
        and "vse, caption_shuffle 0.4, seed 1" in text
        and "loss became nan" in text
    )


def test_rendering_is_deterministic_and_order_independent():
    shuffled = RECORDS[:]
    random.Random(3).shuffle(shuffled)
    assert render_dataset("toy", shuffled) == render_dataset("toy", RECORDS)


def test_one_method_with_two_configurations_gets_two_rows():
    records = [
        record("infonce", 0.0, 0, 50.0),
        record("infonce", 0.0, 0, 60.0, params={"epochs": 2}),
    ]
    text = render_dataset("toy", records)
    header, *rows = table(text, "### mR by noise ratio")
    assert [r[0] for r in rows] == ["infonce (epochs=2)", "infonce (epochs=8)"]


def test_write_leaderboards_one_file_per_dataset(tmp_path):
    other = record("infonce", 0.0, 0, 10.0)
    other["dataset"]["name"] = "other"
    paths = write_leaderboards([*RECORDS, other], tmp_path)
    assert sorted(p.name for p in paths) == ["other.md", "toy.md"]
    assert (tmp_path / "toy.md").read_text() == render_dataset("toy", RECORDS)

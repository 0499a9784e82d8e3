"""Records name no folder of the machine that ran them (paths relative to named places)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rsbench.cli.main import main
from rsbench.records.portable import anchors, is_absolute, portable, portable_path
from rsbench.records.read import iter_records
from tests.quick import install_quick

REPO = Path(__file__).resolve().parents[1]


def absolute_strings(value, where=""):
    """(where, text) of every string in ``value`` that is an absolute path."""
    if isinstance(value, dict):
        return [x for k, v in value.items() for x in absolute_strings(v, f"{where}.{k}")]
    if isinstance(value, list):
        return [x for v in value for x in absolute_strings(v, f"{where}[]")]
    return [(where, value)] if isinstance(value, str) and is_absolute(value) else []


@pytest.mark.parametrize(
    "text, expected",
    [
        ("/runs/x/ranks/ab.npz", "ranks/ab.npz"),
        ("/data/rsicd/images", "$RSBENCH_DATA/rsicd/images"),
        ("/cache/rsbench/datasets/synthrs-1/images", "$RSBENCH_CACHE/datasets/synthrs-1/images"),
        ("/home/alice/elsewhere/annotations.json", "…/elsewhere/annotations.json"),
        ("C:\\Users\\alice\\rsicd\\images", "…/rsicd/images"),
        ("runs/noise/a.json", "runs/noise/a.json"),
        ("rsbench/small-clip", "rsbench/small-clip"),
        ("/data", "$RSBENCH_DATA"),
    ],
)
def test_each_path_is_written_relative_to_its_place(text, expected):
    places = [
        (Path("/runs/x"), ""),
        (Path("/data"), "$RSBENCH_DATA/"),
        (Path("/cache/rsbench"), "$RSBENCH_CACHE/"),
    ]
    assert portable_path(text, places) == expected


def test_portable_walks_a_whole_record_and_keeps_other_values():
    record = {"a": ["/data/x", 3, None], "b": {"c": "/data/y", "d": "text / with slash"}}
    places = [(Path("/data"), "$RSBENCH_DATA/")]
    assert portable(record, places) == {
        "a": ["$RSBENCH_DATA/x", 3, None],
        "b": {"c": "$RSBENCH_DATA/y", "d": "text / with slash"},
    }


def test_a_run_into_an_absolute_folder_writes_portable_records(tmp_path, monkeypatch, capsys):
    install_quick(tmp_path, monkeypatch)
    monkeypatch.setenv("RSBENCH_CACHE", str(tmp_path / "cache"))
    out = (tmp_path / "runs").resolve()
    args = ["run", "--methods", "quick", "--datasets", "synthrs-tiny", "--noise", "0.4"]
    assert main([*args, "--out", str(out), "--leaderboard-dir", str(tmp_path / "lb")]) == 0
    (record,) = list(iter_records([out]))
    assert absolute_strings(record) == []
    assert record["ranks_file"] == f"ranks/{record['cell_id']}.npz"
    assert (out / record["ranks_file"]).is_file() and (out / record["noise"]["file"]).is_file()
    assert record["dataset"]["info"]["root"].startswith("$RSBENCH_CACHE/datasets/synthrs-")
    exported = (tmp_path / "lb" / "records" / "synthrs-tiny.jsonl").read_text()
    assert str(tmp_path) not in exported


def test_no_committed_record_holds_an_absolute_path():
    files = sorted((REPO / "leaderboards").rglob("records/*.jsonl"))
    assert files
    found = [
        (path.relative_to(REPO).as_posix(), n, where, text)
        for path in files
        for n, line in enumerate(path.read_text().splitlines(), 1)
        for where, text in absolute_strings(json.loads(line))
    ]
    assert found == [], found[:5]


def test_anchors_name_the_data_root_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("RSBENCH_DATA", str(tmp_path / "data"))
    names = [name for _, name in anchors(tmp_path / "out")]
    assert names == ["", "$RSBENCH_DATA/", "$RSBENCH_CACHE/"]


def test_records_of_older_runs_are_made_portable_when_read(tmp_path, monkeypatch):
    """A record written with absolute paths (before records were portable) is read back with
    them relative to its run folder, so no export carries them."""
    from rsbench.records.read import load_records
    from tests.report_records import record

    out = (tmp_path / "runs").resolve()
    old = record("infonce", 0.4, 0, 30.0)
    old["ranks_file"] = str(out / "ranks" / "x.npz")
    old["dataset"]["info"] = {"root": "/home/alice/data/rsicd"}
    (out / "cells").mkdir(parents=True)
    (out / "cells" / f"{old['cell_id']}.json").write_text(json.dumps(old))
    (loaded,) = load_records([out]).records
    assert loaded["ranks_file"] == "ranks/x.npz"
    assert loaded["dataset"]["info"]["root"] == "…/data/rsicd"

"""Damaged or tampered inputs get one clear line, never a traceback: a record export whose
records have fields of the wrong type or lack one, and a run folder with damaged items."""

from __future__ import annotations

import json

import pytest

from rsbench.cli.main import main
from rsbench.report.board import write_folder
from tests.report_records import record


def board(tmp_path):
    out = tmp_path / "board"
    write_folder([record("infonce", r, s, 40 - 30 * r + s) for r in (0, 0.4) for s in (0, 1)], out)
    return out


def tamper(path, line: int, change) -> None:
    lines = path.read_text().splitlines()
    obj = json.loads(lines[line - 1])
    change(obj)
    lines[line - 1] = json.dumps(obj)
    path.write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize(
    "change, field",
    [
        (lambda r: r.update(seed="zero"), "'seed' must be an integer"),
        (lambda r: r["metrics"].update(mR="high"), "'metrics.mR' must be a finite number"),
        (lambda r: r.pop("noise"), "'noise' is missing"),
        (lambda r: r["noise"].update(ratio=[0.4]), "'noise.ratio' must be a finite number"),
    ],
)
def test_a_tampered_export_is_one_line_naming_record_and_field(tmp_path, capsys, change, field):
    out = board(tmp_path)
    export = out / "records" / "toy.jsonl"
    tamper(export, 3, change)
    for args in (["leaderboard", "--check", "--out", str(out)], ["leaderboard", str(export)]):
        capsys.readouterr()
        assert main([*args, "--out", str(tmp_path / "x")] if "--check" not in args else args) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and "Traceback" not in err
        assert f"{export}, line 3 (cell " in err and field in err, err


def quick_run(tmp_path, monkeypatch, capsys):
    from tests.quick import install_quick

    install_quick(tmp_path, monkeypatch)
    out = tmp_path / "runs"
    args = ["run", "--methods", "quick", "--datasets", "synthrs-tiny", "--noise", "0,0.4,0.8"]
    assert main([*args, "--out", str(out), "--no-leaderboard"]) == 0
    capsys.readouterr()
    return out, args


def test_status_names_damaged_items_and_a_rerun_repairs_them(tmp_path, monkeypatch, capsys):
    import os
    import time

    out, args = quick_run(tmp_path, monkeypatch, capsys)
    records = sorted((out / "cells").glob("*.json"))
    truncated, plain_error, leased = records
    truncated.write_text(truncated.read_text()[:40])
    failed = json.loads(plain_error.read_text())
    failed.update(status="failed", error="a plain string error\nsecond line")
    plain_error.write_text(json.dumps(failed))
    lease = out / "locks" / f"{leased.stem}.lease"
    lease.write_bytes(b"\xff\xfe not json")
    old = time.time() - 60
    os.utime(lease, (old, old))
    assert main(["status", str(out)]) == 0
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err + captured.out
    text = captured.out
    assert "3 cells: 1 done, 0 running, 0 queued, 1 failed, 1 damaged, 0 pending" in text
    assert f"{truncated.stem}" in text and "cannot be read (truncated" in text
    assert "a plain string error" in text and "second line" not in text
    assert main([*args, "--out", str(out), "--no-leaderboard"]) == 0  # reruns the two
    assert main(["status", str(out)]) == 0
    assert "3 cells: 3 done" in capsys.readouterr().out


def test_status_on_a_run_folder_whose_cells_folder_is_a_file(tmp_path, monkeypatch, capsys):
    import shutil

    out, _ = quick_run(tmp_path, monkeypatch, capsys)
    shutil.rmtree(out / "cells")
    (out / "cells").write_text("not a folder")
    assert main(["status", str(out)]) == 0
    text = capsys.readouterr().out
    assert f"damaged: {out / 'cells'} is a file, not a folder" in text
    assert "3 cells: 0 done, 0 running, 0 queued, 0 failed, 3 pending" in text

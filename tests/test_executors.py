"""Executors: GPU slots, CPU worker processes that may die, the slurm executor through
submitit's local executor and through a stand-in ``sbatch``, and a third-party executor."""

from __future__ import annotations

import json
import os
import stat
import sys

import pytest

from rsbench.cli.main import main
from rsbench.io.errors import RsbenchError
from rsbench.records.read import iter_records
from rsbench_plugins.executors.local import plan_slots
from rsbench_plugins.executors.slurm import time_minutes
from tests.quick import install_quick

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX processes and signals")


def test_gpu_slots_pack_cells_and_map_through_the_visible_devices():
    slots = plan_slots("cuda", [0, 2], 2, 1, device_count=3, cpu_count=16, visible="4,5,7")
    assert [s.name for s in slots] == ["gpu0.0", "gpu0.1", "gpu2.0", "gpu2.1"]
    assert [s.env["CUDA_VISIBLE_DEVICES"] for s in slots] == ["4", "4", "7", "7"]
    assert {s.device for s in slots} == {"cuda"} and {s.threads for s in slots} == {4}
    every = plan_slots("cuda", None, 1, 1, device_count=2, cpu_count=8, visible=None)
    assert [(s.name, s.env["CUDA_VISIBLE_DEVICES"]) for s in every] == [
        ("gpu0", "0"),
        ("gpu1", "1"),
    ]
    one = plan_slots("cuda:1", None, 1, 1, device_count=2, cpu_count=8, visible=None)
    assert [s.env["CUDA_VISIBLE_DEVICES"] for s in one] == ["1"]
    with pytest.raises(RsbenchError, match="names GPU 3, but this machine shows 2"):
        plan_slots("cuda", [3], 1, 1, device_count=2, cpu_count=8, visible=None)
    cpus = plan_slots("cpu", None, 1, 3, device_count=0, cpu_count=8, visible=None)
    assert [(s.name, s.threads, s.env["CUDA_VISIBLE_DEVICES"]) for s in cpus] == [
        ("cpu0", 2, ""),
        ("cpu1", 2, ""),
        ("cpu2", 2, ""),
    ]
    assert plan_slots("cpu", None, 1, 1, device_count=0, cpu_count=8, visible=None) is None


@pytest.mark.parametrize(
    ("value", "minutes"),
    [(90, 90), ("90", 90), ("12:00:00", 720), ("1-00:00:00", 1440), ("1-2", 1560), ("5:30", 6)],
)
def test_slurm_times_in_every_slurm_format(value, minutes):
    assert time_minutes(value) == minutes


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--partition", "gpu"], "--partition is an option of the slurm executor"),
        (["--gpus", "0,1"], "--gpus and --cells-per-gpu need CUDA"),
        (["--workers", "0"], "--workers '0' is out of range"),
        (["--executor", "slurm", "--time", "soon"], "is not a Slurm time"),
        (["--executor", "slurm", "--time", "99:99:99"], "99 is out of range"),
        (["--executor", "slurm", "--mem", "lots"], "mem 'lots' is not a Slurm memory size"),
        (["--executor", ""], "--executor is empty"),
        (["--workers", "99999"], "--workers 99999 is more than 4 processes per CPU core"),
        (["--executor", "kubernetes"], "unknown executor 'kubernetes'"),
        (["-x", "nonsense"], "must be KEY=VALUE"),
    ],
)
def test_bad_executor_flags_are_one_line(flags, message, tmp_path, capsys):
    code = main(
        [
            "run",
            "--methods",
            "infonce",
            "--datasets",
            "synthrs-tiny",
            "--out",
            str(tmp_path / "r"),
            *flags,
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and message in err and err.count("\n") == 1, err
    assert not (tmp_path / "r" / "cells").exists()


def grid(tmp_path, seeds: str, **options) -> list[str]:
    config = {"quick": options} if options else ["quick"]
    (tmp_path / "grid.yaml").write_text(
        json.dumps({"methods": config, "datasets": ["synthrs-tiny"], "noise": [0.2]})
    )
    return [
        "run",
        "--config",
        str(tmp_path / "grid.yaml"),
        "--seeds",
        seeds,
        "--out",
        str(tmp_path / "runs"),
    ]


def test_cpu_workers_run_cells_in_parallel_and_a_dead_worker_fails_only_its_cell(
    tmp_path, monkeypatch, capsys
):
    install_quick(tmp_path, monkeypatch)
    args = [*grid(tmp_path, "0,1", crash_seed=1), "--workers", "2", "--no-leaderboard"]
    assert main(args) == 1  # a cell failed
    err = capsys.readouterr().err
    assert "2 CPU worker processes" in err and "[cpu0] started" in err and "[cpu1] started" in err
    assert "[cpu0] quick: about to die" in err or "[cpu1] quick: about to die" in err
    assert "1 cells run, 0 skipped (already done), 1 failed" in err
    records = {r["seed"]: r for r in iter_records([tmp_path / "runs"])}
    assert records[0]["status"] == "ok"
    failed = records[1]
    assert failed["status"] == "failed" and failed["error"]["type"] == "WorkerDied"
    assert "killed by SIGKILL" in failed["error"]["message"]
    assert "last output: quick: about to die" in failed["error"]["message"]


def test_a_cell_that_crashes_an_in_process_grid_is_recorded_and_retried_apart(
    tmp_path, monkeypatch
):
    """A fatal signal in native code takes ``rsbench run``'s own process down (nothing can be
    recorded then); the crash note names the signal, the rerun records it and runs that cell
    in a worker process of its own, where a second crash fails only the cell."""
    import subprocess

    install_quick(tmp_path, monkeypatch)
    args = [*grid(tmp_path, "0,1,2", crash_seed=1, crash_signal="SIGSEGV"), "--no-leaderboard"]
    command = [sys.executable, "-m", "rsbench", *args]
    first = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert first.returncode == -11, first.stderr[-2000:]  # SIGSEGV: the whole process went
    out = tmp_path / "runs"
    assert [r["seed"] for r in iter_records([out])] == [0]
    notes = list((out / "crashes").glob("*.txt"))
    assert len(notes) == 1 and "Fatal Python error: Segmentation fault" in notes[0].read_text()
    status = subprocess.run(
        [sys.executable, "-m", "rsbench", "status", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert status.returncode == 0 and "crashed its process (SIGSEGV)" in status.stdout, status
    second = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert second.returncode == 1, second.stderr[-2000:]  # a failed cell, the grid went on
    assert "crashed the process that ran it (SIGSEGV): recorded as failed" in second.stderr
    assert "1 cell(s) whose process died before" in second.stderr
    records = {r["seed"]: r for r in iter_records([out])}
    assert records[0]["status"] == records[2]["status"] == "ok"
    failed = records[1]
    assert failed["status"] == "failed" and failed["error"]["type"] == "WorkerDied"
    assert "killed by SIGSEGV" in failed["error"]["message"]  # the second crash, in a worker
    assert not list((out / "crashes").glob("*.txt"))


def test_a_crash_note_names_the_signal_and_is_removed_when_the_cell_ends(tmp_path):
    from rsbench.run import crashnote

    with crashnote.watching(tmp_path, "abc"):
        text = crashnote.note_path(tmp_path, "abc").read_text()
        assert f'"pid": {os.getpid()}' in text
        assert crashnote.read_note(tmp_path, "abc") is None  # this live process noted it
    assert not crashnote.note_path(tmp_path, "abc").exists()
    with pytest.raises(KeyboardInterrupt), crashnote.watching(tmp_path, "abc"):
        raise KeyboardInterrupt
    assert crashnote.noted(tmp_path) == []
    dead = {"pid": 2**22 + 12345, "host": "elsewhere", "since": "2026-12-06 10:00:00"}
    path = crashnote.note_path(tmp_path, "xyz")
    path.write_text(json.dumps(dead) + "\nFatal Python error: Aborted\n\nThread 0x1 ...\n")
    crash = crashnote.read_note(tmp_path, "xyz")
    assert crash.signal == "SIGABRT" and crash.pid == dead["pid"]
    assert "died of SIGABRT" in crash.message() and "Thread 0x1" in crash.trace
    path.write_text(json.dumps(dead) + "\n")  # killed with SIGKILL: no word from faulthandler
    assert crashnote.read_note(tmp_path, "xyz").signal is None


def test_slurm_executor_through_submitits_local_executor_submits_only_what_is_missing(
    tmp_path, monkeypatch, capsys
):
    install_quick(tmp_path, monkeypatch)
    slurm = ["--executor", "slurm", "-x", "cluster=local", "-x", "wait=true"]
    slurm += ["--leaderboard-dir", str(tmp_path / "boards")]
    assert main([*grid(tmp_path, "0"), *slurm]) == 0, capsys.readouterr().err
    err = capsys.readouterr().err
    assert "submitted 1 cells as local job" in err and "1 cells run" in err
    assert not list((tmp_path / "runs" / "queue").glob("*.json"))  # the task cleared its mark
    assert list((tmp_path / "runs" / "slurm").glob("*_log.out"))  # submitit's files stay there
    # a grid that grew: only the new cell is submitted
    assert main([*grid(tmp_path, "0,1"), *slurm]) == 0
    err = capsys.readouterr().err
    assert "submitted 1 cells" in err and "1 cells run, 1 skipped" in err
    records = list(iter_records([tmp_path / "runs"]))
    assert sorted(r["seed"] for r in records) == [0, 1] and {r["status"] for r in records} == {"ok"}
    assert "training seeds: 0, 1" in (tmp_path / "boards" / "synthrs-tiny.md").read_text()


FAKE_SBATCH = """#!/bin/sh
# records what it was asked to submit, as Slurm's sbatch would receive it
echo "$@" >> "{log}"
for arg in "$@"; do last="$arg"; done
cp "$last" "{log}.script"
echo "Submitted batch job 4242"
"""
FAKE_SQUEUE = """#!/bin/sh
echo "4242_0 PENDING"
echo "4242_1 RUNNING"
"""


def test_slurm_submission_writes_one_array_with_the_options_given(tmp_path, monkeypatch, capsys):
    install_quick(tmp_path, monkeypatch)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    stand_ins = (("sbatch", FAKE_SBATCH), ("squeue", FAKE_SQUEUE), ("srun", "#!/bin/sh\n"))
    for name, text in (*stand_ins, ("sinfo", "#!/bin/sh\n")):  # no partition facts: no check
        path = bin_dir / name
        path.write_text(text.format(log=tmp_path / "sbatch.log"))
        path.chmod(path.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    args = [*grid(tmp_path, "0,1,2"), "--executor", "slurm", "--partition", "gpu-long"]
    args += [
        "--time",
        "2:00:00",
        "--gpus-per-task",
        "1",
        "--mem",
        "64G",
        "--array-parallelism",
        "2",
    ]
    assert main(args) == 0, capsys.readouterr().err
    err = capsys.readouterr().err
    assert "submitted 3 cells as slurm job array 4242" in err and "rsbench status" in err
    script = (tmp_path / "sbatch.log.script").read_text()
    for line in (
        "#SBATCH --array=0-2%2",
        "#SBATCH --partition=gpu-long",
        "#SBATCH --time=120",
        "#SBATCH --gpus-per-task=1",
        "#SBATCH --mem=64G",
        "#SBATCH --cpus-per-task=8",
    ):
        assert line in script, script
    markers = sorted((tmp_path / "runs" / "queue").glob("*.json"))
    assert sorted(json.loads(p.read_text())["job"] for p in markers) == [
        "4242_0",
        "4242_1",
        "4242_2",
    ]
    # status asks squeue: two tasks wait or run, the third left the queue without a record
    assert main(["status", str(tmp_path / "runs")]) == 0
    out = capsys.readouterr().out
    assert "3 cells: 0 done, 0 running, 2 queued, 0 failed, 1 pending" in out
    assert "job 4242_0, PENDING" in out and "job 4242_1, RUNNING" in out
    # submitting again sends only the cell that is neither done nor queued
    (tmp_path / "sbatch.log.script").unlink()
    assert main(args) == 0
    err = capsys.readouterr().err
    assert "already queued (job 4242_0, PENDING)" in err and "submitted 1 cells" in err
    assert "--array" not in (tmp_path / "sbatch.log.script").read_text()  # one cell: one job


INLINE = '''
from rsbench import hookimpl
from rsbench.run.executors import Executor, run_in_process


class Inline(Executor):
    """Runs cells in this process, saying so."""

    version = "1"

    def describe(self, device):
        return "the inline executor"

    def execute(self, runner, cells, device):
        return run_in_process(runner, cells, device)


@hookimpl
def register_executors(register):
    register("inline", Inline)
'''


def test_hook_register_executors(tmp_path, monkeypatch, capsys):
    """A third-party executor registers and runs cells like the built-in ones."""
    from rsbench.plugin.manager import reset_plugins
    from rsbench.testing import write_distribution

    install_quick(tmp_path, monkeypatch)
    write_distribution(
        tmp_path / "site", "rsbench-inline", {"inline": "rsb_inline"}, {"rsb_inline.py": INLINE}
    )
    monkeypatch.setenv("RSBENCH_LOAD_PLUGINS", "rsbench,quick,inline")
    reset_plugins()
    assert main(["list", "executors"]) == 0
    listed = capsys.readouterr().out
    assert "inline" in listed and "slurm" in listed and "[inline]" in listed
    assert main([*grid(tmp_path, "0"), "--executor", "inline", "--no-leaderboard"]) == 0
    err = capsys.readouterr().err
    assert "(the inline executor)" in err and "1 cells run" in err


def test_workers_die_with_a_killed_parent_and_a_rerun_finishes_every_cell(tmp_path, monkeypatch):
    """kill -9 of ``rsbench run --workers 2``: within 10 s no worker of it is alive, and a rerun
    started at once finishes every cell without waiting for any lock or lease."""
    import signal
    import subprocess
    import time

    install_quick(tmp_path, monkeypatch)
    log, gate = tmp_path / "fits.log", tmp_path / "gate"
    (tmp_path / "grid.yaml").write_text(
        f"methods: {{quick: {{log: '{log}', gate: '{gate}'}}}}\n"
        "datasets: [synthrs-tiny]\nnoise: [0.2]\nseeds: [0, 1, 2]\nout: runs\n"
    )
    command = [sys.executable, "-m", "rsbench", "run", "--config", "grid.yaml", "--workers", "2"]
    parent = subprocess.Popen(command, cwd=tmp_path, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:  # both workers are inside a cell, at the gate
        if log.exists() and len(log.read_text().splitlines()) >= 2:
            break
        time.sleep(0.05)
    workers = [int(line.split()[1]) for line in log.read_text().splitlines()]
    assert len(workers) == 2 and parent.pid not in workers
    parent.send_signal(signal.SIGKILL)
    parent.wait()

    def alive(pid: int) -> bool:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        from rsbench.run.celllock import _zombie

        return not _zombie(pid)

    deadline = time.monotonic() + 10
    while any(alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(alive(pid) for pid in workers)
    gate.touch()
    started = time.monotonic()
    rerun = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=240)
    assert rerun.returncode == 0, rerun.stderr
    assert "being run by another process" not in rerun.stderr
    assert len(list(iter_records([tmp_path / "runs"]))) == 3
    assert time.monotonic() - started < 120


def fake_slurm(tmp_path, monkeypatch, **scripts: str):
    """A bin folder of fake Slurm commands on PATH (sbatch records what it got)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    # a silent sinfo unless the test gives one: the machine's own Slurm, if any, stays out
    scripts = {"sbatch": FAKE_SBATCH, "srun": "#!/bin/sh\n", "sinfo": "#!/bin/sh\n", **scripts}
    for name, text in scripts.items():
        path = bin_dir / name
        path.write_text(text.format(log=tmp_path / "sbatch.log"))
        path.chmod(path.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return bin_dir


SINFO_2_CPUS = """#!/bin/sh
echo "debug*|2|(null)|infinite"
echo "long|2|(null)|1-00:00:00"
"""


def test_a_request_the_partition_can_never_meet_is_refused_before_submission(
    tmp_path, monkeypatch, capsys
):
    install_quick(tmp_path, monkeypatch)
    fake_slurm(tmp_path, monkeypatch, sinfo=SINFO_2_CPUS)
    assert main([*grid(tmp_path, "0"), "--executor", "slurm"]) == 2  # defaults: 8 CPUs, 1 GPU
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert "no task could ever start on partition debug" in err
    assert "cpus_per_task 8 but its nodes have at most 2 CPUs" in err
    assert "--gpus-per-task 1 but its nodes have no GPU" in err
    assert not (tmp_path / "sbatch.log").exists()  # nothing submitted
    too_long = ["--partition", "long", "--time", "2-00:00:00", "--gpus-per-task", "0"]
    assert (
        main([*grid(tmp_path, "0"), "--executor", "slurm", *too_long, "-x", "cpus_per_task=1"]) == 2
    )
    assert "--time of 2880 minutes above its limit of 1440 minutes" in capsys.readouterr().err
    fits = ["--gpus-per-task", "0", "-x", "cpus_per_task=2"]
    assert main([*grid(tmp_path, "0"), "--executor", "slurm", *fits]) == 0
    assert "#SBATCH --cpus-per-task=2" in (tmp_path / "sbatch.log.script").read_text()


def test_an_sbatch_error_is_one_line(tmp_path, monkeypatch, capsys):
    install_quick(tmp_path, monkeypatch)
    refuse = (
        "#!/bin/sh\necho 'sbatch: error: Invalid generic resource (gres) specification' >&2\n"
        "exit 1\n"
    )
    fake_slurm(tmp_path, monkeypatch, sbatch=refuse)
    assert main([*grid(tmp_path, "0"), "--executor", "slurm"]) == 2
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err
    assert err.splitlines()[-1] == (
        "rsbench: error: sbatch refused the job array: sbatch: error: Invalid generic resource "
        "(gres) specification"
    )
    assert not list((tmp_path / "runs" / "queue").glob("*.json"))  # no cell marked as queued


def test_a_waiting_run_stops_when_its_array_can_never_start(tmp_path, monkeypatch, capsys):
    install_quick(tmp_path, monkeypatch)
    squeue = '#!/bin/sh\necho "4242_0|PartitionConfig"\n'
    scancel = f'#!/bin/sh\necho "$@" >> {tmp_path / "scancel.log"}\n'
    fake_slurm(tmp_path, monkeypatch, squeue=squeue, scancel=scancel)
    args = [*grid(tmp_path, "0"), "--executor", "slurm", "-x", "wait=true"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "slurm job array 4242 can never start (pending: PartitionConfig)" in err
    assert "Traceback" not in err
    assert (tmp_path / "scancel.log").read_text().split() == ["4242"]


def test_submitits_sacct_warnings_are_said_once():
    import logging

    from rsbench_plugins.executors.slurm import quiet_sacct

    quiet_sacct()
    quiet_sacct()
    seen = []

    class Keep(logging.Handler):
        def emit(self, record):
            seen.append(record.getMessage())

    log = logging.getLogger("submitit")
    handler = Keep()
    log.addHandler(handler)
    try:
        for n in range(5):
            log.warning(f"Call #{n} - Bypassing sacct error boom, status may be inaccurate.")
        log.warning("something else")
    finally:
        log.removeHandler(handler)
    assert len(seen) == 2 and "said once" in seen[0] and seen[1] == "something else"

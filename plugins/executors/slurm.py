"""slurm: a grid as one Slurm job array through submitit, one task per cell.

``rsbench run --executor slurm`` checks the grid on the machine it runs on (components,
options, dataset folders, checkpoints: the cluster's nodes are assumed to see the same files),
submits every cell that is not done, not running and not already queued as one job array, and
returns. Each task runs its cell exactly as a local worker does (`rsbench.run.worker.run_job`: the
cell's lock, its per-epoch checkpoint, its record), so ``rsbench status``, the leaderboard and
resuming work the same. Running the same command again submits only what is missing: cells
without a record and not queued (failed cells included, which resume from their last epoch).

Options (``executor: {slurm: {...}}`` in the config, or flags): ``partition``
(``--partition``), ``time`` per task (``--time``: minutes, or Slurm's ``HH:MM:SS`` /
``D-HH:MM:SS``; quote it in YAML, where an unquoted 12:00:00 is read as a number),
``gpus_per_task`` (``--gpus-per-task``), ``cpus_per_task``, ``mem`` (``--mem``, e.g. ``64G``),
``array_parallelism`` (``--array-parallelism``: tasks running at once), ``account``, ``qos``,
``constraint``, ``setup`` (shell lines run before each task, e.g. activating the virtual
environment), ``additional`` (any other ``sbatch`` option), ``max_requeue`` (times a task is
requeued after a timeout; preempted tasks are always requeued), ``wait`` (wait for the array
to finish, then write the leaderboard) and ``cluster`` (``local`` runs the tasks through
submitit's local executor, as subprocesses of this machine, which is how the tests run it).

Before submitting, the request is checked against what the partition offers (``sinfo``: CPUs
and GPUs per node, time limit): a task that could never start is refused in one line. An
``sbatch`` error is reported in one line; a waiting run (``wait``) whose tasks all pend for a
reason that never clears (``PartitionConfig`` …) cancels the array and says so instead of
waiting for ever; submitit's repeated warnings on clusters without accounting (``sacct``) are
said once.

Preemption and timeouts: submitit catches Slurm's signal and requeues the task, which resumes
its cell after the last finished epoch. Submitit keeps its scripts, pickles and logs in
``<out>/slurm/``; ``<out>/queue/<cell_id>.json`` says which job a queued cell is.
"""

from __future__ import annotations

import contextlib
import dataclasses
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from rsbench.api import CellJob, Executor, RsbenchError, pid_alive

ALIVE = {"PENDING", "RUNNING", "REQUEUED", "CONFIGURING", "COMPLETING", "RESIZING", "SUSPENDED"}
#: pending reasons that no amount of waiting clears: the request exceeds what the partition,
#: account or QOS can ever give (Slurm's squeue %r)
NEVER_STARTS = {
    "PartitionConfig",
    "PartitionNodeLimit",
    "PartitionTimeLimit",
    "InvalidAccount",
    "InvalidQOS",
    "BadConstraints",
    "QOSMaxCpuPerJobLimit",
    "QOSMaxGRESPerJob",
    "QOSMaxWallDurationPerJobLimit",
}
#: how often a waiting run looks at its tasks' pending reasons (seconds)
PENDING_POLL_S = 10.0


@dataclass
class PartitionLimits:
    """What a partition's nodes offer, read with ``sinfo`` before anything is submitted."""

    name: str
    cpus: int  # the most CPUs of any node
    gpus: int  # the most GPUs of any node (GRES gpu)
    minutes: int | None  # the time limit (None: infinite)


def partition_limits(partition: str | None) -> PartitionLimits | None:
    """The limits of ``partition`` (the default one when None), or None when ``sinfo`` is not
    here or says nothing usable (the request is then left to sbatch)."""
    if not shutil.which("sinfo"):
        return None
    command = ["sinfo", "-h", "-o", "%P|%c|%G|%l"] + (["-p", partition] if partition else [])
    try:
        out = subprocess.run(command, capture_output=True, text=True, timeout=60).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    rows = [line.split("|") for line in out.splitlines() if line.count("|") == 3]
    if partition:
        rows = [r for r in rows if r[0].rstrip("*") == partition]
    else:
        rows = [r for r in rows if r[0].endswith("*")] or rows
    if not rows:
        return None
    cpus = max((int(r[1].rstrip("+")) for r in rows if r[1].rstrip("+").isdigit()), default=0)
    gpus = max((_gres_gpus(r[2]) for r in rows), default=0)
    limits = [r[3].strip() for r in rows]
    minutes = None
    if limits and all(v not in ("infinite", "UNLIMITED", "n/a") for v in limits):
        try:
            minutes = max(time_minutes(v) for v in limits)
        except ValueError:
            minutes = None
    return PartitionLimits(rows[0][0].rstrip("*"), cpus, gpus, minutes)


def _gres_gpus(gres: str) -> int:
    """GPUs per node in a GRES string such as ``gpu:4``, ``gpu:a100:8(S:0-1)`` or ``(null)``."""
    found = 0
    for item in gres.split(","):
        parts = item.split("(")[0].split(":")
        if parts and parts[0] == "gpu":
            count = parts[-1] if len(parts) > 1 else "1"
            found = max(found, int(count) if count.isdigit() else 1)
    return found


def request_problems(options, limits: PartitionLimits) -> list[str]:
    """Why a task with these options can never start on the partition (empty: it can)."""
    problems = []
    if options.cpus_per_task > limits.cpus > 0:
        problems.append(
            f"cpus_per_task {options.cpus_per_task} but its nodes have at most {limits.cpus} "
            f"CPUs (valid: 1 to {limits.cpus}, e.g. -x cpus_per_task={limits.cpus})"
        )
    if options.gpus_per_task > limits.gpus:
        problems.append(
            f"--gpus-per-task {options.gpus_per_task} but its nodes have "
            + (f"at most {limits.gpus} GPUs" if limits.gpus else "no GPU (no gpu GRES)")
            + f" (valid: 0 to {limits.gpus})"
        )
    if limits.minutes is not None and options.minutes > limits.minutes:
        problems.append(
            f"--time of {options.minutes} minutes above its limit of {limits.minutes} minutes"
        )
    return problems


def time_minutes(value: str | int) -> int:
    """Slurm's time formats (minutes, MM:SS, HH:MM:SS, D-HH, D-HH:MM, D-HH:MM:SS) → minutes."""
    if isinstance(value, int):
        if value < 1:
            raise ValueError(f"time must be at least 1 minute, got {value}")
        return value
    text = value.strip()
    match = re.fullmatch(r"(?:(\d+)-)?(\d+)(?::(\d+))?(?::(\d+))?", text)
    if not match:
        raise ValueError(
            f"time {value!r} is not a Slurm time; valid: minutes, HH:MM:SS or D-HH:MM:SS"
        )
    days, a, b, c = (int(g) if g else None for g in match.groups())
    subordinate = [b, c] if days is None else [b, c] + [a]  # minutes, seconds (hours after a day)
    limits = [60, 60] if days is None else [60, 60, 24]
    for field_value, limit in zip(subordinate, limits, strict=True):
        if field_value is not None and field_value >= limit:
            raise ValueError(
                f"time {value!r} is not a Slurm time: {field_value} is out of range (minutes and "
                "seconds below 60, hours below 24 after a day count); valid: e.g. 24:00:00, 2-00:00:00"
            )
    if days is not None:  # D-HH[:MM[:SS]]
        minutes = days * 1440 + a * 60 + (b or 0) + (1 if c else 0)
    elif c is not None:  # HH:MM:SS
        minutes = a * 60 + b + (1 if c else 0)
    elif b is not None:  # MM:SS
        minutes = a + (1 if b else 0)
    else:
        minutes = a
    if minutes < 1:
        raise ValueError(f"time {value!r} is shorter than a minute")
    return minutes


class CellTask:
    """The callable each array task runs: one cell. Requeued as is on preemption or timeout
    (submitit's checkpointing protocol); the cell then resumes from its last epoch."""

    def __init__(self, cluster: str):
        self.cluster = cluster

    def __call__(self, job: CellJob) -> dict[str, Any]:
        import submitit

        from rsbench.api import run_job

        env = submitit.JobEnvironment()
        return run_job(dataclasses.replace(job, by=f"{self.cluster} job {env.job_id}"))

    def checkpoint(self, job: CellJob):
        import submitit

        return submitit.helpers.DelayedSubmission(self, job)


class SlurmExecutor(Executor):
    """A Slurm job array through submitit: one task per cell, requeued when preempted."""

    @dataclass
    class Options:
        partition: str | None = None
        time: str | int = "24:00:00"
        gpus_per_task: int = 1
        cpus_per_task: int = 8
        mem: str | None = None
        array_parallelism: int = 64
        account: str | None = None
        qos: str | None = None
        constraint: str | None = None
        setup: list[str] = field(default_factory=list)
        additional: dict[str, Any] = field(default_factory=dict)
        max_requeue: int = 3
        wait: bool = False
        cluster: Literal["slurm", "local"] = "slurm"

        def __post_init__(self):
            self.minutes = time_minutes(self.time)
            if self.mem is not None and not re.fullmatch(
                r"\d+[KMGT]?", str(self.mem).strip(), re.I
            ):
                raise ValueError(
                    f"mem {self.mem!r} is not a Slurm memory size; valid: a number with an optional "
                    "unit K, M, G or T, e.g. 64G or 64000"
                )
            for name in ("gpus_per_task", "max_requeue"):
                if getattr(self, name) < 0:
                    raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
            for name in ("cpus_per_task", "array_parallelism"):
                if getattr(self, name) < 1:
                    raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")

    def folder(self, out: Path) -> Path:
        return Path(out).resolve() / "slurm"

    def check(self, runner, device: str) -> None:
        if self.options.cluster != "slurm":
            return
        missing = [c for c in ("sbatch", "srun") if not shutil.which(c)]
        if missing:
            raise RsbenchError(
                f"--executor slurm needs Slurm's {' and '.join(missing)}, not found on this "
                "machine's PATH; run from a Slurm login node (or use the local executor)"
            )
        limits = partition_limits(self.options.partition)
        problems = request_problems(self.options, limits) if limits else []
        if problems:
            raise RsbenchError(
                f"slurm executor: no task could ever start on partition {limits.name}: "
                + "; ".join(problems)
            )

    def slots(self, device: str) -> int | None:
        return self.options.array_parallelism

    def describe(self, device: str) -> str:
        o = self.options
        if o.cluster == "local":
            return "submitit's local executor: one subprocess per cell on this machine"
        where = f"partition {o.partition}" if o.partition else "the default partition"
        return (
            f"a Slurm job array on {where}, {o.gpus_per_task} GPU(s) and {o.time} per task, "
            f"at most {o.array_parallelism} at a time"
        )

    def parameters(self) -> dict[str, Any]:
        """submitit's parameters for this cluster."""
        o = self.options
        params: dict[str, Any] = {
            "name": "rsbench",
            "timeout_min": o.minutes,
            "cpus_per_task": o.cpus_per_task,
            "nodes": 1,
            "tasks_per_node": 1,
        }
        if o.cluster == "local":
            params["gpus_per_node"] = o.gpus_per_task
            return params
        slurm = {
            "partition": o.partition,
            "mem": o.mem,
            "array_parallelism": o.array_parallelism,
            "account": o.account,
            "qos": o.qos,
            "constraint": o.constraint,
            "setup": list(o.setup) or None,
            "additional_parameters": dict(o.additional) or None,
            "gpus_per_task": o.gpus_per_task or None,
        }
        params.update({f"slurm_{k}": v for k, v in slurm.items() if v is not None})
        return params

    def make_executor(self, out: Path):
        import submitit

        o = self.options
        kwargs = {"slurm_max_num_timeout": o.max_requeue} if o.cluster == "slurm" else {}
        executor = submitit.AutoExecutor(folder=self.folder(out), cluster=o.cluster, **kwargs)
        try:
            executor.update_parameters(**self.parameters())
        except (NameError, ValueError, AssertionError) as exc:
            raise RsbenchError(f"slurm executor: {str(exc).splitlines()[0]}") from None
        return executor

    def execute(self, runner, cells, device: str):
        from rsbench.api import GridResult, say, write_marker

        out = runner.grid.out
        grid = absolute(runner.grid)
        jobs = [
            CellJob(
                grid=grid,
                cell_id=pc.cell_id,
                force=runner.force,
                started_at=runner.started_at,
                threads=self.options.cpus_per_task if self.options.cluster == "slurm" else 0,
            )
            for pc in cells
        ]
        executor = self.make_executor(out)
        quiet_sacct()
        try:
            submitted = executor.map_array(CellTask(self.options.cluster), jobs)
        except Exception as exc:  # sbatch refused the array: its own words, in one line
            raise RsbenchError(f"sbatch refused the job array: {sbatch_error(exc)}") from None
        for pc, job in zip(cells, submitted, strict=True):
            write_marker(
                out, pc.cell_id, self.name or "slurm", job.job_id, cluster=self.options.cluster
            )
        array = submitted[0].job_id.split("_")[0] if submitted else "?"
        say(
            f"rsbench: submitted {len(submitted)} cells as {self.options.cluster} job "
            f"{'array ' if self.options.cluster == 'slurm' else ''}{array} "
            f"({self.describe(device)})"
        )
        result = GridResult()
        if not self.options.wait:
            result.submitted = [pc.cell_id for pc in cells]
            return result
        if self.options.cluster == "slurm":
            self.wait_until_started(array, submitted)
        for n, (pc, job) in enumerate(zip(cells, submitted, strict=True), 1):
            result.add(self.wait_for(runner, pc, job, device), pc, f"[{n}/{len(cells)}]")
        return result

    def wait_until_started(self, array: str, submitted: list) -> None:
        """Wait while the array's tasks are pending; stop at once (cancelling the array) when
        every pending task waits for a reason that never clears (a request the partition cannot
        meet), instead of waiting for ever."""
        import time

        from rsbench.api import say

        said = ""
        while True:
            reasons = pending_reasons(array)
            if reasons is None:  # squeue cannot be read: leave the waiting to submitit
                return
            if not reasons:  # nothing pending any more: running or finished
                return
            if all(r.split(",")[0] in NEVER_STARTS for r in reasons.values()):
                with contextlib.suppress(OSError, subprocess.SubprocessError):
                    subprocess.run(["scancel", array], capture_output=True, timeout=60)
                reason = sorted(set(reasons.values()))[0]
                raise RsbenchError(
                    f"slurm job array {array} can never start (pending: {reason}): the request "
                    "exceeds what the partition offers; cancelled it. Check --partition, "
                    "--gpus-per-task, -x cpus_per_task and --time against 'sinfo'"
                )
            why = sorted(
                {"waiting for the scheduler" if r == "None" else r for r in reasons.values()}
            )
            line = f"rsbench: slurm job array {array}: {len(reasons)} task(s) pending ({', '.join(why)})"
            if line != said:  # said when it changes, not at every poll
                say(line)
                said = line
            time.sleep(PENDING_POLL_S)

    def wait_for(self, runner, pc, job, device: str):
        """Wait for one task; a task that died without its record fails its cell."""
        from rsbench.api import CellOutcome, read_record, record_path, remove_marker

        try:
            summary = job.result()
        except Exception as exc:  # the task's process died, was cancelled or timed out for good
            message = f"{self.options.cluster} job {job.job_id} ended without a result: "
            message += (
                str(exc).strip().splitlines()[-1][:300] if str(exc).strip() else type(exc).__name__
            )
            runner.record_crash(pc, device, message)
            remove_marker(runner.grid.out, pc.cell_id)
            record = read_record(record_path(runner.grid.out, pc.cell_id))
            return CellOutcome(pc.cell_id, (record or {}).get("status", "failed"), record)
        record = read_record(record_path(runner.grid.out, pc.cell_id))
        return CellOutcome(pc.cell_id, summary["status"], record, summary.get("holder"))

    def queued(self, out: Path, cell_ids: list[str]) -> dict[str, str]:
        from rsbench.api import read_markers, remove_marker

        wanted = set(cell_ids)
        markers = {
            cid: m
            for cid, m in read_markers(out).items()
            if cid in wanted and m.get("executor") == (self.name or "slurm")
        }
        if not markers:
            return {}
        alive = {}
        for cluster in sorted({str(m.get("cluster", "slurm")) for m in markers.values()}):
            mine = {c: m for c, m in markers.items() if str(m.get("cluster", "slurm")) == cluster}
            states = job_states([str(m.get("job", "")) for m in mine.values()], cluster)
            for cid, marker in mine.items():
                job = str(marker.get("job", ""))
                if states is None:  # the queue cannot be read: do not submit twice
                    alive[cid] = f"job {job}, state unknown (squeue not found)"
                elif states.get(job) in ALIVE:
                    alive[cid] = f"job {job}, {states[job]}"
                else:
                    remove_marker(out, cid)  # finished, failed or cancelled without a record
        return alive


def pending_reasons(array: str) -> dict[str, str] | None:
    """Task → pending reason of the array's tasks still pending; None when squeue cannot be
    read."""
    if not shutil.which("squeue"):
        return None
    try:
        out = subprocess.run(
            ["squeue", "-h", "-r", "-t", "PENDING", "-o", "%i|%r", "-j", array],
            capture_output=True,
            text=True,
            timeout=60,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    return dict(line.split("|", 1) for line in out.stdout.splitlines() if "|" in line)


def sbatch_error(exc: BaseException) -> str:
    """The line of sbatch's own message in a failed submission (submitit wraps it)."""
    text = str(exc)
    for line in text.splitlines():
        if "error" in line.lower() and "sbatch" in line.lower():
            return line.strip()
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1][:300] if lines else type(exc).__name__


class _OnceFilter:
    """Lets submitit's first "Bypassing sacct error" warning through, rephrased, and drops the
    rest (clusters without accounting answer every poll with it)."""

    def __init__(self) -> None:
        self.seen = False

    def filter(self, record) -> bool:
        if "Bypassing sacct error" not in record.getMessage():
            return True
        if self.seen:
            return False
        self.seen = True
        record.msg = (
            "sacct failed (is accounting disabled on this cluster?); task states come from "
            "squeue and the records instead; said once"
        )
        record.args = ()
        return True


_SACCT_FILTER = _OnceFilter()


def quiet_sacct() -> None:
    """Install the once-only filter on submitit's logger, and keep its warnings off stdout
    (submitit logs each warning to stdout and stderr alike): idempotent."""
    import logging
    import sys

    log = logging.getLogger("submitit")
    if _SACCT_FILTER not in log.filters:
        log.addFilter(_SACCT_FILTER)
    for handler in log.handlers:
        if getattr(handler, "stream", None) is sys.stdout and _below_warning not in handler.filters:
            handler.addFilter(_below_warning)


def _below_warning(record) -> bool:
    import logging

    return record.levelno < logging.WARNING


def job_states(job_ids: list[str], cluster: str) -> dict[str, str] | None:
    """Slurm states of array tasks (``<array>_<index>``) still in the queue; None when the
    queue cannot be read. For submitit's local cluster, a job is its controller process."""
    if cluster == "local":
        states = {}
        for job in job_ids:
            pid = int(job) if job.isdigit() else -1
            states[job] = "RUNNING" if pid > 0 and pid_alive(pid) else "FINISHED"
        return states
    if not shutil.which("squeue"):
        return None
    arrays = sorted({j.split("_")[0] for j in job_ids if j})
    try:
        out = subprocess.run(
            ["squeue", "-h", "-r", "-o", "%i %T", "-j", ",".join(arrays)],
            capture_output=True,
            text=True,
            timeout=60,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    states: dict[str, str] = {}
    for line in out.stdout.splitlines():
        parts = line.split()
        if len(parts) == 2:
            states[parts[0]] = parts[1]
    return states


def absolute(grid):
    """The grid with absolute paths: array tasks may start in another folder."""

    def resolve(path):
        return None if path is None else Path(path).resolve()

    return dataclasses.replace(
        grid,
        out=resolve(grid.out),
        leaderboard_dir=resolve(grid.leaderboard_dir),
        data_root=resolve(grid.data_root),
        weights_dir=resolve(grid.weights_dir),
    )

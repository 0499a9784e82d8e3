"""local: the cells of a grid on this machine's GPUs or CPUs.

- **GPUs** (``--device auto`` with CUDA, or ``cuda``): one worker process per GPU slot, fed
  from the queue of cells; ``gpus`` (``--gpus 0,1,2,3``, default every visible GPU) chooses
  the GPUs and ``cells_per_gpu`` (``--cells-per-gpu N``) packs N cells on each (small cells
  leave most of a large GPU idle). A worker sees only its GPU (``CUDA_VISIBLE_DEVICES``, mapped
  through the one rsbench itself was started with) and gets an equal share of the CPU cores
  for torch's threads.
- **CPUs**: one cell after another in this process (the default), or ``workers``
  (``--workers N``) processes, each with 1/N of the cores. A cell that crashed this process
  in an earlier run (a fatal signal in native code: `rsbench.run.crashnote`), or whose worker
  died, runs in a worker process of its own, so that another crash fails only that cell.

Each cell runs in a fresh process (``python -m rsbench.run.worker``: a clean CUDA context and
memory for every cell), under the cell's lock like everywhere else. A worker that dies (out of
memory, a CUDA error, killed) fails only its cell: the parent records the cell as failed with
how the process ended and its last line of output, starts the next cell in that slot, and the
grid goes on; the failed cell resumes from its last epoch when the grid is run again.
Workers' output is passed on, each line prefixed with the worker's slot (``[gpu1]``).
Interrupting ``rsbench run`` (Ctrl-C) stops the workers; a worker whose parent is killed stops
by itself.
"""

from __future__ import annotations

import collections
import contextlib
import json
import os
import pickle
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from rsbench.api import EXIT_NOT_RUN, RESULT_PREFIX, CellJob, Executor, RsbenchError, run_in_process

#: seconds a worker gets to stop after an interruption before it is killed
STOP_GRACE_S = 30.0
POLL_S = 0.1


@dataclass
class Slot:
    """Where one worker runs: its name, environment, device and CPU threads."""

    name: str
    device: str
    threads: int
    env: dict[str, str] = field(default_factory=dict)


def parse_gpus(value: Any) -> list[int] | None:
    """``"0,1,3"``, ``[0, 1]`` or ``"all"``/None (every visible GPU)."""
    if value is None or (isinstance(value, str) and value.strip() in ("", "all")):
        return None
    items = value.split(",") if isinstance(value, str) else list(value)
    gpus = []
    for item in items:
        try:
            index = int(str(item).strip())
        except ValueError:
            raise RsbenchError(
                f"--gpus {value!r} is not a list of GPU indices; valid: e.g. 0,1,2,3 or all"
            ) from None
        if index < 0 or index in gpus:
            raise RsbenchError(f"--gpus {value!r}: indices must be distinct and >= 0")
        gpus.append(index)
    if not gpus:
        raise RsbenchError("--gpus is empty; valid: e.g. 0,1,2,3 or all")
    return gpus


def plan_slots(
    device: str,
    gpus: list[int] | None,
    cells_per_gpu: int,
    workers: int,
    device_count: int,
    cpu_count: int,
    visible: str | None,
) -> list[Slot] | None:
    """The worker slots for a run on ``device``, or None for one cell after another in this
    process. ``visible`` is this process's ``CUDA_VISIBLE_DEVICES`` (GPU indices are torch's,
    i.e. positions in it)."""
    cpu_count = max(1, cpu_count)
    if not device.startswith("cuda"):
        if workers == 1:
            return None
        threads = max(1, cpu_count // workers)
        return [
            Slot(f"cpu{n}", "cpu", threads, {"CUDA_VISIBLE_DEVICES": ""}) for n in range(workers)
        ]
    if gpus is None:
        gpus = [int(device.split(":")[1])] if ":" in device else list(range(device_count))
    if not gpus:
        raise RsbenchError("no GPU is visible; run with --device cpu")
    for index in gpus:
        if index >= device_count:
            raise RsbenchError(
                f"--gpus names GPU {index}, but this machine shows {device_count} "
                f"(valid: 0-{device_count - 1})"
            )
    physical = [v.strip() for v in visible.split(",")] if visible else None
    slots = []
    threads = max(1, cpu_count // (len(gpus) * cells_per_gpu))
    for index in gpus:
        target = physical[index] if physical and index < len(physical) else str(index)
        for k in range(cells_per_gpu):
            name = f"gpu{index}" if cells_per_gpu == 1 else f"gpu{index}.{k}"
            slots.append(Slot(name, "cuda", threads, {"CUDA_VISIBLE_DEVICES": target}))
    return slots


class LocalExecutor(Executor):
    """This machine: worker processes per GPU (packed with cells_per_gpu) or CPU workers."""

    @dataclass
    class Options:
        gpus: list[int] | str | None = None  # None / "all": every visible GPU
        cells_per_gpu: int = 1
        workers: int = 1  # CPU runs: processes (1: one cell after another in this process)

        def __post_init__(self):
            if self.cells_per_gpu < 1:
                raise ValueError(f"cells_per_gpu must be at least 1, got {self.cells_per_gpu}")
            if self.workers < 1:
                raise ValueError(f"workers must be at least 1, got {self.workers}")
            self.gpus = parse_gpus(self.gpus)

    def _plan(self, device: str) -> list[Slot] | None:
        import torch

        o = self.options
        cuda = device.startswith("cuda")
        if not cuda and (o.gpus is not None or o.cells_per_gpu != 1):
            raise RsbenchError(
                "--gpus and --cells-per-gpu need CUDA, and this run is on the CPU; "
                "use --workers N for CPU worker processes"
            )
        if cuda and o.workers != 1:
            raise RsbenchError("--workers is for CPU runs; on GPUs use --gpus and --cells-per-gpu")
        cores = os.cpu_count() or 1
        if not cuda and o.workers > 4 * cores:
            raise RsbenchError(
                f"--workers {o.workers} is more than 4 processes per CPU core ({cores} cores here); "
                f"valid: 1 to {4 * cores}"
            )
        return plan_slots(
            device,
            o.gpus,
            o.cells_per_gpu,
            o.workers,
            torch.cuda.device_count() if cuda else 0,
            os.cpu_count() or 1,
            os.environ.get("CUDA_VISIBLE_DEVICES"),
        )

    def check(self, runner, device: str) -> None:
        self._plan(device)

    def slots(self, device: str) -> int | None:
        slots = self._plan(device)
        return 1 if slots is None else len(slots)

    def describe(self, device: str) -> str:
        slots = self._plan(device)
        if slots is None:
            return "one after another in this process"
        if slots[0].device == "cuda":
            gpus = sorted({s.env["CUDA_VISIBLE_DEVICES"] for s in slots})
            per = self.options.cells_per_gpu
            return f"{len(gpus)} GPU(s) × {per} cell(s) at a time, in worker processes"
        return f"{len(slots)} CPU worker processes, {slots[0].threads} thread(s) each"

    def execute(self, runner, cells, device: str):
        slots = self._plan(device)
        if slots is not None:
            return WorkerPool(runner, slots, device).run(cells)
        here = [pc for pc in cells if pc.cell_id not in runner.isolate]
        apart = [pc for pc in cells if pc.cell_id in runner.isolate]
        result = run_in_process(runner, here, device)
        if apart:
            from rsbench.api import say

            say(
                f"rsbench: {len(apart)} cell(s) whose process died before: each runs in a "
                "worker process of its own, so that a crash fails only that cell"
            )
            threads = max(1, os.cpu_count() or 1)
            slot = Slot("isolated", "cpu", threads, {"CUDA_VISIBLE_DEVICES": ""})
            result.merge(WorkerPool(runner, [slot], device).run(apart))
        return result


@dataclass
class Running:
    """A worker process and the cell it runs."""

    process: subprocess.Popen
    cell: Any
    slot: Slot
    reader: threading.Thread
    tail: collections.deque = field(default_factory=lambda: collections.deque(maxlen=30))
    result: dict[str, Any] | None = None


class WorkerPool:
    """Cells from a queue to worker processes, one per slot; a dead worker fails its cell."""

    def __init__(self, runner, slots: list[Slot], device: str):
        self.runner, self.slots, self.device = runner, slots, device

    def job(self, pc, slot: Slot) -> CellJob:
        return CellJob(
            grid=self.runner.grid,
            cell_id=pc.cell_id,
            force=self.runner.force,
            started_at=self.runner.started_at,
            device=slot.device,
            by=f"rsbench run worker {slot.name} (parent pid {os.getpid()})",
            threads=slot.threads,
        )

    def start(self, pc, slot: Slot) -> Running:
        from rsbench.api import say

        env = {
            **os.environ,
            **slot.env,
            "OMP_NUM_THREADS": str(slot.threads),
            "MKL_NUM_THREADS": str(slot.threads),
            "RSBENCH_WORKER": slot.name,
        }
        process = subprocess.Popen(
            [sys.executable, "-m", "rsbench.run.worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=env,
        )
        running = Running(process, pc, slot, threading.Thread(target=lambda: None))
        running.reader = threading.Thread(target=self._read, args=(running,), daemon=True)
        running.reader.start()
        try:
            process.stdin.write(pickle.dumps(self.job(pc, slot)))
            process.stdin.close()
        except BrokenPipeError:  # a worker that died at once: run() records it
            pass
        say(f"[{slot.name}] started: {pc.cell.label()}")
        return running

    @staticmethod
    def _read(running: Running) -> None:
        """Pass the worker's output on, line by line, keeping its tail and its result."""
        for raw in running.process.stdout:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            if line.startswith(RESULT_PREFIX):
                with contextlib.suppress(ValueError):
                    running.result = json.loads(line[len(RESULT_PREFIX) :])
                continue
            if line.strip():
                running.tail.append(line)
            print(f"[{running.slot.name}] {line}", file=sys.stderr, flush=True)

    def run(self, cells):
        from rsbench.api import GridResult

        result = GridResult()
        queue = collections.deque(cells)
        free = list(self.slots)
        running: list[Running] = []
        finished = 0
        try:
            while queue or running:
                while queue and free:
                    running.append(self.start(queue.popleft(), free.pop(0)))
                time.sleep(POLL_S)
                for worker in [w for w in running if w.process.poll() is not None]:
                    worker.reader.join(timeout=10)
                    running.remove(worker)
                    free.append(worker.slot)
                    finished += 1
                    outcome = self.outcome(worker)
                    prefix = f"[{finished}/{len(cells)}] [{worker.slot.name}]"
                    result.add(outcome, worker.cell, prefix)
        except KeyboardInterrupt:
            self.stop(running)
            raise
        return result

    def outcome(self, worker: Running):
        from rsbench.api import CellOutcome, read_record, record_path

        pc, code, summary = worker.cell, worker.process.returncode, worker.result
        if summary is not None and code in (0, EXIT_NOT_RUN):
            record = read_record(record_path(self.runner.grid.out, pc.cell_id))
            return CellOutcome(pc.cell_id, summary["status"], record, summary.get("holder"))
        message = exit_message(code, list(worker.tail))
        self.runner.record_crash(pc, self.device, message, "\n".join(worker.tail))
        record = read_record(record_path(self.runner.grid.out, pc.cell_id))
        if record is None:  # another process took the cell over meanwhile
            record = {"status": "failed", "error": {"message": message}}
        return CellOutcome(pc.cell_id, record.get("status", "failed"), record)

    @staticmethod
    def stop(running: list[Running]) -> None:
        """Ask every worker to stop (SIGINT), then kill those still there after the grace."""
        for worker in running:
            if worker.process.poll() is None:
                worker.process.send_signal(signal.SIGINT)
        deadline = time.monotonic() + STOP_GRACE_S
        for worker in running:
            try:
                worker.process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                worker.process.kill()
                worker.process.wait()


def exit_message(code: int, tail: list[str]) -> str:
    """One line on how a worker process ended without finishing its cell."""
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        how = f"the worker process was killed by {name}"
        if name == "SIGKILL":
            how += " (the out-of-memory killer sends SIGKILL)"
    else:
        how = f"the worker process exited with code {code}"
    last = next((line.strip() for line in reversed(tail) if line.strip()), "")
    return f"{how}; last output: {last[:300]}" if last else how

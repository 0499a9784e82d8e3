"""What a cell ran on and with which code: recorded in every record's ``environment``.

- ``hardware``: the CPU model and core count; the GPUs this process sees (name, count, memory),
  the CUDA version torch was built with and the NVIDIA driver's version. Read without
  creating a CUDA context, so asking costs no GPU memory.
- ``git``: the commit of the rsbench source tree and whether it had uncommitted changes, when
  rsbench runs from a git checkout (None for an installed wheel).

Both are read once per process.
"""

from __future__ import annotations

import contextlib
import functools
import os
import platform
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any


@functools.lru_cache(maxsize=1)
def cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text(errors="replace").splitlines():
            if line.lower().startswith(("model name", "hardware", "cpu model")):
                return line.split(":", 1)[1].strip()
    if platform.system() == "Darwin" and shutil.which("sysctl"):
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            out = subprocess.run(
                ["sysctl", "-n", "machdep.cpu.brand_string"],
                capture_output=True,
                text=True,
                timeout=5,
            )
            if out.returncode == 0 and out.stdout.strip():
                return out.stdout.strip()
    return platform.processor() or platform.machine() or "unknown"


@functools.lru_cache(maxsize=1)
def driver_version() -> str | None:
    """The NVIDIA kernel driver's version (None without one)."""
    with contextlib.suppress(OSError):
        text = Path("/proc/driver/nvidia/version").read_text(errors="replace")
        found = re.search(r"Kernel Module(?: for \S+)?\s+([0-9][0-9.]+)", text)
        if found:
            return found.group(1)
    if shutil.which("nvidia-smi"):
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            out = subprocess.run(
                ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                capture_output=True,
                text=True,
                timeout=10,
            )
            if out.returncode == 0 and out.stdout.strip():
                return out.stdout.strip().splitlines()[0].strip()
    return None


def hardware() -> dict[str, Any]:
    import torch

    gpus: list[dict[str, Any]] = []
    if torch.cuda.is_available():
        for index in range(torch.cuda.device_count()):
            props = torch.cuda.get_device_properties(index)
            gpus.append({"name": props.name, "memory_gb": round(props.total_memory / 2**30, 1)})
    return {
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "gpu_count": len(gpus),
        "gpus": gpus,
        "cuda": torch.version.cuda,
        "driver": driver_version() if gpus else None,
    }


def hardware_label(environment: dict[str, Any]) -> str:
    """A short name of the hardware a record ran on (its GPU, else its CPU)."""
    hw = environment.get("hardware") or {}
    device = str(environment.get("device", ""))
    if device.startswith("cuda"):
        gpus = hw.get("gpus") or []
        return gpus[0]["name"] if gpus else environment.get("device_name", "a GPU")
    return hw.get("cpu") or environment.get("platform", "a CPU")


@functools.lru_cache(maxsize=1)
def git_state() -> dict[str, Any] | None:
    """The commit of the rsbench checkout this code runs from, and whether it is modified."""
    root = Path(__file__).resolve().parent.parent
    if not (root / ".git").exists() or not shutil.which("git"):
        return None
    try:
        head = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
        )
        if head.returncode != 0:
            return None
        status = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=30,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return {
        "commit": head.stdout.strip(),
        "dirty": bool(status.stdout.strip()) if status.returncode == 0 else None,
    }

"""Does this torch still have oneDNN's strided 1×1 weight-gradient fault? (oneDNN#6035)

The smallest reproduction found (``rsbench.engine.onednn`` explains the fault and the
workaround): ``torch.ops.aten.convolution_backward`` asked for the weight gradient only, of a
1×1 convolution at stride 2, one image of 8 channels at 64 × 64 px, 16 output channels, fp32,
channels-last tensors. On an AVX-512 CPU with torch 2.13.0+cpu and 2.14.1 (oneDNN v3.12.0)
it dies of SIGSEGV or SIGABRT ("double free or corruption"); the same call on contiguous (NCHW)
tensors, the layout rsbench's workaround gives these convolutions, is fine.

Each case runs in a child process, three times, (a crash or a hang ends only that child) and its weight
gradient is compared with the same gradient computed without oneDNN
(``torch.backends.mkldnn.flags(enabled=False)``), so wrong results are caught as well as
crashes. Run from the repository root::

    python tools/onednn_conv1x1_check.py            # the sweep: channels, strides, layouts
    python tools/onednn_conv1x1_check.py --minimal  # the one reproduction above

Prints one line per case and a summary; exit code 1 when a channels-last case fails (this
torch has the fault), 0 when every case passes, 2 on bad arguments. Add
``ONEDNN_MAX_CPU_ISA=AVX2`` to the environment to check the AVX2 kernels on an AVX-512 CPU.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
from dataclasses import asdict, dataclass

#: seconds one case may take before it counts as a hang
TIMEOUT_S = 60


@dataclass(frozen=True)
class Case:
    in_channels: int
    out_channels: int
    size: int
    stride: int
    layout: str  # "channels_last" or "contiguous"
    batch: int = 1
    kernel: int = 1


MINIMAL = Case(in_channels=8, out_channels=16, size=64, stride=2, layout="channels_last")


def sweep() -> list[Case]:
    cases = []
    for layout in ("channels_last", "contiguous"):
        for stride in (1, 2, 4):
            for cin in (1, 2, 3, 4, 8, 12, 15, 16, 17, 24, 32):
                cases.append(Case(cin, 16, 128, stride, layout))
        cases.append(Case(8, 16, 128, 2, layout, kernel=3))
    return cases


CHILD = r"""
import json, sys, torch
c = json.loads(sys.argv[1])
torch.manual_seed(0)
fmt = torch.channels_last if c["layout"] == "channels_last" else torch.contiguous_format
k, s = c["kernel"], c["stride"]
out = (c["size"] - k) // s + 1
grad = torch.randn(c["batch"], c["out_channels"], out, out).contiguous(memory_format=fmt)
x = torch.randn(c["batch"], c["in_channels"], c["size"], c["size"]).contiguous(memory_format=fmt)
w = torch.randn(c["out_channels"], c["in_channels"], k, k)
def weight_grad():
    return torch.ops.aten.convolution_backward(
        grad, x, w, None, [s, s], [0, 0], [1, 1], False, [0, 0], 1, [False, True, False]
    )[1]
for _ in range(3):  # the corruption is often found only when a later call frees memory
    got = weight_grad()
with torch.backends.mkldnn.flags(enabled=False):
    want = weight_grad()
err = ((got - want).abs().max() / want.abs().max().clamp(min=1e-12)).item()
print(json.dumps({"relative_error": err}))
"""


def run_case(case: Case) -> str:
    """``ok``, ``wrong gradient (…)``, ``SIGSEGV`` (or another signal), ``hang`` or ``error …``."""
    try:
        done = subprocess.run(
            [sys.executable, "-c", CHILD, json.dumps(asdict(case))],
            capture_output=True,
            text=True,
            timeout=TIMEOUT_S,
        )
    except subprocess.TimeoutExpired:
        return f"hang (no answer in {TIMEOUT_S} s)"
    if done.returncode < 0:
        try:
            return signal.Signals(-done.returncode).name
        except ValueError:
            return f"signal {-done.returncode}"
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["?"])[-1]
        return f"error (exit {done.returncode}): {last[:120]}"
    error = json.loads(done.stdout.strip().splitlines()[-1])["relative_error"]
    return "ok" if error < 1e-4 else f"wrong gradient (max relative error {error:.3g})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minimal", action="store_true", help="run only the smallest reproduction")
    args = parser.parse_args(argv)
    import torch

    isa = os.environ.get("ONEDNN_MAX_CPU_ISA", "(not capped)")
    print(
        f"torch {torch.__version__}, CPU capability {torch.backends.cpu.get_cpu_capability()}, "
        f"ONEDNN_MAX_CPU_ISA {isa}"
    )
    failures = []
    for case in [MINIMAL] if args.minimal else sweep():
        result = run_case(case)
        label = (
            f"{case.layout:13s} k{case.kernel} stride {case.stride} in {case.in_channels:2d} "
            f"out {case.out_channels} {case.batch}×{case.size}²"
        )
        print(f"{label}: {result}", flush=True)
        if result != "ok":
            failures.append((case, result))
    faulty = [c for c, _ in failures if c.layout == "channels_last"]
    other = [c for c, _ in failures if c.layout != "channels_last"]
    print(
        f"{len(faulty)} channels-last case(s) and {len(other)} contiguous case(s) failed"
        + (": this torch has the fault (rsbench's workaround is needed)" if faulty else "")
    )
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

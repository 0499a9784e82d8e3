"""The speed cost of the oneDNN workaround (`rsbench.engine.onednn`) and of its alternatives.

    python benchmarks/onednn_guard.py [--steps 10] [--rounds 2]

AMFMN's image branch (ResNet stage maps, MVSA) trains on channels-last pixels, as the image
pipeline makes them; one training step is forward, backward and an Adam step at batch 100.
Two models:

- ``small``: the small profile (``rsbench/small-resnet-18``, 64 px crops): its strided 1×1
  convolutions have ≥ 16 input channels, so the workaround changes nothing there;
- ``tiny``: the tests' tiny ResNet-18 (stage widths 8-16-32-64) at the paper's 256 px: its
  stage-2 shortcut (8 → 16 channels, stride 2) reaches the fault, so the workaround changes it.

Variants: ``guard`` (the default: the faulty convolutions take NCHW inputs), ``nchw`` (the whole
network on NCHW inputs), ``avx2`` (oneDNN capped with ``ONEDNN_MAX_CPU_ISA=AVX2``, the other
workaround the fault suggests; it does not cover inputs of 2-4 channels) and, for ``small``
only, ``off`` (no workaround: the tiny model would crash). Every (model, variant) runs in a
child process of its own (the ISA cap is read once per process), in rounds that alternate the
variants; each figure is the median process CPU time per step over the rounds, and the ratios
are against ``guard`` of the same model, all in one run. The load average is printed with it.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

from timing import load_average

ROOT = Path(__file__).resolve().parents[1]
VARIANTS = {"small": ("guard", "off", "nchw", "avx2"), "tiny": ("guard", "nchw", "avx2")}


def child(model_name: str, variant: str, steps: int) -> float:
    """CPU seconds per training step of one (model, variant), measured in this process."""
    import time

    import torch

    sys.path.insert(0, str(ROOT))
    from rsbench.engine import onednn
    from rsbench_plugins.methods.amfmn_model import MultiscaleImageEncoder

    torch.manual_seed(0)
    if model_name == "small":
        from rsbench.engine.backbones import RESNET18, load_resnet

        resnet, size = load_resnet(RESNET18["small"]), 64
    else:
        from tests.fixtures.tiny_checkpoints import tiny_resnet

        resnet, size = tiny_resnet((8, 16, 32, 64)).train(), 256
    encoder = MultiscaleImageEncoder(resnet, embed_dim=128, image_size=size)
    if variant != "nchw":
        onednn.protect(encoder, "cpu")  # as the trainer does; "off" comes through the env
    optimizer = torch.optim.Adam(encoder.parameters(), lr=1e-4)
    raw = torch.rand(100, size, size, 3)

    def step() -> None:
        pixels = raw.permute(0, 3, 1, 2)  # channels-last, as the image pipeline makes them
        if variant == "nchw":
            pixels = pixels.contiguous()
        optimizer.zero_grad()
        encoder(pixels).square().mean().backward()
        optimizer.step()

    for _ in range(2):  # warm-up: oneDNN builds its kernels on the first calls
        step()
    start = time.process_time()
    for _ in range(steps):
        step()
    return (time.process_time() - start) / steps


def run_child(model_name: str, variant: str, steps: int) -> float:
    env = {**os.environ, "RSBENCH_ONEDNN_GUARD": "off" if variant == "off" else "on"}
    env.pop("ONEDNN_MAX_CPU_ISA", None)
    if variant == "avx2":
        env["ONEDNN_MAX_CPU_ISA"] = "AVX2"
    args = [sys.executable, __file__, "--child", model_name, variant, "--steps", str(steps)]
    done = subprocess.run(args, capture_output=True, text=True, env=env, cwd=ROOT)
    if done.returncode != 0:
        tail = (done.stderr.strip().splitlines() or ["?"])[-1]
        raise SystemExit(f"{model_name}/{variant} failed (exit {done.returncode}): {tail}")
    return json.loads(done.stdout.strip().splitlines()[-1])["seconds_per_step"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--child", nargs=2, metavar=("MODEL", "VARIANT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps({"seconds_per_step": child(*args.child, args.steps)}))
        return 0
    import torch

    print(
        f"torch {torch.__version__}, CPU capability {torch.backends.cpu.get_cpu_capability()}, "
        f"{torch.get_num_threads()} threads; {args.steps} steps × {args.rounds} rounds"
    )
    times: dict[tuple[str, str], list[float]] = {}
    for _ in range(args.rounds):
        for model_name, variants in VARIANTS.items():
            for variant in variants:
                seconds = run_child(model_name, variant, args.steps)
                times.setdefault((model_name, variant), []).append(seconds)
    for model_name, variants in VARIANTS.items():
        base = statistics.median(times[(model_name, "guard")])
        for variant in variants:
            median = statistics.median(times[(model_name, variant)])
            print(
                f"{model_name:5s} {variant:5s}: {median * 1000:7.1f} ms CPU per step, "
                f"{median / base:.3f}× guard"
            )
    print(load_average())
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""A known fault of oneDNN's CPU convolution, and the narrow way rsbench steers around it.

**The fault.** oneDNN's 1×1 convolution *weight gradient* (``jit_1x1`` backward-weights, the
kernel torch's CPU ``convolution_backward`` reaches for a strided 1×1 convolution on
channels-last tensors) writes past its "reduce to unit stride" workspace when the input has
fewer channels than the kernel's channel block: 16 with AVX-512, 8 with AVX2. The result is a
corrupted heap: a segmentation fault, an abort ("double free or corruption"), a hang, or, on
some machines, silently wrong weight gradients. Upstream: uxlfoundation/oneDNN#6035 (open).
Seen here with torch 2.13.0+cpu and 2.14.1 (both oneDNN v3.12.0) on an AVX-512 AMD EPYC: a
ResNet shortcut convolution with 8 input channels at stride 2 (a tiny test checkpoint; the
real ResNets start at 64 channels). ``tools/onednn_conv1x1_check.py`` is the regression
script: it runs the reproduction in child processes and says whether this torch still has it.

**Why it is reached at all.** Image batches are decoded as ``B × H × W × 3`` and permuted to
``B × 3 × H × W``, which gives channels-last strides; convolutions keep that layout, so every
convolution of an image encoder runs channels-last on the CPU (a fast path, kept).

**The workaround.** When a model trains on the CPU, every strided 1×1 ``nn.Conv2d`` with fewer
than `CHANNEL_BLOCK` input channels gets its input as a contiguous (NCHW) tensor, by a forward
pre-hook: oneDNN then takes its blocked-layout path, which does not have the fault. Only those
convolutions change (none in the bench's small or paper checkpoints: their ResNets' strided
1×1 convolutions have ≥ 16 input channels), and only on the CPU, on every CPU: capping oneDNN
at AVX2 (``ONEDNN_MAX_CPU_ISA=AVX2``) would slow every convolution and still leave inputs of
fewer than 8 channels exposed. ``RSBENCH_ONEDNN_GUARD=off`` turns the workaround off (to
reproduce a run made without it, or to check a fixed torch); each record says what was applied
(``environment.onednn``).
"""

from __future__ import annotations

import functools
import os
from typing import Any

import torch
from torch import nn

#: the largest channel block of oneDNN's x86 1×1 kernels (AVX-512; AVX2's is 8)
CHANNEL_BLOCK = 16
#: the environment variable that turns the workaround off (``off``) or on (``on``, default)
ENV = "RSBENCH_ONEDNN_GUARD"
UPSTREAM = "uxlfoundation/oneDNN#6035"


def enabled() -> bool:
    """Whether the workaround is on (``RSBENCH_ONEDNN_GUARD``: ``on``, the default, or ``off``)."""
    value = os.environ.get(ENV, "on").strip().lower()
    if value not in ("on", "off"):
        from rsbench.io.errors import RsbenchError

        raise RsbenchError(f"{ENV}={value!r} is not valid; valid: on, off")
    return value == "on"


def reaches_fault(module: nn.Module) -> bool:
    """Whether ``module``'s weight gradient can reach the faulty kernel on the CPU: a 2-D
    convolution with a 1×1 kernel, a stride above 1 and fewer than `CHANNEL_BLOCK` input
    channels per group."""
    return (
        isinstance(module, nn.Conv2d)
        and tuple(module.kernel_size) == (1, 1)
        and any(s > 1 for s in module.stride)
        and module.in_channels // module.groups < CHANNEL_BLOCK
    )


def _contiguous_input(module: nn.Module, args: tuple) -> tuple:
    """Forward pre-hook: the input in the contiguous (NCHW) layout."""
    return (args[0].contiguous(), *args[1:])


def protect(model: nn.Module, device: str) -> dict[str, Any]:
    """Apply the workaround to ``model`` for training on ``device``; what was applied.

    The convolutions that reach the fault (`reaches_fault`) get the `_contiguous_input` hook
    when ``device`` is the CPU and the workaround is on. The returned dict goes into the
    record's environment: ``{"guard": "on"|"off", "convolutions": N, ...}``.
    """
    on = enabled()
    targets = [name for name, m in model.named_modules() if reaches_fault(m)]
    applied = on and str(device).startswith("cpu")
    if applied:
        for name in targets:
            model.get_submodule(name).register_forward_pre_hook(_contiguous_input)
    return {
        "guard": "on" if on else "off",
        "convolutions": len(targets) if applied else 0,
        "upstream": UPSTREAM,
        **({"modules": targets[:8]} if applied and targets else {}),
    }


@functools.cache
def version() -> str | None:
    """oneDNN's version in this torch build (None: built without it)."""
    for line in torch.__config__.show().splitlines():
        if "MKL-DNN v" in line:  # "Intel(R) MKL-DNN v3.12.0 (Git Hash …)"
            return line.split("MKL-DNN v", 1)[1].split()[0]
    return None


def describe() -> dict[str, Any]:
    """The oneDNN facts of this process for a record: version, ISA cap, workaround setting."""
    return {
        "version": version(),
        "max_cpu_isa": os.environ.get("ONEDNN_MAX_CPU_ISA"),
        "guard": os.environ.get(ENV, "on").strip().lower(),
    }

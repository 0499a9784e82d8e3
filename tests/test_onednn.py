"""The oneDNN workaround (`rsbench.engine.onednn`): which convolutions, what changes, and that
the reproduction no longer crashes through a protected model."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
import torch
from torch import nn

from rsbench.engine import onednn
from rsbench.io.errors import RsbenchError


def test_only_strided_one_by_one_convolutions_with_few_input_channels_reach_the_fault():
    assert onednn.reaches_fault(nn.Conv2d(8, 16, 1, stride=2))
    assert onednn.reaches_fault(nn.Conv2d(3, 16, 1, stride=(1, 4)))
    assert onednn.reaches_fault(nn.Conv2d(30, 30, 1, stride=2, groups=3))  # 10 per group
    assert not onednn.reaches_fault(nn.Conv2d(16, 32, 1, stride=2))  # a full channel block
    assert not onednn.reaches_fault(nn.Conv2d(8, 16, 1, stride=1))  # no stride: other kernel
    assert not onednn.reaches_fault(nn.Conv2d(8, 16, 3, stride=2))
    assert not onednn.reaches_fault(nn.Linear(8, 16))


def tiny_resnet():
    from tests.fixtures.tiny_checkpoints import tiny_resnet as make

    return make((8, 16, 32, 64))  # stage 2's shortcut: 8 → 16 channels, 1×1, stride 2


def inputs_seen(model: nn.Module, pixels: torch.Tensor) -> dict[str, bool]:
    """Module name → whether its input was contiguous (NCHW), for every Conv2d."""
    seen: dict[str, bool] = {}
    handles = [
        m.register_forward_hook(lambda m, a, o, n=n: seen.__setitem__(n, a[0].is_contiguous()))
        for n, m in model.named_modules()
        if isinstance(m, nn.Conv2d)
    ]
    model(pixel_values=pixels)
    for h in handles:
        h.remove()
    return seen


def channels_last_pixels(n: int = 2, size: int = 64) -> torch.Tensor:
    """Pixels as the image pipeline makes them: ``B × H × W × 3`` permuted (channels-last)."""
    return torch.rand(n, size, size, 3).permute(0, 3, 1, 2)


def test_on_the_cpu_exactly_the_faulty_convolutions_get_nchw_inputs(monkeypatch):
    monkeypatch.delenv(onednn.ENV, raising=False)
    model, pixels = tiny_resnet(), channels_last_pixels()
    before = model(pixel_values=pixels).last_hidden_state
    applied = onednn.protect(model, "cpu")
    targets = [n for n, m in model.named_modules() if onednn.reaches_fault(m)]
    assert targets == ["encoder.stages.1.layers.0.shortcut.convolution"]
    assert applied["guard"] == "on" and applied["convolutions"] == 1
    assert applied["modules"] == targets and applied["upstream"] == "uxlfoundation/oneDNN#6035"
    seen = inputs_seen(model, pixels)
    assert seen[targets[0]] is True
    assert not any(v for n, v in seen.items() if n != targets[0])  # the rest stays channels-last
    torch.testing.assert_close(model(pixel_values=pixels).last_hidden_state, before)


@pytest.mark.parametrize(("device", "env"), [("cuda", "on"), ("cpu", "off")])
def test_nothing_changes_on_a_gpu_or_when_turned_off(device, env, monkeypatch):
    monkeypatch.setenv(onednn.ENV, env)
    model = tiny_resnet()
    applied = onednn.protect(model, device)
    assert applied["convolutions"] == 0 and applied["guard"] == env
    assert not any(inputs_seen(model, channels_last_pixels()).values())


def test_a_bad_setting_is_one_clear_error(monkeypatch):
    monkeypatch.setenv(onednn.ENV, "maybe")
    with pytest.raises(
        RsbenchError, match="RSBENCH_ONEDNN_GUARD='maybe' is not valid; valid: on, off"
    ):
        onednn.protect(tiny_resnet(), "cpu")


def test_the_record_facts_name_the_onednn_version(monkeypatch):
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")
    facts = onednn.describe()
    assert facts["max_cpu_isa"] == "AVX2" and facts["guard"] == "on"
    assert re.fullmatch(r"\d+\.\d+\.\d+", facts["version"])  # the CPU wheel is built with it


REPRODUCTION = """
import torch
from torch import nn
from rsbench.engine import onednn
torch.manual_seed(0)
model = nn.Conv2d(8, 16, 1, stride=2)
{protect}
x = torch.randn(1, 64, 64, 8).permute(0, 3, 1, 2)  # channels-last, as the pipeline makes them
for _ in range(3):
    model.zero_grad()
    model(x).square().sum().backward()
with torch.backends.mkldnn.flags(enabled=False):
    reference = nn.Conv2d(8, 16, 1, stride=2)
    reference.load_state_dict(model.state_dict())
    reference(x.contiguous()).square().sum().backward()
torch.testing.assert_close(model.weight.grad, reference.weight.grad, rtol=1e-4, atol=1e-4)
print("ok")
"""


def test_the_smallest_reproduction_trains_through_a_protected_model():
    """On an AVX-512 CPU (or AVX2 below 4 channels), this dies of SIGSEGV / SIGABRT without
    the workaround; here it must run and give the weight gradient computed without oneDNN."""
    code = REPRODUCTION.format(protect='onednn.protect(model, "cpu")')
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "ok", (
        done.returncode,
        done.stderr[-2000:],
    )

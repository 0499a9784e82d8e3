"""The engine's overhead: training steps through `TrainableMethod` vs a bare PyTorch loop.

    python benchmarks/engine_overhead.py [--steps 20] [--repeats 5] [--method infonce|rrsitr...]

Both run the same model (rsbench's pretrained small CLIP under ``infonce``'s small profile, on
synthrs's training rows at 40 % caption noise), the same kind of batches (a seeded order, random
crops from the decoded cache on the device) and the same loss, optimiser,
schedule and clipping; the engine adds what it does for every method (Batch and LossOutput
objects, the schedule per step, per-row and statistics bookkeeping, precision wrappers, the
finite-loss check). Rounds alternate engine / bare; each round's time is process CPU time on
one thread by default (robust to other tenants of a shared machine). Prints the ratio
engine / bare (goal <= 1.05).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import torch


def build():
    """infonce's small profile on synthrs's noisy training rows (40 % caption noise)."""
    from rsbench.data.noise_file import build_noise_file
    from rsbench.plugin.components import TrainTask
    from rsbench.plugin.manager import get_plugins
    from rsbench_plugins.methods.infonce import InfoNCE

    splits = get_plugins().datasets.get("synthrs").create().load()
    noise = get_plugins().noise_models.get("caption_shuffle").create()
    nf = build_noise_file(splits.train, noise, 0.4, 42, {"name": "synthrs"})
    task = TrainTask(nf.train_pairs(splits.train), splits.val.eval_set(), 0, "cpu", None)
    method = InfoNCE()
    return method, method.prepare(task, torch.Generator().manual_seed(0))


def engine_round(method, state, rows: torch.Tensor, batch_size: int) -> float:
    start = time.process_time()
    method.train_epoch(state, rows, batch_size, len(rows) // batch_size, None)
    return time.process_time() - start


def bare_round(method, state, rows: torch.Tensor, batch_size: int) -> float:
    from rsbench.engine.optim import set_learning_rate
    from rsbench_plugins.methods.infonce import info_nce

    model, optim = state.model, state.optimizers[0]
    start = time.process_time()
    order = rows[torch.randperm(len(rows), generator=state.generator)]
    steps = len(order) // batch_size
    model.train()
    for i in range(steps):
        rows = order[i * batch_size : (i + 1) * batch_size]
        set_learning_rate(optim.optimizer, optim.schedule.factor(state.epoch * steps + i))
        image = state.row_image[rows]
        pixels = state.pipeline.train_batch(state.pixels[image], state.generator)
        img = model.encode_image(pixels)
        txt = model.encode_text(state.text[rows].trim())
        loss = info_nce(img.emb, txt.emb, image, model.logit_scale, True)
        optim.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(optim.parameters, state.grad_clip)
        optim.optimizer.step()
    return time.process_time() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1, help="torch threads [1: robust CPU time]")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    method, state = build()
    rows = torch.arange(args.steps * args.batch_size)
    engine_round(method, state, rows, args.batch_size)  # warm-up
    bare_round(method, state, rows, args.batch_size)
    engine, bare = [], []
    print(f"load average before: {os.getloadavg()}")
    for _ in range(args.repeats):
        engine.append(engine_round(method, state, rows, args.batch_size))
        bare.append(bare_round(method, state, rows, args.batch_size))
    per_step = lambda xs: 1000 * statistics.median(xs) / args.steps  # noqa: E731
    print(
        f"{args.steps} steps of batch {args.batch_size}, {args.repeats} rounds each, "
        f"{torch.get_num_threads()} threads (CPU time per step, median)"
    )
    print(f"engine: {per_step(engine):.1f} ms/step   bare loop: {per_step(bare):.1f} ms/step")
    ratios = [e / b for e, b in zip(engine, bare, strict=True)]
    print(
        f"engine / bare: median {statistics.median(ratios):.3f}, "
        f"min-to-min {min(engine) / min(bare):.3f} (goal <= 1.05)"
    )
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()

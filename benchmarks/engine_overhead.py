"""The engine's overhead: training steps through `TrainableMethod` vs a bare PyTorch loop.

    python benchmarks/engine_overhead.py [--steps 20] [--repeats 5] [--method infonce|rrsitr...]

Both run the same model (rsbench's pretrained small CLIP under ``infonce``'s small profile),
the same batches (one seeded order, the same random crops) and the same loss, optimiser,
schedule and clipping; the engine adds what it does for every method (Batch and LossOutput
objects, the schedule per step, per-row and statistics bookkeeping, precision wrappers, the
finite-loss check). Rounds alternate engine / bare; each round's time is process CPU time
(robust to other tenants of a shared machine). Prints the ratio engine / bare (goal <= 1.05).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np
import torch


def build(steps: int, batch_size: int):
    from rsbench.components import TrainPairs, TrainTask
    from rsbench.data import EvalSet
    from rsbench.engine.precision import Precision
    from rsbench.engine.trainer import EngineState
    from rsbench_plugins.methods.infonce import InfoNCE

    method = InfoNCE()  # small profile: the pretrained small CLIP
    n_rows = steps * batch_size
    rng = np.random.default_rng(0)
    words = [
        "a",
        "an",
        "the",
        "plane",
        "ship",
        "red",
        "white",
        "two",
        "three",
        "runway",
        "port",
        "near",
        "left",
        "right",
        "of",
        "and",
    ]
    texts = [" ".join(rng.choice(words, size=rng.integers(5, 14))) for _ in range(n_rows)]
    image = np.arange(n_rows) // 5
    pairs = TrainPairs(
        [str(i) for i in range(image.max() + 1)],
        [None] * (image.max() + 1),
        [None] * (image.max() + 1),
        texts,
        image,
    )
    task = TrainTask(pairs, EvalSet([], [], np.zeros(0)), seed=0, device="cpu", work_dir=None)
    model = method.build(task)
    tokenizer = method.make_tokenizer(task)
    pipeline = method.image_pipeline()
    decode = pipeline.train_decode_size
    pixels = torch.from_numpy(
        rng.integers(0, 256, (image.max() + 1, decode, decode, 3), dtype=np.uint8)
    )
    state = EngineState(
        task=task,
        model=model,
        tokenizer=tokenizer,
        pipeline=pipeline,
        precision=Precision(method.options.precision, "cpu"),
        device="cpu",
        generator=torch.Generator().manual_seed(0),
        text=tokenizer(texts),
        row_image=torch.from_numpy(image),
        pixels=pixels,
        grad_clip=method.options.grad_clip,
    )
    state.optimizers = method.configure_optimizers(model, steps)
    return method, state


def engine_round(method, state, batch_size: int) -> float:
    start = time.process_time()
    method._train_epoch(state, None, batch_size, len(state.row_image) // batch_size, None)
    state.precision.update()
    return time.process_time() - start


def bare_round(method, state, batch_size: int) -> float:
    from rsbench.engine.optim import set_learning_rate
    from rsbench_plugins.methods.infonce import info_nce

    model, optim = state.model, state.optimizers[0]
    start = time.process_time()
    order = torch.randperm(len(state.row_image), generator=state.generator)
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
    args = parser.parse_args()
    method, state = build(args.steps, args.batch_size)
    engine_round(method, state, args.batch_size)  # warm-up
    bare_round(method, state, args.batch_size)
    engine, bare = [], []
    print(f"load average before: {os.getloadavg()}")
    for _ in range(args.repeats):
        engine.append(engine_round(method, state, args.batch_size))
        bare.append(bare_round(method, state, args.batch_size))
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

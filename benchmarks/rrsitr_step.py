"""RRSITR's training step through rsbench against one written in the official loop's style.

    python benchmarks/rrsitr_step.py [--steps 10] [--repeats 3] [--threads N]

Both train the same model (rsbench's small pretrained CLIP with token features, RRSITR's
small profile) on the same synthrs training rows, batch 100, with the same loss:

- **rsbench**: images decoded once into the cache and cropped on the device, captions tokenized
  once, the local score in Gram form (⟨T̂ᵀT̂, V̂ᵀV̂⟩, two d × d matrices per item), the profile's
  precision (fp32 on the CPU);
- **official style** (MSFLabX/RRSITR's loop): every step decodes its 100 images with PIL and
  applies torchvision-style RandomResizedCrop (bicubic) and normalisation per image, tokenizes its
  captions, and computes the local score directly (the B × B × 77 × 49 token-cosine tensor,
  then its norm), with a gradient scaler; in fp16 autocast as the official code trains on a GPU
  (``--reference-precision fp16``), or in fp32 (the default: the CPU has no fast fp16 kernels, so
  fp16 there would flatter rsbench).

Time is process CPU time per step on one thread by default (robust to other tenants of a shared
machine: with several threads, waiting threads spin and inflate CPU time), split into
data preparation and model work for the official style. Prints the ratio (goal >= 3x where the
official loop is the bottleneck) and the load average.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np
import torch
from PIL import Image


def setup():
    from rsbench.data.noise_file import build_noise_file
    from rsbench.plugin.components import TrainTask
    from rsbench.plugin.manager import get_plugins
    from rsbench_plugins.methods.rrsitr import RRSITR

    splits = get_plugins().datasets.get("synthrs").create().load()
    noise = get_plugins().noise_models.get("caption_shuffle").create()
    nf = build_noise_file(splits.train, noise, 0.4, 42, {"name": "synthrs"})
    pairs = nf.train_pairs(splits.train)
    task = TrainTask(pairs, splits.val.eval_set(), seed=0, device="cpu", work_dir=None)
    method = RRSITR()
    state = method.prepare(task, torch.Generator().manual_seed(0))
    return method, state, pairs


def engine_steps(method, state, steps: int) -> float:
    rows = torch.arange(steps * 100)
    start = time.process_time()
    method.train_epoch(state, rows, 100, steps, None)
    return (time.process_time() - start) / steps


def official_steps(method, state, pairs, steps: int, precision: str) -> tuple[float, float]:
    """(data seconds, model seconds) per step."""
    from rsbench.engine.pipeline import NORMALISATIONS, resized_crop_boxes
    from rsbench_plugins.methods.rrsitr import KAPPA, local_scores_direct, rrsitr_terms

    o = method.options
    model, optim = state.model, state.optimizers[0]
    scaler = torch.amp.GradScaler("cpu", enabled=precision == "fp16")
    mean, std = (torch.tensor(v).view(3, 1, 1) for v in NORMALISATIONS["openai"])
    generator = torch.Generator().manual_seed(0)
    data = compute = 0.0
    model.train()
    for step in range(steps):
        t0 = time.process_time()
        rows = np.arange(step * 100, (step + 1) * 100)
        images = []
        for r in rows:
            with Image.open(pairs.image_paths[pairs.image[r]]) as im:
                im = im.convert("RGB").resize((o.decode_size, o.decode_size), Image.BICUBIC)
            top, left, h, w = resized_crop_boxes(
                1, im.height, im.width, (0.9, 1.0), (3 / 4, 4 / 3), generator
            )[0].tolist()
            crop = im.crop((left, top, left + w, top + h)).resize(
                (o.image_size, o.image_size), Image.BICUBIC
            )
            x = torch.from_numpy(np.asarray(crop, dtype=np.float32) / 255).permute(2, 0, 1)
            images.append((x - mean) / std)
        pixels = torch.stack(images)
        tokens = state.tokenizer([pairs.texts[r] for r in rows])
        t1 = time.process_time()
        with torch.autocast("cpu", dtype=torch.float16, enabled=precision == "fp16"):
            img = model.encode_image(pixels)
            txt = model.encode_text(tokens)
            local = local_scores_direct(txt.tokens, img.tokens, KAPPA)
        sims = txt.emb.float() @ img.emb.float().T
        loss = rrsitr_terms(
            sims, local.float(), o.gamma1, o.gamma2, o.lambda1, o.lambda2, o.sigma
        ).loss
        optim.optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.unscale_(optim.optimizer)
        torch.nn.utils.clip_grad_norm_(optim.parameters, o.grad_clip)
        scaler.step(optim.optimizer)
        scaler.update()
        t2 = time.process_time()
        data += t1 - t0
        compute += t2 - t1
    return data / steps, compute / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="torch threads [1: robust CPU time]")
    parser.add_argument("--reference-precision", choices=("fp32", "fp16"), default="fp32")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    method, state, pairs = setup()
    engine_steps(method, state, 2)  # warm-up
    official_steps(method, state, pairs, 2, args.reference_precision)
    print(f"load average before: {os.getloadavg()}")
    engine, data, model = [], [], []
    for _ in range(args.repeats):
        engine.append(engine_steps(method, state, args.steps))
        d, m = official_steps(method, state, pairs, args.steps, args.reference_precision)
        data.append(d)
        model.append(m)
    e, d, m = (1000 * statistics.median(x) for x in (engine, data, model))
    print(
        f"RRSITR small profile, batch 100, {args.steps} steps x {args.repeats} rounds, "
        f"{torch.get_num_threads()} threads; CPU ms per step (median of rounds):"
    )
    print(f"  rsbench engine (cached pixels, Gram local score, fp32): {e:.0f}")
    print(
        f"  official style: {d + m:.0f} (PIL decode + crops + tokenizing {d:.0f}, model with direct local score in {args.reference_precision} {m:.0f})"
    )
    print(f"  official / rsbench: {(d + m) / e:.2f}x")
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()

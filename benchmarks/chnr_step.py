"""CHNR's training steps (meta and main phase) against a reference in the official loop's style.

    python benchmarks/chnr_step.py [--profile paper] [--steps 10] [--threads 0]

Same model (the profile's widths: paper 512 / 768-d features, hidden 4096, 64 bits; small
128 / 64, hidden 1024), same batch of 256 pairs, same device (CPU). The reference follows
comrados/noisy_captions' ``controller_UNHD.py``: the fake pairs drawn row by row with Python's
``random`` and a class check per draw (``generate_fake_pairs``), one backward per detector term
(``train_discriminator_step``), every NT-Xent term computed and then weighted (the two
intra-modal ones by 0), the official NT-Xent formula, and the detector run on the augmented
pair as well for weights that are never used. rsbench's step is ``CHNR.training_step`` through
an engine state. Printed: CPU time per step of each (median over ``--steps``), the ratio, the
load average (the machine may be shared).
"""

from __future__ import annotations

import argparse
import math
import random
import statistics

import numpy as np
import torch
import torch.nn.functional as F
from timing import cpu_seconds, load_average


def official_nt_xent(out_1, out_2, weights, temperature=1.0, eps=1e-6):
    out_1, out_2 = F.normalize(out_1), F.normalize(out_2)
    out = torch.cat([out_1, out_2], dim=0)
    sim = torch.exp(torch.mm(out, out.t().contiguous()) / temperature)
    neg = torch.clamp(sim.sum(dim=-1) - math.e, min=eps)
    pos = torch.exp(torch.sum(out_1 * out_2, dim=-1) / temperature)
    pos = torch.cat([pos, pos], dim=0)
    ws = torch.cat([weights, weights], dim=0) if isinstance(weights, torch.Tensor) else weights
    return (-torch.log(pos / (neg + eps)) * ws).sum()


def official_fake_pairs(img, txt, label):
    perm = []
    for i in range(len(txt)):
        while True:
            new_idx = random.choice(range(len(txt)))
            if label[i] != label[new_idx]:
                perm.append(new_idx)
                break
    return torch.cat((img, txt[perm]), 1)


def official_step(model, opts, batch, codes, buffers, meta: bool):
    """One step as ``train_epoch_clean_data`` / ``train_epoch`` do it."""
    opt_gen, opt_dis = opts
    img1, img2, txt1, label, ind = batch
    txt2 = txt1
    h_img1, h_img2 = model.image_net(img1), model.image_net(img2)
    h_txt1, h_txt2 = model.text_net(txt1), model.text_net(txt2)
    for buffer, h in zip(buffers, (h_img1, h_img2, h_txt1, h_txt2), strict=True):
        buffer[ind, :] = h.detach()
    detector = model.detector
    if meta:
        reals = [
            torch.cat((a, b), 1)
            for a, b in ((img1, txt1), (img2, txt2), (img1, txt2), (img2, txt1))
        ]
        fakes = [
            official_fake_pairs(a, b, label)
            for a, b in ((img1, txt1), (img2, txt2), (img1, txt2), (img2, txt1))
        ]
        opt_dis.zero_grad()
        for real, fake in zip(reals, fakes, strict=True):
            (-torch.log(torch.sigmoid(detector(real))).mean()).backward()
            n = len(fake)
            (-torch.log(torch.ones(n) - torch.sigmoid(detector(fake))).mean()).backward()
            alpha = torch.rand(n, real.shape[1])
            mixed = (alpha * real + (1 - alpha) * fake).requires_grad_()
            out = detector(mixed)
            grad = torch.autograd.grad(out, mixed, torch.ones(out.size()), create_graph=True)[0]
            (((grad.view(n, -1).norm(2, dim=1) - 1) ** 2).mean() * 10).backward()
        opt_dis.step()
        with torch.no_grad():
            for pairs in (reals[0], reals[1], fakes[0], fakes[1]):
                torch.sigmoid(detector(pairs))
        weights = 1
    else:
        with torch.no_grad():
            w1 = torch.sigmoid(detector(torch.cat((img1, txt1), 1)))
            torch.sigmoid(detector(torch.cat((img2, txt2), 1)))  # w2, never used
        weights = w1
    intra = float(weights.mean()) if isinstance(weights, torch.Tensor) else 1
    loss = (
        official_nt_xent(h_img1, h_txt1, weights) * 1.0
        + official_nt_xent(h_img1, h_img2, intra) * 0.0
        + official_nt_xent(h_txt1, h_txt2, intra) * 0.0
    )
    b = codes[ind, :]
    quant = sum(torch.sum(torch.pow(b - h, 2)) for h in (h_img1, h_img2, h_txt1, h_txt2))
    loss = loss + 0.001 * quant
    opt_gen.zero_grad()
    loss.backward()
    opt_gen.step()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="paper", choices=("paper", "small"))
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    from rsbench.engine import Batch, EngineState
    from rsbench.engine.precision import Precision
    from rsbench.plugin.components import TrainPairs, TrainTask
    from rsbench.plugin.split import EvalSet
    from rsbench_plugins.methods.chnr import CHNR, CHNRModel, FitData

    dims = {"paper": (512, 768, 4096), "small": (128, 64, 1024)}[args.profile]
    image_dim, text_dim, hidden = dims
    n_rows, batch_size, bits = 2048, 256, 64
    method = CHNR(profile=args.profile, meta_buffers="row", fake_labels="true")
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    features = {
        "image": torch.randn(n_rows, image_dim, generator=g),
        "augmented": torch.randn(n_rows, image_dim, generator=g),
        "text": torch.randn(n_rows, text_dim, generator=g),
    }
    labels = torch.randint(0, 21, (n_rows,), generator=g)

    def fresh():
        torch.manual_seed(0)
        model = CHNRModel(image_dim, text_dim, hidden, bits, 0.2).train()
        zeros = [torch.zeros(n_rows, bits) for _ in range(4)]
        return model, torch.randn(n_rows, bits).sign(), zeros

    # rsbench: the method's own step through an engine state
    model, codes, _ = fresh()
    pairs = TrainPairs([], [], [], ["x"] * n_rows, np.arange(n_rows))
    task = TrainTask(pairs, EvalSet([], [], np.zeros(0)), seed=0, device="cpu", work_dir=None)
    state = EngineState(
        task=task,
        model=model,
        tokenizer=None,
        pipeline=None,
        precision=Precision("fp32", "cpu"),
        device="cpu",
        generator=torch.Generator().manual_seed(0),
        text=None,
        row_image=torch.arange(n_rows),
        pixels=None,
    )
    state.optimizers = method.configure_optimizers(model, n_rows // batch_size)
    state.buffers["chnr"] = FitData(
        image=features["image"],
        augmented=features["augmented"],
        text=features["text"],
        row_text=torch.arange(n_rows),
        row_label=labels,
        trusted=torch.arange(n_rows),
        position=torch.arange(n_rows),
        codes=codes,
        image_codes=torch.zeros(n_rows, bits),
        augmented_codes=torch.zeros(n_rows, bits),
        text_codes=torch.zeros(n_rows, bits),
    )
    ref_model, ref_codes, ref_buffers = fresh()
    ref_opts = [o.optimizer for o in method.configure_optimizers(ref_model, n_rows // batch_size)]
    rng = np.random.default_rng(0)
    results = {}
    for phase, epoch in (("meta", 0), ("main", method.options.meta_epochs)):
        state.epoch = epoch
        ours, reference = [], []
        for step in range(args.steps + 1):  # the first step of each warms up
            rows = torch.from_numpy(rng.choice(n_rows, batch_size, replace=False))
            mine = cpu_seconds(
                method.training_step, state, Batch(rows, rows, epoch, step, args.steps)
            )
            batch = (
                features["image"][rows],
                features["augmented"][rows],
                features["text"][rows],
                labels[rows],
                rows,
            )
            meta = phase == "meta"
            theirs = cpu_seconds(
                official_step, ref_model, ref_opts, batch, ref_codes, ref_buffers, meta
            )
            if step:
                ours.append(mine)
                reference.append(theirs)
        results[phase] = (statistics.median(reference), statistics.median(ours))
    load = load_average()
    print(
        f"CHNR training step, {args.profile} widths ({image_dim}/{text_dim}-d, hidden {hidden}, {bits} bits), batch {batch_size}, CPU, {torch.get_num_threads()} threads"
    )
    print(f"{'phase':6} {'official style ms':>18} {'rsbench ms':>11} {'ratio':>6}")
    for phase, (theirs, mine) in results.items():
        print(f"{phase:6} {theirs * 1000:18.1f} {mine * 1000:11.1f} {theirs / mine:6.2f}")
    print(load)


if __name__ == "__main__":
    main()

"""MSA's training step: rsbench's against one written in the official loop's style.

    python benchmarks/msa_step.py [--steps 10] [--batch-size 32] [--threads 1] [--skip-full]

The official ``retrieval.py`` builds MSCMAT's B² (image, text) pairs with a Python loop that
grows tensors by ``torch.cat`` (then projects every caption's keys and values B times in one
``MultiheadAttention`` call), and mines the triplet's hard negatives by copying both
embeddings to the CPU for ``scipy.spatial.distance.cdist(…, 'cosine')`` (a NumPy equivalent
here: scipy is not a dependency) with the diagonal multiplied by 1e6. rsbench projects each
caption's keys and values once (`rsbench.engine.pair_attention`) and mines on the device.

Two comparisons, each on the same model, weights, batch and device (the CPU), with the loss
values checked equal:

1. ``full step``: forward, the three losses, backward and the AdamW step of the ``small``
   profile (rsbench's small ResNet-50 layout and small BERT, 64 px, batch 32);
2. ``loss head at paper width``: MSCMAT (width 768, 12 heads, stage widths 256–2048, 30 text
   positions) and the three losses, forward and backward, on random backbone features:
   the part of the paper-profile step the loop style affects, without the ResNet-50 and
   bert-base passes that take seconds per step on a CPU.

Rounds alternate rsbench / official style; each step's time is process CPU time (robust to
other tenants of a shared machine); medians are printed with the load average.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
import warnings

import numpy as np
import torch
import torch.nn.functional as F

from rsbench_plugins.methods.msa_losses import csmmc_loss, mscma_loss, triplet_loss


# ---- the official loop's style ---------------------------------------------------------------
def official_pairs(scales, tokens, cls, mscmat):
    """interact_cross: B² pairs grown by torch.cat in a Python loop, one MHA call on all."""
    b, length, width = tokens.shape
    images = [torch.ones((1, s.shape[1])) for s in scales]
    texts, clss = torch.ones((1, length, width)), torch.ones((1, width))
    for i in range(b):
        images = [
            torch.cat((acc, s[i, :].expand(b, -1)), 0)
            for acc, s in zip(images, scales, strict=True)
        ]
        texts = torch.cat((texts, tokens), 0)
        clss = torch.cat((clss, cls), 0)
    images, texts, clss = [x[1:] for x in images], texts[1:], clss[1:]
    keys = mscmat.norm_text(texts.permute(1, 0, 2))
    maps = []
    for k, s in enumerate(images):
        q = mscmat.project[k](s)
        a = mscmat.attention[k](mscmat.norm_image(q.unsqueeze(0)), keys, keys, need_weights=False)
        m = torch.sigmoid(mscmat.match[k]((a[0].squeeze(0) + clss) * q))
        maps.append(m.reshape(b, b))
    return maps


def cpu_cdist_cosine(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """scipy's cdist(u, v, 'cosine'): float64, the cosine clipped to [-1, 1]."""
    u, v = u.astype(np.float64), v.astype(np.float64)
    cosine = (u @ v.T) / (np.linalg.norm(u, axis=1)[:, None] * np.linalg.norm(v, axis=1)[None, :])
    return 1.0 - np.clip(cosine, -1.0, 1.0)


def official_triplet(image, text, margin=0.5):
    """triplet_loss with negatives mined on the CPU, the diagonal × 1e6, as retrieval.py."""
    b = len(image)
    mask = 1000000 * np.eye(b) + (np.ones((b, b)) - np.eye(b))
    im, tx = image.detach().cpu().numpy(), text.detach().cpu().numpy()
    text_neg = text[np.argmin(mask * cpu_cdist_cosine(im, tx), axis=1).astype(int)]
    image_neg = image[np.argmin(mask * cpu_cdist_cosine(tx, im), axis=1).astype(int)]
    zero = torch.zeros(1)
    v_pos, v_neg = 2 - F.cosine_similarity(image, text), 2 - F.cosine_similarity(image, text_neg)
    t_pos, t_neg = 2 - F.cosine_similarity(text, image), 2 - F.cosine_similarity(text, image_neg)
    return torch.sum(torch.max(zero, margin + v_pos - v_neg)) + torch.sum(
        torch.max(zero, margin + t_pos - t_neg)
    )


def official_csmmc(maps, tau=2.0):
    total = 0
    teacher = torch.softmax(maps[3].detach() / tau, dim=0).t()
    for k in (2, 1, 0):
        student = torch.softmax(maps[k] / tau, dim=0).t()
        total = total + F.kl_div(teacher.log(), student, reduction="mean").mean()
    return total


def official_head(model, image, text):
    tri = official_triplet(image.emb, text.emb)
    maps = official_pairs(image.scales, text.tokens, text.emb, model.mscmat)
    target = torch.arange(len(maps[0]))
    mscma = sum(F.cross_entropy(m, target) for m in maps)
    return tri + 15 * mscma + 10 * official_csmmc(maps)


def rsbench_head(model, image, text):
    maps = model.alignment(image, text)
    return triplet_loss(image.emb, text.emb) + 15 * mscma_loss(maps) + 10 * csmmc_loss(maps)


# ---- timing ------------------------------------------------------------------------------------
def timed(fn) -> float:
    start = time.process_time()
    fn()
    return time.process_time() - start


def compare(name: str, step_rsbench, step_official, steps: int) -> None:
    a, b = step_rsbench(), step_official()  # warm-up, and the losses agree
    if abs(a - b) > 1e-3 * max(1.0, abs(b)):
        raise SystemExit(f"{name}: losses differ: rsbench {a:.6f} vs official style {b:.6f}")
    ours, theirs = [], []
    for _ in range(steps):
        ours.append(timed(step_rsbench))
        theirs.append(timed(step_official))
    m_ours, m_theirs = statistics.median(ours), statistics.median(theirs)
    print(
        f"{name}: rsbench {1000 * m_ours:.1f} ms, official style {1000 * m_theirs:.1f} ms "
        f"per step (CPU time, median of {steps}); {m_theirs / m_ours:.2f}x faster "
        f"(loss {a:.4f} vs {b:.4f})"
    )


def full_step(batch_size: int, steps: int) -> None:
    from rsbench.engine.features import Features
    from rsbench_plugins.methods.msa import MSA

    method = MSA()  # small profile
    torch.manual_seed(0)
    model = method.build(None)
    model.train()  # as in training: BERT's dropout (re-seeded per step, so both styles see
    # the same masks) and batch statistics in the ResNet
    tokenizer = method.make_tokenizer(None)
    words = [
        "a",
        "an",
        "the",
        "two",
        "three",
        "red",
        "white",
        "plane",
        "ship",
        "runway",
        "port",
        "near",
        "left",
        "of",
        "and",
    ]
    rng = np.random.default_rng(0)
    captions = [" ".join(rng.choice(words, size=rng.integers(5, 14))) for _ in range(batch_size)]
    text = tokenizer(captions)
    pixels = torch.randn(batch_size, 3, 64, 64)
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=0.0, weight_decay=0.1
    )  # lr 0: same weights

    def step(head) -> float:
        torch.manual_seed(1234)
        image = model.encode_image(pixels, scales=True)
        words_ = model.encode_text(text, tokens=True)
        loss = head(model, image, Features(words_.emb, words_.tokens, words_.mask))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return float(loss.detach())

    compare(
        f"full step, small profile (B={batch_size}, 64 px)",
        lambda: step(rsbench_head),
        lambda: step(official_head),
        steps,
    )


def paper_width_head(batch_size: int, steps: int) -> None:
    from rsbench.engine.features import Features
    from rsbench_plugins.methods.msa_model import MSCMAT

    torch.manual_seed(0)
    width, channels, length = 768, (256, 512, 1024, 2048), 30
    mscmat = MSCMAT(channels, width, heads=12)

    class Head(torch.nn.Module):  # what the heads read of a model
        def __init__(self):
            super().__init__()
            self.mscmat = mscmat

        def alignment(self, image, text):
            return self.mscmat(image.scales, text.tokens, text.emb)

    head_model = Head()
    scales = [torch.randn(batch_size, c).relu().requires_grad_() for c in channels]
    tokens = torch.randn(batch_size, length, width, requires_grad=True)
    image_emb = F.normalize(torch.randn(batch_size, width), dim=-1).requires_grad_()
    text_emb = F.normalize(torch.randn(batch_size, width), dim=-1).requires_grad_()

    def step(head) -> float:
        image = Features(emb=image_emb, scales=tuple(scales))
        text = Features(emb=text_emb, tokens=tokens)
        loss = head(head_model, image, text)
        mscmat.zero_grad(set_to_none=True)
        loss.backward()
        return float(loss.detach())

    compare(
        f"loss head at paper width (B={batch_size}, width 768, 12 heads)",
        lambda: step(rsbench_head),
        lambda: step(official_head),
        steps,
    )


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--skip-full", action="store_true", help="only the paper-width head")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    # the official reduction='mean' of kl_div is what is measured; torch warns about it
    warnings.filterwarnings("ignore", message="reduction: 'mean' divides")
    print(
        f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}; "
        f"{torch.get_num_threads()} thread(s); torch {torch.__version__}"
    )
    paper_width_head(args.batch_size, args.steps)
    if not args.skip_full:
        full_step(args.batch_size, args.steps)
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()

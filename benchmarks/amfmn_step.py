"""AMFMN on the engine against references written in the released code's style.

    python benchmarks/amfmn_step.py [--steps 5] [--vga soft,fusion,sim] [--eval-shards 0]
                                   [--prior-images 4000] [--prior-sample 2000] [--skip ...]

Four measurements, each ours and the reference on the same model, data and device (CPU), in one
process with the same thread setting, timed as process CPU time (robust to other tenants of a
shared machine; the load average is printed beside every figure):

- ``step``: one training step at the small profile (batch 100). Reference, as ``engine.train``
  with ``data.PrecompDataset``: every image of the batch opened and decoded with PIL, resized
  (decode size) and randomly cropped per step, the VGA on ``Bv × Bt`` expanded tensors (the
  fusion variant's two linear maps on the 2·D concatenation of every pair), the code's
  ``cosine_similarity`` and ``calcul_loss``; ours: the engine's ``training_step`` (pixels decoded
  once, crops on the device, the factored VGA). Also the step without the data path.
- ``score``: the VGA score at 500 images × 2,500 captions from encoded features: the broadcast
  form vs the factored one.
- ``eval``: the synthrs test split (500 images, 2,500 captions): the code's ``shard_dis``
  (test images stacked as float64, 128 × 128 shards, the whole model, encoders included, run per
  shard pair, scores into a float64 matrix) vs rsbench's `ModelRetriever` (each image and
  caption encoded once, ``model.score`` in tiles). ``--eval-shards N`` times N shard pairs and
  extrapolates (0: all).
- ``prior``: the prior similarity matrix of ``--prior-images`` synthrs training images (× 5
  captions: 4,000 × 20,000 by default): the vectorised `amfmn_prior.prior_matrix` in full; the
  released script's per-pair ``calc_sim`` (NLTK ``sentence_bleu``) on ``--prior-sample`` random
  pairs, extrapolated to the whole matrix.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from timing import cpu_seconds, load_average, median_cpu_seconds

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository: tests.fixtures
from tests.fixtures.released_amfmn import cross_attention_scores  # noqa: E402

warnings.filterwarnings("ignore")


# ---- the released code's forms (reference) -----------------------------------------------


def code_forward(model, pixels: torch.Tensor, text) -> torch.Tensor:
    """``BaseModel.forward``: both encoders, then the broadcast VGA score (images × texts)."""
    visual = model.image_encoder(pixels)
    return cross_attention_scores(model.vga, visual, model.text_encoder(text))


def calcul_loss(scores: torch.Tensor, margin: float = 0.2) -> torch.Tensor:
    size = len(scores)
    diagonal = scores.diag().view(size, 1)
    d1, d2 = diagonal.expand_as(scores), diagonal.t().expand_as(scores)
    cost_s = (margin + scores - d1).clamp(min=0)
    cost_im = (margin + scores - d2).clamp(min=0)
    mask = torch.eye(size) > 0.5
    return cost_s.masked_fill_(mask, 0).sum() + cost_im.masked_fill_(mask, 0).sum()


def pil_batch(paths, decode: int, size: int, rng: np.random.Generator) -> torch.Tensor:
    """``Resize((decode, decode))`` → ``RandomCrop(size)`` → ``ToTensor`` → ``Normalize``."""
    from PIL import Image

    mean = np.array([0.485, 0.456, 0.406], dtype=np.float32)
    std = np.array([0.229, 0.224, 0.225], dtype=np.float32)
    out = []
    for path in paths:
        image = Image.open(path).convert("RGB").resize((decode, decode), Image.BILINEAR)
        top, left = rng.integers(0, decode - size + 1, 2)
        crop = np.asarray(image, dtype=np.float32)[top : top + size, left : left + size] / 255
        out.append(torch.from_numpy(((crop - mean) / std).transpose(2, 0, 1).copy()))
    return torch.stack(out)


def shard_dis(model, images: np.ndarray, text, shard: int = 128, limit: int = 0):
    """``utils.shard_dis``: float64 image stack, the whole model per (image, caption) shard."""
    n_im, n_cap = len(images), len(text)
    d = np.zeros((n_im, n_cap))
    pairs = [(i, j) for i in range(0, n_im, shard) for j in range(0, n_cap, shard)]
    done = pairs if not limit else pairs[:limit]
    with torch.no_grad():
        for i, j in done:
            im = torch.from_numpy(images[i : i + shard]).float()
            sim = code_forward(model, im, text[j : j + shard])
            d[i : i + shard, j : j + shard] = sim.reshape(len(im), -1).numpy()
    return d, len(done) / len(pairs)


# ---- the measurements ---------------------------------------------------------------------


def synthrs(train: int = 2000):
    from rsbench.plugin.manager import get_plugins

    options = {} if train == 2000 else {"train": train, "val": 10, "test": 10}
    return get_plugins().datasets.get("synthrs").create(options).load()


def training_task(splits):
    from rsbench.data.noise_file import build_noise_file
    from rsbench.plugin.components import TrainTask
    from rsbench.plugin.manager import get_plugins

    noise = get_plugins().noise_models.get("caption_shuffle").create()
    nf = build_noise_file(splits.train, noise, 0.2, 0, {"name": "synthrs"})
    return TrainTask(nf.train_pairs(splits.train), splits.val.eval_set(), 0, "cpu", None)


def engine_state(method, task):
    from rsbench.engine import EngineState
    from rsbench.engine.precision import Precision

    model = method.build(task)
    tokenizer = method.make_tokenizer(task)
    pipeline = method.image_pipeline()
    state = EngineState(
        task=task,
        model=model,
        tokenizer=tokenizer,
        pipeline=pipeline,
        precision=Precision("fp32", "cpu"),
        device="cpu",
        generator=torch.Generator().manual_seed(0),
        text=tokenizer(task.pairs.texts),
        row_image=torch.as_tensor(task.pairs.image),
        pixels=torch.from_numpy(np.array(pipeline.load_train(task.pairs.image_paths))),
    )
    state.optimizers = method.configure_optimizers(model, 100)
    method.on_fit_start(state)
    return state


def bench_step(args, splits, task) -> None:
    for vga in args.vga:
        step_one_variant(vga, task, args.steps)


def step_one_variant(vga: str, task, steps: int) -> None:
    from rsbench.engine import Batch
    from rsbench_plugins.methods.amfmn import AMFMN

    method = AMFMN(vga=vga, margin="fixed")  # the released loss: no prior lookup either side
    state = engine_state(method, task)
    model, o = state.model, method.options
    model.train()
    rng = np.random.default_rng(0)
    order = torch.randperm(len(task.pairs), generator=torch.Generator().manual_seed(0))
    batches = [order[k * 100 : (k + 1) * 100] for k in range(steps)]
    optimizer = torch.optim.Adam(model.parameters(), lr=o.lr)
    paths = task.pairs.image_paths

    def ours(rows):
        method.training_step(state, Batch(rows, state.row_image[rows], 0, 0, 1))

    def reference(rows, with_data=True):
        image = state.row_image[rows]
        if with_data:
            pixels = pil_batch([paths[i] for i in image], o.decode_size, o.image_size, rng)
        else:
            pixels = state.pipeline.train_batch(state.pixels[image], state.generator)
        scores = code_forward(model, pixels, state.text[rows].trim())
        loss = calcul_loss(scores, o.margin_value)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    ours(batches[0])  # warm-up (allocators, first-call costs)
    reference(batches[0])
    t_ours = np.mean([cpu_seconds(ours, r) for r in batches])
    t_ref = np.mean([cpu_seconds(reference, r) for r in batches])
    t_ref_model = np.mean([cpu_seconds(reference, r, False) for r in batches])
    print(
        f"step  vga={vga:6s} batch 100: official-style {t_ref:.3f} s (model only "
        f"{t_ref_model:.3f} s), rsbench {t_ours:.3f} s; ratio {t_ref / t_ours:.2f}x "
        f"(model only {t_ref_model / t_ours:.2f}x)  [{load_average()}]"
    )


def bench_score(args) -> None:
    for vga in args.vga:
        score_one_variant(vga)


def score_one_variant(kind: str) -> None:
    from rsbench.engine import Features
    from rsbench_plugins.methods.amfmn_model import VisualGuidedAttention

    torch.manual_seed(0)
    vga = VisualGuidedAttention(512, kind)
    visual, text = torch.randn(500, 512), torch.randn(2500, 512)
    blocks = []

    def reference():  # the code scores 128 × 128 shards (one 500 × 2,500 × 512 block: 2.5 GB)
        blocks.clear()
        for i in range(0, 500, 128):
            row = [
                cross_attention_scores(vga, visual[i : i + 128], text[j : j + 128])
                for j in range(0, 2500, 128)
            ]
            blocks.append(torch.cat(row, dim=1))

    with torch.no_grad():
        image = Features(emb=visual, extra=vga.image_terms(visual))
        texts = Features(emb=text, extra=vga.text_terms(text))
        ours = median_cpu_seconds(lambda: vga.score(image, texts), 3)
        fast = vga.score(image, texts)
        ref = cpu_seconds(reference)
        diff = (torch.cat(blocks).T - fast).abs().max().item()
    print(
        f"score vga={kind:6s} 500 x 2,500 at D=512: broadcast {ref * 1e3:.0f} ms, "
        f"factored {ours * 1e3:.1f} ms; ratio {ref / ours:.1f}x, max |diff| {diff:.1e}  [{load_average()}]"
    )


def bench_eval(args, splits, task) -> None:
    for vga in args.vga:
        eval_one_variant(vga, splits, task, args.eval_shards)


def eval_one_variant(vga: str, splits, task, limit: int) -> None:
    from rsbench.evaluate.retrieval import evaluate_retrieval
    from rsbench_plugins.methods.amfmn import AMFMN

    test = splits.test
    method = AMFMN(vga=vga, margin="fixed")
    state = engine_state(method, task)
    model = state.model.eval()
    retriever = method.make_retriever(state)

    def ours():
        return evaluate_retrieval(retriever.scorer(test.images, test.texts), test.caption_image)

    ours()  # decode the test images into the cache first: both read decoded pixels
    t_ours = cpu_seconds(ours)
    pixels = state.pipeline.load_eval([i.path for i in test.images])
    images = state.pipeline.eval_batch(torch.from_numpy(np.array(pixels))).double().numpy()
    text = state.tokenizer(list(test.texts))
    start = time.process_time()
    d, share = shard_dis(model, images, text, limit=limit)
    t_ref = (time.process_time() - start) / share
    ours_scores = retriever.scorer(test.images, test.texts).block(slice(0, 128), slice(0, 128))
    diff = np.abs(d[:128, :128].T - ours_scores).max()
    shown = "" if share == 1 else f", {share:.0%} of the shards timed and extrapolated"
    print(
        f"eval  vga={vga:6s} {len(test.images)} x {len(test.texts)}: shard_dis "
        f"{t_ref:.1f} s{shown}, rsbench {t_ours:.1f} s; ratio {t_ref / t_ours:.1f}x, "
        f"max |diff| {diff:.1e}  [{load_average()}]"
    )


def script_prior(references: list[str], caption: str) -> float:
    """The released ``Rct/generate_t2i_sim_matrix.py`` ``calc_sim`` for one pair (NLTK BLEU),
    on rsbench's tokens and shipped stop words."""
    from nltk.translate.bleu_score import sentence_bleu

    from rsbench_plugins.methods.amfmn_prior import stems, stop_words

    stop = stop_words()
    visual = [list(stems(r)) for r in references]
    visual_content = [[w for w in v if w not in stop] for v in visual]
    hyp = list(stems(caption))
    hyp_content = [w for w in hyp if w not in stop]
    weights = (0.25, 0.25, 0.25, 0.25)
    score1 = 1 if hyp in visual else sentence_bleu(visual, hyp, weights=weights)
    overlap = [len(set(v) & set(hyp_content)) / len(v) for v in visual_content if len(v) != 0]
    return float(np.mean([score1, np.mean(overlap) if overlap else 0.0]))


def bench_prior(args) -> None:
    from rsbench_plugins.methods.amfmn_prior import prior_matrix

    splits = synthrs(args.prior_images)
    texts = [c for item in splits.train.images for c in item.captions]
    image = np.repeat(
        np.arange(len(splits.train.images)), [len(i.captions) for i in splits.train.images]
    )
    n_images = len(splits.train.images)
    start, wall = time.process_time(), time.perf_counter()
    matrix = prior_matrix(texts, image, n_images, dtype=np.float16)
    ours, ours_wall = time.process_time() - start, time.perf_counter() - wall
    rng = np.random.default_rng(0)
    sample = [
        (int(rng.integers(n_images)), int(rng.integers(len(texts))))
        for _ in range(args.prior_sample)
    ]
    refs = {i: [t for t, owner in zip(texts, image, strict=True) if owner == i] for i, _ in sample}
    start = time.process_time()
    values = [script_prior(refs[i], texts[j]) for i, j in sample]
    per_pair = (time.process_time() - start) / len(sample)
    diff = max(abs(v - float(matrix[i, j])) for v, (i, j) in zip(values, sample, strict=True))
    total = per_pair * matrix.size
    print(
        f"prior {n_images} x {len(texts)}: vectorised {ours:.1f} s CPU ({ours_wall:.1f} s wall), "
        f"NLTK per pair {per_pair * 1e6:.0f} us x {matrix.size:,} pairs = {total / 3600:.2f} h "
        f"(from {len(sample)} pairs); ratio {total / ours:.0f}x, max |diff| {diff:.1e} (float16)  "
        f"[{load_average()}]"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--vga", default="soft,fusion,sim")
    parser.add_argument("--eval-shards", type=int, default=0)
    parser.add_argument("--prior-images", type=int, default=4000)
    parser.add_argument("--prior-sample", type=int, default=2000)
    parser.add_argument("--skip", default="", help="comma-separated: step,score,eval,prior")
    args = parser.parse_args()
    args.vga = [v for v in args.vga.split(",") if v]
    skip = set(args.skip.split(","))
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; {load_average()}")
    if not {"step", "eval"} <= skip:
        splits = synthrs()
        task = training_task(splits)
    if "step" not in skip:
        bench_step(args, splits, task)
    if "score" not in skip:
        bench_score(args)
    if "eval" not in skip:
        bench_eval(args, splits, task)
    if "prior" not in skip:
        bench_prior(args)


if __name__ == "__main__":
    main()

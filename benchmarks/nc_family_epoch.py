"""Cost per epoch of the noisy-correspondence family against infonce, side by side in one run.

    python benchmarks/nc_family_epoch.py [--rows 10000] [--threads 1] [--ratio 0.4]

Every method at its small profile on synthrs at ``--ratio`` caption noise (the same noise file),
one epoch each through the engine's own epoch (``train_epoch``), measured in process CPU time
on ``--threads`` threads (robust to other tenants of a shared machine):

- ``infonce``: one epoch on every row: the unit;
- ``ncr``: a warm-up epoch (both networks, every row), a co-training epoch of the first half
  (the co-divide pass and GMMs, then each network on the other's labeled rows) and one of the
  second half (the unlabeled batches too); the co-divide step alone (both networks' per-pair
  losses over every row, then the two GMM fits) and the GMM fits alone;
- ``npc``: the one-off memory-bank pass (per-pair losses, GMM, neighbours), then one epoch
  (each step: the siamese copy, its step, the bank pairs' losses before and after it);
- ``gsc``: one epoch (with the intra-modal structure terms and the end-of-epoch GMM);
- ``clip_filter``: the one-off scoring pass of the pretrained encoders, then one epoch on the
  kept rows.

Prints seconds and the ratio to the infonce epoch; the goals of the NC-family issue are ncr
≤ 2.2×, npc ≤ 2.5×, gsc ≤ 2.5×, clip_filter ≤ 1.1× plus its scoring pass, the division's GMMs
≤ 5 % of an epoch.
``--rows`` trains on the first N rows of the noisy training split (the co-divide and the
scoring pass cover the same rows).
"""

from __future__ import annotations

import argparse
import os
import time

import torch


def task_for(rows: int, ratio: float):
    from rsbench.data.noise_file import build_noise_file
    from rsbench.plugin.components import TrainPairs, TrainTask
    from rsbench.plugin.manager import get_plugins

    splits = get_plugins().datasets.get("synthrs").create().load()
    noise = get_plugins().noise_models.get("caption_shuffle").create()
    nf = build_noise_file(splits.train, noise, ratio, 42, {"name": "synthrs"})
    pairs = nf.train_pairs(splits.train)
    if rows < len(pairs):  # the first rows, with every image list kept whole
        pairs = TrainPairs(
            pairs.image_ids,
            pairs.image_paths,
            pairs.image_classes,
            pairs.texts[:rows],
            pairs.image[:rows],
        )
    return TrainTask(
        pairs,
        splits.val.eval_set(),
        seed=0,
        device="cpu",
        work_dir=None,
        noise_ratio=ratio,
        clean_flags=nf.clean[: len(pairs)].copy(),
    )


def cpu_seconds(fn) -> tuple[float, object]:
    start = time.process_time()
    result = fn()
    return time.process_time() - start, result


def epoch(method, state, epoch_index: int) -> float:
    state.epoch = epoch_index
    rows = method.select_rows(state)
    state.model.train()
    loader_steps = method.loader_steps(state.n_rows)
    seconds, _ = cpu_seconds(
        lambda: method.train_epoch(state, rows, state.batch_size, loader_steps, None)
    )
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10000)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--ratio", type=float, default=0.4)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    from rsbench.engine.gmm import clean_probability
    from rsbench.plugin.manager import get_plugins

    methods = get_plugins().methods
    task = task_for(args.rows, args.ratio)
    n = len(task.pairs)
    print(f"synthrs, {n} training rows at {args.ratio:.0%} noise, {args.threads} thread(s), CPU s")

    infonce = methods.get("infonce").create()
    state = infonce.prepare(task, torch.Generator().manual_seed(0))
    epoch(infonce, state, 0)  # first: one-off kernel set-up
    unit = epoch(infonce, state, 1)
    print(f"  infonce epoch                          {unit:7.1f} s  1.00x")

    ncr = methods.get("ncr").create()
    state = ncr.prepare(task, torch.Generator().manual_seed(0))
    warm = epoch(ncr, state, 0)
    decode, _ = cpu_seconds(lambda: state.eval_pixels)  # once per fit, on first use
    first = epoch(ncr, state, 1)  # its co-divide runs the encoders on every row: warmed up
    divide, division = cpu_seconds(lambda: ncr.co_divide(state))
    losses = ncr.per_pair_losses(state)
    gmm, _ = cpu_seconds(lambda: [clean_probability(x, seed=0) for x in losses])
    second = epoch(ncr, state, 2)
    labeled = (division["pred_a"].mean() + division["pred_b"].mean()) / 2
    for name, seconds in (
        ("ncr warm-up epoch (2 networks)", warm),
        ("ncr co-training epoch, first half", first),
        ("ncr co-training epoch, second half", second),
        ("ncr eval-size decode (once per fit)", decode),
        ("ncr co-divide (losses + 2 GMMs)", divide),
        ("ncr the 2 GMM fits alone", gmm),
    ):
        print(f"  {name:38s} {seconds:7.1f} s  {seconds / unit:4.2f}x")
    print(f"  (labeled fraction at the first division: {labeled:.2f})")

    npc = methods.get("npc").create()
    state = npc.prepare(task, torch.Generator().manual_seed(0))  # builds the bank once in it
    bank, _ = cpu_seconds(lambda: npc.build_bank(state))
    npc_epoch = epoch(npc, state, 0)
    print(f"  npc memory bank (one-off)              {bank:7.1f} s  {bank / unit:4.2f}x")
    print(f"  npc epoch                              {npc_epoch:7.1f} s  {npc_epoch / unit:4.2f}x")

    gsc = methods.get("gsc").create()
    state = gsc.prepare(task, torch.Generator().manual_seed(0))
    gsc_epoch, _ = cpu_seconds(lambda: (epoch(gsc, state, 0), gsc.on_epoch_end(state)))
    print(f"  gsc epoch (with its GMM update)        {gsc_epoch:7.1f} s  {gsc_epoch / unit:4.2f}x")

    clip_filter = methods.get("clip_filter").create()
    state = clip_filter.prepare(task, torch.Generator().manual_seed(0))  # scores once in it
    # (its eval-size decode happened in prepare: a one-off like ncr's)
    scoring, _ = cpu_seconds(lambda: clip_filter.pretrained_similarities(state))
    kept = int(state.buffers["filter"].decisions.sum())
    filtered = epoch(clip_filter, state, 0)
    print(f"  clip_filter scoring pass (one-off)     {scoring:7.1f} s  {scoring / unit:4.2f}x")
    print(f"  clip_filter epoch ({kept} rows kept)    {filtered:7.1f} s  {filtered / unit:4.2f}x")
    print(f"load average: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()

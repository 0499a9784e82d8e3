"""NPC: each loss term against the official code's values, the schedule's step index, the
memory bank's neighbour rule, the siamese step and the method contract.

The reference values were obtained from ZhangXu0963/NPC at 823d781: ``TotalLoss`` of
``clip/criterions.py`` executed as shipped on the logits ``LOGITS`` (``logits_per_image`` and
its transpose as ``logits_per_text``), and the four weighting lines of ``main_NPC.train``
(``weight = …``, ``wei = …``, ``batch_loss = …``, ``final_loss = …``) executed verbatim on the
tensors below (torch 2.13, CPU).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from rsbench.engine.optim import Schedule
from rsbench.plugin.manager import get_plugins
from rsbench.testing import check_method
from rsbench_plugins.methods import npc_losses as L
from rsbench_plugins.methods.npc import SampleIndexedSchedule

LOGITS = torch.tensor([[20.0, 3.0, -1.0], [2.0, 15.0, 4.0], [5.0, 6.0, 7.0]])
OFFICIAL_MBANK = [1.7881390590446244e-07, 7.426310185110196e-05, 0.22825638949871063]
OFFICIAL_BATCH = (0.13587497174739838, 0.016345584765076637)
BEFORE_I, AFTER_I = torch.tensor([0.5, 1.2, 0.0, 2.0]), torch.tensor([0.6, 1.0, 0.0, 2.5])
BEFORE_T, AFTER_T = torch.tensor([0.4, 0.9, 0.3, 1.0]), torch.tensor([0.5, 0.8, 0.3, 1.6])
CE_I2T, CE_T2I = torch.tensor(1.7), torch.tensor(2.1)  # the official batch means
OFFICIAL_WEIGHT = [0.8166666626930237, 1.162500023841858, math.nan, 0.7124999761581421]
OFFICIAL_WEI = [0.6732515096664429, 1.0, 1.0, 0.6122421026229858]
OFFICIAL_BATCH_LOSS, OFFICIAL_FINAL = 1.5606094598770142, 3.1356096267700195


def test_memory_bank_and_batch_losses_equal_the_official_code():
    np.testing.assert_allclose(L.pair_losses(LOGITS).numpy(), OFFICIAL_MBANK, rtol=1e-5, atol=1e-9)
    i2t, t2i = L.batch_losses(LOGITS)
    assert (i2t.item(), t2i.item()) == pytest.approx(OFFICIAL_BATCH, abs=1e-7)
    per_pair = L.batch_losses(LOGITS, reduce=False)
    assert per_pair[0].mean().item() == pytest.approx(OFFICIAL_BATCH[0], abs=1e-7)


def test_weights_and_the_final_loss_equal_the_official_lines():
    w, wei = L.impact_weights(BEFORE_I, AFTER_I, BEFORE_T, AFTER_T)
    np.testing.assert_allclose(w.numpy(), OFFICIAL_WEIGHT, atol=1e-7)  # 0/0: NaN
    np.testing.assert_allclose(wei.numpy(), OFFICIAL_WEI, atol=1e-7)  # NaN < 1 is false: 1
    final = L.npc_loss(BEFORE_I + BEFORE_T, wei, CE_I2T, CE_T2I)
    assert final.item() == pytest.approx(OFFICIAL_FINAL, abs=1e-6)
    bank = (BEFORE_I + BEFORE_T).mean().item()
    assert final.item() - bank == pytest.approx(OFFICIAL_BATCH_LOSS, abs=1e-6)
    # quirk 1: with batch means the weights enter only through their mean
    assert final.item() - bank == pytest.approx(wei.mean().item() * (1.7 + 2.1) / 2, abs=1e-6)


def official_cosine_lr(base, warmup, steps, step):
    """``scheduler.cosine_lr`` of NPC, written out."""
    if step < warmup:
        return base * (step + 1) / warmup
    return 0.5 * (1 + math.cos(math.pi * (step - warmup) / (steps - warmup))) * base


def test_the_schedule_indexes_steps_by_samples_as_officially():
    rows, batches, epochs, warmup = 1000, 10, 3, 20
    base = Schedule(total_steps=batches * epochs, warmup_steps=warmup, steps_per_epoch=batches)
    schedule = SampleIndexedSchedule(base, rows, epochs)
    for epoch in range(epochs):
        for i in range(batches):
            official = official_cosine_lr(1.0, warmup, rows * epochs, rows * epoch + i)
            assert schedule.factor(epoch * batches + i) == pytest.approx(official, abs=1e-12)
    # the staircase: flat within an epoch after the first, dropping between epochs
    assert schedule.factor(batches) == pytest.approx(schedule.factor(2 * batches - 1), abs=1e-2)
    assert schedule.factor(2 * batches) < schedule.factor(batches) - 0.2


def test_bank_neighbours_use_unnormalised_bank_features_by_default():
    method = get_plugins().methods.get("npc").create({"epochs": 1})
    features = torch.tensor([[1.0, 0.0], [0.6, 0.8], [0.0, 3.0], [0.9, 0.1]])
    clean = np.array([0, 2])
    # query 1 (0.6, 0.8): cosines 0.6 with row 0 and 0.8 with row 2; dots with the raw bank
    # features 0.6 and 2.4. Query 3 is closest to row 0 either way.
    assert method.nearest(features, clean, "cpu").tolist() == [0, 2, 2, 0]
    method.options.bank_normalise = True
    assert method.nearest(features, clean, "cpu").tolist() == [0, 2, 2, 0]
    features[2] = torch.tensor([0.0, 0.7])  # a short bank vector: cosine 0.8, dot 0.56 < 0.6
    method.options.bank_normalise = False
    assert method.nearest(features, clean, "cpu").tolist()[1] == 0
    method.options.bank_normalise = True
    assert method.nearest(features, clean, "cpu").tolist()[1] == 2


def test_each_step_resets_the_siamese_weights_and_keeps_its_optimiser_moments():
    method = get_plugins().methods.get("npc").create({"epochs": 1, "batch_size": 16})
    seen = []
    original = method.training_step

    def step(state, batch):
        result = original(state, batch)
        siamese_optimizer = state.optimizers[1].optimizer
        first = next(iter(siamese_optimizer.state.values()))
        main = dict(state.model.main.named_parameters())
        differs = any(
            not torch.equal(p, main[name]) for name, p in state.model.siamese.named_parameters()
        )
        seen.append((int(first["step"]), differs, result.stats["mean_weight"]))
        return result

    method.training_step = step
    check_method(method, ratio=0.4, clean_estimates=True, deterministic=False)
    assert [s for s, _, _ in seen] == list(range(1, len(seen) + 1))  # moments carried over
    assert all(differs for _, differs, _ in seen)  # the siamese took its own step each time
    assert all(0 < w <= 1 for _, _, w in seen)


def test_npc_conformance_with_the_paper_reading_options():
    method = (
        get_plugins()
        .methods.get("npc")
        .create(
            {
                "epochs": 1,
                "batch_size": 16,
                "weighting": "per_pair",
                "siamese_backward": "once",
                "lr_steps": "batches",
                "bank_normalise": True,
            }
        )
    )
    metrics = check_method(method, ratio=0.4, clean_estimates=True)
    assert 0 <= metrics["mR"] <= 100


def tiny_task():
    from rsbench.data.noise_file import build_noise_file
    from rsbench.plugin.components import TrainTask

    plugins = get_plugins()
    splits = plugins.datasets.get("synthrs-tiny").create().load()
    noise = plugins.noise_models.get("caption_shuffle").create()
    nf = build_noise_file(splits.train, noise, 0.4, 42, {"name": "synthrs-tiny"})
    return TrainTask(
        nf.train_pairs(splits.train), splits.val.eval_set(), seed=0, device="cpu", work_dir=None
    )


def test_the_shared_backward_equals_the_official_two_model_step():
    """With batch-mean weighting the model's gradient is mean(wei)/2 times the siamese's: one
    backward pass gives both. Both paths take the same step from the same state."""
    from rsbench.engine import Batch

    method = get_plugins().methods.get("npc").create({"epochs": 1, "batch_size": 16})
    results = []
    for shared in (True, False):
        torch.manual_seed(0)
        state = method.prepare(tiny_task(), torch.Generator().manual_seed(0))
        assert method.shared_backward(state)
        method.shared_backward = (lambda s: True) if shared else (lambda s: False)
        rows = torch.arange(16)
        out = method.training_step(state, Batch(rows, state.row_image[rows], 0, 0, 1))
        results.append((out, {k: v.clone() for k, v in state.model.state_dict().items()}))
        del method.shared_backward
    (shared_out, shared_weights), (plain_out, plain_weights) = results
    assert shared_out.loss.item() == pytest.approx(plain_out.loss.item(), rel=1e-5)
    torch.testing.assert_close(
        shared_out.per_row["npc_w"], plain_out.per_row["npc_w"], rtol=1e-4, atol=1e-6
    )
    for name, value in plain_weights.items():
        if name.endswith("k_proj.bias"):
            # its gradient is 0 in exact arithmetic (a key bias shifts every logit of a query
            # equally): Adam turns the rounding noise either path leaves there into a step
            continue
        torch.testing.assert_close(shared_weights[name], value, rtol=1e-4, atol=1e-6, msg=name)
    assert any(
        not torch.equal(v, results[0][1][k])
        for k, v in method.build(tiny_task()).state_dict().items()
    )

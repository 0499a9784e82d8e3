"""The two baseline losses on hand-computed cases."""

from __future__ import annotations

import math

import pytest
import torch

from rsbench.engine import Batch
from rsbench.engine.losses import same_image_mask
from rsbench_plugins.methods.infonce import InfoNCE, info_nce
from rsbench_plugins.methods.vse import VSE, triplet_loss


def batch(images, epoch=0):
    image = torch.tensor(images)
    return Batch(rows=torch.arange(len(images)), image=image, epoch=epoch, step=0, total_steps=1)


def test_same_image_mask():
    mask = same_image_mask(torch.tensor([3, 5, 3]))
    assert mask.tolist() == [[False, False, True], [False, False, False], [True, False, False]]


def test_triplet_loss_sum_and_hardest():
    scores = torch.tensor([[0.9, 0.8, 0.1], [0.2, 0.5, 0.6], [0.0, 0.3, 0.4]])
    none = torch.zeros(3, 3, dtype=torch.bool)
    # image-anchored hinges (row i, margin 0.2): row0: 0.2-0.9+0.8=0.1, 0.2-0.9+0.1<0
    # row1: 0.2-0.5+0.2<0, 0.2-0.5+0.6=0.3; row2: 0.2-0.4+0=-, 0.2-0.4+0.3=0.1
    # text-anchored (column j): col0: 0.2-0.9+0.2<0, 0.2-0.9+0<0; col1: 0.2-0.5+0.8=0.5, 0.2-0.5+0.3=0
    # col2: 0.2-0.4+0.1<0, 0.2-0.4+0.6=0.4
    summed = triplet_loss(scores, 0.2, hardest=False, exclude=none)
    assert summed.item() == pytest.approx((0.1 + 0.3 + 0.1 + 0.5 + 0.4) / 3)
    hardest = triplet_loss(scores, 0.2, hardest=True, exclude=none)
    assert hardest.item() == pytest.approx((0.1 + 0.3 + 0.1) / 3 + (0.0 + 0.5 + 0.4) / 3)


def test_vse_switches_to_the_hardest_negative_after_the_warm_up():
    method = VSE(sum_warmup_epochs=1)
    img = torch.nn.functional.normalize(
        torch.randn(6, 4, generator=torch.Generator().manual_seed(0)), dim=1
    )
    txt = torch.nn.functional.normalize(
        torch.randn(6, 4, generator=torch.Generator().manual_seed(1)), dim=1
    )
    ids = [0, 1, 2, 3, 4, 5]
    scores = img @ txt.T
    none = torch.zeros(6, 6, dtype=torch.bool)
    assert method.loss(img, txt, batch(ids, epoch=0)).item() == pytest.approx(
        triplet_loss(scores, 0.2, False, none).item()
    )
    assert method.loss(img, txt, batch(ids, epoch=1)).item() == pytest.approx(
        triplet_loss(scores, 0.2, True, none).item()
    )


def test_infonce_matches_the_formula_and_masks_shared_images():
    log_scale = torch.tensor(math.log(2.0))
    img = torch.eye(3)
    txt = torch.eye(3)
    loss = info_nce(img, txt, torch.tensor([0, 1, 2]), log_scale)
    # logits: 2 on the diagonal, 0 elsewhere -> -log(e^2 / (e^2 + 2))
    assert loss.item() == pytest.approx(-math.log(math.exp(2) / (math.exp(2) + 2)))
    # rows 0 and 2 share an image: they stop being each other's negatives
    masked = info_nce(img, txt, torch.tensor([7, 8, 7]), log_scale)
    expected = (
        2 * -math.log(math.exp(2) / (math.exp(2) + 1)) + -math.log(math.exp(2) / (math.exp(2) + 2))
    ) / 3
    assert masked.item() == pytest.approx(expected)
    # per pair: the mean of the pair's two cross-entropies; the scale is capped at 100
    per_pair = info_nce(img, txt, torch.tensor([0, 1, 2]), torch.tensor(10.0), reduction="none")
    assert per_pair.tolist() == pytest.approx([-math.log(math.exp(100) / (math.exp(100) + 2))] * 3)


def test_infonce_keeps_its_temperature_in_the_model():
    method = InfoNCE(backbone="scratch", learn_temperature=True, temperature=0.5)
    assert method.options.temperature == 0.5
    assert InfoNCE().options.temperature == 0.05 and not InfoNCE().options.learn_temperature
    assert InfoNCE(backbone="scratch").options.learn_temperature

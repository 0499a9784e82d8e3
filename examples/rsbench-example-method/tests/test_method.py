"""rsbench-example-method: rsbench's plugin contract, and RCL's loss against its definition.

The loss is checked against an independent computation (numpy, loops, the formulas of the
official ``CCL.forward``) on fixed score matrices, for every criterion, with the full
complementary mask and with a drawn one that is not symmetric (the official code applies the
mask drawn for image rows to the caption rows as well).
"""

import numpy as np
import pytest
import torch
from rsbench.testing import check_method, check_registered

from rsbench_example_method.method import (
    RCL,
    complementary_contrastive_loss,
    complementary_mask,
)


def test_the_entry_point_registers_the_method():
    assert check_registered("rcl", "method").resolve() is RCL


def test_the_method_trains_and_conforms():
    # one epoch on synthrs-tiny, twice (the second checks determinism): seconds on a CPU
    metrics = check_method(RCL(epochs=1), clean_estimates=False)
    assert 0 <= metrics["mR"] <= 100


def reference(scores, mask, tau, criterion, q):
    """The official formulas, written out row by row in float64."""
    eps = 1e-10
    e = np.exp(scores / tau)
    n = len(e)

    def h(p):
        total = 0.0
        for i in range(n):
            row = 0.0
            for j in range(n):
                if criterion == "log":
                    row += -np.log(1 - p[i, j] + eps) * mask[i, j]
                elif criterion == "tan":
                    row += np.tan(p[i, j]) * mask[i, j]
                elif criterion == "abs":
                    row += p[i, j] * mask[i, j]
                elif criterion == "exp":
                    row += np.exp(-(1 - p[i, j])) * mask[i, j]
                elif criterion == "gce":
                    row += (1 - (1 - p[i, j] + eps) ** q) / q * mask[i, j]
            total += -np.log(p[i, i]) if criterion == "infoNCE" else row
        return total / n

    i2t = e / (e.sum(axis=1, keepdims=True) + eps)
    t2i = e.T / (e.T.sum(axis=1, keepdims=True) + eps)
    return h(i2t) + h(t2i)


SCORES = np.array(
    [
        [0.9, 0.1, -0.2, 0.3],
        [0.2, 0.7, 0.1, -0.4],
        [0.5, 0.0, 0.4, 0.2],  # a pair whose positive is not its best: a noisy row
        [-0.1, 0.3, 0.2, 0.8],
    ]
)
DRAWN = np.array([[0, 1, 0, 1], [0, 0, 1, 1], [1, 0, 0, 0], [0, 1, 1, 0]], dtype=float)


@pytest.mark.parametrize("criterion", ["log", "tan", "abs", "exp", "gce", "infoNCE"])
@pytest.mark.parametrize("mask", [1 - np.eye(4), DRAWN], ids=["all", "drawn"])
@pytest.mark.parametrize("tau", [0.05, 0.5])
def test_the_loss_is_rcls_on_fixed_scores(criterion, mask, tau):
    got = complementary_contrastive_loss(
        torch.tensor(SCORES, dtype=torch.float64),
        torch.tensor(mask),
        tau=tau,
        criterion=criterion,
        q=0.2,
    )
    assert got.item() == pytest.approx(reference(SCORES, mask, tau, criterion, 0.2), rel=1e-9)


def test_a_drawn_mask_takes_int_ratio_n_columns_per_row_never_the_diagonal():
    torch.manual_seed(0)
    mask = complementary_mask(10, 0.35)
    assert (mask.sum(dim=1) == 3).all() and (mask.diag() == 0).all()
    assert not torch.equal(mask, complementary_mask(10, 0.35))  # drawn again each batch
    for ratio in (0.0, -1.0, 1.0):  # the official "every other column"
        assert torch.equal(complementary_mask(4, ratio), torch.tensor(1 - np.eye(4)).float())


def test_the_loss_pushes_complementary_pairs_down_and_never_pulls_a_positive():
    scores = torch.tensor(SCORES, requires_grad=True)
    complementary_contrastive_loss(scores, torch.tensor(1 - np.eye(4)), tau=0.5).backward()
    off = ~torch.eye(4, dtype=torch.bool)
    assert (scores.grad[off] > 0).all()  # gradient descent lowers every complementary score
    assert (scores.grad.diag() < 0).all()  # the positive rises only through the normaliser

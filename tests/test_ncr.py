"""NCR: each loss term against the official code's values, the co-divide / co-teach schedule,
the ensemble score, and the method contract.

The reference values were obtained by running ``ContrastiveLoss`` from ``NCR/model.py`` of
XLearning-SCU/2021-NeurIPS-NCR at 60256ba, unchanged (the class extracted from the file and
executed with torch 2.13 on the CPU), on the score matrix ``S`` and the labels below; the
labeled targets are the official expression ``prob * labels + (1 - prob) * pl`` on (4, 1),
(4, 1) and (4,) tensors, as ``co_train.train`` builds them.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rsbench.engine.features import Features
from rsbench.io.errors import RsbenchError
from rsbench.plugin.manager import get_plugins
from rsbench.testing import check_method
from rsbench_plugins.methods import ncr_losses as L
from rsbench_plugins.methods.ncr import NCRModel, UnlabeledCycle, split_prob

S = torch.tensor(
    [
        [0.9, 0.2, 0.75, 0.1],
        [0.3, 0.6, 0.5, 0.65],
        [0.8, 0.1, 0.7, 0.2],
        [0.05, 0.55, 0.3, 0.4],
    ]
)
PROB = torch.tensor([0.9, 0.6, 0.3, 0.95])  # the other network's clean probabilities
OFFICIAL = {
    "warmup": 0.5249999761581421,
    "eval_loss": [
        0.037500008940696716,
        0.12499997019767761,
        0.13750000298023224,
        0.22499999403953552,
    ],
    "predict": [1.0, 0.7586207389831543, 0.7241379022598267, 0.48275864124298096],
    "targets_l": [
        [1.0, 0.9758620858192444, 0.9724137783050537, 0.9482758641242981],
        [1.0, 0.9034483432769775, 0.8896551728248596, 0.7931034564971924],
        [1.0, 0.8310345411300659, 0.8068965077400208, 0.6379310488700867],
        [1.0, 0.9879310131072998, 0.9862068891525269, 0.9741379022598267],
    ],
    "train_l": {
        "linear": 1.8013794422149658,
        "exponential": 1.6920292377471924,
        "sin": 1.8583242893218994,
    },
    "train_u_exponential": 1.097943902015686,  # targets (0.2, 0.9, 0.5, 0.7) as a 4 × 1 column
    "train_mean_negatives_exponential": 0.2880597412586212,
}
TU = torch.tensor([0.2, 0.9, 0.5, 0.7]).view(-1, 1)


def test_warmup_eval_loss_and_predict_equal_the_official_code():
    assert L.warmup_loss(S).item() == pytest.approx(OFFICIAL["warmup"], abs=1e-6)
    np.testing.assert_allclose(L.eval_loss(S).numpy(), OFFICIAL["eval_loss"], atol=1e-6)
    p, degenerate = L.predict(S)
    np.testing.assert_allclose(p.numpy(), OFFICIAL["predict"], atol=1e-6)
    assert not degenerate


def test_labeled_targets_broadcast_to_a_matrix_as_officially():
    p, _ = L.predict(S)
    targets = L.labeled_targets(PROB, p)
    np.testing.assert_allclose(targets.numpy(), OFFICIAL["targets_l"], atol=1e-6)
    per_anchor = L.labeled_targets(PROB, p, per_anchor=True)  # the paper's reading: the diagonal
    np.testing.assert_allclose(per_anchor.view(-1).numpy(), targets.diag().numpy(), atol=1e-7)


@pytest.mark.parametrize("kind", ["linear", "exponential", "sin"])
def test_labeled_soft_margin_triplet_equals_the_official_code(kind):
    p, _ = L.predict(S)
    margin = L.soft_margin(L.labeled_targets(PROB, p), 0.2, kind)
    assert L.train_loss(S, margin).item() == pytest.approx(OFFICIAL["train_l"][kind], abs=1e-6)


def test_unlabeled_column_margin_and_mean_negatives_equal_the_official_code():
    margin = L.soft_margin(TU, 0.2, "exponential")
    assert L.train_loss(S, margin).item() == pytest.approx(
        OFFICIAL["train_u_exponential"], abs=1e-6
    )
    assert L.train_loss(S, margin, hard_negative=False).item() == pytest.approx(
        OFFICIAL["train_mean_negatives_exponential"], abs=1e-6
    )


def test_per_anchor_margins_use_each_anchors_own_label():
    """Hand computation: image anchor i uses y_i, text anchor j uses y_j."""
    y = torch.tensor([0.2, 0.9, 0.5, 0.7])
    m = L.soft_margin(y, 0.2, "exponential")
    s = S.numpy()
    total = 0.0
    for i in range(4):
        total += max(max(0.0, m[i].item() + s[i, j] - s[i, i]) for j in range(4) if j != i)
    for j in range(4):
        total += max(max(0.0, m[j].item() + s[i, j] - s[j, j]) for i in range(4) if i != j)
    got = L.train_loss_per_anchor(S, m.view(-1, 1))
    assert got.item() == pytest.approx(total, abs=1e-6)
    assert got.item() != pytest.approx(L.train_loss(S, m.view(-1, 1)).item(), abs=1e-4)


def test_predict_when_every_pair_violates_the_margin_gives_zero_labels_not_nan():
    scores = 1.0 - 5 * torch.eye(4)  # the official code returns NaN here
    p, degenerate = L.predict(scores)
    assert degenerate and p.tolist() == [0.0] * 4


def test_split_prob_keeps_one_percent_unlabeled_when_no_pair_is_below_the_threshold():
    prob = np.linspace(0.6, 1.0, 300)
    pred = split_prob(prob, 0.5)
    assert (~pred).sum() == 4  # p <= sort(p)[300 // 100]: the three below it and itself
    mixed = np.array([0.2, 0.7, 0.5, 0.9])
    assert split_prob(mixed, 0.5).tolist() == [False, True, False, True]


def test_ensemble_score_is_the_mean_of_both_networks_cosines():
    torch.manual_seed(0)

    class Fixed(torch.nn.Module):
        def __init__(self, image, text):
            super().__init__()
            self.image, self.text = image, text

        def encode_image(self, pixels):
            return Features(emb=self.image)

        def encode_text(self, text):
            return Features(emb=self.text)

    unit = lambda x: torch.nn.functional.normalize(x, dim=-1)  # noqa: E731
    ia, ta, ib, tb = (unit(torch.randn(5, 8)) for _ in range(4))
    model = NCRModel(Fixed(ia, ta), Fixed(ib, tb), "ensemble")
    image, text = model.encode_image(None), model.encode_text(None)
    expected = (ta @ ia.T + tb @ ib.T) / 2
    torch.testing.assert_close(model.score(image, text), expected)
    torch.testing.assert_close(model.score(image, text, variant="single"), ta @ ia.T)
    assert model.score_variants == ("single",)
    single = NCRModel(Fixed(ia, ta), Fixed(ib, tb), "single")
    torch.testing.assert_close(single.score(image, text), ta @ ia.T)


def test_unlabeled_cycle_reshuffles_and_never_gives_one_row():
    g = torch.Generator().manual_seed(0)
    cycle = UnlabeledCycle(torch.arange(5), 2, g, "cpu")
    sizes = [len(cycle.next()) for _ in range(6)]
    assert sizes == [2, 2, 2, 2, 2, 2]  # 2 + 2, then a fresh order (a last row alone is skipped)
    assert UnlabeledCycle(torch.arange(1), 2, g, "cpu").next() is None


def ncr(**options):
    base = {"epochs": 3, "warmup_epochs": 1, "batch_size": 16}
    return get_plugins().methods.get("ncr").create({**base, **options})


def test_each_network_trains_on_the_other_networks_division_and_unlabeled_in_the_second_half():
    method = ncr()
    calls = []
    original_step = method.co_training_step
    original_divide = method.co_divide

    def divide(state):
        division = original_divide(state)
        n = state.n_rows
        division["pred_a"] = np.arange(n) % 2 == 0  # A calls the even rows clean
        division["pred_b"] = np.arange(n) % 3 != 0  # B calls rows not divisible by 3 clean
        return division

    def step(state, k, batch, probability, unlabeled_rows):
        calls.append((state.epoch, k, batch.rows.cpu().numpy(), unlabeled_rows))
        return original_step(state, k, batch, probability, unlabeled_rows)

    method.co_divide, method.co_training_step = divide, step
    check_method(method, ratio=0.4, clean_estimates=True, deterministic=False)
    assert {(e, k) for e, k, _, _ in calls} == {(1, 0), (1, 1), (2, 0), (2, 1)}
    for epoch, k, rows, unlabeled in calls:
        if k == 0:  # A learns from B's division
            assert (rows % 3 != 0).all()
            assert unlabeled is None or (unlabeled.cpu().numpy() % 3 == 0).all()
        else:
            assert (rows % 2 == 0).all()
            assert unlabeled is None or (unlabeled.cpu().numpy() % 2 == 1).all()
        # two co-training epochs: the unlabeled loss from co-training epoch 2 // 2 = 1 on
        assert (unlabeled is None) == (epoch == 1)


def test_ncr_conformance_and_recorded_gmm_and_both_scores():
    method = ncr(evaluation="single", labels="per_anchor", mask_same_image=True)
    metrics = check_method(method, ratio=0.4, clean_estimates=True)
    assert 0 <= metrics["mR"] <= 100


def test_ncr_options_are_checked():
    with pytest.raises(RsbenchError, match="warmup_epochs"):
        ncr(epochs=2, warmup_epochs=2)
    with pytest.raises(RsbenchError, match="backbone='scratch' is not one of: 'clip'"):
        ncr(backbone="scratch", image_size=48)

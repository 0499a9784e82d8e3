"""GSC: the loss terms and the target update against the official code's values, stability,
and the method contract.

The reference values were obtained from MediaBrain-SJTU/GSC at 2759ba0: ``GSC/model/RINCE.py``
imported as shipped (with ``torch.Tensor.cuda`` the identity on the CPU), and
``RINCE.train_batch`` and ``RINCE.split_batch`` run unchanged on an instance whose similarity
model is a stub returning ``sigmoid(RAW)`` as ``forward_sim`` and (``RAW_IMAGE``,
``RAW_TEXT``) as ``forward_topology``, with the targets below; the losses as its logger
received them, the buffers as it left them (torch 2.13, CPU).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rsbench.plugin.manager import get_plugins
from rsbench.testing import check_method
from rsbench_plugins.methods import gsc_losses as L

RAW = torch.tensor(
    [[2.0, -1.0, 0.5, 0.0], [0.3, 1.5, -0.2, 0.1], [1.0, 0.2, 0.8, -0.5], [-0.4, 0.6, 0.1, 1.2]]
)
RAW_IMAGE = torch.tensor(
    [[4.0, 1.0, -0.5, 0.2], [1.0, 4.0, 0.3, -1.0], [-0.5, 0.3, 4.0, 0.7], [0.2, -1.0, 0.7, 4.0]]
)
RAW_TEXT = torch.tensor(
    [[3.0, 0.5, 0.1, -0.3], [0.5, 3.0, -0.8, 0.4], [0.1, -0.8, 3.0, 1.1], [-0.3, 0.4, 1.1, 3.0]]
)
TARGETS = torch.tensor([1.0, 0.8, 0.5, 0.9])
OFFICIAL = {
    "loss": 0.16521573066711426,
    "loss_cl": 0.155036062002182,
    "loss_topo": 1.0179671049118042,
    "topos": [0.9937401413917542, 0.9542253613471985, 0.9639867544174194, 0.96556556224823],
    "preds": [0.927627682685852, 0.9267457127571106, 0.5012568831443787, 0.8869903683662415],
    "info_nce_loss": [
        0.02903263457119465,
        0.050282422453165054,
        1.0801160335540771,
        0.18976210057735443,
    ],
    "info_nce_preds": [
        0.9713847637176514,
        0.9509608149528503,
        0.33955612778663635,
        0.8271558880805969,
    ],
}
# split_batch on this buffer: topos, preds = linspace(0.3, 1, 8), topo targets 1, preds targets 0.9
TOPOS = np.array([0.9, 0.95, 0.2, 0.92, 0.15, 0.97, 0.1, 0.88])
OFFICIAL_SPLIT = {
    "topo_targets": [
        1.0,
        1.0,
        0.30000001192092896,
        1.0,
        0.30000001192092896,
        1.0,
        0.30000001192092896,
        1.0,
    ],
    "preds_targets": [
        0.48000001907348633,
        0.550000011920929,
        0.6200000047683716,
        0.690000057220459,
        0.7599999904632568,
        0.8300000429153442,
        0.8999999761581421,
        0.9700000286102295,
    ],
    "targets": [
        0.48000001907348633,
        0.550000011920929,
        0.30000001192092896,
        0.690000057220459,
        0.30000001192092896,
        0.8300000429153442,
        0.30000001192092896,
        0.9700000286102295,
    ],
}


def test_info_nce_equals_the_official_code():
    loss, preds = L.info_nce(torch.sigmoid(RAW), 0.07)
    np.testing.assert_allclose(loss.numpy(), OFFICIAL["info_nce_loss"], atol=1e-6)
    np.testing.assert_allclose(preds.numpy(), OFFICIAL["info_nce_preds"], atol=1e-6)


def test_train_batch_terms_equal_the_official_code():
    terms = L.structure_terms(
        torch.sigmoid(RAW), torch.sigmoid(RAW_IMAGE), torch.sigmoid(RAW_TEXT), TARGETS, 0.07
    )
    loss_cl, loss_topo = terms["loss_cl"].mean().item(), terms["loss_topo"].mean().item()
    assert loss_cl == pytest.approx(OFFICIAL["loss_cl"], abs=1e-6)
    assert loss_topo == pytest.approx(OFFICIAL["loss_topo"], abs=1e-6)
    assert loss_cl + 0.01 * loss_topo == pytest.approx(OFFICIAL["loss"], abs=1e-6)
    np.testing.assert_allclose(terms["topos"].numpy(), OFFICIAL["topos"], atol=1e-6)
    np.testing.assert_allclose(terms["preds"].numpy(), OFFICIAL["preds"], atol=1e-6)


def test_targets_scale_the_columns_of_the_structure_matrices():
    """By hand: M_ij = Σ_k t_k² σI_ik σC_jk, and the topology loss is row i's CE times t_i."""
    si, sc, t = torch.sigmoid(RAW_IMAGE), torch.sigmoid(RAW_TEXT), TARGETS
    m = torch.zeros(4, 4)
    for i in range(4):
        for j in range(4):
            m[i, j] = sum(t[k] ** 2 * si[i, k] * sc[j, k] for k in range(4))
    expected = torch.stack([t[i] * (torch.logsumexp(m[i], 0) - m[i, i]) for i in range(4)])
    terms = L.structure_terms(torch.sigmoid(RAW), si, sc, t)
    torch.testing.assert_close(terms["loss_topo"], expected)


def test_split_batch_update_equals_the_official_code():
    new = L.update_targets(
        TOPOS, np.linspace(0.3, 1.0, 8), np.ones(8), np.full(8, 0.9), beta=0.7, seed=0
    )
    for name, values in OFFICIAL_SPLIT.items():
        np.testing.assert_allclose(new[name], values, atol=1e-6)


def test_info_nce_stays_finite_where_the_unstabilised_form_overflows():
    scores = torch.tensor([[100.0, 98.0], [97.0, 100.0]])  # e^100 overflows float32
    loss, preds = L.info_nce(scores, 1.0)
    expected = torch.tensor([np.log1p(np.exp(-2.0)), np.log1p(np.exp(-3.0))], dtype=torch.float32)
    torch.testing.assert_close(loss, expected)
    assert torch.isfinite(preds).all()


def gsc(**options):
    return get_plugins().methods.get("gsc").create({"epochs": 2, "batch_size": 16, **options})


def test_targets_start_at_one_and_follow_the_gmm_after_each_epoch():
    method = gsc()
    seen = []
    original = method.on_epoch_end

    def on_epoch_end(state):
        before = state.buffers["targets"].clone()
        record = original(state)
        seen.append((before, state.buffers["targets"].clone(), record))
        return record

    method.on_epoch_end = on_epoch_end
    check_method(method, ratio=0.4, clean_estimates=True, deterministic=False)
    (first_before, first_after, record), (second_before, _, _) = seen
    assert torch.equal(first_before, torch.ones_like(first_before))  # epoch 1 unweighted
    assert torch.equal(second_before, first_after)  # epoch 2 trains with the updated targets
    assert first_after.min() < 1 and 0 < record["gmm_clean_fraction"] < 1


def test_gsc_conformance_with_same_image_masking():
    metrics = check_method(gsc(mask_same_image=True), ratio=0.4, clean_estimates=True)
    assert 0 <= metrics["mR"] <= 100

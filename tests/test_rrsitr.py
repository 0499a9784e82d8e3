"""RRSITR: every loss term, the partition boundaries, the regulariser, the margin's gradient, the
Gram-form local score, detection per epoch and the paper profile from a tiny checkpoint.

References are written independently of the implementation: plain Python loops over pairs and
tokens with `math`, following the official code line by line (MSFLabX/RRSITR loss/CLIP.py,
model/model.py compute_relation).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from rsbench_plugins.methods.rrsitr import (
    KAPPA,
    RRSITR,
    local_scores,
    local_scores_direct,
    per_pair_losses,
    robust_triplet,
    rrsitr_no_decay,
    rrsitr_terms,
    self_paced_regulariser,
    split_terms,
)

G1, G2, L1, L2, SIGMA = 5.0, 18.0, 0.8, 0.9, 0.6


def ref_local(text: np.ndarray, image: np.ndarray, scale: float) -> float:
    """Frobenius norm of the scaled token-cosine matrix, one token pair at a time."""
    total = 0.0
    for t in text:
        for v in image:
            cos = float(t @ v) / (np.linalg.norm(t) * np.linalg.norm(v))
            total += (scale * cos) ** 2
    return math.sqrt(total)


def ref_ce(row: list[float], target: int) -> float:
    top = max(row)
    return -(row[target] - top - math.log(sum(math.exp(x - top) for x in row)))


def ref_loss(sims: np.ndarray, local: np.ndarray) -> tuple[list[float], list[int], float]:
    """The official loss for one batch, pair by pair (texts × images inputs)."""
    b = len(sims)
    losses, parts, terms = [], [], []
    for i in range(b):
        g_row = [KAPPA * sims[i, j] for j in range(b)]
        g_col = [KAPPA * sims[j, i] for j in range(b)]
        l_row = [local[i, j] for j in range(b)]
        l_col = [local[j, i] for j in range(b)]
        ell = ref_ce(g_row, i) + ref_ce(g_col, i) + ref_ce(l_row, i) + ref_ce(l_col, i)
        losses.append(ell)
        if ell < G1:
            w = math.cos(math.pi / 2 * ell / G1)
            reg = -(2 / math.pi) * G1 * (w * math.acos(w) - math.sqrt(1 - w * w))
            parts.append(0)
            terms.append(w * ell + reg)
        elif ell < G2:
            w = math.cos(math.pi / 2 * ell / G2)
            reg = -(2 / math.pi) * G2 * (w * math.acos(w) - math.sqrt(1 - w * w))
            parts.append(1)
            terms.append(L1 * (w * ell + reg))
        else:
            pos = sims[i, i]
            n_row = max(sims[i, j] for j in range(b) if j != i)
            n_col = max(sims[j, i] for j in range(b) if j != i)
            m_row = SIGMA * (1 + max(0.0, n_row - pos))
            m_col = SIGMA * (1 + max(0.0, n_col - pos))
            trip = max(0.0, m_row - pos + n_row) + max(0.0, m_col - pos + n_col)
            parts.append(2)
            terms.append(L2 * trip)
    return losses, parts, sum(terms) / b


def test_gram_form_equals_the_direct_and_the_pairwise_local_score():
    g = torch.Generator().manual_seed(0)
    text = torch.randn(3, 7, 5, generator=g)
    image = torch.randn(4, 6, 5, generator=g)
    gram = local_scores(text, image, scale=KAPPA)
    direct = local_scores_direct(text, image, scale=KAPPA)
    assert gram.shape == (3, 4)
    assert torch.allclose(gram, direct, rtol=1e-5, atol=1e-5)
    for a in range(3):
        for b in range(4):
            expected = ref_local(text[a].numpy(), image[b].numpy(), KAPPA)
            assert gram[a, b].item() == pytest.approx(expected, rel=1e-5)
    # padding excluded: only the real tokens count
    mask = torch.tensor([[1, 1, 1, 0, 0, 0, 0], [1] * 7, [1, 1, 0, 0, 0, 0, 0]], dtype=torch.bool)
    masked = local_scores(text, image, 1.0, text_mask=mask)
    assert masked[0, 1].item() == pytest.approx(
        ref_local(text[0, :3].numpy(), image[1].numpy(), 1.0), rel=1e-5
    )
    # the norm ignores sign: anti-aligned tokens score as high as aligned ones
    assert torch.allclose(local_scores(-text, image), local_scores(text, image), atol=1e-5)


def batch_inputs():
    """A fixed batch whose pairs fall in all three partitions."""
    sims = np.array(
        [
            [0.90, 0.10, 0.05, 0.00],
            [0.20, 0.30, 0.35, 0.40],
            [0.60, 0.30, 0.10, 0.20],
            [0.10, 0.35, 0.70, 0.05],
        ]
    )
    local = np.array(
        [
            [9.0, 1.0, 0.5, 0.0],
            [2.0, 4.0, 4.5, 4.0],
            [8.0, 3.0, 1.0, 2.0],
            [1.0, 4.5, 9.5, 0.5],
        ]
    )
    return sims, local


def test_every_loss_term_against_the_pairwise_reference():
    sims, local = batch_inputs()
    terms = rrsitr_terms(torch.tensor(sims), torch.tensor(local), G1, G2, L1, L2, SIGMA)
    losses, parts, total = ref_loss(sims, local)
    assert terms.per_pair.tolist() == pytest.approx(losses, rel=1e-9)
    assert terms.partition.tolist() == parts
    assert sorted(set(parts)) == [0, 1, 2]  # the batch exercises every partition
    assert terms.loss.item() == pytest.approx(total, rel=1e-9)


def test_partition_boundaries_and_the_weight_jump_at_gamma1():
    ell = torch.tensor([0.0, 4.99, 5.0, 5.01, 17.99, 18.0, 30.0], dtype=torch.float64)
    terms = split_terms(ell, torch.zeros_like(ell), G1, G2, L1, L2)
    assert terms.partition.tolist() == [0, 0, 1, 1, 1, 2, 2]  # [γ1, γ2) ambiguous, ≥ γ2 noisy
    weight = terms.weight.tolist()
    assert weight[0] == pytest.approx(1.0)
    assert weight[1] == pytest.approx(math.cos(math.pi / 2 * 4.99 / 5))  # ≈ 0.003 just below γ1
    assert weight[1] == pytest.approx(0.00314, abs=1e-5)
    assert weight[3] == pytest.approx(0.8 * math.cos(math.pi / 2 * 5.01 / 18))  # ≈ 0.725 above
    assert weight[3] == pytest.approx(0.725, abs=5e-4)
    assert weight[5] == 0.0 and weight[6] == 0.0


def test_the_regulariser_value_and_that_it_moves_the_value_not_the_gradient():
    # R(w; γ) = −(2γ/π)(w·arccos w − √(1 − w²)), by hand at w = 1, 0 and cos(π/6)
    assert self_paced_regulariser(torch.tensor(1.0), 5.0).item() == pytest.approx(0.0, abs=1e-7)
    assert self_paced_regulariser(torch.tensor(0.0), 5.0).item() == pytest.approx(10 / math.pi)
    w = math.cos(math.pi / 6)
    expected = -(2 * 18 / math.pi) * (w * (math.pi / 6) - math.sqrt(1 - w * w))
    assert self_paced_regulariser(torch.tensor(w), 18.0).item() == pytest.approx(expected)
    # minimising w ℓ + R(w) over w in [0, 1] gives the closed form w* = cos(πℓ / 2γ)
    grid = torch.linspace(0, 1, 200001, dtype=torch.float64)
    ell = 2.3
    objective = grid * ell + self_paced_regulariser(grid, G1)
    assert grid[objective.argmin()].item() == pytest.approx(
        math.cos(math.pi * ell / (2 * G1)), abs=1e-4
    )
    # the gradient is w ∇ℓ for clean pairs: the regulariser contributes none
    ell_t = torch.tensor([1.5, 7.0], dtype=torch.float64, requires_grad=True)
    split_terms(ell_t, torch.zeros(2, dtype=torch.float64), G1, G2, L1, L2).loss.backward()
    expected_grad = [
        math.cos(math.pi / 2 * 1.5 / G1) / 2,
        L1 * math.cos(math.pi / 2 * 7.0 / G2) / 2,
    ]
    assert ell_t.grad.tolist() == pytest.approx(expected_grad)


def test_the_triplet_margin_is_not_detached():
    # pair 0: positive 0.2, hardest negatives 0.5 (row) and 0.4 (column): margins grow with them
    sims = torch.tensor([[0.2, 0.5], [0.4, 0.9]], dtype=torch.float64, requires_grad=True)
    trip = robust_triplet(sims, SIGMA)
    row = SIGMA * (1 + 0.3) - 0.2 + 0.5
    col = SIGMA * (1 + 0.2) - 0.2 + 0.4
    assert trip[0].item() == pytest.approx(row + col)
    trip[0].backward()
    # d/ds_p = −(1 + σ0) in each direction; d/dn = 1 + σ0 (a detached margin would give ∓1)
    assert sims.grad[0, 0].item() == pytest.approx(-2 * (1 + SIGMA))
    assert sims.grad[0, 1].item() == pytest.approx(1 + SIGMA)
    assert sims.grad[1, 0].item() == pytest.approx(1 + SIGMA)


def test_same_image_masking_is_an_option_off_by_default():
    sims, local = batch_inputs()
    plain = per_pair_losses(torch.tensor(sims), torch.tensor(local))
    exclude = torch.zeros(4, 4, dtype=torch.bool)
    exclude[0, 2] = exclude[2, 0] = True
    masked = per_pair_losses(torch.tensor(sims), torch.tensor(local), exclude=exclude)
    assert masked[0] < plain[0] and masked[1] == plain[1]
    assert RRSITR().options.mask_same_image is False


def test_weight_decay_follows_the_codes_exact_name_rule():
    p2, p1 = torch.nn.Parameter(torch.zeros(2, 2)), torch.nn.Parameter(torch.zeros(2))
    assert not rrsitr_no_decay("text_model.embeddings.position_embedding.weight", p2)
    assert not rrsitr_no_decay("positional_embedding_extra", p2)
    assert rrsitr_no_decay("positional_embedding", p2)  # exact names only
    assert rrsitr_no_decay("vision_model.embeddings.class_embedding", p1)  # 1-D
    assert rrsitr_no_decay("logit_scale", torch.nn.Parameter(torch.tensor(1.0)))


def test_age_schedule_grows_the_thresholds_when_asked():
    from rsbench.engine import Batch

    fixed, aged = RRSITR(), RRSITR(age_schedule="linear", age_start=0.5)
    start = Batch(torch.arange(2), torch.arange(2), 0, 0, 100)
    end = Batch(torch.arange(2), torch.arange(2), 1, 100, 100)
    assert fixed.gammas(start) == (5.0, 18.0) == fixed.gammas(end)
    assert aged.gammas(start) == (2.5, 9.0) and aged.gammas(end) == (5.0, 18.0)


def test_scale_free_thresholds_are_multiples_of_the_chance_loss_or_batch_quantiles():
    from rsbench.engine import Batch
    from rsbench.io.errors import RsbenchError

    batch = Batch(torch.arange(100), torch.arange(100), 0, 0, 100)
    losses = torch.linspace(10.0, 30.0, 100)  # a batch of 100 pairs' ℓ
    chance = RRSITR(threshold_scale="chance", gamma1=0.27, gamma2=0.98)
    unit = 4 * math.log(100)  # four cross-entropies of 100 equal logits: 18.42
    g1, g2 = chance.gammas(batch, losses)
    assert g1 == pytest.approx(0.27 * unit) and g2 == pytest.approx(0.98 * unit)
    assert (g1, g2) == pytest.approx((4.97, 18.05), abs=0.01)  # the paper's 5 and 18
    quantile = RRSITR(threshold_scale="quantile", gamma1=0.25, gamma2=0.75)
    g1, g2 = quantile.gammas(batch, losses)
    assert g1 == pytest.approx(15.0, abs=0.01) and g2 == pytest.approx(25.0, abs=0.01)
    shares = torch.bincount(split_terms(losses, losses, g1, g2, 0.8, 0.9).partition, minlength=3)
    assert shares.tolist() == [25, 50, 25]  # the partition sizes the quantiles set
    with pytest.raises(ValueError, match="needs the batch's losses"):
        chance.gammas(batch)
    with pytest.raises(RsbenchError, match="quantile needs gamma2 <= 1"):
        RRSITR(threshold_scale="quantile", gamma1=0.5, gamma2=18.0)
    assert RRSITR().gammas(batch, losses) == (5.0, 18.0)  # the paper's absolute values


def test_profiles_keep_batch_100_and_scale_20():
    small, paper = RRSITR(), RRSITR(profile="paper")
    assert small.options.batch_size == paper.options.batch_size == 100
    assert (
        small.options.logit_scale
        == pytest.approx(math.exp(2.996))
        == pytest.approx(20.005, abs=1e-3)
    )
    assert paper.options.lr == 7e-6 and paper.options.weight_decay == 0.7
    assert paper.options.warmup_steps == 200 and paper.options.grad_clip == 50
    assert paper.options.precision == "fp16" and paper.options.interpolation == "bicubic"
    assert (paper.options.crop, tuple(paper.options.crop_scale)) == ("resized_crop", (0.9, 1.0))
    assert paper.options.epochs == 50 and paper.options.image_size == 224


def test_a_short_run_lowers_the_loss_and_reports_partitions_every_epoch():
    from rsbench.testing import check_method

    method = RRSITR(epochs=3, batch_size=30)
    reports = []
    original = method.report_clean_scores

    def spy(state, estimate, decisions=None):
        reports.append(estimate)
        original(state, estimate, decisions)

    method.report_clean_scores = spy
    fitted = {}
    original_fit = method.fit

    def fit(task):
        fitted["result"] = original_fit(task)
        return fitted["result"]

    method.fit = fit
    check_method(method, ratio=0.4)
    history = fitted["result"].history
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    assert len(reports) == 3
    for estimate in reports:
        assert estimate.group_names == ("clean", "ambiguous", "noisy")
        seen = estimate.groups >= 0
        assert seen.sum() == 270 - 270 % 30
        assert np.array_equal(estimate.decisions[seen], estimate.groups[seen] != 2)
        ell = -estimate.scores[seen]  # the clean score is −ℓ
        groups = estimate.groups[seen]
        assert (ell[groups == 0] < 5).all() and (ell[groups == 2] >= 18).all()
        assert ((ell[groups == 1] >= 5) & (ell[groups == 1] < 18)).all()
    shares = [h["share_clean"] + h["share_ambiguous"] + h["share_noisy"] for h in history]
    assert shares == pytest.approx([1.0] * 3)


def test_evaluation_fuses_global_and_local_at_kappa_one_and_records_global_only(tmp_path):
    from rsbench.engine.features import Features
    from tests.test_hf import tiny_clip

    clip, _ = tiny_clip()
    from rsbench_plugins.methods.rrsitr import RRSITRModel

    model = RRSITRModel(clip, 0.9, 0.1, "include", "code").eval()
    g = torch.Generator().manual_seed(1)
    image = Features(
        torch.nn.functional.normalize(torch.randn(3, 4, generator=g), dim=-1),
        torch.randn(3, 5, 4, generator=g),
    )
    text = Features(
        torch.nn.functional.normalize(torch.randn(2, 4, generator=g), dim=-1),
        torch.randn(2, 6, 4, generator=g),
        torch.ones(2, 6, dtype=torch.bool),
    )
    fused = model.score(image, text)
    expected = 0.9 * (text.emb @ image.emb.T) + 0.1 * local_scores_direct(
        text.tokens, image.tokens, 1.0
    )
    assert torch.allclose(fused, expected, atol=1e-5)
    assert torch.allclose(model.score(image, text, variant="global_only"), text.emb @ image.emb.T)
    unit = RRSITRModel(clip, 0.9, 0.1, "include", "unit").score(image, text)
    expected_unit = 0.9 * (text.emb @ image.emb.T) + 0.1 * local_scores_direct(
        text.tokens, image.tokens
    ) / math.sqrt(6 * 5)
    assert torch.allclose(unit, expected_unit, atol=1e-5)
    assert "global_only" in model.score_variants


def test_training_local_scale_unit_divides_by_the_largest_local_score():
    """``train_local_scale: unit``: κ‖T̂V̂ᵀ‖_F / √(text tokens × patches) in training, so the local
    logits span [0, κ] like the global ones; ``code`` keeps κ‖T̂V̂ᵀ‖_F (up to κ·61 at 77 × 49)."""
    from rsbench.engine.features import Features
    from rsbench_plugins.methods.rrsitr import RRSITRModel
    from tests.test_hf import tiny_clip

    clip, _ = tiny_clip()
    g = torch.Generator().manual_seed(2)
    image = Features(torch.randn(3, 4, generator=g), torch.randn(3, 5, 4, generator=g))
    mask = torch.tensor([[1, 1, 1, 0, 0, 0], [1, 1, 1, 1, 1, 0]], dtype=torch.bool)
    text = Features(torch.randn(2, 4, generator=g), torch.randn(2, 6, 4, generator=g), mask)
    for padding, tokens in (("include", [6, 6]), ("exclude", [3, 5])):
        code = RRSITRModel(clip, 0.9, 0.1, padding, "code", "code").local(image, text, KAPPA)
        unit = RRSITRModel(clip, 0.9, 0.1, padding, "code", "unit").local(image, text, KAPPA)
        for i, n in enumerate(tokens):
            for j in range(3):
                raw = ref_local(text.tokens[i, :n].numpy(), image.tokens[j].numpy(), KAPPA)
                assert code[i, j].item() == pytest.approx(raw, rel=1e-4)
                assert unit[i, j].item() == pytest.approx(raw / math.sqrt(n * 5), rel=1e-4)
                assert unit[i, j].item() <= KAPPA + 1e-4


def test_the_training_local_scale_option_keeps_the_ids_of_cells_run_before_it():
    """Added after cells were recorded: at its default it is not part of the cell id."""
    default = RRSITR(profile="small")
    assert "train_local_scale" not in default.identity_params()
    unit = RRSITR(profile="small", train_local_scale="unit")
    assert unit.identity_params()["train_local_scale"] == "unit"
    assert {k: v for k, v in unit.identity_params().items() if k != "train_local_scale"} == (
        default.identity_params()
    )


def test_paper_profile_from_a_tiny_checkpoint_through_the_real_loading_code(tmp_path):
    """The paper recipe (fp16 with a scaler, bicubic crops, exact decay rule) on a tiny CLIP
    saved under the paper checkpoint's name."""
    from rsbench.testing import check_method
    from tests.test_hf import tiny_clip

    clip, tokenizer = tiny_clip(image_size=32)
    folder = tmp_path / "weights" / "openai" / "clip-vit-base-patch32"
    clip.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    method = RRSITR(
        profile="paper",
        weights_dir=str(tmp_path / "weights"),
        image_size=32,
        decode_size=36,
        text_length=40,
        epochs=1,
        batch_size=30,
        warmup_steps=2,
    )
    assert method.options.precision == "fp16"
    metrics = check_method(method, ratio=0.2)
    assert 0 <= metrics["mR"] <= 100

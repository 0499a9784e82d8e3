"""MSA: every loss term and quirk against an independent computation, the modules' shapes, the
vectorised MSCMAT against the official-style B² construction, a short training run, and the
``paper`` profile from tiny checkpoints through the real loading code and the command line."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from rsbench.engine import Features
from rsbench.io.errors import RsbenchError
from rsbench_plugins.methods.msa import MSA, PAPER_RECIPE
from rsbench_plugins.methods.msa_losses import (
    csmmc_loss,
    mining_distances,
    mscma_floor,
    mscma_loss,
    triplet_loss,
)
from rsbench_plugins.methods.msa_model import MSCMAT, GatedProjection, MSAModel, pool_scales

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


# ---- independent references (numpy, loops) ---------------------------------------------------


def np_cdist_cosine(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """``scipy.spatial.distance.cdist(u, v, 'cosine')``: float64, cosine clipped to [-1, 1]."""
    u, v = u.astype(np.float64), v.astype(np.float64)
    out = np.empty((len(u), len(v)))
    for i in range(len(u)):
        for j in range(len(v)):
            c = u[i] @ v[j] / (np.sqrt(u[i] @ u[i]) * np.sqrt(v[j] @ v[j]))
            out[i, j] = 1.0 - min(1.0, max(-1.0, c))
    return out


def reference_triplet(image: np.ndarray, text: np.ndarray, margin=0.5, scale=True, exclude=None):
    """The official loop's L_tri: cdist, diagonal × 1e6 (or excluded), argmin, summed hinges."""
    b = len(image)
    dist = np_cdist_cosine(image, text)
    mask = np.where(np.eye(b) == 1, 1e6 if scale else np.inf, 1.0)
    mined = dist * mask if scale else np.where(np.eye(b) == 1, np.inf, dist)
    if exclude is not None:
        mined = np.where(exclude, np.inf, mined)
    cos = lambda a, c: float(a @ c / (np.linalg.norm(a) * np.linalg.norm(c)))  # noqa: E731
    total = 0.0
    for i in range(b):
        n = int(np.argmin(mined[i]))
        total += max(0.0, margin + (2 - cos(image[i], text[i])) - (2 - cos(image[i], text[n])))
    for j in range(b):
        m = int(np.argmin(mined[:, j]))
        total += max(0.0, margin + (2 - cos(text[j], image[j])) - (2 - cos(text[j], image[m])))
    return total, mined


def reference_ce_rows(scores: np.ndarray, exclude=None) -> float:
    """Mean over rows of −log softmax(row)[diagonal], by loops."""
    b = len(scores)
    total = 0.0
    for i in range(b):
        row = [scores[i, j] for j in range(b) if exclude is None or not exclude[i, j]]
        total += -scores[i, i] + math.log(sum(math.exp(x) for x in row))
    return total / b


def column_softmax_rows(scores: np.ndarray, tau: float) -> np.ndarray:
    """Row j: text j's distribution over the images (softmax down column j)."""
    e = np.exp(scores / tau)
    return (e / e.sum(axis=0, keepdims=True)).T


def unit(x: torch.Tensor) -> torch.Tensor:
    return F.normalize(x, dim=-1)


# ---- L_tri ----------------------------------------------------------------------------------


def test_triplet_loss_equals_the_official_cdist_loop():
    torch.manual_seed(0)
    image, text = unit(torch.randn(8, 6)), unit(torch.randn(8, 6))
    expected, _ = reference_triplet(image.numpy(), text.numpy())
    assert triplet_loss(image, text).item() == pytest.approx(expected, rel=1e-5)
    expected_excl, _ = reference_triplet(image.numpy(), text.numpy(), scale=False)
    assert triplet_loss(image, text, diagonal="exclude").item() == pytest.approx(
        expected_excl, rel=1e-5
    )
    # margin 0.5 by default (the reference's sum of hinges is the official reduction)
    assert triplet_loss(image, text, margin=0.2).item() != pytest.approx(expected)


def test_an_exact_match_is_its_own_hardest_negative_under_the_1e6_quirk():
    torch.manual_seed(1)
    image, text = unit(torch.randn(5, 4)), unit(torch.randn(5, 4))
    text[2] = image[2]  # an exact match: cosine distance 0, and 0 × 1e6 = 0
    distance = mining_distances(image, text)
    _, mined = reference_triplet(image.numpy(), text.numpy())
    assert int(distance[2].argmin()) == int(np.argmin(mined[2])) == 2
    assert int(distance[:, 2].argmin()) == 2
    # its hinges are then margin − cos + cos = 0.5 each, whatever the other pairs are
    value = triplet_loss(image, text)
    expected, _ = reference_triplet(image.numpy(), text.numpy())
    assert value.item() == pytest.approx(expected, rel=1e-5)
    # excluding the diagonal picks a real negative instead
    assert int(mining_distances(image, text, "exclude")[2].argmin()) != 2
    # a pair that is merely close is not picked: 1e6 × its distance outweighs the others
    text[2] = unit(image[2] + 0.05 * torch.randn(4))
    assert int(mining_distances(image, text)[2].argmin()) != 2


def test_mining_has_no_gradient_but_the_picked_negatives_do():
    torch.manual_seed(2)
    image = unit(torch.randn(6, 5)).requires_grad_()
    text = unit(torch.randn(6, 5)).requires_grad_()
    triplet_loss(image, text).backward()
    hardest = mining_distances(image, text).argmin(dim=1)
    assert not mining_distances(image, text).requires_grad
    # a text that is some image's hardest negative with an active hinge gets a gradient
    assert text.grad[hardest].abs().sum() > 0


def test_same_image_rows_are_not_negatives_with_mask_same_image():
    torch.manual_seed(3)
    image_ids = torch.tensor([0, 0, 1, 2, 2, 2])
    image = unit(torch.randn(6, 5))[[0, 0, 2, 3, 3, 3]]  # rows of one image share its embedding
    text = unit(image + 0.1 * torch.randn(6, 5))  # each caption close to its image
    exclude = (image_ids[:, None] == image_ids[None, :]) & ~torch.eye(6, dtype=torch.bool)
    expected, mined = reference_triplet(image.numpy(), text.numpy(), exclude=exclude.numpy())
    assert triplet_loss(image, text, exclude=exclude).item() == pytest.approx(expected, rel=1e-5)
    picked = mining_distances(image, text, exclude=exclude).argmin(dim=1)
    assert not exclude[torch.arange(6), picked].any()
    # without the mask a duplicate row of the same image is picked (it is the exact match)
    unmasked = mining_distances(image, text).argmin(dim=0)
    assert (image_ids[unmasked] == image_ids).any()


def test_a_row_with_no_negative_left_adds_nothing():
    image = unit(torch.randn(2, 3))
    text = unit(torch.randn(2, 3))
    everything = ~torch.eye(2, dtype=torch.bool)
    assert triplet_loss(image, text, exclude=everything).item() == 0.0


# ---- L_MSCMA --------------------------------------------------------------------------------


def test_mscma_is_row_cross_entropy_summed_over_scales():
    torch.manual_seed(4)
    maps = [torch.rand(7, 7) for _ in range(4)]
    expected = sum(reference_ce_rows(m.numpy().astype(np.float64)) for m in maps)
    assert mscma_loss(maps).item() == pytest.approx(expected, rel=1e-5)
    # image → text only: transposing a map changes the loss
    assert mscma_loss([m.T for m in maps]).item() != pytest.approx(expected, rel=1e-3)


def test_mscma_floor_is_log_one_plus_b_minus_one_over_e():
    for b in (2, 8, 32):
        perfect = torch.eye(b)  # scores 1 on the diagonal, 0 elsewhere: the best sigmoid scores
        assert mscma_loss([perfect]).item() == pytest.approx(math.log(1 + (b - 1) / math.e))
        assert mscma_floor(b) == pytest.approx(reference_ce_rows(perfect.numpy()))
    assert mscma_floor(32) == pytest.approx(2.518, abs=1e-3)
    assert 4 * mscma_floor(32) == pytest.approx(10.07, abs=1e-2)
    # no score in (0, 1) gets below it, however saturated the sigmoid
    torch.manual_seed(5)
    for _ in range(20):
        maps = [torch.sigmoid(30 * torch.randn(32, 32) + 60 * torch.eye(32)) for _ in range(4)]
        assert mscma_loss(maps).item() >= 4 * mscma_floor(32) - 1e-5
    saturated = [torch.sigmoid(torch.full((32, 32), -50.0) + 100 * torch.eye(32))] * 4
    assert mscma_loss(saturated).item() == pytest.approx(4 * mscma_floor(32), abs=1e-5)


def test_mscma_with_same_image_rows_masked():
    torch.manual_seed(6)
    scores = torch.rand(5, 5)
    ids = torch.tensor([0, 0, 1, 1, 2])
    exclude = (ids[:, None] == ids[None, :]) & ~torch.eye(5, dtype=torch.bool)
    expected = reference_ce_rows(scores.numpy().astype(np.float64), exclude.numpy())
    assert mscma_loss([scores], exclude).item() == pytest.approx(expected, rel=1e-5)


# ---- L_CSMMC --------------------------------------------------------------------------------


def reference_csmmc(maps: list[np.ndarray], tau=2.0, student_target=True) -> float:
    q = column_softmax_rows(maps[-1], tau)
    total = 0.0
    for m in maps[:-1]:
        p = column_softmax_rows(m, tau)
        b = len(p)
        kl = 0.0
        for j in range(b):
            for i in range(b):
                if student_target:
                    kl += p[j, i] * (math.log(p[j, i]) - math.log(q[j, i]))
                else:
                    kl += q[j, i] * (math.log(q[j, i]) - math.log(p[j, i]))
        total += kl / (b * b)  # reduction='mean': over all B² elements
    return total


def test_csmmc_equals_kl_student_to_teacher_mean_over_b_squared():
    torch.manual_seed(7)
    maps = [torch.rand(6, 6) for _ in range(4)]
    np_maps = [m.numpy().astype(np.float64) for m in maps]
    assert csmmc_loss(maps).item() == pytest.approx(reference_csmmc(np_maps), rel=1e-4)
    assert csmmc_loss(maps, target="teacher").item() == pytest.approx(
        reference_csmmc(np_maps, student_target=False), rel=1e-4
    )
    # the temperature matters
    assert csmmc_loss(maps, temperature=0.5).item() != pytest.approx(csmmc_loss(maps).item())


def test_csmmc_gradient_is_the_kl_div_target_gradient_of_the_official_code():
    """The code: ``F.kl_div(softmax(M4.detach()/τ, 0).T.log(), softmax(Mk/τ, 0).T, 'mean')``;
    the student is kl_div's *target*, and its gradient flows through that argument."""
    torch.manual_seed(8)
    raw = [torch.rand(5, 5, requires_grad=True) for _ in range(4)]
    csmmc_loss(raw).backward()
    assert raw[3].grad is None  # the teacher is detached
    ours = [r.grad.clone() for r in raw[:3]]
    for r in raw:
        r.grad = None
    official = 0
    teacher = torch.softmax(raw[3].detach() / 2, dim=0).t()
    for k in (2, 1, 0):
        student = torch.softmax(raw[k] / 2, dim=0).t()
        official = official + F.kl_div(teacher.log(), student, reduction="mean").mean()
    official.backward()
    for k in range(3):
        assert torch.allclose(ours[k], raw[k].grad, atol=1e-7)
    # teacher as the target: kl_div(student.log(), teacher)
    for r in raw:
        r.grad = None
    csmmc_loss(raw, target="teacher").backward()
    ours = [r.grad.clone() for r in raw[:3]]
    for r in raw:
        r.grad = None
    official = sum(
        F.kl_div(torch.softmax(raw[k] / 2, dim=0).t().log(), teacher, reduction="mean")
        for k in range(3)
    )
    official.backward()
    for k in range(3):
        assert torch.allclose(ours[k], raw[k].grad, atol=1e-7)


def test_csmmc_is_tiny_on_sigmoid_scores_at_tau_two():
    """Scores in (0, 1) at τ = 2 give near-uniform distributions: the term is ~1e-4 at B = 32."""
    torch.manual_seed(9)
    maps = [torch.rand(32, 32) for _ in range(4)]
    assert 0 < csmmc_loss(maps).item() < 5e-3


# ---- modules ---------------------------------------------------------------------------------


def test_pooling_equals_the_fixed_kernel_pools_at_224_px():
    torch.manual_seed(10)
    stages = [torch.randn(2, c, s, s) for c, s in ((4, 56), (5, 28), (6, 14), (7, 7))]
    pooled = pool_scales(stages)
    official = [
        nn.MaxPool2d(56)(stages[0]),
        nn.MaxPool2d(28)(stages[1]),
        nn.MaxPool2d(14)(stages[2]),
        nn.AdaptiveAvgPool2d(1)(stages[3]),
    ]
    for ours, theirs in zip(pooled, official, strict=True):
        assert torch.allclose(ours, theirs.flatten(1))


def test_gated_projection_formula():
    torch.manual_seed(11)
    gp = GatedProjection(6)
    f = torch.randn(3, 6).double()
    w = {n: p.detach().double().numpy() for n, p in gp.named_parameters()}
    u = f.numpy() @ w["inner.weight"].T + w["inner.bias"]
    g = 1 / (1 + np.exp(-(u @ w["gate.weight"].T + w["gate.bias"])))
    v = (u * g) @ w["outer.weight"].T + w["outer.bias"]
    assert np.allclose(gp.double()(f).detach().numpy(), v)


def official_style_mscmat(mscmat: MSCMAT, scales, tokens, cls, mask=None) -> list[torch.Tensor]:
    """The official interact_cross: B² pairs built by repeating images and concatenating the
    texts in a Python loop, then one sequence-first MultiheadAttention call on all of them."""
    b = len(tokens)
    reps = [torch.cat([s[i].expand(b, -1) for i in range(b)]) for s in scales]
    texts = torch.cat([tokens for _ in range(b)])
    clss = torch.cat([cls for _ in range(b)])
    padding = None if mask is None else ~torch.cat([mask for _ in range(b)])
    keys = mscmat.norm_text(texts).permute(1, 0, 2)
    out = []
    for k, s in enumerate(reps):
        q = mscmat.project[k](s)
        a = mscmat.attention[k](
            mscmat.norm_image(q).unsqueeze(0), keys, keys, key_padding_mask=padding
        )[0].squeeze(0)
        m = torch.sigmoid(mscmat.match[k]((a + clss) * q))
        out.append(m.reshape(b, b))
    return out


@pytest.mark.parametrize("mask_padding", [False, True])
def test_vectorised_mscmat_equals_the_official_pair_loop(mask_padding):
    torch.manual_seed(12)
    channels, width, b, length = (5, 6, 7, 8), 12, 6, 9
    mscmat = MSCMAT(channels, width, heads=3, mask_padding=mask_padding)
    scales = [torch.randn(b, c) for c in channels]
    tokens, cls = torch.randn(b, length, width), unit(torch.randn(b, width))
    mask = torch.arange(length)[None, :] < torch.tensor([9, 3, 5, 1, 9, 2])[:, None]
    maps = mscmat(scales, tokens, cls, mask)
    reference = official_style_mscmat(mscmat, scales, tokens, cls, mask if mask_padding else None)
    assert len(maps) == 4
    for ours, theirs in zip(maps, reference, strict=True):
        assert ours.shape == (b, b)
        assert torch.allclose(ours, theirs, atol=1e-6)
        assert ((ours > 0) & (ours < 1)).all()
    # rows are images, columns texts: swapping two texts swaps two columns
    order = [1, 0, 2, 3, 4, 5]
    swapped = mscmat(scales, tokens[order], cls[order], mask[order])
    assert torch.allclose(swapped[0][:, [1, 0]], maps[0][:, [0, 1]], atol=1e-6)


def test_mscmat_initialisation_and_shared_layer_norms():
    mscmat = MSCMAT((8, 16, 32, 64), 48, heads=12)
    assert len(list(mscmat.attention)) == 4 and mscmat.attention[0].num_heads == 12
    assert abs(mscmat.attention[0].in_proj_weight.std().item() - 48**-0.5) < 0.02
    assert abs(mscmat.attention[1].out_proj.weight.std().item() - 48**-0.5 * 2**-0.5) < 0.02
    names = {n.split(".")[0] for n, _ in mscmat.named_parameters()}
    assert names == {"project", "attention", "norm_image", "norm_text", "match"}
    with pytest.raises(ValueError, match="heads must divide the width"):
        MSCMAT((8,), 64, heads=12)


@pytest.fixture(scope="module")
def small_model():
    method = MSA()
    torch.manual_seed(0)
    return method, method.build(None), method.make_tokenizer(None)


def test_small_model_shapes(small_model):
    method, model, tokenizer = small_model
    model.eval()
    text = tokenizer(["two planes on a grey runway", "a river", "three red roofs"])
    assert text.ids.shape == (3, 31)  # max length 31: [CLS] + 30 localized positions
    pixels = torch.randn(3, 3, 64, 64)
    with torch.no_grad():
        image = model.encode_image(pixels, scales=True)
        words = model.encode_text(text, tokens=True)
        maps = model.alignment(image, words)
        plain_image, plain_text = model.encode_image(pixels), model.encode_text(text)
    assert image.emb.shape == (3, 64) and torch.allclose(image.emb.norm(dim=1), torch.ones(3))
    assert [s.shape for s in image.scales] == [(3, 32), (3, 64), (3, 128), (3, 256)]
    assert words.emb.shape == (3, 64) and words.tokens.shape == (3, 30, 64)
    assert words.mask.shape == (3, 30) and words.mask[1].sum() < words.mask[0].sum()
    assert [m.shape for m in maps] == [(3, 3)] * 4
    # evaluation: embeddings only, cosine as the score
    assert plain_image.scales == () and plain_text.tokens is None
    assert torch.allclose(plain_image.emb, image.emb) and torch.allclose(plain_text.emb, words.emb)
    scores = model.score(plain_image, plain_text)
    assert torch.allclose(scores, plain_text.emb @ plain_image.emb.T)
    with torch.no_grad():
        direct = model.bert(input_ids=text.ids, attention_mask=text.mask.long()).last_hidden_state
    assert torch.allclose(words.emb, unit(direct[:, 0]), atol=1e-6)
    assert torch.allclose(words.tokens, direct[:, 1:], atol=1e-6)
    with pytest.raises(ValueError, match="scales=True"):
        model.alignment(plain_image, words)


def test_image_embedding_is_the_gated_map_of_the_summed_scale_projections(small_model):
    _, model, _ = small_model
    model.eval()
    pixels = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        stages = model.resnet(pixel_values=pixels, output_hidden_states=True).hidden_states[1:]
        s = [stages[0].amax((2, 3)), stages[1].amax((2, 3)), stages[2].amax((2, 3))]
        s.append(stages[3].mean((2, 3)))
        f = sum(model.scale_proj[k](s[k]) for k in range(4))
        expected = unit(model.image_map(f))
        assert torch.allclose(model.encode_image(pixels).emb, expected, atol=1e-6)


def test_objective_weights_and_statistics(small_model):
    method, model, tokenizer = small_model
    from rsbench.engine import Batch

    model.train()
    torch.manual_seed(13)
    b = 4
    pixels = torch.randn(b, 3, 64, 64)
    text = tokenizer(["a river", "two planes", "a red roof", "a bridge over water"])
    batch = Batch(torch.arange(b), torch.arange(b), 0, 0, 1)
    torch.manual_seed(14)
    out = {"image": model.encode_image(pixels, scales=True), "text": model.encode_text(text, True)}
    result = method.objective(out, batch, model)
    s = result.stats
    total = s["loss_tri"] + 15 * s["loss_mscma"] + 10 * s["loss_csmmc"]
    assert result.loss.item() == pytest.approx(total, rel=1e-5)
    assert s["mscma_floor"] == pytest.approx(4 * math.log(1 + 3 / math.e))
    assert s["loss_mscma"] >= s["mscma_floor"]
    # MSCMA and CSMMC alone reach MSCMAT and both backbones, not fc_k or the gated map
    maps = model.alignment(out["image"], out["text"])
    (mscma_loss(maps) + csmmc_loss(maps)).backward(retain_graph=True)
    assert model.image_map.outer.weight.grad is None and model.scale_proj[0].weight.grad is None
    assert model.mscmat.project[0].weight.grad.abs().sum() > 0
    assert model.resnet.embedder.embedder.convolution.weight.grad.abs().sum() > 0
    assert model.bert.embeddings.word_embeddings.weight.grad.abs().sum() > 0
    model.zero_grad(set_to_none=True)
    result.loss.backward()
    # the whole loss reaches every part
    assert model.image_map.outer.weight.grad.abs().sum() > 0
    assert model.mscmat.match[0].weight.grad.abs().sum() > 0
    assert model.resnet.embedder.embedder.convolution.weight.grad.abs().sum() > 0
    assert model.bert.embeddings.word_embeddings.weight.grad.abs().sum() > 0


# ---- options and profiles --------------------------------------------------------------------


def test_profiles_and_option_checks():
    paper = MSA(profile="paper")
    o = paper.options
    assert (o.lr, o.epochs, o.batch_size, o.weight_decay) == (1e-5, 60, 32, 0.1)
    assert (o.schedule, o.warmup_steps, o.grad_clip, o.weight_decay_rule) == (
        "constant",
        0,
        0.0,
        "all",
    )
    assert (o.image_size, o.normalize, o.crop, o.text_length, o.cross_heads) == (
        224,
        "imagenet",
        "none",
        31,
        12,
    )
    assert (o.margin, o.mscma_weight, o.csmmc_weight, o.csmmc_temperature) == (0.5, 15, 10, 2)
    assert (o.hard_negative_diagonal, o.csmmc_target, o.mask_padding, o.mask_same_image) == (
        "scale",
        "student",
        False,
        False,
    )
    assert paper.required_checkpoints() == ["microsoft/resnet-50", "google-bert/bert-base-uncased"]
    small = MSA()
    assert small.options.image_size == 64 and small.options.cross_heads == 2
    assert small.options.image_checkpoint == "rsbench/small-resnet-50"
    assert MSA(lr=3e-4).options.lr == 3e-4  # the user's options win over the profile
    assert not small.trim_text and MSA(mask_padding=True).trim_text
    for bad, match in (
        ({"csmmc_temperature": 0}, "csmmc_temperature"),
        ({"margin": -1}, "margin"),
        ({"text_length": 1}, "text_length"),
        ({"cross_heads": 0}, "cross_heads"),
    ):
        with pytest.raises(Exception, match=match):
            MSA(**bad)
    with pytest.raises(RsbenchError, match="does not divide the text width 64"):
        MSA(cross_heads=12).build(None)
    # the runner's check before any training: one clear line, from the configuration alone
    from rsbench.run.runner import Runner
    from rsbench.run.settings import parse_settings

    for options, match in (
        (
            {"cross_heads": 5},
            "cross_heads 5 does not divide the text width 64 of 'rsbench/small-bert'",
        ),
        ({"text_length": 65}, "text_length 65 exceeds the 64 positions"),
    ):
        grid = parse_settings(
            {"methods": {"msa": options}, "datasets": "synthrs-tiny", "noise": "0"}
        )
        with pytest.raises(RsbenchError, match=match):
            Runner(grid).prepare(check=True)
    assert set(PAPER_RECIPE) <= set(MSA.option_defaults())


# ---- training ---------------------------------------------------------------------------------


def test_a_short_run_on_synthrs_tiny_lowers_the_training_loss():
    from rsbench.data.noise_file import build_noise_file
    from rsbench.plugin.components import TrainTask
    from rsbench.plugin.manager import get_plugins

    plugins = get_plugins()
    splits = plugins.datasets.get("synthrs-tiny").create().load()
    noise = plugins.noise_models.get("caption_shuffle").create()
    nf = build_noise_file(splits.train, noise, 0.2, 0, {"name": "synthrs-tiny"})
    method = MSA(epochs=2)  # the small profile: lr 5e-4
    with tempfile.TemporaryDirectory() as work:
        task = TrainTask(
            pairs=nf.train_pairs(splits.train),
            val=splits.val.eval_set(),
            seed=0,
            device="cpu",
            work_dir=Path(work),
            clean_flags=nf.clean,
        )
        fit = method.fit(task)
    losses = [h["train_loss"] for h in fit.history]
    assert losses[-1] < losses[0], losses
    for key in ("loss_tri", "loss_mscma", "loss_csmmc", "mscma_floor"):
        assert all(np.isfinite(h[key]) for h in fit.history)
    assert fit.history[-1]["loss_tri"] < fit.history[0]["loss_tri"]
    assert all(h["loss_mscma"] >= h["mscma_floor"] - 1e-6 for h in fit.history)
    assert set(fit.info["checkpoints"]) == {"image", "text"}
    assert fit.info["tokenizer"]["max_length"] == 31
    assert fit.info["image_pipeline"]["size"] == 64
    test = splits.test
    scorer = fit.retriever.scorer(test.images, test.texts)
    block = scorer.block(slice(0, 5), slice(0, 3))
    assert block.shape == (5, 3) and np.all(np.abs(block) <= 1 + 1e-5)  # cosine


# ---- the paper profile, from tiny checkpoints, through the command line ----------------------


@pytest.fixture
def paper_weights(tmp_path):
    """Tiny checkpoints saved under the paper checkpoints' names (save_pretrained layout)."""
    from tests.fixtures.tiny_checkpoints import save_tiny_bert, save_tiny_resnet

    root = tmp_path / "weights"
    save_tiny_bert(
        root / "google-bert" / "bert-base-uncased",
        hidden_size=24,  # 12 MSCMAT heads of 2
        num_hidden_layers=1,
        intermediate_size=32,
        extra_words=["plane", "red", "roof", "two"],
        add_pooling_layer=False,
    )
    save_tiny_resnet(root / "microsoft" / "resnet-50", [8, 16, 24, 32], "bottleneck")
    return root


@pytest.mark.slow  # about 20 s on an idle machine: a subprocess and a 224 px step
def test_paper_profile_from_tiny_checkpoints_on_a_real_layout_through_the_cli(
    tmp_path, paper_weights
):
    from tests.fixtures.rs_datasets import make_rsitmd

    make_rsitmd(tmp_path / "data", n_train=8, n_val=2, n_test=2, image_size=32)
    out = tmp_path / "runs"
    env = {**os.environ, "RSBENCH_PROGRESS": "0", "HF_HUB_OFFLINE": "1"}
    env.pop("RSBENCH_WEIGHTS", None)
    result = subprocess.run(
        [sys.executable, "-m", "rsbench", "run", "--methods", "msa", "--datasets", "rsitmd",
         "--data-root", str(tmp_path / "data"), "--noise", "0.2", "--epochs", "1", "--seeds", "0",
         "--weights-dir", str(paper_weights), "--out", str(out), "--no-leaderboard"],
        capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    (record_file,) = (out / "cells").glob("*.json")
    record = json.loads(record_file.read_text())
    assert record["status"] == "ok", record["error"]
    params = record["method"]["params"]
    assert record["method"]["profile"] == "paper"
    assert (params["lr"], params["image_size"], params["cross_heads"]) == (1e-5, 224, 12)
    checkpoints = record["info"]["checkpoints"]
    assert checkpoints["image"]["checkpoint"] == "microsoft/resnet-50"
    assert checkpoints["text"]["checkpoint"] == "google-bert/bert-base-uncased"
    assert len(checkpoints["text"]["sha256"]) == 64
    assert record["method"]["backbone"]["init"] == "pretrained"
    assert {"loss_tri", "loss_mscma", "loss_csmmc"} <= set(record["history"][0])
    assert 0 <= record["metrics"]["mR"] <= 100


def test_check_ready_reads_the_paper_text_checkpoints_shape(paper_weights, tmp_path):
    """Heads and text length against the saved configuration (width 24, 512 positions), before
    any weights are loaded; a missing checkpoint is named."""
    weights = str(paper_weights)
    MSA(profile="paper", weights_dir=weights).check_ready()  # 12 heads divide 24; 31 <= 512
    MSA(profile="paper", weights_dir=weights, cross_heads=8, text_length=512).check_ready()
    for options, match in (
        (
            {"cross_heads": 5},
            "cross_heads 5 does not divide the text width 24 of 'google-bert/bert-base-uncased'; "
            "use a divisor of 24",
        ),
        (
            {"text_length": 513},
            "text_length 513 exceeds the 512 positions of 'google-bert/bert-base-uncased'",
        ),
    ):
        with pytest.raises(RsbenchError, match=match):
            MSA(profile="paper", weights_dir=weights, **options).check_ready()
    with pytest.raises(RsbenchError, match="microsoft/resnet-50"):
        MSA(profile="paper", weights_dir=str(tmp_path / "none")).check_ready()


def test_paper_profile_loads_the_tiny_checkpoints_with_equal_weights(paper_weights):
    from transformers import BertModel, ResNetModel

    model = MSA(profile="paper", weights_dir=str(paper_weights)).build(None)
    assert isinstance(model, MSAModel)
    saved_bert = BertModel.from_pretrained(
        paper_weights / "google-bert" / "bert-base-uncased", add_pooling_layer=False
    )
    saved_resnet = ResNetModel.from_pretrained(paper_weights / "microsoft" / "resnet-50")
    for ours, saved in ((model.bert, saved_bert), (model.resnet, saved_resnet)):
        for (name, a), (_, b) in zip(
            ours.state_dict().items(), saved.state_dict().items(), strict=True
        ):
            assert torch.equal(a, b), name
    assert model.mscmat.attention[0].num_heads == 12
    assert [p.in_features for p in model.scale_proj] == [8, 16, 24, 32]
    features = model.encode_image(torch.randn(2, 3, 224, 224), scales=True)
    assert features.emb.shape == (2, 24)
    assert isinstance(features, Features)
    # the tokenizer saved with the checkpoint: its WordPiece vocabulary, 31 positions
    tokenizer = MSA(profile="paper", weights_dir=str(paper_weights)).make_tokenizer(None)
    batch = tokenizer(["two red plane"])
    assert batch.ids.shape == (1, 31) and int(batch.mask.sum()) == 5
    assert tokenizer.tokenizer.convert_ids_to_tokens(batch.ids[0, :5].tolist()) == [
        "[CLS]",
        "two",
        "red",
        "plane",
        "[SEP]",
    ]


def run_msa_cli(data: Path, out: Path, names: list[str], config: Path | None = None) -> list[dict]:
    """``rsbench run --methods msa`` (small profile, one epoch) on local datasets; the records."""
    args = ["--config", str(config)] if config else ["--methods", "msa"]
    result = subprocess.run(
        [sys.executable, "-m", "rsbench", "run", *args, "--datasets", ",".join(names),
         "--data-root", str(data), "--noise", "0.2", "--epochs", "1", "--seeds", "0",
         "--profile", "small", "--out", str(out), "--no-leaderboard"],
        capture_output=True, text=True, env={**os.environ, "RSBENCH_PROGRESS": "0"}, timeout=900,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    records = [json.loads(p.read_text()) for p in (out / "cells").glob("*.json")]
    assert sorted(r["dataset"]["name"] for r in records) == sorted(names)
    for record in records:
        assert record["status"] == "ok", record.get("error")
        assert record["method"]["profile"] == "small"
        assert math.isfinite(record["metrics"]["mR"]) and 0 <= record["metrics"]["mR"] <= 100
        history = record["history"][0]
        assert history["loss_mscma"] >= history["mscma_floor"] - 1e-6
        assert record["info"]["checkpoints"]["text"]["checkpoint"] == "rsbench/small-bert"
    return records


@pytest.mark.slow  # five cells in one subprocess: 76 s at load 8-12 on two cores
def test_rsbench_run_trains_msa_on_every_fixture_dataset(tmp_path):
    """The real datasets' layouts (16-bit, multi-band, gray and CMYK images; empty, one-word
    and duplicate captions), each through the command line."""
    from tests.fixtures.rs_datasets import make_nwpu, make_rsicd, make_rsitmd, make_sydney, make_ucm

    data = tmp_path / "data"
    for make in (make_rsitmd, make_rsicd, make_nwpu, make_ucm, make_sydney):
        make(data)
    run_msa_cli(data, tmp_path / "runs", ["rsitmd", "rsicd", "nwpu", "ucm", "sydney"])


@pytest.mark.slow  # two cells: 59 s at load 8-12 on two cores
def test_rsbench_run_trains_msa_on_the_other_layouts_with_padding_masked(tmp_path):
    """RRSITR's CSV layout of RSITMD and NWPU's flat image folder, with ``mask_padding`` on
    (masked attention and trimmed all-padding columns, an empty caption among them)."""
    import yaml

    from tests.fixtures.rs_datasets import make_nwpu, make_rsitmd

    data = tmp_path / "data"
    make_rsitmd(data, layout="csv")
    make_nwpu(data, image_layout="flat")
    config = tmp_path / "msa.yaml"
    config.write_text(yaml.safe_dump({"methods": {"msa": {"mask_padding": True}}}))
    records = run_msa_cli(data, tmp_path / "runs", ["rsitmd", "nwpu"], config)
    for record in records:
        assert record["method"]["params"]["mask_padding"] is True
    (rsitmd,) = [r for r in records if r["dataset"]["name"] == "rsitmd"]
    assert rsitmd["dataset"]["info"]["format"] == "rrsitr-csv"

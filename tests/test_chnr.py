"""CHNR and DUCH: each loss term and quirk against an independent computation, the two phases,
the Hamming ranking, and short runs (on made-up features, on synthrs-tiny, from tiny paper
checkpoints written with save_pretrained)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch

from rsbench.engine.binary_codes import binary_codes, hamming_score
from rsbench.engine.optim import set_learning_rate
from rsbench.plugin.components import TrainPairs, TrainTask
from rsbench.plugin.split import EvalSet, ImageItem
from rsbench_plugins.methods import chnr as chnr_module
from rsbench_plugins.methods.chnr import CHNR, DUCH, CHNRModel, HashHead, NoiseDetector
from rsbench_plugins.methods.chnr_losses import (
    detector_bce,
    different_class_partners,
    gradient_penalty,
    nt_xent_terms,
    pair_weights,
    quantization_loss,
    weighted_nt_xent,
)

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny tensors: one thread is faster, and on a busy machine much faster."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# ---- the loss terms against plain loops --------------------------------------------------------


def codes(seed: int, n: int = 5, k: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.tanh(torch.randn(n, k, generator=g)), torch.tanh(torch.randn(n, k, generator=g))


def official_style_terms(
    a: np.ndarray, b: np.ndarray, tau: float = 1.0, eps: float = 1e-6
) -> np.ndarray:
    """``forward_orig`` as the official code writes it: every column summed, e subtracted for
    the anchor's own term (whatever τ), the sum floored at eps, eps added; one loop per anchor."""
    z = np.concatenate([a, b]).astype(np.float64)
    z /= np.linalg.norm(z, axis=1, keepdims=True)
    n = len(a)
    out = []
    for i in range(2 * n):
        total = sum(math.exp(float(z[i] @ z[j]) / tau) for j in range(2 * n))
        negatives = max(total - math.e, eps)
        partner = i + n if i < n else i - n
        out.append(-math.log(math.exp(float(z[i] @ z[partner]) / tau) / (negatives + eps)))
    return np.array(out)


def exact_terms(a: np.ndarray, b: np.ndarray, tau: float, eps: float = 1e-6) -> np.ndarray:
    """NT-Xent with the anchor's own term left out of the sum, at any τ; one loop per anchor."""
    z = np.concatenate([a, b]).astype(np.float64)
    z /= np.linalg.norm(z, axis=1, keepdims=True)
    n = len(a)
    out = []
    for i in range(2 * n):
        others = sum(math.exp(float(z[i] @ z[j]) / tau) for j in range(2 * n) if j != i)
        partner = i + n if i < n else i - n
        positive = math.exp(float(z[i] @ z[partner]) / tau)
        out.append(-math.log(positive / (max(others, eps) + eps)))
    return np.array(out)


def test_nt_xent_at_tau_one_equals_the_official_formula():
    a, b = codes(0)
    got = nt_xent_terms(a, b, temperature=1.0).numpy()
    np.testing.assert_allclose(got, official_style_terms(a.numpy(), b.numpy()), rtol=1e-5)


@pytest.mark.parametrize("tau", [0.5, 0.1, 2.0])
def test_nt_xent_leaves_the_own_term_out_at_any_tau(tau):
    a, b = codes(1)
    got = nt_xent_terms(a, b, temperature=tau).numpy()
    np.testing.assert_allclose(got, exact_terms(a.numpy(), b.numpy(), tau), rtol=1e-5)
    # the official subtraction of e leaves part of the own term in (or takes too much out)
    official = official_style_terms(a.numpy(), b.numpy(), tau)
    assert np.abs(official - got).min() > 1e-3


def test_nt_xent_is_finite_at_a_small_temperature():
    a, b = codes(2)
    assert torch.isfinite(nt_xent_terms(a, b, temperature=0.005)).all()


def test_weighted_nt_xent_sums_each_anchor_times_its_pair_weight():
    a, b = codes(3, n=4)
    w = torch.tensor([1.0, 0.5, 0.0, 0.25])
    terms = exact_terms(a.numpy(), b.numpy(), 1.0)
    expected = sum(terms[i] * float(w[i % 4]) for i in range(8))  # the image and text anchor
    assert float(weighted_nt_xent(a, b, w)) == pytest.approx(expected, rel=1e-5)
    assert float(weighted_nt_xent(a, b, 1.0)) == pytest.approx(terms.sum(), rel=1e-5)


def test_intra_modal_terms_are_weighted_by_the_mean_pair_weight():
    """``contrastive_weights`` (inter, intra-image, intra-caption): CHNR's (1, 0, 0) is the
    inter-modal term alone; an intra term pairs the two views of a modality, each anchor
    weighted by the batch's mean pair weight (the official ``weights.mean()``)."""
    g = torch.Generator().manual_seed(9)
    image, augmented, text = (torch.tanh(torch.randn(4, 6, generator=g)) for _ in range(3))
    w = torch.tensor([1.0, 0.2, 0.6, 0.0])
    inter = exact_terms(image.numpy(), text.numpy(), 1.0)
    intra_image = exact_terms(image.numpy(), augmented.numpy(), 1.0)
    intra_text = exact_terms(text.numpy(), text.numpy(), 1.0)
    weighted_inter = sum(inter[a] * float(w[a % 4]) for a in range(8))
    method = CHNR()
    got = method.contrastive_loss(image, augmented, text, text, w)
    assert float(got) == pytest.approx(weighted_inter, rel=1e-5)
    method.options.contrastive_weights = (1.0, 0.5, 0.25)
    got = method.contrastive_loss(image, augmented, text, text, w)
    mean_w = float(w.mean())
    expected = weighted_inter + mean_w * (0.5 * intra_image.sum() + 0.25 * intra_text.sum())
    assert float(got) == pytest.approx(expected, rel=1e-5)


def test_quantization_loss_against_a_loop():
    g = torch.Generator().manual_seed(4)
    b = torch.randn(3, 5, generator=g).sign()
    views = [torch.tanh(torch.randn(3, 5, generator=g)) for _ in range(4)]
    expected = sum(
        (float(b[i, k]) - float(v[i, k])) ** 2 for v in views for i in range(3) for k in range(5)
    )
    assert float(quantization_loss(b, *views)) == pytest.approx(expected, rel=1e-6)


def test_detector_bce_equals_the_naive_form_where_it_is_finite_and_stays_finite():
    real = torch.tensor([-3.0, 0.0, 2.5])
    fake = torch.tensor([-1.0, 0.5, 4.0])
    naive = -torch.log(torch.sigmoid(real)).mean() - torch.log(1 - torch.sigmoid(fake)).mean()
    assert float(detector_bce(real, fake)) == pytest.approx(float(naive), rel=1e-6)
    # a fake logit of 20: σ rounds to 1 in float32 and the official form is inf
    big = torch.tensor([20.0])
    assert torch.isinf(-torch.log(1 - torch.sigmoid(big))).all()
    expected = math.log1p(math.exp(-0.0)) + (20 + math.log1p(math.exp(-20)))  # real 0, fake 20
    assert float(detector_bce(torch.tensor([0.0]), big)) == pytest.approx(expected, rel=1e-6)


def test_the_four_pairings_in_one_pass_sum_their_terms():
    """The detector step stacks the four pairings: 4 × a mean over 4B = the sum of four means."""
    g = torch.Generator().manual_seed(6)
    real, fake = torch.randn(4, 8, generator=g), torch.randn(4, 8, generator=g)
    chunks = sum(float(detector_bce(r, f)) for r, f in zip(real, fake, strict=True))
    assert 4 * float(detector_bce(real.flatten(), fake.flatten())) == pytest.approx(
        chunks, rel=1e-6
    )
    detector = NoiseDetector(3, dropout=0.0)
    pairs_r, pairs_f = torch.randn(4, 5, 3, generator=g), torch.randn(4, 5, 3, generator=g)
    torch.manual_seed(1)
    stacked = 4 * float(gradient_penalty(detector, pairs_r.flatten(0, 1), pairs_f.flatten(0, 1)))
    torch.manual_seed(1)  # the same u, drawn in four parts of the same stream
    u = torch.rand(20, 3).view(4, 5, 3)
    total = 0.0
    for k in range(4):
        mixed = (u[k] * pairs_r[k] + (1 - u[k]) * pairs_f[k]).requires_grad_(True)
        (grad,) = torch.autograd.grad(detector(mixed).sum(), mixed)
        total += 10 * float(((grad.norm(dim=1) - 1) ** 2).mean())
    assert stacked == pytest.approx(total, rel=1e-5)


@pytest.mark.parametrize("interpolation", ["element", "sample"])
def test_gradient_penalty_draws_u_per_element_or_per_sample(interpolation):
    real = torch.tensor([[0.2, -1.0, 0.5], [1.5, 0.3, -0.7]])
    fake = torch.tensor([[1.0, 0.4, 0.0], [-0.5, 0.8, 0.9]])

    def detector(x):  # D(x) = ½‖x‖²: its gradient is x itself
        return 0.5 * (x**2).sum(dim=1)

    torch.manual_seed(11)
    got = float(gradient_penalty(detector, real, fake, interpolation, weight=10.0))
    torch.manual_seed(11)
    shape = (2, 3) if interpolation == "element" else (2, 1)
    u = torch.rand(shape).numpy().astype(np.float64)
    mixed = u * real.numpy() + (1 - u) * fake.numpy()
    expected = 10 * np.mean((np.linalg.norm(mixed, axis=1) - 1) ** 2)
    assert got == pytest.approx(expected, rel=1e-5)
    if interpolation == "sample":  # one u per pair: x̂ lies on the segment real–fake
        direction = (real - fake).numpy()
        offset = mixed - fake.numpy()
        assert np.allclose(np.cross(direction, offset), 0, atol=1e-6)


def test_gradient_penalty_trains_the_detector():
    detector = NoiseDetector(4, dropout=0.0)
    real, fake = torch.randn(6, 4), torch.randn(6, 4)
    gradient_penalty(detector, real, fake).backward()
    weights = [p for name, p in detector.named_parameters() if name.endswith("weight")]
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in weights)


def test_fake_partners_come_from_another_class():
    labels = torch.tensor([0, 0, 1, 1, 2, -1, -1])
    g = torch.Generator().manual_seed(0)
    seen: dict[int, set[int]] = {i: set() for i in range(7)}
    for _ in range(300):
        partner = different_class_partners(labels, g)
        for i, j in enumerate(partner.tolist()):
            assert j != i
            assert labels[i] < 0 or labels[j] < 0 or labels[i] != labels[j]
            seen[i].add(j)
    # uniform over the allowed rows: every allowed partner turns up
    assert seen[0] == {2, 3, 4, 5, 6}
    assert seen[5] == {0, 1, 2, 3, 4, 6}  # no class: a class of its own
    # a batch of one class (the official code loops forever): any other row
    partner = different_class_partners(torch.tensor([3, 3, 3]), g)
    assert all(j != i for i, j in enumerate(partner.tolist()))


def test_pair_weight_variants():
    p = torch.tensor([0.1, 0.5, 0.9])
    assert torch.equal(pair_weights(p, "normal"), p)
    assert torch.allclose(pair_weights(p, "exp"), torch.tensor([0.001, 0.125, 0.729]))
    assert pair_weights(p, "dis", threshold=0.4).tolist() == [0.0, 1.0, 1.0]
    assert pair_weights(p, "ones").tolist() == [1.0, 1.0, 1.0]
    with pytest.raises(ValueError, match="valid: normal, exp, dis, ones"):
        pair_weights(p, "soft")


# ---- the model and the Hamming ranking ---------------------------------------------------------


def test_module_shapes():
    head = HashHead(12, 32, 16)
    h = head(torch.randn(5, 12))
    assert h.shape == (5, 16) and h.abs().max() <= 1
    assert NoiseDetector(20)(torch.randn(5, 20)).shape == (5,)
    model = CHNRModel(12, 8, 32, 16, 0.2).eval()
    image, text = model.encode_image(torch.randn(7, 12)), model.encode_text(torch.randn(3, 8))
    assert image.emb.shape == (7, 16) and text.emb.shape == (3, 16)
    assert model.score(image, text).shape == (3, 7)


def test_hamming_score_ranks_by_distance_then_cosine():
    g = torch.Generator().manual_seed(5)
    texts = torch.tanh(torch.randn(6, 4, generator=g))
    images = torch.tanh(torch.randn(30, 4, generator=g))  # 4 bits, 30 images: many ties
    scores = hamming_score(texts, images).numpy()
    bits_t, bits_i = binary_codes(texts).numpy(), binary_codes(images).numpy()
    for t in range(6):  # a per-pair loop: sort by (distance, −cosine)
        keys = []
        for i in range(30):
            distance = int((bits_t[t] != bits_i[i]).sum())
            a, b = texts[t].numpy(), images[i].numpy()
            cosine = float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))
            keys.append((distance, -cosine, i))
            assert scores[t, i] == pytest.approx(cosine / 4 - distance, abs=1e-5)
        assert np.argsort(-scores[t], kind="stable").tolist() == [k[2] for k in sorted(keys)]


def test_binary_codes_read_zero_as_plus_one():
    assert binary_codes(torch.tensor([[-0.3, 0.0, 0.2]])).tolist() == [[-1.0, 1.0, 1.0]]


# ---- training on made-up features (the extraction replaced) ------------------------------------

CLASSES, PER_CLASS, CAPTIONS = 4, 8, 2
IMAGE_DIM, TEXT_DIM = 128, 64  # the shipped small encoders' widths (read from their configs)


def _class_of(name: str) -> int:
    return int(Path(name).stem.split("_")[0][3:])


def fake_image_features(paths, recipe, **kwargs):
    proto = np.random.default_rng(100).standard_normal((CLASSES, IMAGE_DIM))
    out = []
    for p in paths:
        rng = np.random.default_rng([_class_of(str(p)), int(Path(p).stem.split("_")[1])])
        view = 0.1 * rng.standard_normal(IMAGE_DIM) if recipe.view == "augmented" else 0
        out.append(proto[_class_of(str(p))] + 0.3 * rng.standard_normal(IMAGE_DIM) + view)
    return np.array(out, dtype=np.float32)


def fake_text_features(texts, recipe, **kwargs):
    proto = np.random.default_rng(200).standard_normal((CLASSES, TEXT_DIM))
    out = []
    for t in texts:
        c, j = (int(x) for x in t.split()[-2:])
        out.append(proto[c] + 0.3 * np.random.default_rng([c, j, 7]).standard_normal(TEXT_DIM))
    return np.array(out, dtype=np.float32) * 3 + 1  # the z-score takes scale and shift out


@pytest.fixture
def made_up(monkeypatch, tmp_path):
    """A task on made-up features: 32 images of 4 classes, 2 captions each, 25 % noisy rows."""
    monkeypatch.setattr(chnr_module, "image_features", fake_image_features)
    monkeypatch.setattr(chnr_module, "text_features", fake_text_features)
    names = [f"cls{c}_{i}.png" for c in range(CLASSES) for i in range(PER_CLASS)]
    texts = [
        f"caption {_class_of(n)} {i * CAPTIONS + j}"
        for i, n in enumerate(names)
        for j in range(CAPTIONS)
    ]
    image = np.repeat(np.arange(len(names)), CAPTIONS)
    clean = np.ones(len(texts), dtype=bool)
    rng = np.random.default_rng(0)
    noisy = rng.choice(len(texts), size=len(texts) // 4, replace=False)
    shuffled = list(texts)
    for a, b in zip(noisy, np.roll(noisy, 1), strict=True):
        shuffled[a] = texts[b]
    clean[noisy] = [
        _class_of(names[image[a]]) == int(texts[b].split()[1])
        for a, b in zip(noisy, np.roll(noisy, 1), strict=True)
    ]
    pairs = TrainPairs(
        names, [tmp_path / n for n in names], [f"c{_class_of(n)}" for n in names], shuffled, image
    )
    val_items = [
        ImageItem(
            f"cls{c}_{90 + c}.png", tmp_path / f"cls{c}_{90 + c}.png", (f"caption {c} {900 + c}",)
        )
        for c in range(CLASSES)
    ]
    val = EvalSet(val_items, [i.captions[0] for i in val_items], np.arange(CLASSES))
    return TrainTask(
        pairs, val, seed=0, device="cpu", work_dir=tmp_path, noise_seed=3, clean_flags=clean
    )


SMALL = {"hidden_dim": 32, "bits": 16, "batch_size": 16, "lr": 1e-3}


class Capture:
    """Keeps the engine state of a fit's epochs (a test looks inside)."""

    def __init__(self, method):
        self.states, self.records = [], []
        original = method.on_epoch_end

        def on_epoch_end(state):
            snapshot = {
                "epoch": state.epoch,
                "image_codes": state.buffers["chnr"].image_codes.clone(),
                "codes_before": state.buffers["chnr"].codes.clone(),
            }
            record = original(state)
            snapshot["codes"] = state.buffers["chnr"].codes.clone()
            snapshot["data"] = state.buffers["chnr"]
            self.states.append(snapshot)
            return record

        method.on_epoch_end = on_epoch_end


def test_duch_lowers_its_loss_and_retrieves_above_chance(made_up):
    method = DUCH(epochs=8, **SMALL)
    fit = method.fit(made_up)
    losses = [h["train_loss"] for h in fit.history]
    assert losses[-1] < losses[0]
    assert made_up.trusted_subset is None and fit.estimate() is None  # no meta phase
    assert fit.best_epoch == 8  # the last epoch is kept (CHNR reports its final epoch)
    assert fit.history[-1]["val_mR"] > 50  # 4 classes: chance is far lower
    # B.9.1: the "augmented" caption is the caption, run through the caption head a second
    # time, so its BatchNorm statistics move twice per step, as the image head's (two views)
    steps = 8 * 4  # 64 rows in batches of 16
    model = fit.retriever.model
    assert int(model.text_net[1].num_batches_tracked) == 2 * steps
    assert int(model.image_net[1].num_batches_tracked) == 2 * steps
    image_bits, text_bits = fit.retriever.codes(made_up.val.images, made_up.val.texts)
    assert image_bits.dtype == np.int8 and set(np.unique(image_bits)) <= {-1, 1}
    assert image_bits.shape == (4, 16) and text_bits.shape == (4, 16)


def test_chnr_meta_then_main_phase_with_detector_estimates(made_up):
    reports = []
    made_up.on_clean_scores = lambda epoch, estimate: reports.append((epoch, estimate))
    method = CHNR(epochs=6, meta_epochs=3, trusted_fraction=0.5, detector_lr=1e-3, **SMALL)
    fit = method.fit(made_up)
    phases = [h["phase"] for h in fit.history]
    assert phases == ["meta"] * 3 + ["main"] * 3
    trusted = made_up.trusted_subset
    assert trusted["fraction"] == 0.5 and all(
        h["train_rows"] == trusted["rows"] for h in fit.history[:3]
    )
    assert all(h["train_rows"] == 64 for h in fit.history[3:])  # every row, the ragged batch too
    assert all("p_real1" in h and "threshold" in h for h in fit.history[:3])
    assert all("pair_weight" in h for h in fit.history[3:])
    assert [e for e, _ in reports] == [1, 2, 3, 4, 5, 6]
    assert all(len(est.scores) == 64 and not np.isnan(est.scores).any() for _, est in reports)
    # the selected estimate is the last epoch's: the weights' probabilities, decided at the
    # last meta epoch's threshold
    assert np.array_equal(fit.clean_scores, reports[-1][1].scores)
    assert np.array_equal(fit.clean_decisions, fit.clean_scores > fit.history[2]["threshold"])


def test_meta_phase_keeps_codes_by_position_in_the_trusted_subset(made_up):
    """B.9.4: in the meta phase H is written at positions 0..m-1, so B after it holds codes
    at those rows and 0 elsewhere; ``meta_buffers: row`` writes the trusted rows."""
    for mode in ("positional", "row"):
        method = CHNR(epochs=2, meta_epochs=2, trusted_fraction=0.25, meta_buffers=mode, **SMALL)
        capture = Capture(method)
        method.fit(made_up)
        data = capture.states[-1]["data"]
        trusted = data.trusted.cpu().numpy()
        written = capture.states[-1]["image_codes"].abs().sum(dim=1).cpu().numpy() > 0
        expected = np.zeros(64, dtype=bool)
        expected[np.arange(len(trusted)) if mode == "positional" else trusted] = True
        assert np.array_equal(written, expected), mode
        b = capture.states[-1]["codes"]
        assert (b[~torch.from_numpy(expected)] == 0).all()


def test_b_is_the_sign_of_the_mean_of_the_four_views(made_up):
    method = DUCH(epochs=1, **SMALL)
    capture = Capture(method)
    method.fit(made_up)
    data = capture.states[0]["data"]
    expected = torch.sign(
        ((data.image_codes + data.augmented_codes) / 2 + (data.text_codes + data.text_codes) / 2)
        / 2
    )
    assert torch.equal(capture.states[0]["codes"], expected)


def test_fake_pair_labels_positional_or_true(made_up):
    method = CHNR(epochs=2, meta_epochs=1, trusted_fraction=0.5, **SMALL)
    capture = Capture(method)
    method.fit(made_up)
    data = capture.states[0]["data"]
    rows = data.trusted[:5]
    positional = method.fake_pair_labels(data, rows)
    # the labels of training rows 0..4 (the official labels[index]), not of the trusted rows
    assert torch.equal(positional, data.row_label[torch.arange(5)])
    method.options.fake_labels = "true"
    assert torch.equal(method.fake_pair_labels(data, rows), data.row_label[rows])


def test_chnr_resumes_from_a_meta_phase_checkpoint_to_the_same_fit(made_up, tmp_path, monkeypatch):
    """Stopped after the last meta epoch: the codes B, buffers H and the ``dis`` threshold come
    back from the checkpoint, the features from the cache, and the main phase ends as it would
    have (the features are not written into every checkpoint)."""
    from tests.test_checkpoint import assert_same_fit, stopped_then_resumed

    resumed, task, straight, saved = stopped_then_resumed(
        lambda: CHNR(epochs=4, meta_epochs=2, trusted_fraction=0.5, detector_lr=1e-3, **SMALL),
        made_up,
        2,
        tmp_path,
        monkeypatch,
    )
    assert task.resumed_from_epoch == 2 and task.trusted_subset["fraction"] == 0.5
    assert set(saved["buffers"]["chnr"]["state"]) == set(chnr_module.FitData.KEPT)
    assert [h["phase"] for h in resumed.history] == ["meta", "meta", "main", "main"]
    assert_same_fit(resumed, straight)


def test_pair_weights_use_dropout_unless_switched_off():
    model = CHNRModel(6, 4, 8, 4, dropout=0.5).train()
    image, text = torch.randn(50, 6), torch.randn(50, 4)
    stochastic = CHNR(weights_dropout=True)
    torch.manual_seed(0)
    a = stochastic.clean_probability(model, image, text)
    b = stochastic.clean_probability(model, image, text)
    assert not torch.equal(a, b)  # B.9.5: dropout active, the weights are random
    assert model.detector.training  # left in training mode
    fixed = CHNR(weights_dropout=False)
    assert torch.equal(
        fixed.clean_probability(model, image, text), fixed.clean_probability(model, image, text)
    )
    assert model.detector.training


def test_learning_rate_decays_after_epochs_0_50_and_100():
    """B.9.9: lr × 0.8 after epoch 0 already (then after 50 and 100), never below 1e-6."""
    method = CHNR()
    schedule = method.make_schedule(loader_steps=10)
    factors = {epoch: schedule.factor(epoch * 10 + 3) for epoch in (0, 1, 50, 51, 100, 101, 149)}
    assert (
        factors[0] == 1.0 and factors[1] == pytest.approx(0.8) and factors[50] == pytest.approx(0.8)
    )
    assert factors[51] == pytest.approx(0.64) and factors[101] == pytest.approx(0.512)
    optimizer = torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))], lr=1e-4)
    set_learning_rate(optimizer, factors[149])
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.512e-4)


def test_optimisers_follow_the_official_code():
    method = CHNR()
    model = CHNRModel(8, 4, 16, 8, 0.2)
    hash_opt, detector_opt = (o.optimizer for o in method.configure_optimizers(model, 5))
    assert type(hash_opt) is torch.optim.Adam and hash_opt.defaults["lr"] == 1e-4
    assert hash_opt.param_groups[0]["weight_decay"] == 5e-4
    assert type(detector_opt) is torch.optim.AdamW
    assert (
        detector_opt.defaults["betas"] == (0.5, 0.9)
        and detector_opt.defaults["weight_decay"] == 1e-3
    )
    detector_ids = {id(p) for p in model.detector.parameters()}
    assert {id(p) for g in detector_opt.param_groups for p in g["params"]} == detector_ids
    assert not detector_ids & {id(p) for g in hash_opt.param_groups for p in g["params"]}


def test_options_are_checked_with_clear_errors():
    from rsbench.io.errors import RsbenchError
    from rsbench.plugin.manager import get_plugins

    methods = get_plugins().methods
    with pytest.raises(RsbenchError, match="needs meta_epochs > 0"):
        methods.get("chnr").create({"meta_epochs": 0})
    with pytest.raises(RsbenchError, match="trusted_fraction must be in"):
        methods.get("chnr").create({"trusted_fraction": 0})
    # --epochs without meta_epochs: the meta phase is the first half
    assert methods.get("chnr").create({"epochs": 10}).options.meta_epochs == 5
    assert methods.get("chnr").create({"epochs": 1}).options.meta_epochs == 1
    assert methods.get("duch").create({"epochs": 10}).options.meta_epochs == 0
    duch = methods.get("duch").create({})
    assert duch.options.noise_weights == "ones" and duch.options.meta_epochs == 0
    paper = methods.get("chnr").create({"profile": "paper"}).options
    assert (paper.epochs, paper.meta_epochs, paper.hidden_dim, paper.bits) == (150, 75, 4096, 64)
    assert paper.image_checkpoint == "microsoft/resnet-18"


class StepCapture:
    """Keeps, for every training step, the model as it was before the step, the binary codes B
    the step read, the batch and the step's output."""

    def __init__(self, method):
        import copy

        self.steps = []
        original = method.training_step

        def training_step(state, batch):
            before = copy.deepcopy(state.model)
            codes = state.buffers["chnr"].codes.clone()
            out = original(state, batch)
            self.steps.append(
                {"epoch": batch.epoch, "rows": batch.rows.clone(), "before": before,
                 "codes": codes, "after": copy.deepcopy(state.model), "out": out}
            )  # fmt: skip
            return out

        method.training_step = training_step


def z_scored(array: np.ndarray) -> np.ndarray:
    """The global scalar z-score of §B.1, in float64."""
    array = array.astype(np.float64)
    return (array - array.mean()) / array.std()


def test_each_steps_hash_loss_against_an_independent_computation(made_up):
    """Meta phase: every pair weight 1, B read at the row's position in the trusted subset
    (B.9.4); main phase: w = σ(D_N([image; caption])) of the pair (no dropout here), B read at
    the row; both: Σ over the 2B anchors of w · ℓ (per-anchor loop) + β Σ over the four views
    (the caption twice, B.9.1) of ‖B − h‖². D_N trains in the meta phase only."""
    beta = 0.01
    method = CHNR(
        epochs=2,
        meta_epochs=1,
        trusted_fraction=0.5,
        weights_dropout=False,
        quantization_weight=beta,
        **SMALL,
    )
    capture = StepCapture(method)
    method.fit(made_up)
    pairs = made_up.pairs
    distinct = sorted(set(pairs.texts))
    images = z_scored(fake_image_features(pairs.image_paths, SimpleRecipe("center")))
    augmented = z_scored(fake_image_features(pairs.image_paths, SimpleRecipe("augmented")))
    texts = z_scored(fake_text_features(distinct, None))
    text_of_row = np.array([distinct.index(t) for t in pairs.texts])
    trusted = made_up.trusted_clean_subset(0.5)  # the same sorted rows for the same noise file
    phases = {0: 0, 1: 0}
    for step in capture.steps:
        rows = step["rows"].numpy()
        model = step["before"]
        image = torch.from_numpy(images[pairs.image[rows]]).float()
        aug = torch.from_numpy(augmented[pairs.image[rows]]).float()
        text = torch.from_numpy(texts[text_of_row[rows]]).float()
        with torch.no_grad():  # the heads in training mode: batch statistics, as the step
            views = [model.image_net(image), model.image_net(aug)]
            views += [model.text_net(text), model.text_net(text)]
        if step["epoch"] == 0:
            assert set(rows) <= set(trusted)
            weights = np.ones(len(rows))
            index = np.searchsorted(trusted, rows)  # position in the trusted subset
        else:
            model.detector.eval()
            with torch.no_grad():
                logits = model.detector(torch.cat([image, text], dim=1)).numpy()
            weights = 1 / (1 + np.exp(-logits.astype(np.float64)))
            index = rows
            # D_N is frozen in the main phase
            for p, q in zip(
                model.detector.parameters(), step["after"].detector.parameters(), strict=True
            ):
                assert torch.equal(p, q)
        terms = exact_terms(views[0].numpy(), views[2].numpy(), 1.0)
        n = len(rows)
        contrastive = sum(terms[a] * weights[a % n] for a in range(2 * n))
        codes = step["codes"].numpy()[index].astype(np.float64)
        quantization = beta * sum(
            float(((codes - v.numpy().astype(np.float64)) ** 2).sum()) for v in views
        )
        stats = step["out"].stats
        assert stats["contrastive"] == pytest.approx(contrastive, rel=1e-4)
        assert stats["quantization"] == pytest.approx(quantization, rel=1e-4)
        assert float(step["out"].loss) == pytest.approx(contrastive + quantization, rel=1e-4)
        phases[step["epoch"]] += 1
    assert phases[0] >= 1 and phases[1] == 4  # 64 rows in batches of 16
    # D_N did train in the meta phase
    first = capture.steps[0]
    assert not all(
        torch.equal(p, q)
        for p, q in zip(
            first["before"].detector.parameters(), first["after"].detector.parameters(), strict=True
        )
    )


@dataclass
class SimpleRecipe:
    view: str


# ---- through the real extraction ----------------------------------------------------------------


def test_a_short_run_on_synthrs_tiny_lowers_the_loss():
    from rsbench.testing import check_method

    method = CHNR(epochs=6, meta_epochs=2, hidden_dim=64, batch_size=64)
    metrics = check_method(method, ratio=0.2)
    assert metrics["mR"] > 0


def test_paper_profile_from_tiny_checkpoints(tmp_path, monkeypatch):
    """The paper checkpoints' names, tiny models written with save_pretrained, loaded offline
    through the real code: features of the paper's widths, a short fit."""
    from rsbench.engine.frozen import image_features
    from rsbench.plugin.manager import get_plugins
    from rsbench.testing import check_method
    from tests.fixtures.tiny_checkpoints import save_tiny_bert, save_tiny_resnet

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    weights = tmp_path / "weights"
    save_tiny_resnet(weights / "microsoft" / "resnet-18", [8, 8, 16, 24])
    save_tiny_bert(weights / "google-bert" / "bert-base-uncased")
    method = CHNR(
        profile="paper", weights_dir=str(weights), epochs=2, hidden_dim=32, feature_batch_size=32
    )
    assert method.options.image_size == 224 and method.options.center_crop == 200
    assert method.feature_dims() == (24, 16)
    metrics = check_method(method, ratio=0.2)
    assert np.isfinite(metrics["mR"])
    splits = get_plugins().datasets.get("synthrs-tiny").create().load()
    features = image_features(
        [i.path for i in splits.test.images], method.image_recipe(), weights_dir=weights
    )
    assert features.shape == (len(splits.test.images), 24)

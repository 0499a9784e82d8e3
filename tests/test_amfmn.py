"""AMFMN: the prior matrix against NLTK, every module and loss term against independent
computations written here (loops, the released code's broadcast forms), the profiles, and short
runs on synthrs-tiny."""

from __future__ import annotations

import math
import re
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from rsbench.engine import Batch, EngineState, Features, TextBatch
from rsbench.engine.precision import Precision
from rsbench.engine.runtime import seed_everything
from rsbench.engine.scoring import ModelScorer
from rsbench.io.errors import RsbenchError
from rsbench.plugin.components import TrainTask
from rsbench_plugins.methods import amfmn_prior as prior_module
from rsbench_plugins.methods.amfmn import (
    AMFMN,
    batch_prior,
    dynamic_margin,
    summed_triplet_loss,
)
from rsbench_plugins.methods.amfmn_model import (
    AMFMNModel,
    MultiscaleImageEncoder,
    SentenceEncoder,
    VisualGuidedAttention,
)
from rsbench_plugins.methods.amfmn_prior import (
    cached_prior_matrix,
    content,
    prior_matrix,
    stems,
    stop_words,
    tokenize,
)
from tests.fixtures.released_amfmn import cross_attention_scores

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


# ---- the prior matrix ---------------------------------------------------------------------


def tiny_splits():
    from rsbench.plugin.manager import get_plugins

    return get_plugins().datasets.get("synthrs-tiny").create().load()


def noisy_task(ratio: float = 0.2, seed: int = 0, tmp_path=None) -> TrainTask:
    """synthrs-tiny with caption-shuffle noise, as `rsbench.testing.check_method` builds it."""
    from rsbench.data.noise_file import build_noise_file
    from rsbench.plugin.manager import get_plugins

    splits = tiny_splits()
    noise = get_plugins().noise_models.get("caption_shuffle").create()
    nf = build_noise_file(splits.train, noise, ratio, 0, {"name": "synthrs-tiny"})
    return TrainTask(
        pairs=nf.train_pairs(splits.train),
        val=splits.val.eval_set(),
        seed=seed,
        device="cpu",
        work_dir=tmp_path,
        clean_flags=nf.clean,
    )


def script_prior(references: list[str], caption: str) -> float:
    """The released script's ``calc_sim`` for one pair: NLTK's ``sentence_bleu`` and sets."""
    from nltk.translate.bleu_score import sentence_bleu

    stop = stop_words()
    visual = [list(stems(r)) for r in references]
    visual_content = [[w for w in v if w not in stop] for v in visual]
    hyp = list(stems(caption))
    hyp_content = [w for w in hyp if w not in stop]
    if hyp in visual:
        score1 = 1.0
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            score1 = sentence_bleu(visual, hyp, weights=(0.25, 0.25, 0.25, 0.25))
    overlap = [len(set(v) & set(hyp_content)) / len(v) for v in visual_content if len(v)]
    score2 = float(np.mean(overlap)) if overlap else 0.0  # the script: NaN (mean of nothing)
    return float(np.mean([score1, score2]))


def test_tokenize_matches_nltks_treebank_tokenizer_on_captions():
    from nltk.tokenize import NLTKWordTokenizer

    treebank = NLTKWordTokenizer()

    def word_tokenize(text):  # punkt's sentence split on these captions, then Treebank
        return [t for s in re.split(r"(?<=[.!?])\s+", text) for t in treebank.tokenize(s)]

    splits = tiny_splits()
    captions = [c for item in splits.train.images for c in item.captions][:200]
    captions += [
        "There are some buildings with white and grey roofs .",
        "Two planes are parked next to the terminal, and a well-known 3.5m road runs by.",
        "It's a port; boats don't move (some are docked) near 1,000 containers!",
        "A residential area... with houses: red, blue & green?",
        "the river's bank is lined with trees.the road crosses it",
    ]
    for caption in captions:
        assert tokenize(caption) == word_tokenize(caption.lower()), caption


def test_stop_words_are_nltks_list_and_apply_after_stemming():
    words = stop_words()
    assert len(words) == 179 + 2  # NLTK's English list, plus "," and "."
    assert {"the", "is", "any", "wouldn't", ",", "."} <= words
    # stemming first, as the script: "this" -> "thi" and "was" -> "wa" are no longer stop words
    assert stems("This was a plane, parked .") == ("thi", "wa", "a", "plane", ",", "park", ".")
    assert content(stems("This was a plane, parked .")) == ("thi", "wa", "plane", "park")


def test_prior_matrix_equals_nltk_sentence_bleu_and_overlap_on_noisy_captions():
    task = noisy_task()
    texts, image = task.pairs.texts, task.pairs.image
    n_images = len(task.pairs.image_ids)
    got = prior_matrix(texts, image, n_images, chunk=7)
    assert got.shape == (n_images, len(texts)) and got.dtype == np.float32
    rng = np.random.default_rng(0)
    pairs = [(int(i), int(j)) for i, j in zip(image[:60], range(60), strict=True)]  # positives
    pairs += [(int(rng.integers(n_images)), int(rng.integers(len(texts)))) for _ in range(240)]
    for i, j in pairs:
        references = [t for t, owner in zip(texts, image, strict=True) if owner == i]
        assert got[i, j] == pytest.approx(script_prior(references, texts[j]), abs=2e-6), (i, j)
    # every row's own caption is a reference of its image: score1 = 1
    assert (got[image, np.arange(len(texts))] >= 0.5).all()


def test_prior_matrix_special_cases_against_the_script():
    texts = [
        "the the the plane",  # image 0: clipped counts
        "a plane near the runway .",
        "a plane near the runway .",  # a repeated reference counts twice in score2
        "",  # image 1: only empty / stop-word captions (the script's NaN)
        "it is there .",
        "two planes",  # image 2: short captions (BLEU of an order without match)
        "one long runway with planes and a terminal beside it",
        "the the plane runway",  # image 3: a single reference
    ]
    image = np.array([0, 0, 0, 1, 1, 2, 2, 3])
    got = prior_matrix(texts, image, 5, dtype=np.float64)
    for i in range(4):
        references = [t for t, owner in zip(texts, image, strict=True) if owner == i]
        for j, caption in enumerate(texts):
            assert got[i, j] == pytest.approx(script_prior(references, caption), abs=1e-6)
    assert (got[4] == 0).all()  # an image without rows
    assert got[1, 3] == pytest.approx(0.5)  # the empty caption is one of image 1's: score1 = 1
    # chunking does not change anything
    np.testing.assert_array_equal(got, prior_matrix(texts, image, 5, dtype=np.float64, chunk=1))


def test_brevity_penalty_takes_the_shorter_of_two_equally_close_references():
    from nltk.translate.bleu_score import closest_ref_length

    texts = ["a b c d", "a b c d e f", "a b c d e"]  # hypothesis length 5: refs 4 and 6 tie
    image = np.array([0, 0, 1])
    got = prior_matrix(texts, image, 2, dtype=np.float64)
    assert closest_ref_length([["x"] * 4, ["x"] * 6], 5) == 4
    assert got[0, 2] == pytest.approx(script_prior(texts[:2], texts[2]), abs=1e-6)


def test_prior_is_cached_per_training_pairs(monkeypatch):
    calls = []
    original = prior_module.prior_matrix

    def counting(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(prior_module, "prior_matrix", counting)
    texts = ["a red roof", "two planes", "a red car", "a runway"]
    image = np.array([0, 0, 1, 1])
    first = cached_prior_matrix(texts, image, 2, fingerprint="pairs-a")
    again = cached_prior_matrix(texts, image, 2, fingerprint="pairs-a")
    assert len(calls) == 1 and first.dtype == np.float16
    np.testing.assert_array_equal(first, again)
    cached_prior_matrix(texts, image, 2, fingerprint="pairs-b")  # another noise file
    assert len(calls) == 2
    cached_prior_matrix(texts, np.array([0, 1, 1, 1]), 2)  # no fingerprint: keyed by content
    cached_prior_matrix(texts, np.array([0, 1, 0, 1]), 2)
    assert len(calls) == 4
    np.testing.assert_allclose(first, original(texts, image, 2), atol=3e-4)


# ---- modules -----------------------------------------------------------------------------------


def tiny_resnet(widths=(8, 16, 32, 64)):
    from tests.fixtures.tiny_checkpoints import tiny_resnet as make

    return make(widths)


def code_vsa(encoder: MultiscaleImageEncoder, pixels: torch.Tensor) -> torch.Tensor:
    """The released ``ExtractFeature`` + ``VSA_Module`` forward, step by step on the same weights."""
    out = encoder.resnet(pixel_values=pixels, output_hidden_states=True)
    f1, f2, f3, f4 = out.hidden_states[1:]
    up = torch.nn.Upsample(scale_factor=2, mode="nearest")
    lower, higher = torch.cat([f1, up(f2)], dim=1), torch.cat([f3, up(f4)], dim=1)
    solo = encoder.linear(torch.mean(f4.view(f4.shape[0], f4.shape[1], -1), dim=-1))
    lower, higher = encoder.low_conv(lower), encoder.high_conv(higher)
    concat = torch.cat([lower, higher], dim=1)
    concat = higher.mean(dim=1, keepdim=True).expand_as(concat) + concat
    main = encoder.main_conv(concat)
    b = concat.shape[0]
    attn = torch.sigmoid(encoder.gate_conv(concat).view(b, 1, -1)).view(
        b, 1, main.shape[2], main.shape[3]
    )
    atted = (main * attn).squeeze(dim=1).view(b, -1)
    return solo * torch.sigmoid(encoder.solo_attention(atted))


def paper_vsa(encoder: MultiscaleImageEncoder, pixels: torch.Tensor) -> torch.Tensor:
    """Eqs. 14–19: PReLU branches, the mean of v(h), an L2 norm over channels."""
    out = encoder.resnet(pixel_values=pixels, output_hidden_states=True)
    f1, f2, f3, f4 = out.hidden_states[1:]
    v_l = torch.cat([f1, f2.repeat_interleave(2, 2).repeat_interleave(2, 3)], dim=1)
    v_h = torch.cat([f3, f4.repeat_interleave(2, 2).repeat_interleave(2, 3)], dim=1)
    v_g = encoder.linear(f4.mean(dim=(2, 3)))
    low = F.prelu(encoder.low_conv(v_l), encoder.low_act.weight)
    high = F.prelu(encoder.high_conv(v_h), encoder.high_act.weight)
    v_lh = v_h.mean(dim=1, keepdim=True) + torch.cat([low, high], dim=1)
    v_lh = v_lh / v_lh.pow(2).sum(dim=1, keepdim=True).sqrt().clamp(min=1e-12)
    v_i = encoder.main_conv(v_lh) * torch.sigmoid(encoder.gate_conv(v_lh))
    return v_g * torch.sigmoid(encoder.solo_attention(v_i.reshape(len(v_i), -1)))


@pytest.mark.parametrize("size, side", [(64, 4), (256, 16)])
def test_image_encoder_shapes_follow_the_input_size(size, side):
    encoder = MultiscaleImageEncoder(tiny_resnet(), embed_dim=24, image_size=size)
    pixels = torch.randn(2, 3, size, size)
    low, high, global_feature = encoder.maps(pixels)
    assert low.shape == (2, 8 + 16, size // 4, size // 4)
    assert high.shape == (2, 32 + 64, size // 16, size // 16)
    assert global_feature.shape == (2, 24)
    assert encoder.low_conv(low).shape == (2, 3, side, side)
    assert encoder.solo_attention.in_features == side * side  # 256 at the code's 256 px
    assert encoder(pixels).shape == (2, 24)
    with pytest.raises(ValueError, match="multiple of 32"):
        MultiscaleImageEncoder(tiny_resnet(), 24, 48)


@pytest.mark.parametrize("mvsa, reference", [("code", code_vsa), ("paper", paper_vsa)])
def test_mvsa_equals_the_released_module_and_the_papers_equations(mvsa, reference):
    torch.manual_seed(0)
    encoder = MultiscaleImageEncoder(tiny_resnet(), embed_dim=24, image_size=64, mvsa=mvsa).eval()
    pixels = torch.randn(3, 3, 64, 64)
    with torch.no_grad():
        got = encoder(pixels)
        torch.testing.assert_close(got, reference(encoder, pixels), rtol=1e-5, atol=1e-6)
        # the two forms differ on the same weights
        other = "paper" if mvsa == "code" else "code"
        twin = MultiscaleImageEncoder(tiny_resnet(), embed_dim=24, image_size=64, mvsa=other)
        twin.load_state_dict(encoder.state_dict(), strict=False)
        assert not torch.allclose(got, twin.eval()(pixels), atol=1e-4)


def test_sentence_encoder_equals_one_unpadded_sentence_at_a_time():
    torch.manual_seed(0)
    encoder = SentenceEncoder(vocab_size=30, word_dim=6, hidden=5).eval()
    sentences = [[4, 7, 9], [3], [5, 6, 7, 8, 9, 10], [2, 2]]
    ids = torch.zeros(4, 8, dtype=torch.long)
    for row, sentence in enumerate(sentences):
        ids[row, : len(sentence)] = torch.tensor(sentence)
    with torch.no_grad():
        got = encoder(TextBatch(ids, ids != 0))
        for row, sentence in enumerate(sentences):
            states, _ = encoder.gru(encoder.embed(torch.tensor([sentence])))
            forward, backward = states[0, :, :5], states[0, :, 5:]
            expected = ((forward + backward) / 2).mean(dim=0)
            torch.testing.assert_close(got[row], expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("kind", ["soft", "fusion", "sim"])
def test_factored_vga_score_equals_the_codes_broadcast_and_a_per_pair_loop(kind):
    torch.manual_seed(1)
    vga = VisualGuidedAttention(16, kind, pair_budget=16 * 3 * 7)  # forces blocks of 3 rows
    visual, text = torch.randn(7, 16), torch.randn(10, 16)
    image = Features(emb=visual, extra=vga.image_terms(visual))
    texts = Features(emb=text, extra=vga.text_terms(text))
    with torch.no_grad():
        got = vga.score(image, texts)  # texts × images
        torch.testing.assert_close(
            got.T, cross_attention_scores(vga, visual, text), atol=1e-5, rtol=1e-5
        )
        for j in range(10):
            for i in range(7):
                pair = cross_attention_scores(vga, visual[i : i + 1], text[j : j + 1])
                assert got[j, i].item() == pytest.approx(pair.item(), abs=1e-5)
    # with gradients (training): the same values and the same parameter gradients
    weights = torch.randn(10, 7)
    image = Features(emb=visual, extra=vga.image_terms(visual))
    texts = Features(emb=text, extra=vga.text_terms(text))
    (vga.score(image, texts) * weights).sum().backward()
    ours = [p.grad.clone() for p in vga.parameters()]
    vga.zero_grad()
    (cross_attention_scores(vga, visual, text).T * weights).sum().backward()
    for mine, theirs in zip(ours, [p.grad for p in vga.parameters()], strict=True):
        torch.testing.assert_close(mine, theirs, atol=1e-5, rtol=1e-4)


def test_model_score_through_the_tiled_scorer_equals_the_full_matrix():
    torch.manual_seed(2)
    model = AMFMNModel(
        MultiscaleImageEncoder(tiny_resnet(), 16, 64),
        SentenceEncoder(20, 6, 16),
        VisualGuidedAttention(16, "sim", pair_budget=64),
    ).eval()
    with torch.no_grad():
        images = model.encode_image(torch.randn(5, 3, 64, 64))
        ids = torch.randint(2, 20, (6, 4))
        texts = model.encode_text(TextBatch(ids, torch.ones_like(ids, dtype=torch.bool)))
        full = model.score(images, texts).numpy()
    index = np.array([0, 1, 2, 3, 4, 5, 5, 0])
    scorer = ModelScorer(model, images, texts, index, "cpu", tile=(2, 3))
    np.testing.assert_allclose(scorer.block(slice(0, 8), slice(0, 5)), full[index], atol=1e-6)


# ---- losses --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "gamma, beta", [(0.6, 5.0), (0.4, 3.0), (0.8, -2.0), (0.5, 0.0), (0.6, 50.0)]
)
def test_dynamic_margin_is_equation_29(gamma, beta):
    prior = np.array([0.0, 0.1, 0.35, 0.5, 0.9, 1.0])
    got = dynamic_margin(torch.tensor(prior), gamma, beta).double().numpy()
    if beta == 0:
        expected = gamma * (1 - prior)  # the limit
    else:
        expected = gamma * (-np.exp(beta * prior) + np.exp(beta)) / (-1 + np.exp(beta))
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-7)
    assert got[0] == pytest.approx(gamma) and got[-1] == pytest.approx(0, abs=1e-7)
    # no overflow where the literal formula overflows
    assert torch.isfinite(dynamic_margin(torch.tensor(prior), 0.6, 500.0)).all()


def loop_loss(scores, margin, max_violation=False, exclude=None):
    n = len(scores)
    m = np.broadcast_to(np.asarray(margin, dtype=np.float64), (n, n))
    skip = np.eye(n, dtype=bool) if exclude is None else (np.eye(n, dtype=bool) | exclude)
    text_costs = [[0.0] * n for _ in range(n)]
    image_costs = [[0.0] * n for _ in range(n)]
    for i in range(n):
        for j in range(n):
            if not skip[i, j]:
                text_costs[i][j] = max(0.0, m[i, j] + scores[i, j] - scores[i, i])
                image_costs[i][j] = max(0.0, m[i, j] + scores[i, j] - scores[j, j])
    if max_violation:
        return sum(max(row) for row in text_costs) + sum(
            max(image_costs[i][j] for i in range(n)) for j in range(n)
        )
    return sum(map(sum, text_costs)) + sum(map(sum, image_costs))


@pytest.mark.parametrize("max_violation", [False, True])
def test_summed_triplet_loss_against_loops(max_violation):
    rng = np.random.default_rng(0)
    scores = rng.uniform(-1, 1, (6, 6))
    margins = rng.uniform(0, 0.6, (6, 6))
    exclude = np.zeros((6, 6), dtype=bool)
    exclude[1, 4] = exclude[4, 1] = True
    s = torch.tensor(scores)
    for margin in (0.2, margins):
        m = margin if isinstance(margin, float) else torch.tensor(margin)
        got = summed_triplet_loss(s, m, max_violation).item()
        assert got == pytest.approx(loop_loss(scores, margin, max_violation), rel=1e-9)
        masked = summed_triplet_loss(s, m, max_violation, torch.tensor(exclude)).item()
        assert masked == pytest.approx(loop_loss(scores, margin, max_violation, exclude))
    # summed over the batch, never averaged: a batch of two copies costs twice one
    two = np.kron(np.eye(2), scores) - 5 * (1 - np.kron(np.eye(2), np.ones((6, 6))))
    assert summed_triplet_loss(torch.tensor(two), 0.2).item() == pytest.approx(
        2 * summed_triplet_loss(s, 0.2).item()
    )
    # the released code squeezes a batch of one to a scalar and fails; two rows are fine here
    assert summed_triplet_loss(torch.tensor([[0.5, 0.9], [0.1, 0.2]]), 0.2).item() == (
        pytest.approx(0.6 + 0.1 + 0.9 + 0.0)
    )


def test_batch_prior_reads_each_rows_image_against_each_rows_caption():
    prior = torch.arange(4 * 9, dtype=torch.float32).view(4, 9)  # images × training rows
    image, rows = torch.tensor([3, 0, 3]), torch.tensor([8, 2, 5])
    got = batch_prior(prior, image, rows)
    for a in range(3):
        for b in range(3):
            assert got[a, b] == prior[image[a], rows[b]]


# ---- the method -----------------------------------------------------------------------------


def test_paper_profile_is_the_released_recipe_and_its_schedule():
    method = AMFMN(profile="paper")
    o = method.options
    assert (o.checkpoint, o.epochs, o.batch_size, o.lr, o.optimizer) == (
        "microsoft/resnet-18",
        70,
        100,
        2e-4,
        "adam",
    )
    assert (o.image_size, o.decode_size, o.crop, o.normalize, o.grad_clip) == (
        256,
        278,
        "random_crop",
        "imagenet",
        0.0,
    )
    assert (o.vga, o.mvsa, o.margin, o.gamma, o.beta, o.max_violation) == (
        "soft",
        "code",
        "dynamic",
        0.6,
        5.0,
        False,
    )
    schedule = method.make_schedule(loader_steps=10)
    factors = [schedule.factor(epoch * 10) for epoch in (0, 18, 19, 38, 39, 59, 69)]
    assert factors == pytest.approx([1, 1, 0.7, 0.7, 0.49, 0.343, 0.343])


def test_bad_options_are_one_line_errors():
    with pytest.raises(RsbenchError, match="multiple of 32"):
        AMFMN(image_size=48)
    with pytest.raises(RsbenchError, match="vga"):
        AMFMN(vga="cosine")
    with pytest.raises(RsbenchError, match="gamma"):
        AMFMN(gamma=0)
    with pytest.raises(RsbenchError, match="word vectors file"):
        AMFMN(word_vectors="/nonexistent/glove.txt").check_ready()


def test_vocabulary_keeps_stop_words_as_unk(tmp_path):
    task = noisy_task(tmp_path=tmp_path)
    tokenizer = AMFMN().make_tokenizer(task)
    vocab = tokenizer.vocab
    assert "the" not in vocab.stoi and "is" not in vocab.stoi
    batch = tokenizer(["the harbour is here"])
    assert batch.ids[0, 0].item() == 1 and batch.mask[0].sum() == 4  # <unk> kept as a token
    counts = {}
    for text in task.pairs.texts:
        for word in re.findall(r"[a-z0-9]+", text.lower()):
            counts[word] = counts.get(word, 0) + 1
    assert all(counts[w] >= 5 for w in vocab.itos[2:])


def engine_state(method: AMFMN, task: TrainTask) -> EngineState:
    """The state `TrainableMethod.fit` builds, for driving single hooks and steps."""
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
        generator=seed_everything(0),
        text=tokenizer(task.pairs.texts),
        row_image=torch.as_tensor(task.pairs.image),
        pixels=torch.from_numpy(np.array(pipeline.load_train(task.pairs.image_paths))),
    )
    state.optimizers = method.configure_optimizers(model, 4)
    method.on_fit_start(state)
    return state


@pytest.mark.parametrize(
    "options",
    [
        {"vga": "soft", "margin": "dynamic"},
        {"vga": "fusion", "margin": "fixed"},
        {"vga": "sim", "margin": "dynamic", "max_violation": True, "mvsa": "paper"},
    ],
    ids=["soft-dynamic", "fusion-fixed", "sim-dynamic-hardest"],
)
def test_training_steps_of_each_variant_lower_its_batch_loss(options, tmp_path):
    task = noisy_task(tmp_path=tmp_path)
    method = AMFMN(lr=1e-3, **options)
    state = engine_state(method, task)
    if options["margin"] == "dynamic":
        assert state.buffers["prior"].shape == (len(task.pairs.image_ids), len(task.pairs))
    rows = torch.arange(0, 48, 2)
    batch = Batch(rows, state.row_image[rows], 0, 0, 4)
    state.model.eval()  # no batch-norm drift: the loss moves by the optimiser only

    def batch_loss():
        state.generator.manual_seed(1)  # the same crops every time
        with torch.no_grad():
            return method.objective(method.forward(state, batch), batch, state.model).loss.item()

    before = batch_loss()
    for _ in range(3):
        state.generator.manual_seed(1)
        result = method.training_step(state, batch)
        assert ("margin_mean" in result.stats) == (options["margin"] == "dynamic")
    assert batch_loss() < before


def test_a_short_run_on_synthrs_tiny_lowers_the_training_loss(tmp_path):
    task = noisy_task(tmp_path=tmp_path)
    fit = AMFMN(epochs=2, batch_size=50, lr=2e-3, step_epochs=[]).fit(task)
    losses = [h["train_loss"] for h in fit.history]
    assert losses[-1] < losses[0]
    assert all(0 < h["margin_mean"] < 0.6 for h in fit.history)
    assert fit.history[1]["lr"] == pytest.approx(2e-3)
    assert fit.info["prior"]["shape"] == [len(task.pairs.image_ids), len(task.pairs)]
    assert fit.info["tokenizer"]["min_count"] == 5
    splits = tiny_splits()
    scorer = fit.retriever.scorer(splits.test.images, splits.test.texts)
    block = scorer.block(slice(0, scorer.n_texts), slice(0, scorer.n_images))
    assert block.shape == (len(splits.test.texts), len(splits.test.images))
    assert np.isfinite(block).all() and np.abs(block).max() <= 1 + 1e-5


def test_word_vectors_from_a_glove_file_start_the_embedding(tmp_path):
    task = noisy_task(tmp_path=tmp_path)
    tokenizer = AMFMN().make_tokenizer(task)
    word = tokenizer.vocab.itos[5]
    glove = tmp_path / "glove.txt"
    glove.write_text("2 75\n" + f"{word} " + " ".join(["0.5"] * 75) + "\nzzzunseen " + "1 " * 75)
    state = engine_state(AMFMN(word_vectors=str(glove), margin="fixed"), task)
    embedding = state.model.text_encoder.embed.weight
    assert torch.equal(embedding[5], torch.full((75,), 0.5))
    assert not torch.equal(embedding[6], torch.full((75,), 0.5))
    info = state.buffers["info"]["word_vectors"]
    assert info["found"] == 1 and info["vocabulary"] == len(tokenizer)
    assert len(info["sha256"]) == 64
    bad = tmp_path / "bad.txt"
    bad.write_text(f"{word} 0.1 0.2\n")
    with pytest.raises(RsbenchError, match="2 numbers, but the word embeddings have 75"):
        engine_state(AMFMN(word_vectors=str(bad), margin="fixed"), task)


def test_paper_profile_loads_a_tiny_resnet18_checkpoint_through_the_real_path(tmp_path):
    from rsbench.testing import check_method

    weights = tmp_path / "weights"
    tiny_resnet().save_pretrained(weights / "microsoft" / "resnet-18")
    method = AMFMN(
        profile="paper",
        weights_dir=str(weights),
        epochs=1,
        batch_size=60,
        embed_dim=32,
        word_dim=12,
    )
    assert method.options.image_size == 256 and method.options.decode_size == 278
    model = method.build(noisy_task(tmp_path=tmp_path))
    assert model.image_encoder.solo_attention.in_features == 256  # the code's 16 × 16 map
    saved = tiny_resnet().state_dict()
    for name, value in model.image_encoder.resnet.state_dict().items():
        torch.testing.assert_close(value, saved[name])
    # one fit at 256 px (determinism is checked at the small profile, same code path, in the
    # slow variant tests)
    metrics = check_method(method, deterministic=False)
    assert 0 <= metrics["mR"] <= 100
    missing = AMFMN(profile="paper", weights_dir=str(tmp_path / "none"))
    with pytest.raises(RsbenchError, match="microsoft/resnet-18"):
        missing.check_ready()


@pytest.mark.slow
@pytest.mark.parametrize("vga", ["soft", "fusion", "sim"])
@pytest.mark.parametrize("margin", ["dynamic", "fixed"])
def test_every_variant_trains_and_evaluates_on_synthrs_tiny(vga, margin):
    from rsbench.testing import check_method

    metrics = check_method(AMFMN(vga=vga, margin=margin, epochs=2))
    assert all(math.isfinite(v) for v in metrics.values())


@pytest.mark.slow
def test_rsbench_run_trains_amfmn_on_every_fixture_dataset(tmp_path):
    """The real datasets' layouts (odd captions included: empty, one word, degenerate)."""
    import json
    import os
    import subprocess
    import sys

    from .fixtures.rs_datasets import make_nwpu, make_rsicd, make_rsitmd, make_sydney, make_ucm

    data = tmp_path / "data"
    for make in (make_rsitmd, make_rsicd, make_nwpu, make_ucm, make_sydney):
        make(data)
    names = ["rsitmd", "rsicd", "nwpu", "ucm", "sydney"]
    out = tmp_path / "runs"
    result = subprocess.run(
        [sys.executable, "-m", "rsbench", "run", "--methods", "amfmn", "--datasets", ",".join(names),
         "--noise", "0.2", "--epochs", "1", "--seeds", "0", "--profile", "small", "--out", str(out),
         "--no-leaderboard"],
        capture_output=True, text=True, env={**os.environ, "RSBENCH_DATA": str(data)}, timeout=900,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    records = [json.loads(p.read_text()) for p in (out / "cells").glob("*.json")]
    assert sorted(r["dataset"]["name"] for r in records) == sorted(names)
    for record in records:
        assert record["status"] == "ok", record.get("error")
        assert math.isfinite(record["metrics"]["mR"])
        assert 0 <= record["info"]["prior"]["mean"] <= 1

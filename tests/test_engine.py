"""The training engine's hooks, schedules, precision and image pipeline, on toy models and data."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from rsbench.engine import (
    Features,
    LossOutput,
    Optim,
    RetrievalModel,
    TrainableMethod,
    WordTokenizer,
)
from rsbench.engine.optim import Schedule, decay_groups
from rsbench.engine.pipeline import ImagePipeline, crop_and_resize, resized_crop_boxes
from rsbench.engine.precision import Precision
from rsbench.plugin.components import CleanEstimate, TrainPairs, TrainTask
from rsbench.plugin.split import EvalSet, ImageItem

# ---- a toy task: images are solid colours, captions name the colour -------------------------

COLOURS = {"red": (220, 30, 30), "green": (30, 200, 40), "blue": (40, 50, 210), "grey": (128,) * 3}


@pytest.fixture
def toy_task(tmp_path):
    from PIL import Image

    items = []
    for i, (name, rgb) in enumerate(COLOURS.items()):
        for j in range(3):
            path = tmp_path / f"{name}_{j}.png"
            noise = np.random.default_rng(i * 10 + j).integers(0, 20, (16, 16, 3))
            Image.fromarray(np.clip(np.array(rgb) + noise, 0, 255).astype(np.uint8)).save(path)
            items.append(ImageItem(f"{name}_{j}", path, (f"a {name} square", f"{name} colour")))
    texts = [c for item in items for c in item.captions]
    image = np.repeat(np.arange(len(items)), 2)
    pairs = TrainPairs(
        [i.id for i in items], [i.path for i in items], [None] * len(items), texts, image
    )
    val = EvalSet(items[:4], texts[:8], image[:8])
    clean = np.ones(len(texts), dtype=bool)
    clean[[3, 7]] = False
    return TrainTask(pairs, val, seed=0, device="cpu", work_dir=tmp_path, clean_flags=clean)


class ToyModel(RetrievalModel):
    def __init__(self, vocab: int):
        super().__init__()
        self.image = nn.Linear(3, 8)
        self.words = nn.EmbeddingBag(vocab, 8)
        self.scale = nn.Parameter(torch.tensor(2.0))

    def encode_image(self, pixels):
        return Features(emb=F.normalize(self.image(pixels.mean(dim=(2, 3))), dim=-1))

    def encode_text(self, text):
        return Features(emb=F.normalize(self.words(text.ids, per_sample_weights=None), dim=-1))


class ToyMethod(TrainableMethod):
    """A method that records which hooks ran, and reports per-row values."""

    @dataclass
    class Options(TrainableMethod.Options):
        epochs: int = 3
        batch_size: int = 4
        lr: float = 0.05
        image_size: int = 16
        warmup_fraction: float = 0.0

    def __init__(self, **options):
        super().__init__(**options)
        self.calls: list[str] = []

    def build(self, task):
        self.calls.append("build")
        return ToyModel(len(self.make_tokenizer(task)))

    def make_tokenizer(self, task):
        return WordTokenizer(task.pairs.texts, max_words=4)

    def objective(self, out, batch, model):
        logits = model.scale * out["image"].emb @ out["text"].emb.T
        target = torch.arange(len(logits))
        per_row = F.cross_entropy(logits, target, reduction="none")
        return LossOutput(
            per_row.mean(), per_row={"loss": per_row}, stats={"scale": model.scale.item()}
        )

    def on_fit_start(self, state):
        self.calls.append(f"start{len(state.optimizers)}")

    def on_epoch_end(self, state):
        self.calls.append(f"end{state.epoch}")
        return {"seen_rows": int((~torch.isnan(state.epoch_rows["loss"])).sum())}

    def epoch_estimate(self, state):
        loss = state.epoch_rows["loss"].cpu().numpy()
        return CleanEstimate(-loss, loss < np.nanmedian(loss))


def test_hooks_per_row_values_stats_and_estimates(toy_task):
    reports = []
    toy_task.on_clean_scores = lambda epoch, estimate: reports.append((epoch, estimate))
    method = ToyMethod()
    fit = method.fit(toy_task)
    assert method.calls == ["build", "start1", "end0", "end1", "end2"]
    assert [h["epoch"] for h in fit.history] == [1, 2, 3]
    # 24 rows, batch 4: every row seen each epoch; the statistic is averaged into the record
    assert all(h["seen_rows"] == 24 for h in fit.history)
    assert all(h["scale"] > 0 for h in fit.history)
    assert [epoch for epoch, _ in reports] == [1, 2, 3]
    # the selected checkpoint's estimate is that epoch's
    best = fit.best_epoch
    assert np.array_equal(fit.clean_scores, reports[best - 1][1].scores)


def test_best_epoch_restores_every_parameter_of_the_model(toy_task):
    """Loss parameters live in the model: the restored scale is the best epoch's, not the last's."""
    scales = []

    class Tracking(ToyMethod):
        def on_epoch_end(self, state):
            scales.append(state.model.scale.item())
            return super().on_epoch_end(state)

    method = Tracking(epochs=4, lr=0.2)
    fit = method.fit(toy_task)
    model = fit.retriever.model
    assert model.scale.item() == pytest.approx(scales[fit.best_epoch - 1])


def test_select_rows_oracle_trains_on_clean_rows_only(toy_task):
    method = ToyMethod(oracle="clean", epochs=1)
    fit = method.fit(toy_task)
    assert fit.history[0]["train_rows"] == 22
    assert toy_task.used_ground_truth


def test_two_optimisers_in_an_overridden_training_step(toy_task):
    class TwoPhase(ToyMethod):
        def configure_optimizers(self, model, loader_steps):
            image = list(model.image.parameters())
            text = list(model.words.parameters()) + [model.scale]
            schedule = self.make_schedule(loader_steps)
            return [
                Optim(torch.optim.SGD(image, lr=0.1), schedule, image),
                Optim(torch.optim.Adam(text, lr=0.01), schedule, text),
            ]

        def training_step(self, state, batch):
            self.calls.append("step")
            out = self.forward(state, batch)
            result = self.objective(out, batch, state.model)
            for index in (0, 1):
                state.optimizers[index].optimizer.zero_grad()
            state.precision.backward(result.loss)
            for index in (0, 1):
                state.precision.step(state.optimizers[index].optimizer)
            return result

    method = TwoPhase(epochs=1)
    before = None

    def snapshot(model):
        return [p.detach().clone() for p in model.parameters()]

    original_build = method.build

    def build(task):
        nonlocal before
        model = original_build(task)
        before = snapshot(model)
        return model

    method.build = build
    fit = method.fit(toy_task)
    assert method.calls.count("step") == 6
    after = snapshot(fit.retriever.model)
    assert all(not torch.equal(a, b) for a, b in zip(before, after, strict=True))


def test_a_nan_loss_fails_the_cell_with_a_clear_error(toy_task):
    from rsbench.io.errors import CellError

    class NaN(ToyMethod):
        def objective(self, out, batch, model):
            return super().objective(out, batch, model).loss * float("nan")

    with pytest.raises(CellError, match="loss became nan at epoch 1, step 1"):
        NaN(epochs=1).fit(toy_task)


def test_drop_last_false_trains_the_ragged_batch_unless_it_has_one_row(toy_task):
    seen = []

    class Sizes(ToyMethod):
        def training_step(self, state, batch):
            seen.append(len(batch.rows))
            return super().training_step(state, batch)

    Sizes(epochs=1, batch_size=5).fit(toy_task)  # 24 rows: four of 5, the 4 left dropped
    assert seen == [5, 5, 5, 5]
    seen.clear()
    fit = Sizes(epochs=1, batch_size=5, drop_last=False).fit(toy_task)
    assert seen == [5, 5, 5, 5, 4] and fit.history[0]["seen_rows"] == 24
    seen.clear()
    Sizes(epochs=1, batch_size=23, drop_last=False).fit(toy_task)  # one row left: dropped
    assert seen == [23]


def test_selection_last_keeps_the_last_epoch_and_its_estimate(toy_task):
    scales = []

    class Tracking(ToyMethod):
        def on_epoch_end(self, state):
            scales.append(state.model.scale.item())
            return super().on_epoch_end(state)

    reports = []
    toy_task.on_clean_scores = lambda epoch, estimate: reports.append(estimate)
    fit = Tracking(epochs=4, lr=0.2, selection="last").fit(toy_task)
    assert fit.best_epoch == 4
    assert fit.retriever.model.scale.item() == pytest.approx(scales[-1])
    assert np.array_equal(fit.clean_scores, reports[-1].scores)


def test_on_epoch_sees_each_validation_score_and_can_stop_the_fit(toy_task):
    """A pruned tuning trial: the fit stops after the epoch whose callback says so, keeps the
    best epoch so far and says where it stopped; without a stop it trains every epoch."""
    seen = []

    def stop_after_two(epoch, score):
        seen.append((epoch, score))
        return epoch == 2

    toy_task.on_epoch = stop_after_two
    fit = ToyMethod(epochs=5, lr=0.2).fit(toy_task)
    assert [e for e, _ in seen] == [1, 2] and len(fit.history) == 2
    assert [s for _, s in seen] == [h["val_mR"] for h in fit.history]
    assert fit.info["stopped_after_epoch"] == 2 and fit.best_epoch in (1, 2)
    toy_task.on_epoch = lambda epoch, score: False
    fit = ToyMethod(epochs=3, lr=0.2).fit(toy_task)
    assert len(fit.history) == 3 and "stopped_after_epoch" not in fit.info


def test_a_method_without_tokenizer_or_pipeline_sets_up_in_on_fit_start(toy_task):
    """A method on cached features: no tokens, no pixels; on_fit_start runs once, first."""
    calls = []

    class Cached(ToyMethod):
        def make_tokenizer(self, task):
            return None

        def image_pipeline(self):
            return None

        def build(self, task):
            return ToyModel(4)

        def on_fit_start(self, state):
            calls.append(("start", state.epoch, state.text, state.pixels))
            state.buffers["table"] = torch.randn(state.n_rows, 8)

        def training_step(self, state, batch):
            calls.append("step")
            emb = F.normalize(state.buffers["table"][batch.rows] * state.model.scale, dim=-1)
            loss = (emb @ emb.T).mean()
            state.step_optimizer(loss)
            return LossOutput(loss.detach())

        def on_epoch_end(self, state):
            return {}

        def epoch_estimate(self, state):
            return None

        def make_retriever(self, state):
            from rsbench.evaluate.retrieval import MatrixScorer

            class Fixed:
                def scorer(self, images, texts):
                    return MatrixScorer(np.random.default_rng(0).random((len(texts), len(images))))

            return Fixed()

    fit = Cached(epochs=2).fit(toy_task)
    assert calls[0] == ("start", 0, None, None) and calls.count("step") == 12
    assert fit.info["tokenizer"] is None and fit.info["image_pipeline"] is None


# ---- schedules and precision --------------------------------------------------------------------


def test_cosine_schedule_with_absolute_warm_up():
    s = Schedule("cosine", total_steps=1000, warmup_steps=200)
    assert s.factor(0) == pytest.approx(1 / 200)
    assert s.factor(199) == pytest.approx(1.0)
    assert s.factor(200) == pytest.approx(1.0)
    assert s.factor(600) == pytest.approx(0.5)  # half-way through the cosine
    assert s.factor(1000) == pytest.approx(0.0, abs=1e-12)


def test_constant_and_step_schedules():
    assert Schedule("constant", total_steps=50).factor(37) == 1.0
    every = Schedule("step", total_steps=700, steps_per_epoch=10, step_every=20, gamma=0.7)
    assert every.factor(199) == 1.0  # epoch 19
    assert every.factor(200) == pytest.approx(0.7)  # epoch 20
    assert every.factor(450) == pytest.approx(0.49)
    milestones = Schedule(
        "step",
        total_steps=1500,
        steps_per_epoch=10,
        milestones=[1, 51, 101],
        gamma=0.8,
        min_factor=0.6,
    )
    assert milestones.factor(5) == 1.0
    assert milestones.factor(10) == pytest.approx(0.8)
    assert milestones.factor(1200) == pytest.approx(0.6)  # 0.512 floored


def test_decay_groups_by_rule():
    model = nn.Sequential(nn.Linear(3, 4), nn.LayerNorm(4))
    groups = decay_groups(model.named_parameters(), 0.7, "matrices")
    assert [len(g["params"]) for g in groups] == [1, 3]
    assert [g["weight_decay"] for g in groups] == [0.7, 0.0]
    assert len(decay_groups(model.named_parameters(), 0.7, "all")) == 1


def test_fp16_with_the_gradient_scaler_trains_and_skips_overflowing_steps():
    torch.manual_seed(0)
    model = nn.Linear(4, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    precision = Precision("fp16", "cpu")
    x, y = torch.randn(32, 4), torch.randn(32, 1)
    losses = []
    for _ in range(20):
        with precision.autocast():
            out = model(x)
            assert out.dtype == torch.float16
            loss = F.mse_loss(out.float(), y)
        optimizer.zero_grad()
        precision.backward(loss)
        precision.step(optimizer, model.parameters(), clip=1.0)
        precision.update()
        losses.append(loss.item())
    assert losses[-1] < losses[0]
    # an inf gradient: the step is skipped and the scale halves
    weights = model.weight.detach().clone()
    scale = precision.scaler.get_scale()
    optimizer.zero_grad()
    precision.backward(model(x).sum() * float("inf"))
    precision.step(optimizer)
    precision.update()
    assert torch.equal(model.weight, weights)
    assert precision.scaler.get_scale() == scale / 2


@pytest.mark.parametrize("schedule", ["cosine", "constant", "step"])
def test_each_schedule_through_the_engine_in_fp16(toy_task, schedule):
    method = ToyMethod(
        epochs=2, schedule=schedule, precision="fp16", step_every=1, step_gamma=0.5, warmup_steps=2
    )
    fit = method.fit(toy_task)
    lrs = [h["lr"] for h in fit.history]
    expected = {"cosine": lambda lr: lr[1] < lr[0], "constant": lambda lr: lr[1] == lr[0]}
    expected["step"] = lambda lr: lr[1] == pytest.approx(lr[0] / 2)
    assert expected[schedule](lrs), lrs
    assert fit.info["precision"] == "fp16"


# ---- image pipeline -------------------------------------------------------------------------------


def test_resized_crop_falls_back_to_a_centre_crop_when_no_draw_fits():
    # aspect ratios that cannot fit a 64 x 8 image at this area: every draw fails
    boxes = resized_crop_boxes(3, 8, 64, (0.9, 1.0), (1.0, 1.0), torch.Generator().manual_seed(0))
    assert boxes.tolist() == [[0, 28, 8, 8]] * 3


def test_resized_crop_boxes_follow_the_scale_and_ratio_ranges():
    boxes = resized_crop_boxes(
        500, 64, 64, (0.5, 1.0), (3 / 4, 4 / 3), torch.Generator().manual_seed(0)
    )
    top, left, h, w = boxes.T.float()
    area = h * w / 64**2
    assert (area >= 0.45).all() and (area <= 1.0).all()  # rounding of the sides
    assert ((w / h) >= 0.7).all() and ((w / h) <= 1.4).all()
    assert (
        (top >= 0).all() and (left >= 0).all() and (top + h <= 64).all() and (left + w <= 64).all()
    )


def test_crop_and_resize_of_the_full_box_is_the_image():
    pixels = torch.randint(0, 255, (2, 12, 12, 3), dtype=torch.uint8)
    boxes = torch.tensor([[0, 0, 12, 12], [0, 0, 12, 12]])
    for mode in ("bilinear", "bicubic"):
        out = crop_and_resize(pixels, boxes, 12, mode)
        assert torch.allclose(out, pixels.float(), atol=1e-3)
    # a quarter box, upsampled by two, keeps that quarter's content away from its edges
    flat = torch.zeros(1, 8, 8, 3, dtype=torch.uint8)
    flat[:, :4, :4] = 200
    out = crop_and_resize(flat, torch.tensor([[0, 0, 4, 4]]), 8)
    assert torch.allclose(out[0, :6, :6], torch.full((6, 6, 3), 200.0), atol=1e-3)
    assert out[0, 7, 7, 0] < 200  # the kernel reads the image just outside the box


def test_pipeline_normalisation_and_random_crop():
    pipeline = ImagePipeline(size=8, decode_size=10, train="random_crop", normalize="imagenet")
    pixels = torch.full((3, 10, 10, 3), 255, dtype=torch.uint8)
    out = pipeline.train_batch(pixels, torch.Generator().manual_seed(0))
    assert out.shape == (3, 3, 8, 8)
    expected = (1 - torch.tensor([0.485, 0.456, 0.406])) / torch.tensor([0.229, 0.224, 0.225])
    assert torch.allclose(out[0, :, 0, 0], expected)
    with pytest.raises(ValueError, match="decode_size >= size"):
        ImagePipeline(size=8, decode_size=6, train="random_crop")


def test_an_option_error_names_the_option():
    from rsbench.io.errors import RsbenchError

    with pytest.raises(RsbenchError, match="crop_scale must satisfy"):
        ToyMethod(crop="resized_crop", crop_scale=[0.9, 0.2])
    with pytest.raises(RsbenchError, match="lr must be a positive number"):
        ToyMethod(lr=-1.0)
    assert math.isclose(ToyMethod(lr=0.5).options.lr, 0.5)

"""chnr: CHNR, unsupervised cross-modal hashing robust to noisy training pairs; duch, its baseline.

Mikriukov, Ravanbakhsh, Demir, "An Unsupervised Cross-Modal Hashing Method Robust to Noisy
Training Image-Text Correspondences in Remote Sensing", ICIP 2022 (arXiv 2202.13117). Official
code: github.com/comrados/noisy_captions @ 4ca24bf (the model is called UNHD there), features
from github.com/comrados/duch. Spec: ``../shared/specs/rrsitr-chnr.md`` part B; method card:
``docs/methods/chnr.md``.

**Model.** Frozen features (`rsbench.engine.frozen`, extracted once per item list and shared by
every cell and seed): a ResNet's pooled feature of a centre view and of one fixed augmented view
per image, and BERT's mean over positions of the sum of its last four hidden layers per caption.
Each array is z-scored with one global mean and standard deviation. Hash heads per modality,
Linear → ``hidden_dim`` → BatchNorm → ReLU → Linear → ``bits`` → tanh; the binary code is the
sign. A noise detector D_N on the concatenated image and caption features: three Linear → ReLU
→ Dropout(``detector_dropout``) blocks, then Linear → 1.

**Training**, two phases and two optimisers:

- *meta phase* (the first ``meta_epochs``), on the trusted clean subset
  (`TrainTask.trusted_clean_subset`, ``trusted_fraction`` of the training images; recorded, and
  the method is marked as using it): per batch, D_N takes one AdamW step on real pairs against
  "fake" pairs whose caption comes from a batch row of another scene class (four pairings:
  image / augmented image with caption / caption), with BCE + ``gp_weight`` × gradient penalty;
  then the hash heads take one Adam step with every pair weight 1;
- *main phase*, on every training pair: the pair weight w = σ(D_N(pair)), detached, turned
  into the ``noise_weights`` variant (``normal`` w, ``exp`` |w³|, ``dis`` w above the midpoint of
  the last meta epoch's mean real and fake σ, ``ones``); D_N no longer trains.

The hash loss is the weighted NT-Xent between image and caption codes at ``temperature``,
summed over the 2B anchors, plus ``quantization_weight`` × Σ‖B − h‖² over the four views
(image, augmented image, caption twice) against the per-epoch binary codes B = sign(mean of
the views' codes of the last epoch), B starting as random signs. ``contrastive_weights`` are
the inter-modal, intra-image and intra-caption terms (1, 0, 0: CHNR's; an intra term is weighted
by the batch's mean pair weight). Hash heads: Adam (lr 1e-4, L2 5e-4), the learning rate × 0.8
after epochs 0, 50 and 100 (``step_epochs`` [1, 51, 101]); D_N: AdamW (lr 1e-4, betas (0.5,
0.9), weight decay 1e-3). The detector's σ(D_N) per pair is the method's clean score each epoch
(in the main phase, the probabilities the weights were made from; in the meta phase, σ(D_N)
of every pair with dropout off, at the end of the epoch), its decision σ above the ``dis``
threshold (0.5 before any meta epoch).

**Profiles.** ``paper``: ResNet-18 (``microsoft/resnet-18``, 512-d) and BERT-base (768-d)
features at 224 px after a 200 px centre crop, hidden 4096, 150 epochs (75 meta). ``small``: the
shipped small encoders (128-d, 64-d) at 64 px after a 100 px crop of synthrs' 128 px images,
hidden 1024, and the paper's schedule: 150 epochs (75 meta), every learning rate as published.
``epochs`` given alone sets ``meta_epochs`` to half of it.

**Evaluation.** Captions rank images, and images captions, by the Hamming distance of their
codes, ties broken by the cosine of the continuous codes (`rsbench.engine.binary_codes`); the
retriever's binary codes give the hashing metrics (mAP@k, `rsbench.evaluate.hashing_map`).

**Faithful defaults** (what produced the published numbers) **and the option for each quirk**:

- B.9.1 the augmented caption is the original (``txt2 = txt1``): the caption head runs twice
  on the same features (two BatchNorm updates), and its codes count twice in L_Q and in B.
  rsbench has no augmented captions, so this is the only form;
- B.9.2 τ = 1 and a sum over the anchors (``temperature``); the official formula subtracts e
  for the anchor's own term, exact only at τ = 1: rsbench leaves the term out at any τ;
- B.9.3 the meta phase checks "another class" against the labels of the first training rows
  (``labels[index]`` for ``labels[idx_clean]``): ``fake_labels: positional``, ``true`` for the
  trusted rows' own classes;
- B.9.4 the meta phase keeps codes and reads B by position in the trusted subset, not by row,
  so the first main epoch's B is misaligned: ``meta_buffers: positional``, ``row`` to index by row;
- B.9.5 the pair weights come from D_N with dropout active: ``weights_dropout: true``;
- B.9.7 the published curves are the last epoch's: ``selection: last`` (``best`` selects on
  the validation split; rsbench never selects on the test split);
- B.9.8 extraction: ResNet BatchNorm on batch statistics (``feature_batchnorm: batch``, ``eval``),
  no ImageNet normalisation (``normalize: none``, ``imagenet``), padding in BERT's mean
  (``text_pool: all``, ``masked``);
- B.9.9 the learning rate decays after epoch 0 already: ``step_epochs: [1, 51, 101]``
  (``[50, 100]`` for every 50 epochs);
- B.9.10 the gradient penalty's interpolation is drawn per element:
  ``gp_interpolation: element``, ``sample`` for WGAN-GP's per pair;
- the official BCE takes ``log(sigmoid)``, −inf once a fake logit reaches about 17: rsbench
  uses the equal softplus form (finite beyond); the official fake pairing never ends on a batch
  of one class: such a row takes any other row;
- the official loader keeps the ragged last batch (``drop_last: false``).

**Departures without an option**: the z-score statistics come from the training items (CHNR's
from every split, test included); evaluation images are extracted in their own BatchNorm
batches (CHNR extracted the whole dataset in one shuffled pass); the unused weights of the
augmented pair (B.9.11) are not computed; the protected 20 % of B.9.6 belongs to the noise
model (``wrong_class``'s ``protected``).

``duch``: the "DUCH" baseline of CHNR's plots, CHNR's code with ``--clean-epochs 0
--noise-weights ones`` (no meta phase, no trusted subset, every weight 1), not the full DUCH
of comrados/duch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from rsbench.api import CellError, CleanEstimate, LogUniform, TrainTask, class_ids
from rsbench.engine import Batch, EngineState, Features, LossOutput, RetrievalModel
from rsbench.engine.binary_codes import hamming_score
from rsbench.engine.frozen import (
    FrozenFeatureRetriever,
    ImageRecipe,
    TextRecipe,
    image_features,
    text_features,
)
from rsbench.engine.optim import Schedule, make_optimizer
from rsbench.engine.trainer import Optim, TrainableMethod, check_finite
from rsbench_plugins.methods.chnr_losses import (
    detector_bce,
    different_class_partners,
    gradient_penalty,
    pair_weights,
    quantization_loss,
    weighted_nt_xent,
)

#: CHNR's backbones (ResNet-18 pooled 512-d, BERT-base 768-d) at the paper's sizes
PAPER_RECIPE: dict[str, Any] = {
    "image_checkpoint": "microsoft/resnet-18",
    "text_checkpoint": "google-bert/bert-base-uncased",
    "image_size": 224,
    "center_crop": 200,
    "feature_batch_size": 500,
    "epochs": 150,
    "meta_epochs": 75,
    "hidden_dim": 4096,
}
#: the small pretrained encoders (128-d pooled ResNet, 64-d BERT) on synthrs' 128 px images:
#: the pretraining size (64 px) after a centre crop of 100 px (CHNR's 200 of UCM's 256 px),
#: hidden 1024; CHNR's schedule otherwise (150 epochs, 75 meta, every learning rate), which the
#: cached features keep near four minutes of CPU per synthrs cell
SMALL_RECIPE: dict[str, Any] = {
    "image_checkpoint": "rsbench/small-resnet-18",
    "text_checkpoint": "rsbench/small-bert",
    "image_size": 64,
    "center_crop": 100,
    "feature_batch_size": 500,
    "epochs": 150,
    "meta_epochs": 75,
    "hidden_dim": 1024,
}


class HashHead(nn.Sequential):
    """Linear → hidden → BatchNorm → ReLU → Linear → bits → tanh: one modality's hash head."""

    def __init__(self, in_dim: int, hidden_dim: int, bits: int):
        super().__init__(
            nn.Linear(in_dim, hidden_dim),
            nn.BatchNorm1d(hidden_dim),
            nn.ReLU(inplace=True),
            nn.Linear(hidden_dim, bits),
            nn.Tanh(),
        )


class NoiseDetector(nn.Module):
    """D_N: three Linear → ReLU → Dropout blocks at the input width, then Linear → 1 (a logit)."""

    def __init__(self, dim: int, dropout: float = 0.2, blocks: int = 3):
        super().__init__()
        layers: list[nn.Module] = []
        for _ in range(blocks):
            layers += [nn.Linear(dim, dim), nn.ReLU(inplace=True), nn.Dropout(dropout)]
        layers.append(nn.Linear(dim, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, pairs: torch.Tensor) -> torch.Tensor:
        return self.net(pairs).squeeze(-1)


class CHNRModel(RetrievalModel):
    """Hash heads and the noise detector over frozen features (raw features in: the model
    applies the z-score whose statistics it holds)."""

    #: the retriever gives binary codes (hashing metrics)
    hashing = True

    def __init__(self, image_dim: int, text_dim: int, hidden_dim: int, bits: int, dropout: float):
        super().__init__()
        self.image_net = HashHead(image_dim, hidden_dim, bits)
        self.text_net = HashHead(text_dim, hidden_dim, bits)
        self.detector = NoiseDetector(image_dim + text_dim, dropout)
        for kind in ("image", "augmented", "text"):  # global z-score: (mean, std) per array
            self.register_buffer(f"{kind}_stats", torch.tensor([0.0, 1.0]))

    def standardise(self, kind: str, features: torch.Tensor) -> torch.Tensor:
        mean, std = getattr(self, f"{kind}_stats")
        return (features.float() - mean) / std

    def encode_image(self, features: torch.Tensor) -> Features:
        return Features(emb=self.image_net(self.standardise("image", features)))

    def encode_text(self, features: torch.Tensor) -> Features:
        return Features(emb=self.text_net(self.standardise("text", features)))

    def score(self, image: Features, text: Features) -> torch.Tensor:
        return hamming_score(text.emb, image.emb)


@dataclass
class FitData:
    """What one fit keeps across steps (in ``state.buffers["chnr"]``), all on the device."""

    image: torch.Tensor  # images × D, z-scored
    augmented: torch.Tensor  # images × D, z-scored
    text: torch.Tensor  # distinct captions × D, z-scored
    row_text: torch.Tensor  # rows: index into ``text``
    row_label: torch.Tensor  # rows: scene-class id of the row's image (-1: none)
    trusted: torch.Tensor | None  # the trusted rows (sorted), None without a meta phase
    position: torch.Tensor  # rows: position in ``trusted`` (-1 outside it)
    codes: torch.Tensor  # B: rows × bits, ±1 (0 where a row has no codes yet)
    image_codes: torch.Tensor  # H of the image view, rows × bits
    augmented_codes: torch.Tensor  # H of the augmented view
    text_codes: torch.Tensor  # H of the caption (the "augmented" caption is the same)
    probabilities: dict[str, list[float]] = field(default_factory=dict)  # meta: σ sums, counts
    threshold: float = 0.5  # the ``dis`` threshold, from the last meta epoch

    #: what changes during a fit; the rest follows from the features and the task, which
    #: `CHNR.on_fit_start` rebuilds on resume (from the feature cache)
    KEPT = ("codes", "image_codes", "augmented_codes", "text_codes", "probabilities", "threshold")

    def state_dict(self) -> dict[str, Any]:
        """What a per-epoch checkpoint keeps of the fit (`rsbench.engine.checkpoint`)."""
        return {name: getattr(self, name) for name in self.KEPT}

    def load_state_dict(self, saved: dict[str, Any]) -> None:
        for name in self.KEPT:
            setattr(self, name, saved[name])


class CHNR(TrainableMethod):
    """CHNR: hash heads on frozen features, a meta-trained noise detector weighting the pairs."""

    PROFILES = {"small": SMALL_RECIPE, "paper": PAPER_RECIPE}
    #: its epochs are cheap (cached features) and stay CHNR's; the losses' weights and rates vary
    SEARCH_SPACES = {
        profile: {
            "lr": LogUniform(3e-5, 1e-3),
            "temperature": LogUniform(0.3, 3.0),
            "quantization_weight": LogUniform(1e-4, 1e-2),
            "detector_lr": LogUniform(3e-5, 1e-3),
        }
        for profile in ("small", "paper")
    }

    @classmethod
    def preset(cls, profile: str, given: dict[str, Any]) -> dict[str, Any]:
        """The profile's options; with ``epochs`` given and ``meta_epochs`` not, the meta phase
        is the first half of the epochs (at least one), as CHNR's 75 of 150."""
        base = dict(cls.PROFILES[profile])
        epochs = given.get("epochs")
        if isinstance(epochs, int) and not isinstance(epochs, bool) and base.get("meta_epochs"):
            base["meta_epochs"] = max(1, epochs // 2)  # (the options check reports a bad value)
        return base

    @dataclass
    class Options(TrainableMethod.Options):
        # the engine's options at CHNR's values (``image_size``, ``interpolation`` and
        # ``normalize`` are the feature extraction's; no image is decoded while training)
        epochs: int = 150
        batch_size: int = 256
        lr: float = 1e-4
        optimizer: Literal["adamw", "adam"] = "adam"
        weight_decay: float = 5e-4
        schedule: Literal["cosine", "constant", "step"] = "step"
        warmup_fraction: float = 0.0
        step_epochs: list[int] = field(default_factory=lambda: [1, 51, 101])
        step_gamma: float = 0.8
        min_lr_factor: float = 0.01  # lr ≥ 1e-6 at lr 1e-4
        grad_clip: float = 0.0
        precision: Literal["auto", "fp32", "bf16", "fp16"] = "fp32"
        image_size: int = 224
        normalize: Literal["openai", "imagenet", "half", "none"] = "none"
        drop_last: bool = False
        selection: Literal["best", "last"] = "last"
        # model
        bits: int = 64
        hidden_dim: int = 4096
        detector_dropout: float = 0.2
        # phases and the noise detector
        meta_epochs: int = 75
        trusted_fraction: float = 0.2
        noise_weights: Literal["normal", "exp", "dis", "ones"] = "normal"
        weights_dropout: bool = True
        detector_lr: float = 1e-4
        detector_betas: tuple[float, float] = (0.5, 0.9)
        detector_weight_decay: float = 1e-3
        gp_weight: float = 10.0
        gp_interpolation: Literal["element", "sample"] = "element"
        fake_labels: Literal["positional", "true"] = "positional"
        meta_buffers: Literal["positional", "row"] = "positional"
        # the hash loss
        temperature: float = 1.0
        contrastive_weights: tuple[float, float, float] = (1.0, 0.0, 0.0)
        quantization_weight: float = 0.001
        # frozen features
        image_checkpoint: str = "microsoft/resnet-18"
        text_checkpoint: str = "google-bert/bert-base-uncased"
        center_crop: int | None = 200
        feature_batchnorm: Literal["batch", "eval"] = "batch"
        feature_batch_size: int = 500
        feature_seed: int = 42
        blur_sigma: tuple[float, float] = (1.1, 1.3)
        rotation: tuple[float, float] = (-10.0, -5.0)
        text_length: int = 64
        text_layers: int = 4
        text_pool: Literal["all", "masked"] = "all"

        def __post_init__(self):
            super().__post_init__()
            for name in ("bits", "hidden_dim", "feature_batch_size", "text_layers"):
                if getattr(self, name) < 1:
                    raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
            if self.text_length < 3:
                raise ValueError(f"text_length must be at least 3, got {self.text_length}")
            if self.center_crop is not None and self.center_crop < 1:
                raise ValueError(f"center_crop must be at least 1 pixel, got {self.center_crop}")
            if not 0 <= self.meta_epochs <= self.epochs:
                raise ValueError(
                    f"meta_epochs must be in [0, epochs={self.epochs}], got {self.meta_epochs}"
                )
            if not 0 < self.trusted_fraction <= 1:
                raise ValueError(f"trusted_fraction must be in (0, 1], got {self.trusted_fraction}")
            if self.meta_epochs == 0 and self.noise_weights != "ones":
                raise ValueError(
                    f"noise_weights {self.noise_weights!r} needs meta_epochs > 0: the noise "
                    "detector trains only in the meta phase (use noise_weights: ones)"
                )
            if not 0 <= self.detector_dropout < 1:
                raise ValueError(f"detector_dropout must be in [0, 1), got {self.detector_dropout}")
            for name in ("temperature", "detector_lr"):
                if not getattr(self, name) > 0:
                    raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
            for name in ("gp_weight", "quantization_weight", "detector_weight_decay"):
                if getattr(self, name) < 0:
                    raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
            if not all(0 <= b < 1 for b in self.detector_betas):
                raise ValueError(
                    f"detector_betas must be in [0, 1), got {list(self.detector_betas)}"
                )
            if any(w < 0 for w in self.contrastive_weights):
                raise ValueError(
                    f"contrastive_weights must be >= 0, got {list(self.contrastive_weights)}"
                )
            lo, hi = self.blur_sigma
            if not 0 < lo <= hi:
                raise ValueError(f"blur_sigma must satisfy 0 < lo <= hi, got {[lo, hi]}")
            if self.rotation[0] > self.rotation[1]:
                raise ValueError(f"rotation must be increasing, got {list(self.rotation)}")

    # ---- backbones and features -------------------------------------------------------------
    def required_checkpoints(self) -> list[str]:
        return [self.options.image_checkpoint, self.options.text_checkpoint]

    def backbone_info(self) -> dict[str, Any]:
        o = self.options
        return {
            "backbone": "frozen features",
            "init": "pretrained",
            "checkpoint": f"{o.image_checkpoint} + {o.text_checkpoint}",
        }

    def image_recipe(self, view: str = "center") -> ImageRecipe:
        o = self.options
        return ImageRecipe(
            checkpoint=o.image_checkpoint,
            size=o.image_size,
            center_crop=o.center_crop,
            interpolation=o.interpolation,
            normalize=o.normalize,
            batchnorm=o.feature_batchnorm,
            batch_size=o.feature_batch_size,
            seed=o.feature_seed,
            view=view,
            blur_sigma=tuple(o.blur_sigma),
            rotation=tuple(o.rotation),
        )

    def text_recipe(self) -> TextRecipe:
        o = self.options
        return TextRecipe(
            checkpoint=o.text_checkpoint,
            max_length=o.text_length,
            layers=o.text_layers,
            pool=o.text_pool,
        )

    def feature_dims(self) -> tuple[int, int]:
        """The image and caption feature widths, read from the checkpoints' configurations."""
        from transformers import BertConfig, ResNetConfig

        from rsbench.engine.hf import load_config

        o = self.options
        image = load_config(ResNetConfig, o.image_checkpoint, o.weights_dir).hidden_sizes[-1]
        text = load_config(BertConfig, o.text_checkpoint, o.weights_dir).hidden_size
        return int(image), int(text)

    def image_pipeline(self):
        return None  # features are extracted once, no pixels while training

    def make_tokenizer(self, task: TrainTask):
        return None  # likewise for captions

    def build(self, task: TrainTask) -> CHNRModel:
        o = self.options
        image_dim, text_dim = self.feature_dims()
        return CHNRModel(image_dim, text_dim, o.hidden_dim, o.bits, o.detector_dropout)

    def on_fit_start(self, state: EngineState) -> None:
        """Features (cached), z-score statistics, the trusted subset, codes B and buffers H."""
        o, task, device, model = self.options, state.task, state.device, state.model
        kwargs = {"weights_dir": o.weights_dir, "device": device}
        paths = list(task.pairs.image_paths)
        raw = {
            "image": image_features(paths, self.image_recipe("center"), **kwargs),
            "augmented": image_features(paths, self.image_recipe("augmented"), **kwargs),
        }
        distinct = sorted(set(task.pairs.texts))
        raw["text"] = text_features(distinct, self.text_recipe(), **kwargs)
        z = {}
        for kind, array in raw.items():
            mean, std = (
                float(np.mean(array, dtype=np.float64)),
                float(np.std(array, dtype=np.float64)),
            )
            getattr(model, f"{kind}_stats").copy_(torch.tensor([mean, std if std > 0 else 1.0]))
            z[kind] = model.standardise(kind, torch.from_numpy(np.array(array)).to(device))
        text_row = {t: i for i, t in enumerate(distinct)}
        n = state.n_rows
        labels = torch.from_numpy(class_ids(task.pairs.image_classes)).to(device)
        trusted, position = None, torch.full((n,), -1, dtype=torch.long, device=device)
        if o.meta_epochs > 0:
            rows = task.trusted_clean_subset(o.trusted_fraction)
            if len(rows) < 2:
                raise CellError(
                    f"the trusted clean subset has {len(rows)} rows, too few for the meta phase; "
                    "raise trusted_fraction"
                )
            trusted = torch.from_numpy(rows).to(device)
            position[trusted] = torch.arange(len(rows), device=device)
        state.buffers["chnr"] = FitData(
            image=z["image"],
            augmented=z["augmented"],
            text=z["text"],
            row_text=torch.tensor([text_row[t] for t in task.pairs.texts], device=device),
            row_label=labels[state.row_image],
            trusted=trusted,
            position=position,
            codes=torch.randn(n, o.bits, device=device).sign(),
            image_codes=torch.zeros(n, o.bits, device=device),
            augmented_codes=torch.zeros(n, o.bits, device=device),
            text_codes=torch.zeros(n, o.bits, device=device),
        )
        state.buffers["info"] = {
            "features": {
                "image": self.image_recipe("center").identity(),
                "augmented": self.image_recipe("augmented").identity(),
                "text": self.text_recipe().identity(),
                "dims": {kind: int(array.shape[1]) for kind, array in raw.items()},
                "distinct_captions": len(distinct),
            }
        }

    def make_retriever(self, state: EngineState) -> FrozenFeatureRetriever:
        o = self.options
        kwargs = {"weights_dir": o.weights_dir, "device": state.device}
        image_recipe, text_recipe = self.image_recipe("center"), self.text_recipe()
        return FrozenFeatureRetriever(
            state.model,
            lambda paths: image_features(paths, image_recipe, **kwargs),
            lambda texts: text_features(texts, text_recipe, **kwargs),
            state.device,
            state.precision,
        )

    def fit_info(self, state: EngineState) -> dict[str, Any]:
        from rsbench.engine.hf import checkpoint_info, require_checkpoint

        o = self.options
        info = super().fit_info(state)
        info["checkpoint"] = {
            kind: checkpoint_info(name, require_checkpoint(name, o.weights_dir))
            for kind, name in (("image", o.image_checkpoint), ("text", o.text_checkpoint))
        }
        return info

    # ---- optimisers and phases ----------------------------------------------------------------
    def configure_optimizers(self, model: CHNRModel, loader_steps: int) -> list[Optim]:
        """Adam on the hash heads (the engine's schedule); AdamW on D_N (constant)."""
        o = self.options
        hash_params = [*model.image_net.parameters(), *model.text_net.parameters()]
        hash_opt = make_optimizer(
            o.optimizer,
            [{"params": hash_params, "weight_decay": o.weight_decay}],
            o.lr,
            tuple(o.betas),
            o.eps,
        )
        detector_params = list(model.detector.parameters())
        detector_opt = torch.optim.AdamW(
            detector_params,
            lr=o.detector_lr,
            betas=tuple(o.detector_betas),
            weight_decay=o.detector_weight_decay,
        )
        constant = Schedule("constant", loader_steps * o.epochs, 0, loader_steps)
        return [
            Optim(hash_opt, self.make_schedule(loader_steps), hash_params),
            Optim(detector_opt, constant, detector_params),
        ]

    def in_meta_phase(self, state: EngineState) -> bool:
        return state.epoch < self.options.meta_epochs

    def select_rows(self, state: EngineState) -> torch.Tensor | None:
        if self.in_meta_phase(state):
            return state.buffers["chnr"].trusted
        return super().select_rows(state)

    # ---- one step ---------------------------------------------------------------------------
    def training_step(self, state: EngineState, batch: Batch) -> LossOutput:
        o, model, data = self.options, state.model, state.buffers["chnr"]
        rows, meta = batch.rows, self.in_meta_phase(state)
        image = data.image[batch.image]
        augmented = data.augmented[batch.image]
        text = data.text[data.row_text[rows]]
        with state.precision.autocast():
            h_image = model.image_net(image)
            h_augmented = model.image_net(augmented)
            h_text = model.text_net(text)
            h_text2 = model.text_net(text)  # the "augmented" caption is the caption itself
        stats: dict[str, float] = {}
        per_row: dict[str, torch.Tensor] = {}
        weights: torch.Tensor | float = 1.0
        index = rows
        if meta:
            stats.update(self.detector_step(state, batch, image, augmented, text))
            if o.meta_buffers == "positional":  # B.9.4: codes kept by position in the subset
                index = data.position[rows]
        elif o.meta_epochs > 0:  # without a meta phase D_N is untrained and unused
            probability = self.clean_probability(model, image, text)
            weights = pair_weights(probability, o.noise_weights, data.threshold)
            per_row["clean_probability"] = probability
            stats["pair_weight"] = float(weights.mean())
        loss_c = self.contrastive_loss(h_image, h_augmented, h_text, h_text2, weights)
        loss_q = o.quantization_weight * quantization_loss(
            data.codes[index], h_image, h_augmented, h_text, h_text2
        )
        loss = loss_c + loss_q
        check_finite(loss, batch)
        state.step_optimizer(loss, 0)
        data.image_codes[index] = h_image.detach().float()
        data.augmented_codes[index] = h_augmented.detach().float()
        data.text_codes[index] = h_text.detach().float()
        stats.update(contrastive=float(loss_c.detach()), quantization=float(loss_q.detach()))
        return LossOutput(loss.detach(), per_row=per_row, stats=stats)

    def contrastive_loss(self, h_image, h_augmented, h_text, h_text2, weights) -> torch.Tensor:
        """Inter-modal NT-Xent, plus the intra-modal terms where their weights are not 0."""
        o = self.options
        inter, intra_image, intra_text = o.contrastive_weights
        loss = inter * weighted_nt_xent(h_image, h_text, weights, o.temperature)
        intra = float(weights.mean()) if isinstance(weights, torch.Tensor) else 1.0
        if intra_image:
            loss = loss + intra_image * weighted_nt_xent(h_image, h_augmented, intra, o.temperature)
        if intra_text:
            loss = loss + intra_text * weighted_nt_xent(h_text, h_text2, intra, o.temperature)
        return loss

    @torch.no_grad()
    def clean_probability(self, model: CHNRModel, image, text) -> torch.Tensor:
        """σ(D_N([image; caption])), detached; dropout on as in training (``weights_dropout``)."""
        model.detector.train(self.options.weights_dropout)
        try:
            return torch.sigmoid(model.detector(torch.cat([image, text], dim=1)).float())
        finally:
            model.detector.train(model.training)

    def fake_pair_labels(self, data: FitData, rows: torch.Tensor) -> torch.Tensor:
        """The classes the feature mixer compares: the rows' own (``fake_labels: true``), or, as
        the official code (B.9.3), those of the training rows at the rows' positions in the
        trusted subset (``positional``)."""
        if self.options.fake_labels == "positional":
            return data.row_label[data.position[rows]]
        return data.row_label[rows]

    def detector_step(
        self, state: EngineState, batch: Batch, image, augmented, text
    ) -> dict[str, float]:
        """One D_N step on real against different-class fake pairs (four pairings)."""
        o, model, data = self.options, state.model, state.buffers["chnr"]
        labels = self.fake_pair_labels(data, batch.rows)
        # (image, caption) pairings: image & caption, augmented & "augmented" caption, then the
        # two crossed ones; the "augmented" caption is the caption itself (B.9.1)
        views = [(image, text), (augmented, text), (image, text), (augmented, text)]
        reals = [torch.cat([img, txt], dim=1) for img, txt in views]
        fakes = []
        for img, txt in views:  # each pairing draws its own partners
            partner = different_class_partners(labels, state.generator).to(image.device)
            fakes.append(torch.cat([img, txt[partner]], dim=1))
        # the four pairings' terms in one pass: each term is a mean over its B pairs, so their
        # sum is 4 × the mean over the 4B stacked pairs (BCE and penalty alike)
        real, fake = torch.cat(reals), torch.cat(fakes)
        with state.precision.autocast():
            loss = len(views) * (
                detector_bce(model.detector(real), model.detector(fake))
                + gradient_penalty(model.detector, real, fake, o.gp_interpolation, o.gp_weight)
            )
        check_finite(loss, batch)
        state.step_optimizer(loss, 1)
        with torch.no_grad():  # the epoch's mean σ of real and fake pairs (dropout on)
            sums = data.probabilities
            for name, pairs in (
                ("real1", reals[0]),
                ("real2", reals[1]),
                ("fake1", fakes[0]),
                ("fake2", fakes[1]),
            ):
                p = torch.sigmoid(model.detector(pairs).float())
                total, count = sums.get(name, [0.0, 0])
                sums[name] = [total + float(p.sum()), count + len(p)]
        return {"detector": float(loss.detach())}

    # ---- per epoch ----------------------------------------------------------------------------
    def on_epoch_end(self, state: EngineState) -> dict[str, Any]:
        """B from this epoch's codes; in the meta phase, the mean σ of real and fake pairs."""
        data = state.buffers["chnr"]
        mean_image = (data.image_codes + data.augmented_codes) / 2
        mean_text = (data.text_codes + data.text_codes) / 2  # the caption's two views
        data.codes = torch.sign((mean_image + mean_text) / 2)
        record: dict[str, Any] = {"phase": "meta" if self.in_meta_phase(state) else "main"}
        if self.in_meta_phase(state) and data.probabilities:
            means = {k: total / max(count, 1) for k, (total, count) in data.probabilities.items()}
            data.threshold = (means["real1"] + means["fake1"]) / 2
            data.probabilities = {}
            record.update({f"p_{k}": round(v, 6) for k, v in means.items()})
            record["threshold"] = round(data.threshold, 6)
        return record

    def epoch_estimate(self, state: EngineState) -> CleanEstimate | None:
        """σ(D_N) per training pair: the detector's clean score (none without a meta phase)."""
        if self.options.meta_epochs == 0:
            return None
        data = state.buffers["chnr"]
        scores = state.epoch_rows.get("clean_probability")
        if self.in_meta_phase(state) or scores is None:
            scores = self.all_probabilities(state)
        scores = scores.detach().float().cpu().numpy().astype(np.float64)
        decisions = np.nan_to_num(scores, nan=0.0) > data.threshold
        return CleanEstimate(scores, decisions)

    @torch.no_grad()
    def all_probabilities(self, state: EngineState, batch_size: int = 4096) -> torch.Tensor:
        """σ(D_N) of every training pair, dropout off (so no random number is drawn)."""
        model, data = state.model, state.buffers["chnr"]
        was_training = model.detector.training
        model.detector.eval()
        out = []
        for start in range(0, state.n_rows, batch_size):
            rows = torch.arange(start, min(start + batch_size, state.n_rows), device=state.device)
            pairs = torch.cat(
                [data.image[state.row_image[rows]], data.text[data.row_text[rows]]], 1
            )
            out.append(torch.sigmoid(model.detector(pairs).float()))
        model.detector.train(was_training)
        return torch.cat(out)


class DUCH(CHNR):
    """The "DUCH" row of CHNR's plots: CHNR without the meta phase, every pair weight 1."""

    PROFILES = {
        name: {**recipe, "meta_epochs": 0, "noise_weights": "ones"}
        for name, recipe in CHNR.PROFILES.items()
    }
    SEARCH_SPACES = {  # no detector: its rate is not searched
        name: {k: v for k, v in space.items() if k != "detector_lr"}
        for name, space in CHNR.SEARCH_SPACES.items()
    }

    @dataclass
    class Options(CHNR.Options):
        meta_epochs: int = 0
        noise_weights: Literal["normal", "exp", "dis", "ones"] = "ones"

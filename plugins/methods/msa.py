"""MSA: multi-scale alignment of ResNet stage features with BERT, through three losses.

Yang et al., "Remote Sensing Cross-Modal Text-Image Retrieval Based on Multi-Scale Alignment"
(IEEE TGRS 2024, arXiv 2405.18959); official code yr666666/MSA. The paper body could not be
read, so this follows the official code (rsbench's spec: ``msa-amfmn.md`` part A).

Model (`msa_model`): ResNet-50 stage features pooled per scale, summed through four Linear
maps and a gated projection, as the image embedding; BERT's [CLS] as the text embedding; the
training-only MSCMAT scores every (image, text) pair of a batch at each of the four scales.
Evaluation is the cosine of the two embeddings, each test image and caption encoded once.

Loss (`msa_losses`): ``L = L_tri + 15 · L_MSCMA + 10 · L_CSMMC``.

Training (``paper`` profile, the code's ``retrieval.py``): AdamW over every part at lr 1e-5,
weight decay 0.1 on every parameter, no schedule, no clipping, 60 epochs of batch 32, fp32,
images resized to 224 px with ImageNet normalisation and no augmentation, BERT captions of at
most 31 word pieces. The code selects its epoch on the test set; rsbench selects on the
validation split, as for every method.

Where the official code departs from the paper's intent or has a bug, the default is the
code's behaviour and an option gives the other reading:

- ``hard_negative_diagonal: scale`` — the positive pair's mining distance is multiplied by 1e6
  instead of being excluded, so a pair at distance 0 (an exact match) is its own hardest
  negative; ``exclude`` removes the diagonal;
- ``mask_padding: false`` — MSCMAT attends to [SEP] and padding positions; ``true`` masks them
  (and lets the engine trim all-padding columns, which is exact only then);
- ``csmmc_target: student`` — ``kl_div`` with the student as the target: KL(student ‖ teacher),
  gradient through the target, mean over B²; ``teacher`` is KL(teacher ‖ student);
- ``mask_same_image: false`` — rows sharing an image are negatives of each other in L_tri and
  L_MSCMA (every caption of an image is a sample); ``true`` takes them out of the negatives
  (L_CSMMC has no negatives: it compares distributions);
- only the image→text direction has an MSCMA term, with sigmoid scores as logits and no
  temperature (its floor, ``log(1 + (B − 1)/e)`` per scale, is reported as ``mscma_floor``);
- global max pooling of stages 1–3 is the code's fixed-kernel ``MaxPool2d``, equal at 224 px.

``small`` profile: the same modules from rsbench's small ResNet-50 layout and small BERT
(width 64) at 64 px (the size they were pretrained at), MSCMAT with 2 heads (the small
BERT's head count, as bert-base's 12 are MSCMAT's 12 in the paper profile: heads must divide
the width); see ``SMALL_RECIPE`` for the training recipe and why.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from rsbench.api import IntRange, LogUniform, RsbenchError, TrainTask, Uniform
from rsbench.engine import Batch, EngineState, LossOutput, TrainableMethod
from rsbench.engine.backbones import BERT, RESNET50, bert_tokenizer, load_bert, load_resnet
from rsbench.engine.losses import same_image_mask
from rsbench.engine.text import Tokenizer
from rsbench_plugins.methods.msa_losses import csmmc_loss, mscma_floor, mscma_loss, triplet_loss
from rsbench_plugins.methods.msa_model import MSAModel

#: the official training recipe (retrieval.py's argparse defaults and the yaml's batch size)
PAPER_RECIPE: dict[str, Any] = {
    "image_checkpoint": RESNET50["paper"],
    "text_checkpoint": BERT["paper"],
    "cross_heads": 12,
    "epochs": 60,
    "batch_size": 32,
    "lr": 1e-5,
    "optimizer": "adamw",
    "weight_decay": 0.1,
    "weight_decay_rule": "all",
    "schedule": "constant",
    "warmup_steps": 0,
    "grad_clip": 0.0,
    "precision": "fp32",
    "image_size": 224,
    "interpolation": "bilinear",
    "crop": "none",
    "normalize": "imagenet",
}
#: the small encoders on synthrs: the paper's recipe (constant AdamW, decay 0.1 on every
#: parameter, batch 32, no augmentation, no clipping) at the size and learning rate that a
#: 30–60 s cell on two CPU cores allows (see docs/methods/msa.md for the measurements)
SMALL_RECIPE: dict[str, Any] = {
    **PAPER_RECIPE,
    "image_checkpoint": RESNET50["small"],
    "text_checkpoint": BERT["small"],
    "cross_heads": 2,
    "epochs": 2,
    "lr": 5e-4,
    "image_size": 64,
}


class MSA(TrainableMethod):
    """MSA (Yang et al., TGRS 2024): ResNet-50 + BERT, MSCMAT, triplet + MSCMA + CSMMC losses."""

    PROFILES = {"small": SMALL_RECIPE, "paper": PAPER_RECIPE}
    SEARCH_SPACES = {
        profile: {
            "lr": lr,
            "epochs": epochs,
            "margin": Uniform(0.1, 0.8),
            "mscma_weight": LogUniform(1.0, 30.0),
            "csmmc_weight": LogUniform(1.0, 20.0),
        }
        for profile, lr, epochs in (
            ("small", LogUniform(5e-5, 2e-3), IntRange(2, 4)),
            ("paper", LogUniform(3e-6, 5e-5), IntRange(20, 60)),
        )
    }

    @dataclass
    class Options(TrainableMethod.Options):
        image_checkpoint: str = RESNET50["small"]
        text_checkpoint: str = BERT["small"]
        text_length: int = 31  # word pieces with [CLS] and [SEP]: 30 localized features
        cross_heads: int = 2
        mask_padding: bool = False
        margin: float = 0.5
        hard_negative_diagonal: Literal["scale", "exclude"] = "scale"
        mscma_weight: float = 15.0
        csmmc_weight: float = 10.0
        csmmc_temperature: float = 2.0
        csmmc_target: Literal["student", "teacher"] = "student"
        mask_same_image: bool = False

        def __post_init__(self):
            super().__post_init__()
            if self.text_length < 2:
                raise ValueError(f"text_length must be at least 2, got {self.text_length}")
            if self.cross_heads < 1:
                raise ValueError(f"cross_heads must be at least 1, got {self.cross_heads}")
            for name in ("margin", "mscma_weight", "csmmc_weight"):
                if getattr(self, name) < 0:
                    raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
            if not self.csmmc_temperature > 0:
                raise ValueError(
                    f"csmmc_temperature must be positive, got {self.csmmc_temperature}"
                )
            for name in ("image_checkpoint", "text_checkpoint"):
                if not getattr(self, name):
                    raise ValueError(f"{name} must name a checkpoint")

    @property
    def trim_text(self) -> bool:
        """Dropping all-padding columns is exact only when MSCMAT does not attend to padding."""
        return self.options.mask_padding

    # ---- model and tokenizer ----------------------------------------------------------------
    def required_checkpoints(self) -> list[str]:
        return [self.options.image_checkpoint, self.options.text_checkpoint]

    def backbone_info(self) -> dict[str, Any]:
        o = self.options
        return {
            "backbone": "resnet-50+bert",
            "init": "pretrained",
            "checkpoint": f"{o.image_checkpoint} + {o.text_checkpoint}",
        }

    def check_ready(self) -> None:
        """Checkpoints found, and MSCMAT's heads and the text length fit the text encoder:
        checked from the configuration alone, before any cell trains."""
        super().check_ready()
        from transformers import BertConfig

        from rsbench.engine.hf import load_config

        o = self.options
        self.check_text_config(load_config(BertConfig, o.text_checkpoint, o.weights_dir))

    def check_text_config(self, config) -> None:
        o = self.options
        width = config.hidden_size
        if width % o.cross_heads:
            raise RsbenchError(
                f"cross_heads {o.cross_heads} does not divide the text width {width} of "
                f"{o.text_checkpoint!r}; use a divisor of {width}"
            )
        if o.text_length > config.max_position_embeddings:
            raise RsbenchError(
                f"text_length {o.text_length} exceeds the {config.max_position_embeddings} "
                f"positions of {o.text_checkpoint!r}"
            )

    def build(self, task: TrainTask) -> MSAModel:
        o = self.options
        resnet = load_resnet(o.image_checkpoint, o.weights_dir)
        bert = load_bert(o.text_checkpoint, o.weights_dir)
        self.check_text_config(bert.config)
        return MSAModel(resnet, bert, o.cross_heads, o.mask_padding)

    def make_tokenizer(self, task: TrainTask) -> Tokenizer:
        o = self.options
        return bert_tokenizer(o.text_checkpoint, o.text_length, o.weights_dir)

    # ---- one step ---------------------------------------------------------------------------
    def forward(self, state: EngineState, batch: Batch) -> dict[str, Any]:
        model = state.model
        return {
            "image": model.encode_image(state.train_pixels(batch), scales=True),
            "text": model.encode_text(state.train_text(batch.rows), tokens=True),
        }

    def objective(self, out: dict[str, Any], batch: Batch, model: MSAModel) -> LossOutput:
        o = self.options
        image, text = out["image"], out["text"]
        exclude = same_image_mask(batch.image) if o.mask_same_image else None
        tri = triplet_loss(
            image.emb.float(), text.emb.float(), o.margin, o.hard_negative_diagonal, exclude
        )
        maps = model.alignment(image, text)
        mscma = mscma_loss(maps, exclude)
        csmmc = csmmc_loss(maps, o.csmmc_temperature, o.csmmc_target)
        loss = tri + o.mscma_weight * mscma + o.csmmc_weight * csmmc
        return LossOutput(
            loss=loss,
            stats={
                "loss_tri": float(tri.detach()),
                "loss_mscma": float(mscma.detach()),
                "loss_csmmc": float(csmmc.detach()),
                "mscma_floor": len(maps) * mscma_floor(len(batch.rows)),
            },
        )

    def fit_info(self, state: EngineState) -> dict[str, Any]:
        from rsbench.engine.hf import checkpoint_info, require_checkpoint

        o = self.options
        info = super().fit_info(state)
        info["checkpoints"] = {
            role: checkpoint_info(name, require_checkpoint(name, o.weights_dir))
            for role, name in (("image", o.image_checkpoint), ("text", o.text_checkpoint))
        }
        return info

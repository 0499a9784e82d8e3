"""`DualEncoderMethod`: the engine with the baselines' model choices (``infonce``, ``vse``, ``infonce_gmm``).

A subclass writes its ``loss(image_emb, text_emb, batch)`` (or an ``objective``); the model is
chosen by the ``backbone`` option:

- ``clip`` (default): a transformers ``CLIPModel`` loaded offline and fully fine-tuned. In the
  ``small`` profile it is rsbench's pretrained small CLIP (``rsbench/small-clip``: the same
  model class at a tiny configuration, pretrained on ``synthrs-pretrain``), the same start as
  RRSITR's small profile, so every small table has the plain fine-tune row; in the ``paper``
  profile it is OpenAI's CLIP ViT-B/32 with RRSITR's recipe (AdamW lr 7e-6, weight decay 0.7 on
  matrices, 200 warm-up steps then cosine, batch 100, clipping 50, fp16, bicubic
  RandomResizedCrop 224 at scale 0.9–1, OpenAI normalisation, 50 epochs);
- ``scratch``: the small CNN image encoder and word CNN/GRU text encoder trained from random
  initialisation (``small`` profile only): the engine's original baseline. Tables keep the two
  apart (records say ``init: pretrained`` or ``scratch``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal

from rsbench.engine.encoders import SmallImageEncoder, SmallTextEncoder
from rsbench.engine.models import CLIPDualEncoder, RetrievalModel, ScratchDualEncoder
from rsbench.engine.runtime import resolve_device
from rsbench.engine.text import HFTokenizer, Tokenizer, WordTokenizer
from rsbench.engine.trainer import TrainableMethod
from rsbench.io.errors import RsbenchError
from rsbench.plugin.components import TrainTask
from rsbench.plugin.searchspace import IntRange, LogUniform

SMALL_CLIP = "rsbench/small-clip"
PAPER_CLIP = "openai/clip-vit-base-patch32"

#: the small from-scratch recipe (the engine's original defaults)
SCRATCH_RECIPE: dict[str, Any] = {
    "checkpoint": "",
    "epochs": 6,
    "batch_size": 128,
    "lr": 2e-3,
    "weight_decay": 1e-4,
    "weight_decay_rule": "all",
    "warmup_fraction": 0.05,
    "grad_clip": 2.0,
    "image_size": 48,
    "interpolation": "bilinear",
    "crop": "none",
    "normalize": "half",
}
#: fine-tuning the pretrained small CLIP: a miniature of RRSITR's recipe (batch 100, 56 px crops
#: of 64 px images as 224 of 256, bicubic, OpenAI normalisation, decay on matrices)
SMALL_CLIP_RECIPE: dict[str, Any] = {
    "checkpoint": SMALL_CLIP,
    "epochs": 2,
    "batch_size": 100,
    "lr": 2e-4,
    "weight_decay": 0.2,
    "weight_decay_rule": "matrices",
    "warmup_steps": 20,
    "grad_clip": 50.0,
    "image_size": 56,
    "decode_size": 64,
    "interpolation": "bicubic",
    "crop": "resized_crop",
    "crop_scale": (0.9, 1.0),
    "normalize": "openai",
}
#: RRSITR's recipe on OpenAI's CLIP ViT-B/32 (rrsitr-chnr.md §A.4)
PAPER_CLIP_RECIPE: dict[str, Any] = {
    "checkpoint": PAPER_CLIP,
    "epochs": 50,
    "batch_size": 100,
    "lr": 7e-6,
    "weight_decay": 0.7,
    "weight_decay_rule": "matrices",
    "warmup_steps": 200,
    "grad_clip": 50.0,
    "precision": "fp16",
    "image_size": 224,
    "decode_size": 256,
    "interpolation": "bicubic",
    "crop": "resized_crop",
    "crop_scale": (0.9, 1.0),
    "normalize": "openai",
}

#: what a search varies in the engine's shared recipe, per profile (`rsbench.plugin.searchspace`);
#: each CLIP method adds its own loss options to these
CLIP_SEARCH_SPACES: dict[str, dict[str, Any]] = {
    "small": {
        "lr": LogUniform(5e-5, 2e-3),
        "epochs": IntRange(2, 6),
        "weight_decay": LogUniform(1e-3, 0.5),
        "warmup_steps": IntRange(0, 100),
    },
    "paper": {
        "lr": LogUniform(1e-6, 5e-5),
        "epochs": IntRange(10, 50),
        "weight_decay": LogUniform(1e-3, 0.7),
        "warmup_steps": IntRange(0, 500),
    },
}


class DualEncoderMethod(TrainableMethod):
    """Base of methods that train an image encoder and a text encoder (see module docstring)."""

    PROFILES = {"small": SMALL_CLIP_RECIPE, "paper": PAPER_CLIP_RECIPE}
    #: the recipe of each backbone other than the profile's own
    BACKBONE_RECIPES = {("small", "scratch"): SCRATCH_RECIPE}

    @dataclass
    class Options(TrainableMethod.Options):
        backbone: Literal["clip", "scratch"] = "clip"
        checkpoint: str = SMALL_CLIP
        text_length: int = 77  # CLIP: positions of the text tower
        pad_id: int | None = 0  # CLIP: the id at padding positions (OpenCLIP pads with 0)
        # the from-scratch encoders
        embed_dim: int = 256
        width: int = 24
        text_encoder: Literal["cnn", "gru"] = "cnn"
        max_words: int = 40

        def __post_init__(self):
            super().__post_init__()
            if self.backbone == "scratch" and self.image_size % 16:
                raise ValueError(
                    f"the scratch image encoder needs image_size a multiple of 16, got {self.image_size}"
                )
            if self.backbone == "scratch" and self.profile != "small":
                raise ValueError("backbone 'scratch' exists in the small profile only")
            if self.backbone == "clip" and not self.checkpoint:
                raise ValueError("backbone 'clip' needs a checkpoint")
            for name in ("embed_dim", "width", "max_words", "text_length"):
                if getattr(self, name) < 1:
                    raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")

    @classmethod
    def preset(cls, profile: str, given: dict[str, Any]) -> dict[str, Any]:
        """The profile's recipe (or the backbone's). A method with a ``warmup_epochs`` option
        given fewer ``epochs`` than its warm-up (``--epochs 1``, say) keeps one epoch after
        the warm-up: the warm-up shrinks to ``epochs - 1`` unless it was given too."""
        base = dict(cls.PROFILES[profile])
        backbone = given.get("backbone", "clip")
        if (profile, backbone) in cls.BACKBONE_RECIPES:
            base = dict(cls.BACKBONE_RECIPES[(profile, backbone)])
        fields = {f.name: f for f in dataclasses.fields(cls.Options)}
        if "warmup_epochs" in fields and "epochs" in given and "warmup_epochs" not in given:
            warmup = base.get("warmup_epochs", fields["warmup_epochs"].default)
            if isinstance(given["epochs"], int) and warmup >= given["epochs"] >= 1:
                base["warmup_epochs"] = given["epochs"] - 1
        return base

    # ---- model and tokenizer ----------------------------------------------------------------
    def required_checkpoints(self) -> list[str]:
        return [self.options.checkpoint] if self.options.backbone == "clip" else []

    def backbone_info(self) -> dict[str, Any]:
        o = self.options
        if o.backbone == "scratch":
            return {"backbone": "scratch", "init": "scratch"}
        return {"backbone": "clip", "init": "pretrained", "checkpoint": o.checkpoint}

    def build(self, task: TrainTask) -> RetrievalModel:
        o = self.options
        if o.backbone == "scratch":
            vocab_size = len(self.make_tokenizer(task))
            return ScratchDualEncoder(
                SmallImageEncoder(o.embed_dim, o.width, o.image_size),
                SmallTextEncoder(vocab_size, o.embed_dim, kind=o.text_encoder),
            )
        from transformers import CLIPModel

        from rsbench.engine.hf import attention_for, load_pretrained

        clip, _ = load_pretrained(
            CLIPModel,
            o.checkpoint,
            o.weights_dir,
            attn_implementation=attention_for(resolve_device(task.device)),
        )
        if clip.config.vision_config.image_size != o.image_size:
            raise RsbenchError(
                f"checkpoint {o.checkpoint!r} takes {clip.config.vision_config.image_size} px "
                f"images, but image_size is {o.image_size}"
            )
        return CLIPDualEncoder(clip, tokens=self.clip_tokens)

    #: whether the CLIP model returns token features (RRSITR's local score needs them)
    clip_tokens = False

    def make_tokenizer(self, task: TrainTask) -> Tokenizer:
        o = self.options
        if o.backbone == "scratch":
            return WordTokenizer(task.pairs.texts, max_words=o.max_words)
        from transformers import CLIPTokenizer

        from rsbench.engine.hf import load_tokenizer

        tokenizer = load_tokenizer(CLIPTokenizer, o.checkpoint, o.weights_dir)
        return HFTokenizer(tokenizer, o.text_length, pad_id=o.pad_id, name=o.checkpoint)

    def fit_info(self, state) -> dict[str, Any]:
        info = super().fit_info(state)
        if self.options.backbone == "clip":
            from rsbench.engine.hf import checkpoint_info, require_checkpoint

            o = self.options
            info["checkpoint"] = checkpoint_info(
                o.checkpoint, require_checkpoint(o.checkpoint, o.weights_dir)
            )
        return info

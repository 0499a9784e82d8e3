"""The published backbones and their small pretrained counterparts, by name, loaded offline.

Methods name a backbone per profile; this module loads it through `rsbench.engine.hf` (concrete
transformers classes, local files only) and gives the pieces methods share:

=======================  ====================================  ===================================
backbone                 ``paper`` checkpoint                  ``small`` checkpoint (shipped)
=======================  ====================================  ===================================
CLIP ViT-B/32            ``openai/clip-vit-base-patch32``      ``rsbench/small-clip``
BERT-base, uncased       ``google-bert/bert-base-uncased``     ``rsbench/small-bert``
ResNet-50                ``microsoft/resnet-50``               ``rsbench/small-resnet-50``
ResNet-18                ``microsoft/resnet-18``               ``rsbench/small-resnet-18``
=======================  ====================================  ===================================

- `load_bert` / `bert_tokenizer`: ``BertModel`` and its WordPiece tokenizer (``BertTokenizer``
  read with ``from_pretrained`` from the folder: its ``vocab_file=`` constructor argument is
  silently ignored by transformers 5);
- `load_resnet` / `resnet_stages`: ``ResNetModel`` and its four stage maps (``hidden_states[1:]``:
  strides 4, 8, 16, 32), the multi-scale features of MSA and AMFMN; ``pooler_output`` is the
  global average pool (CHNR's 512-d ResNet-18 feature).
"""

from __future__ import annotations

from pathlib import Path

import torch

from rsbench.engine.hf import load_pretrained, load_tokenizer
from rsbench.engine.text import HFTokenizer

CLIP = {"paper": "openai/clip-vit-base-patch32", "small": "rsbench/small-clip"}
BERT = {"paper": "google-bert/bert-base-uncased", "small": "rsbench/small-bert"}
RESNET50 = {"paper": "microsoft/resnet-50", "small": "rsbench/small-resnet-50"}
RESNET18 = {"paper": "microsoft/resnet-18", "small": "rsbench/small-resnet-18"}


def load_bert(checkpoint: str, weights_dir: str | Path | None = None):
    """A ``BertModel`` (no pooling layer is needed by any method: they read hidden states)."""
    from transformers import BertModel

    model, _ = load_pretrained(BertModel, checkpoint, weights_dir, add_pooling_layer=False)
    return model


def bert_tokenizer(
    checkpoint: str, max_length: int, weights_dir: str | Path | None = None
) -> HFTokenizer:
    from transformers import BertTokenizer

    tokenizer = load_tokenizer(BertTokenizer, checkpoint, weights_dir)
    return HFTokenizer(tokenizer, max_length, name=checkpoint)


def load_resnet(checkpoint: str, weights_dir: str | Path | None = None):
    from transformers import ResNetModel

    model, _ = load_pretrained(ResNetModel, checkpoint, weights_dir)
    return model


def resnet_stages(model, pixels: torch.Tensor) -> list[torch.Tensor]:
    """The four stage maps of a ``ResNetModel`` (B × C_k × H/4^… for k = 1..4)."""
    return list(model(pixel_values=pixels, output_hidden_states=True).hidden_states[1:])

"""Pretrain rsbench's small encoders on ``synthrs-pretrain`` and write them as checkpoints.

    python tools/pretrain_small_encoders.py [--out rsbench/weights] [--check]

The ``small`` profile of every method starts from these, as the ``paper`` profiles start from
published weights: a tiny CLIP (``rsbench/small-clip``: RRSITR, infonce, vse, infonce_gmm),
a tiny BERT (``rsbench/small-bert``: MSA, CHNR) and tiny ResNets in the ResNet-18 and
ResNet-50 layouts (``rsbench/small-resnet-18``: AMFMN, CHNR; ``rsbench/small-resnet-50``: MSA).
They are the transformers model classes of the paper backbones (``CLIPModel``, ``BertModel``,
``ResNetModel``) at tiny configurations, written with ``save_pretrained`` and read back by the
same offline loading code as the paper weights.

What is done, deterministically (fixed seeds, one thread, deterministic algorithms):

1. the corpus: the training split of ``synthrs-pretrain`` (another generator seed than
   ``synthrs``; every caption whose text occurs in ``synthrs`` or ``synthrs-tiny`` removed);
2. tokenizers trained on its captions with ``tokenizers``: a byte-level BPE in CLIP's format
   (``CLIPTokenizer``) and a WordPiece vocabulary in BERT's (``BertTokenizer``);
3. the CLIP pretrained with CLIP's symmetric contrastive loss on (image, caption) rows;
4. the BERT and both ResNets pretrained together with the same loss, BERT's [CLS] state against
   each ResNet's pooled feature through small projection heads that are then dropped.

The checkpoints ship in the package (a few MB) rather than being made on first use, which
would add minutes to the first run; ``--check`` regenerates them into a temporary folder and
compares every file's sha256 with the shipped one: byte for byte with the same torch and
transformers versions and the same rsbench code on its path (the image pipeline's crops and
normalisation feed the training, so a change there changes the weights; rebuild them then). ``rsbench/weights/MANIFEST.json`` records the hashes,
the corpus and each model's zero-shot retrieval on the corpus's validation split.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import re
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

REPO = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO / "rsbench" / "weights"
SEED = 20261129
VOCAB_SIZE = 1000  # BPE and WordPiece, before special tokens
CLIP_TEXT_LENGTH = 77
BERT_TEXT_LENGTH = 64

CLIP_IMAGE = {"decode": 64, "size": 56, "patch": 8}
RESNET_IMAGE = 64


# ---- the corpus -------------------------------------------------------------------------------
def corpus():
    from rsbench.plugin.manager import get_plugins

    dataset = get_plugins().datasets.get("synthrs-pretrain").create()
    return dataset, dataset.load()


# ---- tokenizers ---------------------------------------------------------------------------------
# Trained here in a few lines of Python rather than by `tokenizers`' trainers, whose choice among
# equally frequent merges changes from run to run: every tie below is broken by sorting.

CLIP_WORDS = r"""'s|'t|'re|'ve|'m|'ll|'d|[a-z]+|[0-9]|[^\sa-z0-9]+"""


def _byte_alphabet() -> dict[int, str]:
    """GPT-2 / CLIP byte-to-character map (printable bytes map to themselves)."""
    keep = list(range(33, 127)) + list(range(161, 173)) + list(range(174, 256))
    chars, n = keep[:], 0
    for b in range(256):
        if b not in keep:
            keep.append(b)
            chars.append(256 + n)
            n += 1
    return dict(zip(keep, map(chr, chars), strict=True))


def _clip_words(texts: list[str]) -> Counter:
    import re

    alphabet = _byte_alphabet()
    counts: Counter = Counter()
    for text in texts:
        for word in re.findall(CLIP_WORDS, " ".join(text.lower().split())):
            counts["".join(alphabet[b] for b in word.encode("utf-8"))] += 1
    return counts


def train_clip_tokenizer(texts: list[str]):
    """A byte-level BPE in CLIP's format: ``</w>`` word ends, specials last, merges by frequency."""
    from transformers import CLIPTokenizer

    alphabet = sorted(_byte_alphabet().values())
    vocab = alphabet + [c + "</w>" for c in alphabet]
    words = {tuple(w[:-1]) + (w[-1] + "</w>",): c for w, c in _clip_words(texts).items()}
    merges: list[tuple[str, str]] = []
    while len(vocab) < VOCAB_SIZE:
        pairs: Counter = Counter()
        for symbols, count in words.items():
            for pair in zip(symbols, symbols[1:], strict=False):
                pairs[pair] += count
        if not pairs:
            break
        best = min(pairs, key=lambda p: (-pairs[p], p))
        if pairs[best] < 2:
            break
        merges.append(best)
        vocab.append(best[0] + best[1])
        merged = {}
        for symbols, count in words.items():
            out, i = [], 0
            while i < len(symbols):
                if i + 1 < len(symbols) and (symbols[i], symbols[i + 1]) == best:
                    out.append(best[0] + best[1])
                    i += 2
                else:
                    out.append(symbols[i])
                    i += 1
            merged[tuple(out)] = merged.get(tuple(out), 0) + count
        words = merged
    ids = {token: i for i, token in enumerate(dict.fromkeys(vocab))}
    # CLIP's special tokens come last: <|startoftext|> = V, <|endoftext|> = V + 1 (the largest id)
    ids["<|startoftext|>"] = len(ids)
    ids["<|endoftext|>"] = len(ids)
    return CLIPTokenizer(vocab=ids, merges=merges)


def train_bert_tokenizer(texts: list[str]):
    """A WordPiece vocabulary: BERT's specials, every character (alone and as ``##``), then the
    corpus's words by frequency (ties alphabetical), up to the vocabulary size."""
    from transformers import BertTokenizer

    counts = Counter(w for t in texts for w in re.findall(r"[a-z0-9]+|[^\sa-z0-9]", t.lower()))
    chars = sorted({c for w in counts for c in w})
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *chars, *(f"##{c}" for c in chars)]
    words = [w for w, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])) if len(w) > 1]
    vocab += words[: max(0, VOCAB_SIZE + 5 - len(vocab))]
    return BertTokenizer(vocab={token: i for i, token in enumerate(dict.fromkeys(vocab))})


# ---- models -------------------------------------------------------------------------------------
def clip_model(tokenizer):
    from transformers import CLIPConfig, CLIPModel, CLIPTextConfig, CLIPVisionConfig

    common = {
        "hidden_size": 64,
        "intermediate_size": 128,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "projection_dim": 64,
        "hidden_act": "quick_gelu",
    }
    text = CLIPTextConfig(
        vocab_size=len(tokenizer),
        max_position_embeddings=CLIP_TEXT_LENGTH,
        bos_token_id=tokenizer.convert_tokens_to_ids("<|startoftext|>"),
        eos_token_id=tokenizer.convert_tokens_to_ids("<|endoftext|>"),
        pad_token_id=0,
        **common,
    )
    vision = CLIPVisionConfig(
        image_size=CLIP_IMAGE["size"], patch_size=CLIP_IMAGE["patch"], **common
    )
    config = CLIPConfig(
        text_config=text.to_dict(), vision_config=vision.to_dict(), projection_dim=64
    )
    return CLIPModel(config)


def bert_model(tokenizer):
    from transformers import BertConfig, BertModel

    config = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=64,
        num_hidden_layers=4,  # CHNR sums the last four hidden layers
        num_attention_heads=2,
        intermediate_size=256,
        max_position_embeddings=BERT_TEXT_LENGTH,
        pad_token_id=tokenizer.pad_token_id,
    )
    return BertModel(config, add_pooling_layer=False)


def resnet_model(layout: str):
    from transformers import ResNetConfig, ResNetModel

    if layout == "resnet-18":
        config = ResNetConfig(
            embedding_size=16,
            hidden_sizes=[16, 32, 64, 128],
            depths=[1, 1, 1, 1],
            layer_type="basic",
        )
    else:
        config = ResNetConfig(
            embedding_size=16,
            hidden_sizes=[32, 64, 128, 256],
            depths=[1, 1, 1, 1],
            layer_type="bottleneck",
        )
    return ResNetModel(config)


# ---- training -------------------------------------------------------------------------------------
def contrastive(a: torch.Tensor, b: torch.Tensor, log_scale: torch.Tensor, image: torch.Tensor):
    from rsbench_plugins.methods.infonce import info_nce

    return info_nce(F.normalize(a, dim=-1), F.normalize(b, dim=-1), image, log_scale)


def cosine_factor(step: int, total: int, warmup: int) -> float:
    if step < warmup:
        return (step + 1) / warmup
    return 0.5 * (1 + math.cos(math.pi * min(1.0, (step - warmup) / max(1, total - warmup))))


def train_loop(
    name: str,
    module: nn.Module,
    step_loss,
    n_rows: int,
    epochs: int,
    batch_size: int,
    lr: float,
    evaluate,
    log,
) -> list[dict]:
    """AdamW (decay on matrices), warm-up + cosine, clipping 1.0; one line per epoch."""
    from rsbench.engine.optim import decay_groups

    generator = torch.Generator().manual_seed(SEED)
    optimizer = torch.optim.AdamW(decay_groups(module.named_parameters(), 0.1, "matrices"), lr=lr)
    steps = n_rows // batch_size
    total, step, history = steps * epochs, 0, []
    for epoch in range(epochs):
        started = time.perf_counter()
        module.train()
        order = torch.randperm(n_rows, generator=generator)
        losses = []
        for i in range(steps):
            rows = order[i * batch_size : (i + 1) * batch_size]
            for group in optimizer.param_groups:
                group["lr"] = lr * cosine_factor(step, total, warmup=100)
            loss = step_loss(rows, generator)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(module.parameters(), 1.0)
            optimizer.step()
            losses.append(loss.item())
            step += 1
        val = evaluate()
        history.append({"epoch": epoch + 1, "loss": round(float(np.mean(losses)), 4), **val})
        log(
            f"{name}: epoch {epoch + 1}/{epochs}, loss {np.mean(losses):.3f}, "
            + ", ".join(f"{k} {v:.2f}" for k, v in val.items())
            + f" ({time.perf_counter() - started:.0f} s)"
        )
    return history


def pretrain_clip(splits, tokenizer, epochs: int, log) -> tuple[nn.Module, list[dict]]:
    from rsbench.engine.models import CLIPDualEncoder
    from rsbench.engine.pipeline import ImagePipeline
    from rsbench.engine.scoring import ModelRetriever
    from rsbench.engine.text import HFTokenizer
    from rsbench.evaluate.retrieval import evaluate_retrieval

    train = splits.train
    clip = clip_model(tokenizer)
    model = CLIPDualEncoder(clip)
    model.log_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07)))
    pipeline = ImagePipeline(
        size=CLIP_IMAGE["size"],
        decode_size=CLIP_IMAGE["decode"],
        interpolation="bicubic",
        train="resized_crop",
        crop_scale=(0.8, 1.0),
        normalize="openai",
    )
    text_tok = HFTokenizer(tokenizer, CLIP_TEXT_LENGTH, pad_id=0)
    pixels = torch.from_numpy(np.array(pipeline.load_train(train.paths)))
    tokens = text_tok(train.texts)
    row_image = torch.from_numpy(train.caption_image)

    def step_loss(rows, generator):
        images = model.encode_image(pipeline.train_batch(pixels[row_image[rows]], generator))
        texts = model.encode_text(tokens[rows].trim())
        return contrastive(images.emb, texts.emb, model.log_scale, row_image[rows])

    retriever = ModelRetriever(model, text_tok, pipeline, "cpu")

    def evaluate():
        val = splits.val
        return {
            "val_mR": evaluate_retrieval(
                retriever.scorer(val.images, val.texts), val.caption_image
            )["plain"]["mR"]
        }

    history = train_loop(
        "small-clip", model, step_loss, len(train.texts), epochs, 128, 1e-3, evaluate, log
    )
    return clip, history


class Towers(nn.Module):
    """BERT and two ResNets with projection heads, for joint contrastive pretraining."""

    def __init__(self, bert, r18, r50):
        super().__init__()
        self.bert, self.r18, self.r50 = bert, r18, r50
        self.text_head = nn.Linear(bert.config.hidden_size, 64)
        self.r18_head = nn.Linear(r18.config.hidden_sizes[-1], 64)
        self.r50_head = nn.Linear(r50.config.hidden_sizes[-1], 64)
        self.log_scale = nn.Parameter(torch.tensor([math.log(1 / 0.07)] * 2))

    def text(self, ids, mask):
        return self.text_head(self.bert(input_ids=ids, attention_mask=mask).last_hidden_state[:, 0])

    def images(self, pixels):
        a = self.r18_head(self.r18(pixel_values=pixels).pooler_output.flatten(1))
        b = self.r50_head(self.r50(pixel_values=pixels).pooler_output.flatten(1))
        return a, b


def pretrain_towers(splits, tokenizer, epochs: int, log):
    from rsbench.engine.pipeline import ImagePipeline
    from rsbench.engine.text import HFTokenizer
    from rsbench.evaluate.retrieval import MatrixScorer, evaluate_retrieval

    train = splits.train
    towers = Towers(bert_model(tokenizer), resnet_model("resnet-18"), resnet_model("resnet-50"))
    pipeline = ImagePipeline(
        size=RESNET_IMAGE, train="resized_crop", crop_scale=(0.8, 1.0), normalize="imagenet"
    )
    text_tok = HFTokenizer(tokenizer, BERT_TEXT_LENGTH)
    pixels = torch.from_numpy(np.array(pipeline.load_train(train.paths)))
    tokens = text_tok(train.texts)
    row_image = torch.from_numpy(train.caption_image)

    def step_loss(rows, generator):
        a, b = towers.images(pipeline.train_batch(pixels[row_image[rows]], generator))
        batch = tokens[rows].trim()
        t = towers.text(batch.ids, batch.mask.long())
        image = row_image[rows]
        return contrastive(a, t, towers.log_scale[0], image) + contrastive(
            b, t, towers.log_scale[1], image
        )

    @torch.no_grad()
    def evaluate():
        towers.eval()
        val = splits.val
        val_pixels = torch.from_numpy(np.array(pipeline.load_eval(val.paths)))
        a, b = towers.images(pipeline.eval_batch(val_pixels))
        batch = text_tok(val.texts)
        t = F.normalize(towers.text(batch.ids, batch.mask.long()), dim=-1)
        out = {}
        for name, emb in (("r18", a), ("r50", b)):
            scores = (t @ F.normalize(emb, dim=-1).T).numpy()
            out[f"val_mR_{name}"] = evaluate_retrieval(MatrixScorer(scores), val.caption_image)[
                "plain"
            ]["mR"]
        return out

    history = train_loop(
        "small-bert+resnets", towers, step_loss, len(train.texts), epochs, 128, 1e-3, evaluate, log
    )
    return towers, history


# ---- writing and checking -------------------------------------------------------------------------
def save(model, tokenizer, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder, safe_serialization=True)
    if tokenizer is not None:
        tokenizer.save_pretrained(folder)


def file_hashes(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != "MANIFEST.json"
    }


def build(out: Path, clip_epochs: int, tower_epochs: int, log) -> dict:
    import transformers
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    torch.manual_seed(SEED)
    dataset, splits = corpus()
    log(
        f"corpus: synthrs-pretrain train split, {len(splits.train)} images, {len(splits.train.texts)} captions"
    )
    clip_tok = train_clip_tokenizer(splits.train.texts)
    bert_tok = train_bert_tokenizer(splits.train.texts)
    torch.manual_seed(SEED)
    clip, clip_history = pretrain_clip(splits, clip_tok, clip_epochs, log)
    torch.manual_seed(SEED)
    towers, tower_history = pretrain_towers(splits, bert_tok, tower_epochs, log)
    base = out / "rsbench"
    save(clip, clip_tok, base / "small-clip")
    save(towers.bert, bert_tok, base / "small-bert")
    save(towers.r18, None, base / "small-resnet-18")
    save(towers.r50, None, base / "small-resnet-50")
    manifest = {
        "tool": "tools/pretrain_small_encoders.py",
        "seed": SEED,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "corpus": {
            "dataset": "synthrs-pretrain",
            "generator": dataset.marker_spec(),
            "train_images": len(splits.train),
            "train_captions": len(splits.train.texts),
        },
        "epochs": {"small-clip": clip_epochs, "small-bert+resnets": tower_epochs},
        "history": {"small-clip": clip_history, "small-bert+resnets": tower_history},
        "files": file_hashes(out),
    }
    (out / "MANIFEST.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return manifest


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help="where to write [rsbench/weights]"
    )
    parser.add_argument("--clip-epochs", type=int, default=12)
    parser.add_argument("--tower-epochs", type=int, default=12)
    parser.add_argument(
        "--check",
        action="store_true",
        help="regenerate into a temporary folder and compare with --out",
    )
    args = parser.parse_args()

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    started = time.perf_counter()
    if not args.check:
        build(args.out, args.clip_epochs, args.tower_epochs, log)
        log(f"wrote {args.out} in {time.perf_counter() - started:.0f} s")
        return 0
    shipped = json.loads((args.out / "MANIFEST.json").read_text())
    with tempfile.TemporaryDirectory() as tmp:
        epochs = shipped["epochs"]
        fresh = build(Path(tmp), epochs["small-clip"], epochs["small-bert+resnets"], log)
    differ = sorted(
        name
        for name in set(fresh["files"]) | set(shipped["files"])
        if fresh["files"].get(name) != shipped["files"].get(name)
    )
    for name in differ:
        log(f"differs: {name}")
    log(
        f"checked in {time.perf_counter() - started:.0f} s: {'identical' if not differ else 'DIFFERENT'}"
    )
    return 1 if differ else 0


if __name__ == "__main__":
    os.environ.setdefault("RSBENCH_PROGRESS", "0")
    sys.exit(main())

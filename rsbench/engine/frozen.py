"""Frozen-backbone features, extracted once per item list and shared by every cell and seed.

Methods that train small heads on the features of a frozen backbone (CHNR, DUCH) never need
pixels or tokens while training. Their features are extracted once, with an explicit recipe,
into the array cache (`rsbench.io.cache.cached_array`, namespace ``frozen-features``) under a key
that holds everything they depend on:

- the checkpoint's name and the sha256 of its weights file (`rsbench.engine.hf`);
- the recipe: every preprocessing choice, the official code's quirks included;
- the exact item list (`rsbench.io.cache.fingerprint_items`): each image's resolved path, byte
  size and modification time, or the caption texts, in order.

So every grid cell and training seed on the same items reads the same array, and a touched
image, other weights or another recipe make a new entry. `FrozenFeatureRetriever` evaluates a
model over such features (validation every epoch, then the test split).

**Images** (`ImageRecipe`, as DUCH's ``images_augment.py`` that CHNR's feature files come from):
a centre crop of ``center_crop`` pixels of the decoded image (a crop larger than the image takes
the whole image, where torchvision would pad it with black), a resize to ``size`` × ``size``
(PIL, antialiased, as torchvision's ``Resize`` does on PIL images of the square datasets), pixels
scaled to 0..1 and normalised (``none``: ``ToTensor`` alone, CHNR's quirk; ``imagenet``: what the
backbone was trained with). The ``augmented`` view first blurs with a 3 × 3 Gaussian of σ drawn
in ``blur_sigma`` (reflected borders, rounded back to 8 bits, as torchvision's ``GaussianBlur``)
and rotates by an angle drawn in ``rotation`` degrees (nearest neighbour, corners black, as
``RandomRotation``); the draws come from a generator seeded by ``seed``, one per image in item
order, so each image has one fixed augmented view, as CHNR's offline file. The feature is the
global average pool of the last stage (``pooler_output``). ``batchnorm``: ``batch`` runs the
backbone in training mode, so BatchNorm uses the statistics of each batch (CHNR's quirk: the
script never calls ``.eval()``), over batches of ``batch_size`` in the order
``numpy.random.RandomState(seed).permutation(N)`` (CHNR's own shuffle for the same list);
``eval`` uses the running statistics, and each feature depends on its image alone. (A last
batch of a single image joins the batch before it: the official script fails on it when the
last stage's map is 1 × 1.)

**Captions** (`TextRecipe`, as ``captions_embed.py``): the characters of ``strip`` removed and the
text lower-cased (CHNR removes ``. , ! ?``), WordPiece ids padded to ``max_length`` (longer
captions are cut at ``max_length``; the official call does not truncate and fails on them), the
sum of the last ``layers`` hidden states, then pooled: ``all``: the mean over every position,
padding included (CHNR's quirk); ``masked``: the mean over the real tokens.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from rsbench.engine.binary_codes import binary_codes
from rsbench.engine.features import Features
from rsbench.engine.pipeline import NORMALISATIONS
from rsbench.engine.precision import Precision
from rsbench.engine.scoring import ModelScorer
from rsbench.io.cache import cached_array, fingerprint_items
from rsbench.plugin.components import Retriever
from rsbench.plugin.split import ImageItem

NAMESPACE = "frozen-features"


@dataclass(frozen=True)
class ImageRecipe:
    """How image features are extracted (see the module docstring)."""

    checkpoint: str
    size: int = 224
    center_crop: int | None = 200
    interpolation: Literal["bilinear", "bicubic"] = "bilinear"
    normalize: Literal["none", "imagenet", "openai", "half"] = "none"
    batchnorm: Literal["batch", "eval"] = "batch"
    batch_size: int = 500
    seed: int = 42
    view: Literal["center", "augmented"] = "center"
    blur_sigma: tuple[float, float] = (1.1, 1.3)
    rotation: tuple[float, float] = (-10.0, -5.0)

    def identity(self) -> dict[str, Any]:
        out = asdict(self)
        out["blur_sigma"], out["rotation"] = list(self.blur_sigma), list(self.rotation)
        if self.view == "center":  # the augmentation draws do not touch the centre view
            out.pop("blur_sigma"), out.pop("rotation")
        if self.batchnorm == "eval":  # nor does the batch order under running statistics
            out.pop("batch_size")
            if self.view == "center":
                out.pop("seed")
        return out


@dataclass(frozen=True)
class TextRecipe:
    """How caption features are extracted (see the module docstring)."""

    checkpoint: str
    max_length: int = 64
    layers: int = 4
    pool: Literal["all", "masked"] = "all"
    strip: str = ".,!?"
    lowercase: bool = True

    def identity(self) -> dict[str, Any]:
        return asdict(self)


# ---- extraction -----------------------------------------------------------------------------


def image_item(path: Path) -> str:
    """What an image contributes to a cache key: its resolved path, byte size and mtime."""
    path = Path(path)
    try:
        st = path.stat()
        return f"{path.resolve()}\t{st.st_size}\t{st.st_mtime_ns}"
    except OSError:
        return f"{path}\tmissing"


def _checkpoint(name: str, weights_dir: str | Path | None) -> tuple[Path, str]:
    from rsbench.engine.hf import require_checkpoint, weights_fingerprint

    folder = require_checkpoint(name, weights_dir)
    return folder, weights_fingerprint(folder)


def _cached_features(
    kind: str, recipe: ImageRecipe | TextRecipe, items: list[str], weights_dir, extract: Callable
) -> np.ndarray:
    """The array of ``items`` under ``recipe``, read from the cache or made once by ``extract``;
    keyed by the checkpoint's weights, the recipe and the items themselves."""
    _, weights = _checkpoint(recipe.checkpoint, weights_dir)
    key = {
        "kind": kind,
        "checkpoint": recipe.checkpoint,
        "weights": weights,
        "recipe": recipe.identity(),
        "items": fingerprint_items(items),
        "count": len(items),
    }
    return cached_array(NAMESPACE, key, extract)


def image_features(
    paths: Sequence[Path],
    recipe: ImageRecipe,
    *,
    weights_dir: str | Path | None = None,
    device: str = "cpu",
) -> np.ndarray:
    """``N × D`` float32 features of the images, from the cache or extracted once."""
    extract = partial(extract_images, paths, recipe, weights_dir=weights_dir, device=device)
    items = [image_item(p) for p in paths]
    return _cached_features("image", recipe, items, weights_dir, extract)


def text_features(
    texts: Sequence[str],
    recipe: TextRecipe,
    *,
    weights_dir: str | Path | None = None,
    device: str = "cpu",
) -> np.ndarray:
    """``N × D`` float32 features of the captions, from the cache or extracted once."""
    extract = partial(extract_texts, texts, recipe, weights_dir=weights_dir, device=device)
    return _cached_features("text", recipe, list(texts), weights_dir, extract)


def center_crop(image, crop: int | None):
    """The central ``crop`` × ``crop`` square of a PIL image (the whole image when larger)."""
    if crop is None:
        return image
    width, height = image.size
    cw, ch = min(crop, width), min(crop, height)
    top, left = int(round((height - ch) / 2.0)), int(round((width - cw) / 2.0))
    return image.crop((left, top, left + cw, top + ch))


def gaussian_blur(image, sigma: float, kernel: int = 3):
    """A ``kernel`` × ``kernel`` Gaussian blur of an 8-bit PIL image, as torchvision's."""
    from PIL import Image

    x = np.asarray(image, dtype=np.float32)
    half = (kernel - 1) * 0.5
    taps = np.exp(-0.5 * (np.linspace(-half, half, kernel, dtype=np.float32) / sigma) ** 2)
    taps /= taps.sum()
    pad = kernel // 2
    for axis in (0, 1):  # separable: rows, then columns, each over reflected borders
        padded = np.pad(x, [(pad, pad) if a == axis else (0, 0) for a in range(3)], "reflect")
        length = x.shape[axis]
        x = sum(
            w * np.take(padded, np.arange(j, j + length), axis=axis) for j, w in enumerate(taps)
        )
    pixels = np.clip(np.round(x), 0, 255).astype(np.uint8)
    return Image.fromarray(pixels, mode="RGB")


def augment_draws(n: int, recipe: ImageRecipe) -> tuple[np.ndarray, np.ndarray]:
    """Each image's blur σ and rotation angle (one fixed draw per image, in item order)."""
    rng = np.random.default_rng(recipe.seed)
    sigma = rng.uniform(recipe.blur_sigma[0], recipe.blur_sigma[1], n)
    angle = rng.uniform(recipe.rotation[0], recipe.rotation[1], n)
    return sigma, angle


def prepare_image(path: Path, recipe: ImageRecipe, sigma: float = 0.0, angle: float = 0.0):
    """One image as the backbone sees it: ``3 × size × size`` float, normalised."""
    from PIL import Image

    from rsbench.data.images import RESAMPLING, read_rgb

    image = read_rgb(Path(path))
    if recipe.view == "augmented":
        image = gaussian_blur(image, sigma)
        image = image.rotate(angle, resample=Image.NEAREST, expand=False, fillcolor=(0, 0, 0))
    image = center_crop(image, recipe.center_crop)
    if image.size != (recipe.size, recipe.size):
        image = image.resize((recipe.size, recipe.size), RESAMPLING[recipe.interpolation])
    x = torch.from_numpy(np.asarray(image, dtype=np.float32) / 255.0).permute(2, 0, 1)
    mean, std = NORMALISATIONS[recipe.normalize]
    return (x - torch.tensor(mean).view(3, 1, 1)) / torch.tensor(std).view(3, 1, 1)


def _bar(total: int, desc: str):
    from rsbench.io.progress import bar

    return bar(total=total, desc=desc, unit="item") if total >= 200 else None


@torch.no_grad()
def extract_images(
    paths: Sequence[Path],
    recipe: ImageRecipe,
    *,
    weights_dir: str | Path | None = None,
    device: str = "cpu",
) -> np.ndarray:
    """Run the backbone over every image (what the cache saves)."""
    from rsbench.engine.backbones import load_resnet

    model = load_resnet(recipe.checkpoint, weights_dir).to(device)
    model.train(recipe.batchnorm == "batch")
    n = len(paths)
    sigma, angle = augment_draws(n, recipe)
    order = np.random.RandomState(recipe.seed).permutation(n)
    out: np.ndarray | None = None
    progress = _bar(n, f"extracting image features ({recipe.checkpoint}, {recipe.view})")
    for rows in extraction_batches(order, recipe.batch_size):
        pixels = torch.stack(
            [prepare_image(paths[i], recipe, float(sigma[i]), float(angle[i])) for i in rows]
        )
        pooled = model(pixel_values=pixels.to(device)).pooler_output.flatten(1).float().cpu()
        if out is None:
            out = np.empty((n, pooled.shape[1]), dtype=np.float32)
        out[rows] = pooled.numpy()
        if progress is not None:
            progress.update(len(rows))
    if progress is not None:
        progress.close()
    return out if out is not None else np.zeros((0, 0), dtype=np.float32)


def extraction_batches(order: np.ndarray, batch_size: int) -> list[np.ndarray]:
    """``order`` cut into batches of ``batch_size``; a last batch of one image joins the one
    before it (BatchNorm cannot take the statistics of a single 1 × 1 map)."""
    batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    if len(batches) > 1 and len(batches[-1]) == 1:
        batches[-2:] = [np.concatenate(batches[-2:])]
    return batches


def clean_caption(text: str, recipe: TextRecipe) -> str:
    """A caption as CHNR feeds it to BERT: ``strip`` characters removed, lower-cased."""
    if recipe.strip:
        text = text.translate({ord(c): None for c in recipe.strip})
    return text.lower() if recipe.lowercase else text


@torch.no_grad()
def extract_texts(
    texts: Sequence[str],
    recipe: TextRecipe,
    *,
    weights_dir: str | Path | None = None,
    device: str = "cpu",
    batch_size: int = 128,
) -> np.ndarray:
    """Run BERT over every caption (what the cache saves)."""
    from rsbench.engine.backbones import bert_tokenizer, load_bert

    model = load_bert(recipe.checkpoint, weights_dir).to(device).eval()
    tokenizer = bert_tokenizer(recipe.checkpoint, recipe.max_length, weights_dir)
    if recipe.layers > model.config.num_hidden_layers:
        raise ValueError(
            f"text features sum the last {recipe.layers} hidden states, but "
            f"{recipe.checkpoint} has {model.config.num_hidden_layers} layers"
        )
    n = len(texts)
    parts = []
    progress = _bar(n, f"extracting caption features ({recipe.checkpoint})")
    for start in range(0, n, batch_size):
        chunk = [clean_caption(t, recipe) for t in texts[start : start + batch_size]]
        batch = tokenizer(chunk).to(device)
        hidden = model(
            input_ids=batch.ids, attention_mask=batch.mask.long(), output_hidden_states=True
        ).hidden_states
        summed = torch.stack(hidden[-recipe.layers :]).sum(dim=0)  # B × L × D
        parts.append(pool_tokens(summed, batch.mask, recipe.pool).float().cpu())
        if progress is not None:
            progress.update(len(chunk))
    if progress is not None:
        progress.close()
    if not parts:
        return np.zeros((0, model.config.hidden_size), dtype=np.float32)
    return torch.cat(parts).numpy()


def pool_tokens(states: torch.Tensor, mask: torch.Tensor, pool: str) -> torch.Tensor:
    """``B × L × D`` token states to ``B × D``: the mean over every position, or the real ones."""
    if pool == "all":
        return states.mean(dim=1)
    weights = mask.to(states.dtype).unsqueeze(-1)
    return (states * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1.0)


# ---- evaluation over frozen features ----------------------------------------------------------


class FrozenFeatureRetriever(Retriever):
    """A model over frozen-backbone features: any images and captions are extracted (through
    the cache), encoded by ``model.encode_image`` / ``encode_text`` and scored by
    ``model.score`` in tiles (`ModelScorer`). Identical captions are extracted and encoded once.
    A model with ``hashing = True`` also gives binary codes (`codes`), for the hashing metrics.

    ``image_features`` / ``text_features``: item list → ``N × D`` raw features (cached). A few
    recent lists are kept in memory too, so per-epoch validation reads its features once even
    with the array cache off.
    """

    MEMO_ENTRIES = 4

    def __init__(
        self,
        model: torch.nn.Module,
        image_features: Callable[[list[Path]], np.ndarray],
        text_features: Callable[[list[str]], np.ndarray],
        device: str,
        precision: Precision | None = None,
        batch_size: int = 4096,
    ):
        self.model, self.device, self.batch_size = model, device, batch_size
        self.image_features, self.text_features = image_features, text_features
        self.precision = precision or Precision("fp32", device)
        self._memo: OrderedDict[tuple[str, str], np.ndarray] = OrderedDict()

    def _raw(self, kind: str, items: list, extract: Callable) -> np.ndarray:
        named = (image_item(i) for i in items) if kind == "image" else items
        key = (kind, fingerprint_items(named))
        if key not in self._memo:
            self._memo[key] = np.asarray(extract(items))
            while len(self._memo) > self.MEMO_ENTRIES:
                self._memo.popitem(last=False)
        return self._memo[key]

    @torch.no_grad()
    def _encode(self, raw: np.ndarray, encode: Callable) -> Features:
        self.model.eval()
        keep = self.device if self.device.startswith("cuda") else "cpu"
        parts = []
        for start in range(0, len(raw), self.batch_size):
            x = torch.from_numpy(np.array(raw[start : start + self.batch_size])).to(self.device)
            with self.precision.eval_autocast():
                parts.append(encode(x).float().to(keep))
        if not parts:
            raise ValueError("nothing to encode")
        return Features.cat(parts)

    def encode_images(self, images: Sequence[ImageItem]) -> Features:
        raw = self._raw("image", [i.path for i in images], self.image_features)
        return self._encode(raw, self.model.encode_image)

    def encode_texts(self, texts: Sequence[str]) -> tuple[Features, np.ndarray]:
        """Features of the distinct captions, and each caption's row among them."""
        distinct = list(dict.fromkeys(texts))
        row = {t: i for i, t in enumerate(distinct)}
        index = np.array([row[t] for t in texts], dtype=np.int64)
        raw = self._raw("text", distinct, self.text_features)
        return self._encode(raw, self.model.encode_text), index

    def scorer(self, images: Sequence[ImageItem], texts: Sequence[str]) -> ModelScorer:
        text_features, index = self.encode_texts(texts)
        return ModelScorer(
            self.model,
            self.encode_images(images),
            text_features,
            index,
            self.device,
            self.precision,
        )

    def codes(
        self, images: Sequence[ImageItem], texts: Sequence[str]
    ) -> tuple[np.ndarray, np.ndarray] | None:
        if not getattr(self.model, "hashing", False):
            return None
        image_bits = binary_codes(self.encode_images(images).emb)
        text_features, index = self.encode_texts(texts)
        text_bits = binary_codes(text_features.emb)[torch.from_numpy(index)]
        return image_bits.cpu().numpy().astype(np.int8), text_bits.cpu().numpy().astype(np.int8)

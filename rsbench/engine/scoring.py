"""Evaluation of any `RetrievalModel`: encode each image and caption once, score in tiles.

`ModelRetriever` is what every engine method returns: it encodes the test (or validation)
images and captions once, in batches, and hands a `ModelScorer` to the metrics. The scorer
computes blocks of ``model.score`` tile by tile on the device (``model.eval_tile`` texts ×
images per call), so a score that builds per-pair tensors (RRSITR's token Gram products,
AMFMN's image-conditioned text features) never sees more pairs at once than a tile, and no
large score matrix is ever held.

Captions are encoded and scored once per distinct token sequence: identical captions then get
identical scores (not merely scores equal up to the rounding of whichever BLAS kernel handled
their row), whatever the tile or block sizes, so tie-breaking by index decides between them
deterministically.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from rsbench.engine.features import Features
from rsbench.engine.models import RetrievalModel
from rsbench.engine.pipeline import ImagePipeline
from rsbench.engine.precision import Precision
from rsbench.engine.text import TextBatch, Tokenizer
from rsbench.plugin.components import Retriever, Scorer
from rsbench.plugin.split import ImageItem


def distinct_rows(batch: TextBatch) -> tuple[TextBatch, np.ndarray]:
    """The distinct token sequences of a batch (first occurrences, in order) and each row's one."""
    ids = batch.ids.cpu().numpy()
    mask = batch.mask.cpu().numpy()
    seen: dict[bytes, int] = {}
    inverse = np.empty(len(ids), dtype=np.int64)
    keep = []
    for row in range(len(ids)):
        key = ids[row].tobytes() + mask[row].tobytes()
        index = seen.get(key)
        if index is None:
            index = seen[key] = len(keep)
            keep.append(row)
        inverse[row] = index
    return batch[torch.as_tensor(keep, dtype=torch.long)], inverse


class ModelScorer(Scorer):
    """``model.score`` over encoded features, in tiles on the device, one block at a time."""

    def __init__(
        self,
        model: RetrievalModel,
        images: Features,
        texts: Features,
        text_index: np.ndarray,
        device: str,
        precision: Precision | None = None,
        tile: tuple[int, int] | None = None,
        variant: str | None = None,
    ):
        self.model, self.images, self.texts = model, images, texts
        self.variant = variant
        self.text_index = np.asarray(text_index, dtype=np.int64)
        self.device = device
        self.precision = precision or Precision("fp32", device)
        self.tile = tile or getattr(model, "eval_tile", (4096, 4096))
        self.n_images, self.n_texts = len(images), len(self.text_index)

    @torch.no_grad()
    def distinct_block(self, distinct: np.ndarray, image_rows: slice) -> np.ndarray:
        """Scores of the distinct captions ``distinct`` × ``images[image_rows]``."""
        first, last, _ = image_rows.indices(self.n_images)
        out = np.empty((len(distinct), max(0, last - first)), dtype=np.float32)
        tile_t, tile_i = self.tile
        self.model.eval()
        contiguous = len(distinct) and distinct[-1] - distinct[0] + 1 == len(distinct)
        # image tiles are cut once per block and reused for every text tile, so that what a
        # score caches on a tile (in ``Features.extra``) is computed once
        image_tiles = [
            (i0, self.images[i0 : min(i0 + tile_i, last)].to(self.device))
            for i0 in range(first, last, tile_i)
        ]
        kwargs = {} if self.variant is None else {"variant": self.variant}
        for t0 in range(0, len(distinct), tile_t):
            rows = (
                slice(int(distinct[t0]), int(distinct[min(t0 + tile_t, len(distinct)) - 1]) + 1)
                if contiguous
                else torch.as_tensor(distinct[t0 : t0 + tile_t])
            )
            text = self.texts[rows].to(self.device)
            for i0, image in image_tiles:
                with self.precision.eval_autocast():
                    scores = self.model.score(image, text, **kwargs)
                out[t0 : t0 + len(text), i0 - first : i0 - first + len(image)] = (
                    scores.float().cpu().numpy()
                )
        return out

    def block(self, text_rows: slice, image_rows: slice) -> np.ndarray:
        wanted = self.text_index[text_rows]
        distinct, inverse = np.unique(wanted, return_inverse=True)
        scores = self.distinct_block(distinct, image_rows)
        if len(distinct) == len(wanted) and (distinct == wanted).all():
            return scores
        return scores[inverse]


class ModelRetriever(Retriever):
    """A trained `RetrievalModel` with its tokenizer and image pipeline (what `fit` returns)."""

    def __init__(
        self,
        model: RetrievalModel,
        tokenizer: Tokenizer,
        pipeline: ImagePipeline,
        device: str,
        precision: Precision | None = None,
        batch_size: int = 256,
        trim_text: bool = True,
    ):
        self.model, self.tokenizer, self.pipeline = model, tokenizer, pipeline
        self.device, self.batch_size, self.trim_text = device, batch_size, trim_text
        self.precision = precision or Precision("fp32", device)

    def _keep_on(self) -> str:
        return self.device if self.device.startswith("cuda") else "cpu"

    @torch.no_grad()
    def encode_pixels(self, pixels: np.ndarray) -> Features:
        """Features of an ``N × S × S × 3`` uint8 array decoded at the pipeline's size."""
        self.model.eval()
        parts = []
        for start in range(0, len(pixels), self.batch_size):
            chunk = torch.from_numpy(np.array(pixels[start : start + self.batch_size]))
            batch = self.pipeline.eval_batch(chunk.to(self.device))
            with self.precision.eval_autocast():
                parts.append(self.model.encode_image(batch).float().to(self._keep_on()))
        if not parts:
            raise ValueError("no images to encode")
        return Features.cat(parts)

    def encode_images(self, images: Sequence[ImageItem]) -> Features:
        return self.encode_pixels(self.pipeline.load_eval([i.path for i in images]))

    @torch.no_grad()
    def encode_tokens(self, batch: TextBatch) -> Features:
        self.model.eval()
        parts = []
        for start in range(0, len(batch), self.batch_size):
            chunk = batch[start : start + self.batch_size]
            if self.trim_text:
                chunk = chunk.trim()
            with self.precision.eval_autocast():
                parts.append(
                    self.model.encode_text(chunk.to(self.device)).float().to(self._keep_on())
                )
        if not parts:
            raise ValueError("no captions to encode")
        return _pad_cat(parts)

    def encode_texts(self, texts: Sequence[str]) -> tuple[Features, np.ndarray]:
        """Features of the distinct captions, and each caption's row among them."""
        distinct, index = distinct_rows(self.tokenizer(list(texts)))
        return self.encode_tokens(distinct), index

    def scorer_for_pixels(self, pixels: np.ndarray, texts: Sequence[str]) -> ModelScorer:
        text_features, index = self.encode_texts(texts)
        return ModelScorer(
            self.model,
            self.encode_pixels(pixels),
            text_features,
            index,
            self.device,
            self.precision,
        )

    def scorer(self, images: Sequence[ImageItem], texts: Sequence[str]) -> ModelScorer:
        return self.scorer_for_pixels(self.pipeline.load_eval([i.path for i in images]), texts)

    def diagnostic_scorers(
        self, images: Sequence[ImageItem], texts: Sequence[str]
    ) -> dict[str, ModelScorer]:
        """One scorer per score variant the model names (``score_variants``), for diagnostics
        the runner records beside the metrics (e.g. RRSITR's global-only score)."""
        variants = getattr(self.model, "score_variants", ())
        if not variants:
            return {}
        image_features = self.encode_pixels(self.pipeline.load_eval([i.path for i in images]))
        text_features, index = self.encode_texts(texts)
        return {
            name: ModelScorer(
                self.model,
                image_features,
                text_features,
                index,
                self.device,
                self.precision,
                variant=name,
            )
            for name in variants
        }


def _pad_cat(parts: list[Features]) -> Features:
    """Concatenate text features whose token axes were trimmed to different lengths."""
    if parts[0].tokens is None or len({p.tokens.shape[1] for p in parts}) == 1:
        return Features.cat(parts)
    width = max(p.tokens.shape[1] for p in parts)
    padded = []
    for p in parts:
        extra = width - p.tokens.shape[1]
        tokens = torch.nn.functional.pad(p.tokens, (0, 0, 0, extra))
        mask = None if p.mask is None else torch.nn.functional.pad(p.mask, (0, extra))
        padded.append(Features(p.emb, tokens, mask, p.scales, p.extra))
    return Features.cat(padded)

"""How sure a lead is: paired comparisons of two methods' mR on the same noise files.

Two methods at one noise ratio of one protocol are compared on the cells they share: the same
noise file (its content hash) and the same training seed, so every difference between the two
comes from the method and not from the data or the draw.

- **Several shared seeds: a paired t-test** (two-sided) on the per-seed mR differences. With the
  handful of seeds a grid affords (RRSITR uses five), Wilcoxon's signed-rank test cannot reach
  p < 0.05 at all (its smallest two-sided p with five pairs is 2/32 = 0.0625), and neither can
  a sign-flip permutation test; the t-test can, at the price of assuming roughly normal
  differences, which seed-to-seed variation of a mean recall usually is.
- **One shared seed: a paired bootstrap over test queries.** The test images are resampled
  with replacement (`RESAMPLES` times, from a fixed seed of numpy's frozen legacy generator, so
  a leaderboard is reproducible with any numpy version), each
  drawn image bringing its captions, so the image→text and text→image recalls are resampled
  together and captions of one image stay together. Both methods are scored on the same
  resamples; the p-value is twice the smaller tail of the resampled differences around zero.
  This measures how the lead depends on which test images happened to be drawn, not on the
  training seed: it is the weaker evidence, and is named as such.

`ALPHA` = 0.05 decides what a leaderboard calls significant.

The bootstrap needs each query's hit or miss, so every record carries ``test_hits``
(`encode_hits`): per test image its image→text rank and per caption its text→image rank,
capped at 10 (every recall is at K ≤ 10) and packed in 4 bits each, base64; captions in image
order with the caption counts per image run-length encoded. NWPU-Captions' 18,900 test queries
take 12.6 kB. (The exact ranks go to ``<out>/ranks/<cell_id>.npz``.)
"""

from __future__ import annotations

import base64
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from rsbench.evaluate.retrieval import RANK_CAP, RECALL_KS

ALPHA = 0.05
RESAMPLES = 2000
BOOTSTRAP_SEED = 0
_NONE = 15  # the 4-bit code of "no positive" (rank -1)


# ---- per-query hits, compactly -------------------------------------------------------------


def _pack_nibbles(values: np.ndarray) -> str:
    codes = np.where(values < 0, _NONE, np.minimum(values, RANK_CAP)).astype(np.uint8)
    if len(codes) % 2:
        codes = np.append(codes, np.uint8(_NONE))
    packed = (codes[0::2] << 4) | codes[1::2]
    return base64.b64encode(packed.tobytes()).decode("ascii")


def _unpack_nibbles(text: str, count: int) -> np.ndarray:
    packed = np.frombuffer(base64.b64decode(text.encode("ascii")), dtype=np.uint8)
    codes = np.empty(2 * len(packed), dtype=np.int64)
    codes[0::2], codes[1::2] = packed >> 4, packed & 0x0F
    codes = codes[:count]
    if len(codes) != count:
        raise ValueError(f"test_hits holds {len(codes)} ranks, expected {count}")
    return np.where(codes == _NONE, -1, codes)


def _run_lengths(values: np.ndarray) -> list[list[int]]:
    runs: list[list[int]] = []
    for v in values.tolist():
        if runs and runs[-1][0] == v:
            runs[-1][1] += 1
        else:
            runs.append([int(v), 1])
    return runs


def encode_hits(i2t: np.ndarray, t2i: np.ndarray, caption_image: np.ndarray) -> dict[str, Any]:
    """A record's ``test_hits`` from the evaluator's ranks (`rsbench.evaluate.retrieval.RetrievalRanks`)."""
    caption_image = np.asarray(caption_image, dtype=np.int64)
    order = np.argsort(caption_image, kind="stable")
    counts = np.bincount(caption_image, minlength=len(i2t))
    return {
        "cap": RANK_CAP,
        "images": len(i2t),
        "captions": len(t2i),
        "i2t": _pack_nibbles(np.asarray(i2t)),
        "t2i": _pack_nibbles(np.asarray(t2i)[order]),
        "captions_per_image": _run_lengths(counts),
    }


@dataclass
class Hits:
    """Per test image: image→text ranks, and its captions' text→image ranks (capped)."""

    i2t: np.ndarray  # (images,) -1 where the image has no caption
    t2i: np.ndarray  # (captions,) in image order
    captions_per_image: np.ndarray  # (images,)

    @classmethod
    def decode(cls, data: dict[str, Any]) -> Hits:
        counts = np.array(
            [v for v, n in data["captions_per_image"] for _ in range(n)], dtype=np.int64
        )
        if len(counts) != data["images"] or counts.sum() != data["captions"]:
            raise ValueError("test_hits: caption counts do not match the numbers of queries")
        return cls(
            _unpack_nibbles(data["i2t"], data["images"]),
            _unpack_nibbles(data["t2i"], data["captions"]),
            counts,
        )

    def same_queries(self, other: Hits) -> bool:
        return np.array_equal(self.captions_per_image, other.captions_per_image)

    def per_image(self) -> dict[str, np.ndarray]:
        """Sums per image, from which any resample's recalls follow by a weighted sum."""
        owner = np.repeat(np.arange(len(self.i2t)), self.captions_per_image)
        n = len(self.i2t)
        out = {"i2t_valid": (self.i2t >= 0).astype(float)}
        valid_t2i = self.t2i >= 0
        out["t2i_valid"] = np.bincount(owner, weights=valid_t2i, minlength=n)
        for k in RECALL_KS:
            out[f"i2t@{k}"] = ((self.i2t >= 0) & (self.i2t < k)).astype(float)
            out[f"t2i@{k}"] = np.bincount(owner, weights=valid_t2i & (self.t2i < k), minlength=n)
        return out

    def mean_recall(self, weights: np.ndarray | None = None) -> np.ndarray:
        """mR (percent) for each row of image weights (how often each image was drawn)."""
        sums = self.per_image()
        w = np.ones((1, len(self.i2t))) if weights is None else np.atleast_2d(weights)
        total = np.zeros(len(w))
        for k in RECALL_KS:
            total += (w @ sums[f"i2t@{k}"]) / (w @ sums["i2t_valid"])
            total += (w @ sums[f"t2i@{k}"]) / (w @ sums["t2i_valid"])
        return 100.0 * total / (2 * len(RECALL_KS))


# ---- tests -------------------------------------------------------------------------------


def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction of the incomplete beta function (modified Lentz)."""
    tiny = 1e-300
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 400):
        m2 = 2 * m
        for aa in (
            m * (b - m) * x / ((qam + m2) * (a + m2)),
            -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2)),
        ):
            d = 1.0 + aa * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + aa / c
            c = c if abs(c) > tiny else tiny
            h *= d * c
        if abs(d * c - 1.0) < 1e-15:
            break
    return h


def regularized_beta(a: float, b: float, x: float) -> float:
    """I_x(a, b), the regularized incomplete beta function."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    front = math.exp(
        math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    )
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _betacf(a, b, x) / a
    return 1.0 - front * _betacf(b, a, 1.0 - x) / b


def t_test_p(t: float, df: int) -> float:
    """Two-sided p-value of Student's t statistic with ``df`` degrees of freedom."""
    if math.isinf(t):
        return 0.0
    return regularized_beta(df / 2.0, 0.5, df / (df + t * t))


def paired_t_test(a: Sequence[float], b: Sequence[float]) -> tuple[float, float]:
    """(mean difference a − b, two-sided p) of a paired t-test; needs two pairs or more."""
    d = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    n = len(d)
    if n < 2:
        raise ValueError("a paired t-test needs at least two pairs")
    mean, sd = float(d.mean()), float(d.std(ddof=1))
    if sd == 0.0:
        return mean, 1.0 if mean == 0.0 else 0.0
    return mean, t_test_p(mean / (sd / math.sqrt(n)), n - 1)


def paired_bootstrap(
    a: Hits, b: Hits, resamples: int = RESAMPLES, seed: int = BOOTSTRAP_SEED
) -> tuple[float, float, float, float]:
    """(observed mR difference a − b, 95 % interval low, high, two-sided p) over resamples of
    the test images, each drawn with its captions."""
    if not a.same_queries(b):
        raise ValueError("the two records were evaluated on different test queries")
    n = len(a.i2t)
    observed = float(a.mean_recall()[0] - b.mean_recall()[0])
    # numpy's legacy generator: its stream is frozen across numpy versions, so a leaderboard's
    # p-values are the same wherever it is regenerated (``rsbench leaderboard --check``)
    rng = np.random.RandomState(seed)
    deltas = []
    for start in range(0, resamples, 250):
        rows = min(250, resamples - start)
        drawn = rng.randint(0, n, size=(rows, n)) + n * np.arange(rows)[:, None]
        counts = np.bincount(drawn.ravel(), minlength=rows * n).reshape(rows, n)
        deltas.append(a.mean_recall(counts) - b.mean_recall(counts))
    delta = np.concatenate(deltas)
    low, high = np.quantile(delta, [0.025, 0.975])
    p = min(1.0, 2.0 * min(float(np.mean(delta <= 0)), float(np.mean(delta >= 0))))
    return observed, float(low), float(high), p


# ---- comparing two methods' records ----------------------------------------------------------


@dataclass
class Comparison:
    """One method against the next one below it in mR, at one noise ratio."""

    better: str
    worse: str
    delta: float  # mean mR difference on the shared cells
    test: str | None  # "paired t-test" / "paired bootstrap"; None when none could be made
    n: int  # shared seeds (t-test) or test images (bootstrap)
    p: float | None = None
    why_untested: str = ""

    @property
    def significant(self) -> bool | None:
        return None if self.p is None else self.p < ALPHA


def _pairs(a: list[dict], b: list[dict]) -> list[tuple[dict, dict]]:
    def key(r: dict) -> tuple:
        return (r["seed"], r["noise"].get("file_hash"))

    mine, theirs = {key(r): r for r in a}, {key(r): r for r in b}  # a cell counts once
    return [(mine[k], theirs[k]) for k in sorted(set(mine) & set(theirs), key=str)]


def compare(better: str, worse: str, a: list[dict], b: list[dict]) -> Comparison:
    """Whether ``a``'s records (label ``better``) beat ``b``'s on the cells both ran."""
    pairs = _pairs(a, b)
    if not pairs:
        mean = np.mean([r["metrics"]["mR"] for r in a]) - np.mean([r["metrics"]["mR"] for r in b])
        return Comparison(better, worse, float(mean), None, 0, why_untested="no shared seed")
    ma = [x["metrics"]["mR"] for x, _ in pairs]
    mb = [y["metrics"]["mR"] for _, y in pairs]
    if len(pairs) >= 2:
        delta, p = paired_t_test(ma, mb)
        return Comparison(better, worse, delta, "paired t-test", len(pairs), p)
    (x, y), delta = pairs[0], ma[0] - mb[0]
    if not x.get("test_hits") or not y.get("test_hits"):
        return Comparison(
            better, worse, delta, None, 1, why_untested="one seed, records without per-query hits"
        )
    try:
        hx, hy = Hits.decode(x["test_hits"]), Hits.decode(y["test_hits"])
        if x["dataset"].get("membership_hash") != y["dataset"].get("membership_hash"):
            raise ValueError("different test splits")
        _, _, _, p = paired_bootstrap(hx, hy)
    except (ValueError, KeyError, TypeError):
        return Comparison(better, worse, delta, None, 1, why_untested="different test queries")
    return Comparison(better, worse, delta, "paired bootstrap", len(hx.i2t), p)


def leads(groups: dict[tuple[float, str], list[dict]]) -> dict[float, list[Comparison]]:
    """Per noise ratio, each method against the next one below it in mean mR."""
    out: dict[float, list[Comparison]] = {}
    for ratio in sorted({r for r, _ in groups}):
        ranked = sorted(
            (label for r, label in groups if r == ratio),
            key=lambda label: (
                -float(np.mean([x["metrics"]["mR"] for x in groups[(ratio, label)]])),
                label,
            ),
        )
        out[ratio] = [
            compare(hi, lo, groups[(ratio, hi)], groups[(ratio, lo)])
            for hi, lo in zip(ranked, ranked[1:], strict=False)
        ]
    return out

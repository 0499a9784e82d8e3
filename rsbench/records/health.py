"""Method health: warnings that a cell's result may not mean what its mR says.

A low mR can be a method's honest result or a sign that it never trained as designed (a
threshold calibrated for another loss scale puts every row in one group; a learning rate
diverges; the scores collapse). A ranking is only as trustworthy as its cells, so every record
carries a ``health`` section computed from its history, its detection history and its test
scores, and leaderboards and ``rsbench status`` show the warnings beside the numbers:

- ``degenerate_partition``: one group (clean / noisy / …) holds ≥ 95 % of the training rows at
  every epoch that reports a partition, unless that is the truth (the clean group when at most
  5 % of the rows are noisy, the noisy group when at least 95 % are);
- ``near_chance``: the best validation mR is within 2× of the mR of random scores;
- ``non_finite_loss``: a training loss (or a loss term) was NaN or infinite at some epoch;
- ``no_improvement``: the validation mR never rose above its first epoch's (two epochs or more);
- ``still_improving``: training stopped while the model was still getting better: the last
  epoch has the best validation mR, and it rose by ≥ 5 % of its value over the last half of
  the epochs (from epoch E − ⌊E/2⌋ to E): the budget, not the method, set the number;
- ``collapse``: the test scores of every caption are nearly equal across images (relative
  spread below 10⁻⁴), or not finite.

`check` is a pure function of the record (plus the test-score spread the runner measures), so
records written before health existed are checked the same way when a leaderboard reads them
(``collapse`` needs the spread and is then left out), and a check added after a record was
written is run on it when it is read. Reading records needs no torch.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

DEGENERATE_SHARE = 0.95
CHANCE_FACTOR = 2.0
#: the relative validation gain over the last half of the epochs that counts as still improving
STILL_IMPROVING_GAIN = 0.05
COLLAPSE_SPREAD = 1e-4
#: captions whose scores the runner reads to measure the spread
SPREAD_CAPTIONS = 256

CHECKS = {
    "degenerate_partition": "degenerate partition",
    "near_chance": "near chance",
    "non_finite_loss": "non-finite loss",
    "no_improvement": "no improvement after epoch 1",
    "still_improving": "still improving when training stopped",
    "collapse": "collapsed scores",
}


def chance_mr(images: int, captions: int, ks: Iterable[int] = (1, 5, 10)) -> float:
    """The expected mR (in %) of random scores: R@K of text→image is K / images; image→text
    hits when one of the image's captions/images positives is among K random captions."""
    if images <= 0 or captions <= 0:
        return 0.0
    per_image = max(1, round(captions / images))
    values = []
    for k in ks:
        values.append(min(1.0, k / images))
        miss = 1.0
        for j in range(min(k, captions)):
            miss *= max(0.0, (captions - per_image - j) / (captions - j))
        values.append(1.0 - miss)
    return 100.0 * sum(values) / len(values)


def partitions(record: dict[str, Any]) -> list[dict[str, float]]:
    """Per epoch that reports one, the share of training rows in each group.

    From the history's ``share_<group>`` entries (RRSITR's three partitions), else from the
    detection history's groups (row counts), else from its flagged rate (noisy vs clean)."""
    out = []
    for entry in record.get("history") or []:
        shares = {
            k[len("share_") :]: float(v)
            for k, v in entry.items()
            if k.startswith("share_") and isinstance(v, (int, float))
        }
        if shares:
            out.append(shares)
    if out:
        return out
    for entry in (record.get("detection") or {}).get("history") or []:
        groups = entry.get("groups")
        if isinstance(groups, dict) and groups:
            rows = {g: float((v or {}).get("rows") or 0) for g, v in groups.items()}
            total = sum(rows.values())
            if total > 0:
                out.append({g: n / total for g, n in rows.items()})
                continue
        flagged = entry.get("flagged_rate")
        if isinstance(flagged, (int, float)):
            out.append({"noisy": float(flagged), "clean": 1.0 - float(flagged)})
    return out


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)


def check(record: dict[str, Any], score_spread: float | None = None) -> dict[str, Any]:
    """The ``health`` section of a finished record: ``{"warnings": [{"check", "detail"}],
    "checked": [...], "test_score_spread": x}`` (see the module docstring)."""
    warnings: list[dict[str, str]] = []
    checked = []
    history = record.get("history") or []

    def warn(name: str, detail: str) -> None:
        warnings.append({"check": name, "detail": detail})

    shares = partitions(record)
    if shares:
        checked.append("degenerate_partition")
        noisy_rate = float((record.get("noise") or {}).get("effective_rate") or 0.0)
        for group in sorted(set.intersection(*(set(s) for s in shares))):
            values = [s[group] for s in shares]
            truth = (group == "clean" and noisy_rate <= 1 - DEGENERATE_SHARE) or (
                group == "noisy" and noisy_rate >= DEGENERATE_SHARE
            )
            if min(values) >= DEGENERATE_SHARE and not truth:
                warn(
                    "degenerate_partition",
                    f"'{group}' holds {100 * min(values):.1f}–{100 * max(values):.1f} % of the "
                    f"training rows at every epoch ({len(values)}) against a true noisy share "
                    f"of {100 * noisy_rate:.1f} %: the method trains on that group's loss alone "
                    "(a threshold set for another loss scale does this)",
                )
    val = [e.get("val_mR") for e in history if _finite(e.get("val_mR"))]
    sizes = ((record.get("dataset") or {}).get("sizes") or {}).get("val") or {}
    if val and sizes.get("images"):
        checked.append("near_chance")
        chance = chance_mr(int(sizes["images"]), int(sizes.get("captions") or sizes["images"]))
        if max(val) <= CHANCE_FACTOR * chance:
            warn(
                "near_chance",
                f"best validation mR {max(val):.2f} ≤ {CHANCE_FACTOR:g}× chance ({chance:.2f})",
            )
    if history:
        checked.append("non_finite_loss")
        bad = [
            (e.get("epoch", i + 1), k)
            for i, e in enumerate(history)
            for k, v in e.items()
            if (k == "train_loss" or k.startswith("loss_")) and not _finite(v)
        ]
        if bad:
            epoch, key = bad[0]
            warn("non_finite_loss", f"{key} is not finite at epoch {epoch}")
    if len(val) >= 2:
        checked.append("no_improvement")
        if max(val[1:]) <= val[0]:
            warn(
                "no_improvement",
                f"validation mR {val[0]:.2f} at epoch 1, at most {max(val[1:]):.2f} after",
            )
    if len(val) >= 2:
        checked.append("still_improving")
        first = len(val) - 1 - len(val) // 2  # 0-based: epoch E − ⌊E/2⌋
        gain = val[-1] - val[first]
        if val[-1] >= max(val) and val[-1] > 0 and gain >= STILL_IMPROVING_GAIN * val[-1]:
            warn(
                "still_improving",
                f"validation mR rose from {val[first]:.2f} at epoch {first + 1} to "
                f"{val[-1]:.2f} at epoch {len(val)}, the last and the best",
            )
    out: dict[str, Any] = {"warnings": warnings, "checked": checked}
    if score_spread is not None:
        checked.append("collapse")
        out["test_score_spread"] = score_spread if math.isfinite(score_spread) else None
        if not math.isfinite(score_spread) or score_spread < COLLAPSE_SPREAD:
            warn("collapse", f"relative spread of the test scores {score_spread:.3g}")
    return out


def score_spread(scorer) -> float:
    """How much the test scores vary across images, relative to their size: the median over
    the first `SPREAD_CAPTIONS` captions of (max − min over images), divided by the largest
    absolute score (NaN when a score is not finite)."""
    import numpy as np

    rows = slice(0, min(scorer.n_texts, SPREAD_CAPTIONS))
    block = np.asarray(scorer.block(rows, slice(0, scorer.n_images)), dtype=np.float64)
    if block.size == 0:
        return math.nan
    if not np.isfinite(block).all():
        return math.nan
    scale = float(np.abs(block).max())
    if scale == 0.0:
        return 0.0
    return float(np.median(block.max(axis=1) - block.min(axis=1)) / scale)


def warnings_of(record: dict[str, Any]) -> list[dict[str, str]]:
    """A finished record's health warnings (its own section, or computed for older records)."""
    if record.get("status") != "ok":
        return []
    health = record.get("health")
    if not isinstance(health, dict):
        return check(record)["warnings"]
    stored = [w for w in health.get("warnings") or [] if isinstance(w, dict)]
    done = set(health.get("checked") or [])
    late = [w for w in check(record)["warnings"] if w["check"] not in done]  # checks added since
    return stored + late


def summary(record: dict[str, Any]) -> str:
    """The warnings' short names, ``"near chance; degenerate partition"`` ('' when healthy)."""
    return "; ".join(
        CHECKS.get(w.get("check", ""), str(w.get("check"))) for w in warnings_of(record)
    )

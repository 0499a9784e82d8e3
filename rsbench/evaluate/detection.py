"""Noise-detection metrics: how well a method's per-pair clean scores find the noisy pairs.

A method that estimates which training pairs are clean reports, per row, a *clean score*
(higher = more likely clean) and, optionally, its own clean/noisy *decision*. Against the
ground-truth clean flags of the noise file:

- ``auc``: ROC AUC of the clean scores for separating clean from noisy rows (the probability
  that a random clean row scores above a random noisy one; ties count one half);
- ``precision`` / ``recall`` / ``f1``: of the method's decision, with *noisy* as the positive
  class (precision = share of rows called noisy that are noisy; recall = share of noisy rows
  called noisy);
- ``flagged_rate``: the share of rows the method called noisy.

The metrics are undefined (None) when a class is absent, e.g. AUC at 0 % noise. Rows the method
did not score in an epoch (NaN scores, e.g. the ragged batch an epoch skips) are left out of
that epoch's metrics and counted in ``unscored_rows``.

A method that partitions the rows (RRSITR: clean / ambiguous / noisy) also gets, per group, its
size and the share of truly noisy rows in it (``groups``).
"""

from __future__ import annotations

from typing import Any

import numpy as np


def roc_auc(scores: np.ndarray, positive: np.ndarray) -> float | None:
    """ROC AUC of ``scores`` for the rows where ``positive`` is true (Mann-Whitney, ties halved)."""
    scores = np.asarray(scores, dtype=np.float64)
    positive = np.asarray(positive, dtype=bool)
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if n_pos == 0 or n_neg == 0:
        return None
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores), dtype=np.float64)
    sorted_scores = scores[order]
    # average ranks over ties (1-based)
    boundaries = np.flatnonzero(np.diff(sorted_scores)) + 1
    starts = np.concatenate([[0], boundaries])
    ends = np.concatenate([boundaries, [len(scores)]])
    for s, e in zip(starts.tolist(), ends.tolist(), strict=True):
        ranks[order[s:e]] = (s + 1 + e) / 2.0
    u = ranks[positive].sum() - n_pos * (n_pos + 1) / 2.0
    return float(u / (n_pos * n_neg))


def group_metrics(
    groups: np.ndarray, names: tuple[str, ...], clean_truth: np.ndarray
) -> dict[str, dict[str, Any]]:
    """Per named group: its rows and the share of them that are truly noisy."""
    groups = np.asarray(groups, dtype=np.int64)
    noisy = ~np.asarray(clean_truth, dtype=bool)
    out = {}
    for index, name in enumerate(names):
        members = groups == index
        count = int(members.sum())
        out[name] = {
            "rows": count,
            "noisy_share": float(noisy[members].mean()) if count else None,
        }
    return out


#: bins of the clean-score histograms kept per epoch
HISTOGRAM_BINS = 20


def score_histogram(scores: np.ndarray, truth: np.ndarray, bins: int = HISTOGRAM_BINS) -> dict:
    """The clean scores of truly clean and truly noisy rows, binned alike (equal-width bins
    from the lowest to the highest finite score): ``{"edges", "clean", "noisy"}``. How well
    the two separate is what a threshold on the score (a method's own division) can achieve."""
    scores = np.asarray(scores, dtype=np.float64)
    truth = np.asarray(truth, dtype=bool)
    finite = np.isfinite(scores)
    if not finite.any():
        return {"edges": [], "clean": [], "noisy": []}
    low, high = float(scores[finite].min()), float(scores[finite].max())
    if high <= low:
        high = low + 1.0
    edges = np.linspace(low, high, bins + 1)
    clean, _ = np.histogram(scores[finite & truth], bins=edges)
    noisy, _ = np.histogram(scores[finite & ~truth], bins=edges)
    return {
        "edges": [float(f"{e:.6g}") for e in edges],
        "clean": clean.astype(int).tolist(),
        "noisy": noisy.astype(int).tolist(),
    }


def detection_metrics(
    clean_scores: np.ndarray | None,
    clean_truth: np.ndarray,
    decisions: np.ndarray | None = None,
    groups: np.ndarray | None = None,
    group_names: tuple[str, ...] = (),
) -> dict[str, Any]:
    """AUC of the scores and precision / recall / F1 of the decisions (noisy = positive)."""
    truth = np.asarray(clean_truth, dtype=bool)
    out: dict[str, Any] = {"rows": int(len(truth)), "noisy_rows": int((~truth).sum())}
    scored = np.ones(len(truth), dtype=bool)
    if clean_scores is not None:
        scores = np.asarray(clean_scores, dtype=np.float64)
        if scores.shape != truth.shape:
            raise ValueError(f"{len(scores)} clean scores for {len(truth)} training rows")
        scored = ~np.isnan(scores)
        if not scored.all():
            out["unscored_rows"] = int((~scored).sum())
        out["auc"] = roc_auc(scores[scored], truth[scored])
        out["histogram"] = score_histogram(scores[scored], truth[scored])
    if groups is not None:
        out["groups"] = group_metrics(np.asarray(groups)[scored], tuple(group_names), truth[scored])
    if decisions is not None:
        decisions = np.asarray(decisions, dtype=bool)
        if decisions.shape != truth.shape:
            raise ValueError(f"{len(decisions)} decisions for {len(truth)} training rows")
        truth = truth[scored]
        called_noisy = ~decisions[scored]
        noisy = ~truth
        tp = int((called_noisy & noisy).sum())
        precision = tp / int(called_noisy.sum()) if called_noisy.any() else None
        recall = tp / int(noisy.sum()) if noisy.any() else None
        f1 = (
            2 * precision * recall / (precision + recall)
            if precision is not None and recall is not None and precision + recall > 0
            else (0.0 if precision is not None and recall is not None else None)
        )
        out.update(
            precision=precision, recall=recall, f1=f1, flagged_rate=float(called_noisy.mean())
        )
    return out

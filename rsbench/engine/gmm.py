"""A two-component Gaussian mixture on per-pair losses: the clean/noisy split of NCR.

Noisy pairs are hard to fit, so after a warm-up their training loss stays high: the loss
distribution is bimodal. NCR (Huang et al., NeurIPS 2021) fits a two-component GMM to the
min-max normalised per-pair losses (``max_iter=10, tol=1e-2, reg_covar=5e-4``) and takes the
posterior of the low-mean component as the probability that a pair is clean. Written here in
numpy (one dimension needs no library).
"""

from __future__ import annotations

import numpy as np


def clean_probability(
    losses: np.ndarray, iterations: int = 10, tol: float = 1e-2, reg: float = 5e-4
) -> np.ndarray:
    """Posterior of the lower-mean component of a 2-GMM fitted to min-max-normalised ``losses``."""
    x = np.asarray(losses, dtype=np.float64)
    span = x.max() - x.min() if len(x) else 0.0
    if len(x) < 2 or span <= 0:
        return np.ones(len(x))
    x = (x - x.min()) / span
    means = np.quantile(x, [0.25, 0.75])
    variances = np.full(2, x.var() + reg)
    weights = np.full(2, 0.5)
    previous = -np.inf
    for _ in range(iterations):
        log_p = (
            np.log(weights)
            - 0.5 * np.log(2 * np.pi * variances)
            - (x[:, None] - means) ** 2 / (2 * variances)
        )
        top = log_p.max(axis=1, keepdims=True)
        log_norm = top + np.log(np.exp(log_p - top).sum(axis=1, keepdims=True))
        resp = np.exp(log_p - log_norm)
        totals = resp.sum(axis=0) + 1e-12
        weights = totals / len(x)
        means = (resp * x[:, None]).sum(axis=0) / totals
        variances = (resp * (x[:, None] - means) ** 2).sum(axis=0) / totals + reg
        likelihood = float(log_norm.mean())
        if likelihood - previous < tol:
            break
        previous = likelihood
    return resp[:, int(np.argmin(means))]

"""A two-component Gaussian mixture on per-pair losses: the clean/noisy split of NCR.

Noisy pairs are hard to fit, so after a warm-up their training loss stays high: the loss
distribution is bimodal. NCR (Huang et al., NeurIPS 2021) fits scikit-learn's
``GaussianMixture(n_components=2, max_iter=10, tol=1e-2, reg_covar=5e-4)`` to the min-max
normalised per-pair losses and takes ``predict_proba`` of the lower-mean component as the
probability that a pair is clean; GSC does the same on its structure scores and keeps the
*higher*-mean component. This module calls the same class with the same settings, so the
probabilities are the official codes' own. The official codes pass no ``random_state`` (their
k-means initialisation differs run to run); here it is the training seed, recorded by the
methods that use it (`gmm_info`).

A fit on all 10,000 rows of the small profile's training split takes a few milliseconds
(`benchmarks/bench_nc_family.py` prints it beside an epoch's time).
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

#: NCR's settings (co_train.py ``eval_train``), shared by GSC
NCR_GMM = {"max_iter": 10, "tol": 1e-2, "reg_covar": 5e-4}


def clean_probability(
    values: np.ndarray,
    seed: int = 0,
    clean: Literal["lower", "higher"] = "lower",
    max_iter: int = NCR_GMM["max_iter"],
    tol: float = NCR_GMM["tol"],
    reg_covar: float = NCR_GMM["reg_covar"],
    normalise: bool = True,
) -> np.ndarray:
    """Posterior of the ``clean`` (lower- or higher-mean) component of a two-component GMM
    fitted to the min-max normalised ``values`` (NCR, GSC; NPC fits the raw values:
    ``normalise=False``).

    Constant values (or fewer than two) carry no split: every pair is called clean (1.0), where
    the official code would divide by zero.
    """
    from sklearn.mixture import GaussianMixture

    x = np.asarray(values, dtype=np.float64)
    span = x.max() - x.min() if len(x) else 0.0
    if len(x) < 2 or not span > 0:
        return np.ones(len(x))
    x = ((x - x.min()) / span if normalise else x).reshape(-1, 1)
    gmm = GaussianMixture(
        n_components=2, max_iter=max_iter, tol=tol, reg_covar=reg_covar, random_state=seed
    )
    import warnings

    from sklearn.exceptions import ConvergenceWarning

    with warnings.catch_warnings():  # 10 iterations often stop short of tol: NCR's setting
        warnings.simplefilter("ignore", ConvergenceWarning)
        gmm.fit(x)
    means = gmm.means_.ravel()
    component = int(np.argmin(means) if clean == "lower" else np.argmax(means))
    return gmm.predict_proba(x)[:, component]


def gmm_info(seed: int, **settings: Any) -> dict[str, Any]:
    """What a record says about the mixture: the class, its settings and its seed."""
    return {
        "implementation": "sklearn.mixture.GaussianMixture",
        "n_components": 2,
        **NCR_GMM,
        **settings,
        "random_state": seed,
    }

"""Noise detection: metrics, the GMM split, the detector baseline and the oracle reference row."""

from __future__ import annotations

import numpy as np
import pytest

from rsbench.engine.gmm import clean_probability
from rsbench.evaluate.detection import detection_metrics, roc_auc
from rsbench.plugin.manager import get_plugins
from rsbench.testing import check_method


def test_roc_auc_hand_cases():
    truth = np.array([True, True, False, False])
    assert roc_auc(np.array([0.9, 0.8, 0.2, 0.1]), truth) == 1.0
    assert roc_auc(np.array([0.1, 0.2, 0.8, 0.9]), truth) == 0.0
    assert roc_auc(np.array([0.5, 0.5, 0.5, 0.5]), truth) == 0.5  # ties count one half
    # one clean row (0.6) below one noisy row (0.7): 3 of 4 clean-noisy pairs ordered right
    assert roc_auc(np.array([0.9, 0.6, 0.7, 0.1]), truth) == 0.75
    assert roc_auc(np.array([0.3, 0.4]), np.array([True, True])) is None


def test_precision_recall_f1_with_noisy_as_positive():
    truth = np.array([True, True, True, False, False])  # rows 3, 4 noisy
    decisions = np.array([True, False, True, False, True])  # called noisy: rows 1 and 3
    m = detection_metrics(None, truth, decisions)
    assert m["precision"] == 0.5 and m["recall"] == 0.5 and m["f1"] == 0.5
    assert m["flagged_rate"] == pytest.approx(0.4) and m["noisy_rows"] == 2
    assert "auc" not in m
    assert detection_metrics(np.ones(5), truth)["auc"] == 0.5


def test_gmm_separates_a_bimodal_loss_distribution():
    rng = np.random.default_rng(0)
    clean = rng.normal(1.0, 0.2, size=700)
    noisy = rng.normal(3.0, 0.3, size=300)
    probability = clean_probability(np.concatenate([clean, noisy]))
    assert (probability[:700] > 0.5).mean() > 0.95 and (probability[700:] < 0.5).mean() > 0.95
    assert clean_probability(np.full(10, 2.0)).tolist() == [1.0] * 10


def test_gmm_is_seeded_and_picks_the_component_asked_for():
    rng = np.random.default_rng(1)
    values = np.concatenate([rng.normal(0.2, 0.05, 300), rng.normal(0.8, 0.05, 100)])
    lower = clean_probability(values, seed=3)
    assert np.array_equal(lower, clean_probability(values, seed=3))
    higher = clean_probability(values, seed=3, clean="higher")
    np.testing.assert_allclose(lower + higher, 1.0, atol=1e-12)  # the two posteriors
    assert (higher[300:] > 0.5).all() and (higher[:300] < 0.5).all()


def test_infonce_gmm_reports_clean_scores_and_trains_on_the_kept_rows():
    method = get_plugins().methods.get("infonce_gmm").create({"epochs": 2, "warmup_epochs": 1})
    reported = []
    original = method.report_clean_scores

    def spy(state, estimate):
        reported.append((state.epoch, estimate.scores.copy(), estimate.decisions.copy()))
        original(state, estimate)

    method.report_clean_scores = spy
    check_method(method, ratio=0.4)
    ((epoch, scores, decisions),) = reported  # one report: epoch 2 (after the warm-up)
    assert epoch == 1 and scores.shape == decisions.shape and ((scores >= 0) & (scores <= 1)).all()
    assert (decisions == (scores > 0.5)).all()


def test_oracle_trains_on_ground_truth_clean_rows_and_says_so():
    method = get_plugins().methods.get("infonce").create({"epochs": 1, "oracle": "clean"})
    seen = {}
    original = method.select_rows

    def spy(state):
        rows = original(state)
        seen["rows"] = rows.cpu().numpy()
        seen["clean"] = state.task.clean_flags
        seen["task"] = state.task
        return rows

    method.select_rows = spy
    check_method(method, ratio=0.4)
    assert (seen["rows"] == np.flatnonzero(seen["clean"])).all()
    assert seen["task"].used_ground_truth


def test_the_clean_score_histogram_bins_clean_and_noisy_rows_alike():
    from rsbench.evaluate.detection import score_histogram

    scores = np.array([0.0, 0.1, 0.2, 0.9, 1.0, np.nan])
    truth = np.array([False, False, True, True, True, True])
    hist = score_histogram(scores, truth, bins=2)
    assert hist == {"edges": [0.0, 0.5, 1.0], "clean": [1, 2], "noisy": [2, 0]}
    out = detection_metrics(scores, truth)
    assert sum(out["histogram"]["clean"]) == 3 and sum(out["histogram"]["noisy"]) == 2
    assert score_histogram(np.full(3, np.nan), np.ones(3, bool))["edges"] == []
    flat = score_histogram(np.ones(4), np.array([True, True, False, False]), bins=4)
    assert flat["clean"][0] == 2 and flat["noisy"][0] == 2  # one value: one bin holds all


def test_the_histogram_figure_has_a_panel_per_ratio():
    from rsbench.report.plots import histogram_plots

    def record(ratio, seed):
        hist = {"edges": [0.0, 0.5, 1.0], "clean": [1, 9], "noisy": [8, 2]}
        return {
            "seed": seed,
            "noise": {"ratio": ratio},
            "detection": {"selected": {"histogram": hist}},
        }

    groups = {(0.2, "m"): [record(0.2, 1), record(0.2, 0)], (0.4, "m"): [record(0.4, 0)]}
    groups[(0.2, "plain")] = [{"seed": 0, "detection": None}]
    plots = histogram_plots("sec", "title", groups)
    assert [p.stem for p in plots] == ["sec-scores-m"]
    svg = plots[0].svg.decode()
    assert "20% noise (seed 0)" in svg and "40% noise (seed 0)" in svg and "truly noisy" in svg

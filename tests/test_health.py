"""Method health checks (`rsbench.records.health`): each warning fires on a constructed history that
has the problem and stays silent on a healthy one; leaderboards and status show them."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rsbench.evaluate.retrieval import MatrixScorer
from rsbench.records import health


def record(history, noisy=0.4, detection=None, val=(250, 1250)):
    r = {
        "status": "ok",
        "seed": 0,
        "history": history,
        "noise": {"effective_rate": noisy},
        "dataset": {"sizes": {"val": {"images": val[0], "captions": val[1]}}},
    }
    if detection is not None:
        r["detection"] = {"history": detection}
    return r


def healthy_history():
    return [
        {"epoch": 1, "train_loss": 3.0, "val_mR": 20.0, "share_clean": 0.5, "share_noisy": 0.5},
        {"epoch": 2, "train_loss": 2.0, "val_mR": 30.0, "share_clean": 0.55, "share_noisy": 0.45},
        {"epoch": 3, "train_loss": 1.9, "val_mR": 30.5, "share_clean": 0.56, "share_noisy": 0.44},
    ]


def names(r, spread=None):
    return [w["check"] for w in health.check(r, spread)["warnings"]]


def test_a_healthy_history_has_no_warning_and_says_what_it_checked():
    out = health.check(record(healthy_history()), score_spread=0.3)
    assert out["warnings"] == []
    assert set(out["checked"]) == set(health.CHECKS) and out["test_score_spread"] == 0.3


def test_chance_mr_matches_a_simulation_of_random_scores():
    rng = np.random.default_rng(0)
    images, per = 50, 5
    caption_image = np.repeat(np.arange(images), per)
    from rsbench.evaluate.retrieval import rank_all

    values = []
    for _ in range(20):
        scorer = MatrixScorer(rng.random((images * per, images), dtype=np.float32))
        values.append(rank_all(scorer, caption_image)["plain"].metrics()["mR"])
    assert health.chance_mr(images, images * per) == pytest.approx(np.mean(values), abs=1.5)


def test_every_row_in_one_group_against_the_truth_is_a_degenerate_partition():
    history = healthy_history()
    for e in history:
        e.update(share_clean=0.0003, share_noisy=0.9996, share_ambiguous=0.0001)
    r = record(history, noisy=0.2)
    assert names(r) == ["degenerate_partition"]
    detail = health.check(r)["warnings"][0]["detail"]
    assert "'noisy' holds 100.0–100.0 %" in detail and "a true noisy share of 20.0 %" in detail
    assert "trains on that group's loss alone" in detail
    # one healthy epoch is enough to clear it
    history[1].update(share_clean=0.5, share_noisy=0.5)
    assert names(record(history, noisy=0.2)) == []


def test_all_clean_at_zero_noise_is_the_truth_not_a_degenerate_partition():
    history = [{"epoch": 1, "val_mR": 25.0}, {"epoch": 2, "val_mR": 25.5}]
    detection = [{"epoch": e, "flagged_rate": 0.01} for e in (1, 2)]
    assert names(record(history, noisy=0.0, detection=detection)) == []
    assert names(record(history, noisy=0.4, detection=detection)) == ["degenerate_partition"]
    grouped = [{"epoch": 1, "groups": {"clean": {"rows": 3}, "noisy": {"rows": 9997}}}]
    assert names(record(history, noisy=0.4, detection=grouped)) == ["degenerate_partition"]


def test_near_chance_fires_within_twice_chance_only():
    chance = health.chance_mr(250, 1250)
    history = [{"epoch": 1, "val_mR": 2 * chance - 0.01}, {"epoch": 2, "val_mR": 1.5 * chance}]
    assert "near_chance" in names(record(history))
    history[1]["val_mR"] = 2 * chance + 0.5
    assert "near_chance" not in names(record(history))


@pytest.mark.parametrize("bad", [math.nan, math.inf, None])
def test_a_non_finite_loss_or_loss_term_is_named_with_its_epoch(bad):
    history = healthy_history()
    history[1]["loss_tri"] = bad
    out = health.check(record(history))
    assert [w["check"] for w in out["warnings"]] == ["non_finite_loss"]
    assert out["warnings"][0]["detail"] == "loss_tri is not finite at epoch 2"


def test_no_improvement_after_the_first_epoch():
    history = healthy_history()
    history[1]["val_mR"] = history[2]["val_mR"] = 19.5
    assert names(record(history)) == ["no_improvement"]
    assert names(record(history[:1])) == []  # one epoch: nothing to compare


def test_still_improving_when_training_stopped():
    rising = [{"epoch": e, "val_mR": v} for e, v in enumerate([20.0, 30.0, 32.0, 34.0], 1)]
    assert names(record(rising)) == ["still_improving"]
    detail = health.check(record(rising))["warnings"][0]["detail"]
    assert (
        detail
        == "validation mR rose from 30.00 at epoch 2 to 34.00 at epoch 4, the last and the best"
    )
    rising[3]["val_mR"] = 31.4  # below 5 % over epochs 2–4: a plateau
    assert names(record(rising)) == []
    rising[3]["val_mR"] = 33.0
    rising[2]["val_mR"] = 34.0  # the best epoch is not the last
    assert names(record(rising)) == []
    two = [{"epoch": 1, "val_mR": 40.0}, {"epoch": 2, "val_mR": 44.0}]  # epoch 1 → 2
    assert names(record(two)) == ["still_improving"]


def test_a_check_added_after_a_record_was_written_runs_when_it_is_read():
    r = record([{"epoch": e, "val_mR": v} for e, v in enumerate([20.0, 30.0, 34.0], 1)])
    r["health"] = {"warnings": [], "checked": ["near_chance", "no_improvement"]}
    assert [w["check"] for w in health.warnings_of(r)] == ["still_improving"]
    r["health"]["checked"].append("still_improving")  # checked when written: its verdict stands
    assert health.warnings_of(r) == []


def test_collapsed_or_non_finite_scores():
    scores = np.full((30, 6), 0.7, dtype=np.float32)
    scores += np.random.default_rng(0).normal(0, 1e-7, scores.shape).astype(np.float32)
    spread = health.score_spread(MatrixScorer(scores))
    assert spread < health.COLLAPSE_SPREAD and names(record(healthy_history()), spread) == [
        "collapse"
    ]
    varied = np.random.default_rng(0).random((30, 6), dtype=np.float32)
    spread = health.score_spread(MatrixScorer(varied))
    assert spread > 0.1 and names(record(healthy_history()), spread) == []
    varied[3, 2] = np.nan
    assert math.isnan(health.score_spread(MatrixScorer(varied)))
    assert names(record(healthy_history()), math.nan) == ["collapse"]


def test_leaderboard_marks_warned_results_and_names_the_warnings():
    from rsbench.report.tables import HEALTH_MARK, health_notes, join_marks

    bad = record([{"epoch": 1, "val_mR": 20.0}, {"epoch": 2, "val_mR": 10.0}])
    good = record(healthy_history())
    good["seed"] = 1
    notes = health_notes({(0.4, "m"): [bad, good], (0.2, "m"): [good]})
    assert list(notes) == [(0.4, "m")]
    assert notes[(0.4, "m")] == [
        f"- {HEALTH_MARK} m at 40%: no improvement after epoch 1 (seed 0: validation mR 20.00 "
        "at epoch 1, at most 10.00 after)"
    ]
    assert join_marks({(0.4, "m"): "†", (0.2, "m"): "‡"}, notes) == {
        (0.4, "m"): f"† {HEALTH_MARK}",
        (0.2, "m"): "‡",
    }


def test_a_records_own_health_section_is_what_is_shown():
    r = record([{"epoch": 1, "val_mR": 20.0}, {"epoch": 2, "val_mR": 10.0}])
    r["health"] = {
        "warnings": [{"check": "collapse", "detail": "x"}],
        "checked": list(health.CHECKS),
    }
    assert health.summary(r) == "collapsed scores"
    r["status"] = "failed"
    assert health.summary(r) == ""

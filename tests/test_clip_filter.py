"""clip_filter: the pairs kept, how many, what it trains on and what it reports."""

from __future__ import annotations

import numpy as np
import pytest

from rsbench.evaluate.detection import roc_auc
from rsbench.io.errors import CellError
from rsbench.plugin.manager import get_plugins
from rsbench.testing import check_method
from rsbench_plugins.methods.clip_filter import keep_top


def clip_filter(**options):
    return (
        get_plugins().methods.get("clip_filter").create({"epochs": 1, "batch_size": 16, **options})
    )


def test_keep_top_keeps_the_highest_scores_with_stable_ties():
    scores = np.array([0.1, 0.9, 0.5, 0.9, -0.2])
    assert keep_top(scores, 2).tolist() == [False, True, False, True, False]
    assert keep_top(scores, 3).tolist() == [False, True, True, True, False]
    assert keep_top(np.array([0.3, 0.3, 0.3]), 1).tolist() == [True, False, False]


def spy_fit(method, ratio):
    seen = {}
    original_start, original_select = method.on_fit_start, method.select_rows

    def on_fit_start(state):
        original_start(state)
        seen["estimate"] = state.buffers["filter"]
        seen["info"] = dict(state.buffers["info"]["filter"])
        seen["clean"] = state.task.clean_flags.copy()
        images, texts = state.encode_rows()  # the model as built: nothing trained yet
        seen["cosines"] = (images.emb * texts.emb).sum(1).numpy()

    def select_rows(state):
        rows = original_select(state)
        seen.setdefault("rows", []).append(rows.cpu().numpy())
        return rows

    method.on_fit_start, method.select_rows = on_fit_start, select_rows
    check_method(method, ratio=ratio, clean_estimates=True, deterministic=False)
    return seen


def test_nominal_rule_keeps_one_minus_the_ratio_of_the_most_similar_pairs_and_trains_on_them():
    seen = spy_fit(clip_filter(), ratio=0.4)
    scores, keep = seen["estimate"].scores, seen["estimate"].decisions
    n = len(scores)
    np.testing.assert_allclose(scores, seen["cosines"], atol=1e-5)  # pretrained cosines
    assert keep.sum() == round(0.6 * n) == seen["info"]["kept_rows"]
    assert seen["info"]["noise_ratio_used"] == 0.4 and seen["info"]["rule"] == "nominal"
    assert scores[keep].min() >= scores[~keep].max()
    assert np.array_equal(np.sort(seen["rows"][0]), np.flatnonzero(keep))
    # the pretrained small CLIP already tells the synthetic captions apart
    assert roc_auc(scores, seen["clean"]) > 0.7


def test_gmm_rule_keeps_the_high_component():
    seen = spy_fit(clip_filter(keep_rule="gmm"), ratio=0.4)
    from rsbench.engine.gmm import clean_probability

    scores, keep = seen["estimate"].scores, seen["estimate"].decisions
    expected = clean_probability(scores, seed=0, clean="higher") > 0.5
    assert expected.sum() >= 16 and np.array_equal(keep, expected)
    assert "noise_ratio_used" not in seen["info"] and seen["info"]["gmm"]["random_state"] == 0


def test_fixed_fraction_and_the_one_batch_floor():
    seen = spy_fit(clip_filter(keep_rule="fixed", keep_fraction=0.01), ratio=0.2)
    assert seen["estimate"].decisions.sum() == 16  # 1 % of the rows is less than one batch


def test_nominal_rule_without_a_ratio_is_one_clear_error():
    method = clip_filter()

    class State:
        class task:  # noqa: N801
            noise_ratio = None
            seed = 0

        batch_size = 16

    with pytest.raises(CellError, match="needs the cell's noise ratio"):
        method.kept(np.linspace(0, 1, 40), State())

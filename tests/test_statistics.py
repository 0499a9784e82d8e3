"""Paired comparisons: the t-test against closed forms and tables, the per-query hits against
the evaluator, the bootstrap against explicit resampling, and the leaderboard's marks."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rsbench.evaluate.retrieval import MatrixScorer, rank_all
from rsbench.evaluate.statistics import (
    Hits,
    compare,
    encode_hits,
    paired_bootstrap,
    paired_t_test,
    t_test_p,
)
from rsbench.report.markdown import render_dataset
from tests.test_leaderboard import record, table


@pytest.mark.parametrize("t", [0.3, 1.0, 2.5, 12.706])
def test_t_test_p_matches_the_closed_forms_for_one_and_two_degrees_of_freedom(t):
    assert t_test_p(t, 1) == pytest.approx(1 - 2 / math.pi * math.atan(t), abs=1e-12)
    assert t_test_p(t, 2) == pytest.approx(1 - t / math.sqrt(t * t + 2), abs=1e-12)


@pytest.mark.parametrize(("t", "df"), [(2.776, 4), (2.228, 10), (2.042, 30), (12.706, 1)])
def test_t_test_p_at_the_tables_critical_values_is_five_percent(t, df):
    assert t_test_p(t, df) == pytest.approx(0.05, abs=2e-4)


def test_paired_t_test_by_hand():
    # differences 1, 2, 3: mean 2, sd 1, t = 2 / (1 / sqrt 3) = 3.4641 with 2 degrees of freedom
    delta, p = paired_t_test([11.0, 12.0, 13.0], [10.0, 10.0, 10.0])
    assert delta == 2.0
    assert p == pytest.approx(1 - 3.4641016 / math.sqrt(3.4641016**2 + 2), abs=1e-7)
    assert paired_t_test([1.0, 2.0], [1.0, 2.0]) == (0.0, 1.0)  # no difference at all
    assert paired_t_test([2.0, 3.0], [1.0, 2.0]) == (1.0, 0.0)  # the same lead every time


def random_ranks(seed: int, quality: float):
    """Ranks from a random score matrix in which true pairs get ``quality`` extra, with the
    captions of an image not next to each other."""
    rng = np.random.default_rng(seed)
    caption_image = rng.permutation(np.repeat(np.arange(30), [5] * 28 + [4, 6]))
    scores = rng.random((len(caption_image), 30)).astype(np.float32)
    scores[np.arange(len(caption_image)), caption_image] += quality
    return rank_all(MatrixScorer(scores), caption_image)["plain"], caption_image


def test_hits_are_compact_and_give_the_evaluators_mean_recall():
    ranks, caption_image = random_ranks(0, 0.4)
    encoded = encode_hits(ranks.i2t, ranks.t2i, caption_image)
    assert encoded["captions_per_image"] == [[5, 28], [4, 1], [6, 1]]
    packed_bytes = math.ceil(len(caption_image) / 2)  # 4 bits a query, then base64
    assert len(encoded["t2i"]) == 4 * math.ceil(packed_bytes / 3)
    hits = Hits.decode(encoded)
    assert hits.mean_recall()[0] == pytest.approx(ranks.metrics()["mR"], abs=1e-9)


def test_a_weighted_mean_recall_is_the_recall_of_the_images_drawn_with_their_captions():
    ranks, caption_image = random_ranks(1, 0.3)
    hits = Hits.decode(encode_hits(ranks.i2t, ranks.t2i, caption_image))
    weights = np.random.default_rng(2).multinomial(30, np.full(30, 1 / 30))
    drawn = np.repeat(np.arange(30), weights)  # the resample, image by image
    i2t = np.minimum(ranks.i2t[drawn], 10)
    t2i = np.concatenate([np.minimum(ranks.t2i[caption_image == j], 10) for j in drawn])
    expected = np.mean([100 * np.mean(r < k) for r in (i2t, t2i) for k in (1, 5, 10)])
    assert hits.mean_recall(weights)[0] == pytest.approx(expected, abs=1e-9)


def test_the_paired_bootstrap_tells_a_real_lead_from_none():
    strong, caption_image = random_ranks(3, 2.0)
    weak, _ = random_ranks(4, 0.0)
    a = Hits.decode(encode_hits(strong.i2t, strong.t2i, caption_image))
    b = Hits.decode(encode_hits(weak.i2t, weak.t2i, caption_image))
    delta, low, high, p = paired_bootstrap(a, b)
    assert delta == pytest.approx(strong.metrics()["mR"] - weak.metrics()["mR"])
    assert 0 < low < delta < high and p < 0.001
    assert paired_bootstrap(a, a)[3] == 1.0  # a method against itself
    assert paired_bootstrap(a, b) == paired_bootstrap(a, b)  # seeded: reproducible


def with_hits(r: dict, seed: int, quality: float) -> dict:
    ranks, caption_image = random_ranks(seed, quality)
    r["test_hits"] = encode_hits(ranks.i2t, ranks.t2i, caption_image)
    r["metrics"]["mR"] = ranks.metrics()["mR"]
    return r


def test_compare_uses_a_t_test_with_seeds_and_a_bootstrap_with_one_seed():
    a = [record("a", 0.2, s, 50 + s) for s in range(3)]
    b = [record("b", 0.2, s, 48 + s + (0.5 if s == 1 else 0)) for s in range(3)]
    c = compare("a", "b", a, b)
    assert c.test == "paired t-test" and c.n == 3 and c.significant is not None
    assert (c.delta, c.p) == paired_t_test([50, 51, 52], [48, 49.5, 50])
    best, worst = with_hits(record("a", 0.2, 0, 0), 5, 2.0), with_hits(record("b", 0.2, 0, 0), 6, 0)
    one = compare("a", "b", [best], [worst])
    assert one.test == "paired bootstrap" and one.n == 30 and one.significant
    bare = compare("a", "b", a[:1], b[:1])
    assert bare.test is None and "without per-query hits" in bare.why_untested
    apart = compare("a", "b", a[:1], b[1:2])
    assert apart.test is None and apart.why_untested == "no shared seed"


def test_the_leaderboard_marks_a_lead_that_is_not_significant_and_names_the_test():
    records = [with_hits(record("strong", 0.2, 0, 0), 7, 2.0)]
    records.append(with_hits(record("middle", 0.2, 0, 0), 8, 0.0))  # as good as "weak"
    records.append(with_hits(record("weak", 0.2, 0, 0), 9, 0.0))
    text = render_dataset("toy", records)
    header, *rows = table(text, "### Is each lead significant?")
    assert header == ["Noise", "Method", "Next", "Δ mR", "Test", "n", "p", "Significant"]
    by = {r[1]: r for r in rows}
    assert by["strong"][2] == "middle" and by["strong"][4] == "paired bootstrap"
    assert by["strong"][5] == "30 test images" and by["strong"][7] == "yes"
    assert by["middle"][2] == "weak" and by["middle"][7] == "no"
    mr = {r[0]: r[1] for r in table(text, "### mR by noise ratio")[1:]}
    assert not mr["strong"].endswith("†")  # a significant lead is not marked
    assert mr["middle"].endswith(" †") and not mr["weak"].endswith("†")  # the last has no next
    assert "paired bootstrap over the test images" in text and "paired t-test" in text


def test_the_json_export_carries_each_comparison():
    import json

    from rsbench.report.board import board_artefacts, build_board

    records = [with_hits(record("strong", 0.2, 0, 0), 7, 2.0)]
    records.append(with_hits(record("weak", 0.2, 0, 0), 9, 0.0))
    files = board_artefacts(build_board("toy", records), ["json"])
    (doc,) = [json.loads(v) for k, v in files.items() if k.endswith(".json")]
    (row,) = doc["sections"][0]["significance"]
    assert row["method"] == "strong" and row["next"] == "weak"
    assert row["test"] == "paired bootstrap" and row["n"] == 30 and row["significant"] is True

"""Search spaces (`rsbench.plugin.searchspace`) and their conformance check."""

from __future__ import annotations

import dataclasses
import math

import pytest

from rsbench.plugin.components import Method
from rsbench.plugin.manager import get_plugins
from rsbench.plugin.searchspace import (
    Choice,
    Fixed,
    IntRange,
    LogUniform,
    Uniform,
    describe,
    sample,
)
from rsbench.testing import ConformanceError, check_search_space

BUILT_IN = [
    "infonce",
    "vse",
    "infonce_gmm",
    "rrsitr",
    "msa",
    "amfmn",
    "chnr",
    "duch",
    "ncr",
    "clip_filter",
    "npc",
    "gsc",
]


@pytest.mark.parametrize("name", BUILT_IN)
def test_every_built_in_method_declares_a_valid_space_per_profile(name):
    cls = get_plugins().methods.get(name).resolve()
    assert set(cls.SEARCH_SPACES) == set(cls.PROFILES) == {"small", "paper"}
    assert all(len(cls.search_space(p)) >= 3 for p in cls.PROFILES)
    assert check_search_space(cls, draws=16) == 2 * 17


SPACE = {
    "lr": LogUniform(1e-5, 1e-2),
    "w": Uniform(0.0, 1.0),
    "n": IntRange(2, 4),
    "kind": Choice(["a", "b"]),
    "scale": Fixed("chance"),
}


def test_trial_zero_is_the_defaults_and_draws_are_seeded_and_in_range():
    assert sample(SPACE, 0, 0) == {}
    draws = [sample(SPACE, 7, t) for t in range(1, 200)]
    assert draws[0] == sample(SPACE, 7, 1) and draws[0] != sample(SPACE, 8, 1)
    assert all(1e-5 <= d["lr"] <= 1e-2 and 0 <= d["w"] <= 1 for d in draws)
    assert {d["n"] for d in draws} == {2, 3, 4} and {d["kind"] for d in draws} == {"a", "b"}
    assert {d["scale"] for d in draws} == {"chance"}
    logs = sorted(math.log10(d["lr"]) for d in draws)  # log-uniform: median near -3.5
    assert -4.0 < logs[len(logs) // 2] < -3.0
    assert (
        describe(SPACE)["lr"] == "log-uniform 1e-05–0.01" and describe(SPACE)["scale"] == "= chance"
    )


class Toy(Method):
    name = "toy"
    PROFILES = {"small": {"lr": 1e-3}}

    @dataclasses.dataclass
    class Options:
        lr: float = 1e-3
        low: float = 0.1
        high: float = 0.9

        def __post_init__(self):
            if not self.low < self.high:
                raise ValueError(f"need low < high, got {self.low} and {self.high}")

    def fit(self, task):  # pragma: no cover - never trained here
        raise NotImplementedError


def with_space(space, profiles=("small",)):
    return type("ToyWithSpace", (Toy,), {"SEARCH_SPACES": {p: space for p in profiles}})


def test_a_space_that_names_no_option_or_draws_an_invalid_point_fails_the_check():
    assert check_search_space(with_space({"lr": LogUniform(1e-4, 1e-2)})) == 33
    with pytest.raises(ConformanceError, match="names option 'lrate', which the method does not"):
        check_search_space(with_space({"lrate": LogUniform(1e-4, 1e-2)}))
    overlapping = with_space({"low": Uniform(0.0, 1.0), "high": Uniform(0.0, 1.0)})
    with pytest.raises(
        ConformanceError, match=r"trial \d+ of the search space, .* need low < high"
    ):
        check_search_space(overlapping)
    with pytest.raises(ConformanceError, match="empty range 1..0"):
        check_search_space(with_space({"lr": Uniform(1, 0)}))
    with pytest.raises(ConformanceError, match="profiles it does not have: paper"):
        check_search_space(with_space({"lr": Uniform(0, 1)}, ("small", "paper")))

"""Search spaces: the hyperparameter distributions a method declares beside its options.

A method's paper values were chosen for the paper's backbone, loss scale and budget; on
another backbone they can leave a method far from working (a threshold that every pair's loss
exceeds). A fair comparison therefore gives every method the same search budget over its own
declared space (the DomainBed protocol: the defaults are trial 0, then seeded random draws).
A method declares, per profile, a mapping of option name → distribution::

    from rsbench.plugin.searchspace import Choice, Fixed, IntRange, LogUniform, Uniform

    class MyMethod(DualEncoderMethod):
        SEARCH_SPACES = {
            "small": {
                "lr": LogUniform(1e-5, 1e-3),
                "epochs": IntRange(2, 6),
                "margin": Uniform(0.05, 0.5),
                "loss": Choice(["hinge", "infonce"]),
                "threshold_scale": Fixed("chance"),  # every draw uses the scale-free form
            },
        }

Every drawn point, applied over the profile's values, must be a valid ``Options`` (the
conformance check `rsbench.testing.check_search_space` draws many and parses each). Options
not in the space keep the profile's value. `sample` draws with a seeded generator, without
Optuna; `suggest` asks an Optuna trial for the same distributions (Optuna is imported only
there).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Any

from rsbench.io.errors import RsbenchError


@dataclass(frozen=True)
class Uniform:
    low: float
    high: float

    def draw(self, rng: random.Random) -> float:
        return rng.uniform(self.low, self.high)

    def suggest(self, trial, name: str) -> float:
        return trial.suggest_float(name, self.low, self.high)


@dataclass(frozen=True)
class LogUniform:
    low: float
    high: float

    def draw(self, rng: random.Random) -> float:
        return math.exp(rng.uniform(math.log(self.low), math.log(self.high)))

    def suggest(self, trial, name: str) -> float:
        return trial.suggest_float(name, self.low, self.high, log=True)


@dataclass(frozen=True)
class IntRange:
    """An integer from ``low`` to ``high``, both included."""

    low: int
    high: int

    def draw(self, rng: random.Random) -> int:
        return rng.randint(self.low, self.high)

    def suggest(self, trial, name: str) -> int:
        return trial.suggest_int(name, self.low, self.high)


@dataclass(frozen=True)
class Choice:
    values: tuple

    def __init__(self, values):
        object.__setattr__(self, "values", tuple(values))

    def draw(self, rng: random.Random) -> Any:
        return rng.choice(self.values)

    def suggest(self, trial, name: str) -> Any:
        return trial.suggest_categorical(name, list(self.values))


@dataclass(frozen=True)
class Fixed:
    """One value for every draw (not for trial 0, which keeps the defaults)."""

    value: Any

    def draw(self, rng: random.Random) -> Any:
        return self.value

    def suggest(self, trial, name: str) -> Any:
        return self.value


DISTRIBUTIONS = (Uniform, LogUniform, IntRange, Choice, Fixed)


def check_space(space: dict[str, Any], fields: set[str], where: str) -> None:
    """Refuse a space naming an option the method does not have, or an unknown distribution,
    or an empty range, with one line."""
    for name, dist in space.items():
        if name not in fields:
            raise RsbenchError(
                f"{where}: the search space names option {name!r}, which the method does not "
                f"have; valid: {', '.join(sorted(fields))}"
            )
        if not isinstance(dist, DISTRIBUTIONS):
            raise RsbenchError(
                f"{where}: option {name!r} has {dist!r} as its distribution; valid: "
                + ", ".join(d.__name__ for d in DISTRIBUTIONS)
            )
        low, high = getattr(dist, "low", 0), getattr(dist, "high", 0)
        if low > high or (isinstance(dist, LogUniform) and low <= 0):
            raise RsbenchError(f"{where}: option {name!r} has an empty range {low}..{high}")
        if isinstance(dist, Choice) and not dist.values:
            raise RsbenchError(f"{where}: option {name!r} has no value to choose from")


def sample(space: dict[str, Any], seed: int, trial: int) -> dict[str, Any]:
    """The option overrides of random-search trial ``trial`` (0: none, the defaults)."""
    if trial == 0:
        return {}
    rng = random.Random(f"{seed}:{trial}")  # each trial its own stream: trials are independent
    return {name: dist.draw(rng) for name, dist in sorted(space.items())}


def suggest(space: dict[str, Any], trial) -> dict[str, Any]:
    """The option overrides an Optuna trial suggests over ``space``."""
    return {name: dist.suggest(trial, name) for name, dist in sorted(space.items())}


def format_point(options: dict[str, Any]) -> str:
    """``name=value, …`` in name order, floats to three significant digits ('' when empty)."""
    return ", ".join(
        f"{k}={f'{v:.3g}' if isinstance(v, float) else v}" for k, v in sorted(options.items())
    )


def describe(space: dict[str, Any]) -> dict[str, str]:
    """Option name → a short text of its distribution, for cards and leaderboards."""
    out = {}
    for name, d in sorted(space.items()):
        if isinstance(d, LogUniform):
            out[name] = f"log-uniform {d.low:g}–{d.high:g}"
        elif isinstance(d, Uniform):
            out[name] = f"uniform {d.low:g}–{d.high:g}"
        elif isinstance(d, IntRange):
            out[name] = f"integer {d.low}–{d.high}"
        elif isinstance(d, Choice):
            out[name] = "one of " + ", ".join(map(str, d.values))
        else:
            out[name] = f"= {d.value}"
    return out

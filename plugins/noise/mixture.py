"""Weighted mixtures written as ``"a:0.6,b:0.3,c:0.1"`` or as a mapping, and exact shares.

Used by `compound` (a mixture of noise models) and `degenerate` (a mixture of forms). Shares
are exact, not sampled: ``allocate(100, {a: 0.6, b: 0.4})`` is 60 and 40, so a test can check
the proportions and two seeds differ only in which rows get which part.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping


def parse_mixture(value: str | Mapping[str, float], valid: Iterable[str], what: str) -> dict:
    """The weights of ``value`` normalised to sum to 1, keeping the order written.

    Raises ValueError naming the bad part and the valid names.
    """
    valid = list(valid)
    if isinstance(value, str):
        pairs = []
        for part in (p.strip() for p in value.split(",")):
            if not part:
                continue
            name, sep, weight = part.partition(":")
            if not sep:
                raise ValueError(f"{what} {part!r} needs a weight, as in '{part}:0.5'")
            try:
                pairs.append((name.strip(), float(weight)))
            except ValueError:
                raise ValueError(
                    f"{what} {name.strip()!r} has weight {weight!r}, not a number"
                ) from None
    elif isinstance(value, Mapping):
        pairs = []
        for name, weight in value.items():
            if isinstance(weight, bool) or not isinstance(weight, (int, float)):
                raise ValueError(f"{what} {name!r} has weight {weight!r}, not a number")
            pairs.append((str(name), float(weight)))
    else:
        raise ValueError(f"a {what} mixture is a string 'a:0.6,b:0.4' or a mapping")
    if not pairs:
        raise ValueError(f"the {what} mixture is empty; valid: {', '.join(valid)}")
    seen: set[str] = set()
    for name, weight in pairs:
        if name not in valid:
            raise ValueError(f"unknown {what} {name!r}; valid: {', '.join(valid)}")
        if name in seen:
            raise ValueError(f"{what} {name!r} appears twice in the mixture")
        if not math.isfinite(weight) or weight < 0:
            raise ValueError(f"{what} {name!r} has weight {weight}; weights must be >= 0")
        seen.add(name)
    total = sum(w for _, w in pairs)
    if total <= 0:
        raise ValueError(f"the {what} weights sum to 0")
    return {name: w / total for name, w in pairs}


def allocate(n: int, weights: Mapping[str, float]) -> dict[str, int]:
    """Split ``n`` into integer shares proportional to ``weights`` (largest remainder).

    Ties in the remainders go to the part written first, so the result is deterministic.
    """
    total = sum(weights.values())
    exact = {k: n * w / total for k, w in weights.items()} if total else dict.fromkeys(weights, 0)
    shares = {k: int(math.floor(v)) for k, v in exact.items()}
    order = sorted(weights, key=lambda k: -(exact[k] - shares[k]))  # stable: first written wins
    for k in order[: n - sum(shares.values())]:
        shares[k] += 1
    return shares

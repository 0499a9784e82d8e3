"""The search-space check: every point a method's declared space can give is a valid method."""

from __future__ import annotations

import dataclasses

from rsbench.io.errors import RsbenchError
from rsbench.plugin.components import Method
from rsbench.plugin.searchspace import check_space, sample
from rsbench.testing.rules import ConformanceError, check_options


def check_search_space(method_cls: type[Method], draws: int = 32, seed: int = 0) -> int:
    """For every profile with a declared space (`Method.SEARCH_SPACES`): the space names only
    real options with valid distributions, and trial 0 (the profile's values) and ``draws``
    seeded random draws each build the method with options that pass `check_options`. Returns
    the number of points checked; raises `ConformanceError` naming the profile, the point and
    the error otherwise."""
    name = getattr(method_cls, "name", "") or method_cls.__name__
    fields = {f.name for f in dataclasses.fields(method_cls.Options) if f.init}
    unknown = sorted(set(method_cls.SEARCH_SPACES) - set(method_cls.PROFILES))
    if unknown:
        raise ConformanceError(
            f"{name}: SEARCH_SPACES names profiles it does not have: {', '.join(unknown)}"
        )
    checked = 0
    for profile in method_cls.SEARCH_SPACES:
        space = method_cls.search_space(profile)
        try:
            check_space(space, fields, f"{name} ({profile} profile)")
        except RsbenchError as exc:
            raise ConformanceError(str(exc)) from None
        for trial in range(draws + 1):
            point = sample(space, seed, trial)
            given = {"profile": profile, **point} if "profile" in fields else point
            try:
                method = method_cls(**given)
            except (RsbenchError, ValueError, TypeError) as exc:
                raise ConformanceError(
                    f"{name} ({profile} profile): trial {trial} of the search space, {point}, "
                    f"is not a valid method: {exc}"
                ) from None
            check_options(method)
            checked += 1
    return checked

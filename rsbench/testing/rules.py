"""What every conformance check shares: its error, and the rules about options.

A broken rule raises `ConformanceError` (an ``AssertionError``, so pytest shows it as a test
failure) whose message names the component, the rule and what was found. Checks never use
``assert`` statements, so they hold under ``python -O`` too.
"""

from __future__ import annotations

import json
import pickle
from typing import Any

from rsbench.plugin.components import Component


class ConformanceError(AssertionError):
    """A component breaks the plugin contract (the message says which rule and how)."""


def label(component: Any) -> str:
    """The name a check calls a component by: its registered name, else its class."""
    name = getattr(component, "name", "") or type(component).__name__
    return f"{type(component).__name__} {name!r}" if name != type(component).__name__ else name


def require(condition: Any, component: Any, message: str) -> None:
    if not condition:
        raise ConformanceError(f"{label(component)}: {message}")


def check_options(component: Component) -> None:
    """Options are recorded: JSON values, every field listed, and they rebuild the component.

    ``params()`` goes into every record and ``identity_params()`` into the cell id, so both
    must be plain JSON; a component built again from its ``params()`` must have the same
    options, or a record could not say how its result was made.
    """
    require(isinstance(component, Component), component, "is not an rsbench component")
    params = component.params()
    for what, value in (("params()", params), ("identity_params()", component.identity_params())):
        try:
            json.dumps(value, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise ConformanceError(
                f"{label(component)}: {what} is not plain JSON ({exc})"
            ) from None
    identity = component.identity_params()
    require(
        set(identity) <= set(params),
        component,
        f"identity_params() names options params() lacks: {sorted(set(identity) - set(params))}",
    )
    again = type(component)(**params).params()
    require(
        again == params,
        component,
        "built again from its params() it has other options "
        f"({_first_difference(params, again)}): an option is changed after parsing or not recorded",
    )


def _first_difference(a: dict[str, Any], b: dict[str, Any]) -> str:
    for key in sorted(set(a) | set(b)):
        if a.get(key) != b.get(key):
            return f"{key}: {a.get(key)!r} -> {b.get(key)!r}"
    return "none"


def instance_state(component: Any) -> dict[str, Any]:
    """A comparable snapshot of the instance's attributes (pickled where possible)."""
    state = {}
    for key, value in vars(component).items():
        try:
            state[key] = pickle.dumps(value, protocol=4)
        except Exception:  # a function or a lock: compared by identity
            state[key] = ("object", id(value))
    return state


def check_unchanged(component: Any, before: dict[str, Any], during: str) -> None:
    """No attribute of the instance was added, removed or changed by ``during``."""
    after = instance_state(component)
    changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
    require(
        not changed,
        component,
        f"{during} changed the instance's attributes {changed}: keep per-fit state in the fit "
        "(locals, the model, state.buffers), never on self, so that one instance can run "
        "every cell of a grid",
    )

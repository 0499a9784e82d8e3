"""`check_registered`: the installed plugin registers a component and loads without errors."""

from __future__ import annotations

from typing import Any, Literal

from rsbench.testing.rules import ConformanceError

#: ``kind`` -> key of `rsbench.plugin.manager.Plugins.registries`
KINDS = {"method": "methods", "dataset": "datasets", "noise": "noise"}


def check_registered(name: str, kind: Literal["method", "dataset", "noise"] = "method") -> Any:
    """The registry entry of ``name``, after checking that the plugin that registers it is clean.

    Fails when no installed plugin registers ``name`` (is the package installed, with
    ``pip install -e .``?), when its plugin reported errors (import, hook, duplicate names), or
    when its class cannot be imported. Returns the `rsbench.plugin.registry.Entry`; ``.create()``
    builds the component as a grid would.
    """
    from rsbench.io.errors import RsbenchError
    from rsbench.plugin.manager import get_plugins

    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
    plugins = get_plugins()
    registry = plugins.registries[KINDS[kind]]
    if name not in registry:
        broken = "; ".join(f"{i.name}: {i.errors[0]}" for i in plugins.failures())
        raise ConformanceError(
            f"no installed plugin registers the {kind} {name!r} (is the package installed, "
            f"e.g. 'pip install -e .'?)" + (f"; broken plugins: {broken}" if broken else "")
        )
    entry = registry.get(name)
    info = plugins.infos.get(entry.plugin)
    if info is not None and info.errors:
        raise ConformanceError(f"plugin {entry.plugin!r} reported errors: {'; '.join(info.errors)}")
    try:
        entry.resolve()
    except RsbenchError as exc:
        raise ConformanceError(str(exc)) from None
    return entry

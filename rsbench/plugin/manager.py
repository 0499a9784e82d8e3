"""The one place that owns the pluggy `PluginManager` and turns plugins into registries.

Plugins are modules named in the ``rsbench`` entry-point group, first-party ones included
(`rsbench_plugins.*`). Each is imported, validated and asked to register inside its own
try/except: a broken plugin is recorded (and shown by ``rsbench plugins``) while everything
else keeps working.

Environment:
- ``RSBENCH_LOAD_PLUGINS``: comma-separated entry-point or distribution names to load;
  unset loads all, empty loads none. ``RSBENCH_LOAD_PLUGINS=rsbench`` keeps only first-party.
- ``RSBENCH_STRICT_PLUGINS=1``: re-raise the first plugin error (for plugin authors).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

import pluggy

from rsbench.plugin import hookspecs
from rsbench.plugin.registry import Registry

ENTRY_POINT_GROUP = "rsbench"

#: hook name -> (registry kind, key in `Plugins.registries`)
HOOKS = {
    "register_methods": ("method", "methods"),
    "register_datasets": ("dataset", "datasets"),
    "register_noise_models": ("noise model", "noise"),
    "register_executors": ("executor", "executors"),
}


@dataclass
class PluginInfo:
    """What `rsbench plugins` shows for one plugin."""

    name: str
    distribution: str | None
    version: str | None
    hooks: list[str] = field(default_factory=list)
    components: dict[str, list[str]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    @property
    def source(self) -> str:
        """Where the plugin comes from, for messages: ``rsbench-foo 0.2`` ("" without one)."""
        return f"{self.distribution} {self.version}" if self.distribution else ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "distribution": self.distribution,
            "version": self.version,
            "hooks": sorted(self.hooks),
            "components": {k: sorted(v) for k, v in sorted(self.components.items()) if v},
            "errors": self.errors,
        }


class Plugins:
    """Loaded plugins and the component registries they filled."""

    def __init__(self) -> None:
        self.pm = pluggy.PluginManager("rsbench")
        self.pm.add_hookspecs(hookspecs)
        self.registries = {key: Registry(kind) for kind, key in HOOKS.values()}
        self.infos: dict[str, PluginInfo] = {}
        #: names in ``RSBENCH_LOAD_PLUGINS`` that match no installed plugin or distribution
        self.unmatched_requests: list[str] = []
        self.installed: list[str] = []

    @property
    def methods(self) -> Registry:
        return self.registries["methods"]

    @property
    def datasets(self) -> Registry:
        return self.registries["datasets"]

    @property
    def noise_models(self) -> Registry:
        return self.registries["noise"]

    @property
    def executors(self) -> Registry:
        return self.registries["executors"]

    def failures(self) -> list[PluginInfo]:
        return [info for info in self.infos.values() if info.errors]

    def load(self, entry_points: Iterable[metadata.EntryPoint]) -> None:
        strict = os.environ.get("RSBENCH_STRICT_PLUGINS", "") not in ("", "0")
        for ep in entry_points:
            dist = getattr(ep, "dist", None)
            info = PluginInfo(ep.name, dist.name if dist else None, dist.version if dist else None)
            self.infos[ep.name] = info
            try:
                module = ep.load()
                self.pm.register(module, name=ep.name)
            except Exception as exc:
                info.errors.append(f"import failed: {type(exc).__name__}: {exc}")
                if strict:
                    raise
                continue
            try:
                self.pm.check_pending()  # a misspelled hook name is an error, not silence
            except pluggy.PluginValidationError as exc:
                self.pm.unregister(name=ep.name)
                info.errors.append(f"invalid hook: {exc}")
                if strict:
                    raise
                continue
            info.hooks = sorted(
                hook.name for hook in self.pm.get_hookcallers(module) or [] if hook.name in HOOKS
            )
        self._call_register_hooks(strict)

    def _register_function(self, key: str, plugin: str):
        registry = self.registries[key]
        source = self.infos[plugin].source

        def register(name, target, *, version=None, description=None):
            registry.add(
                name,
                target,
                plugin=plugin,
                version=version,
                description=description,
                source=source,
            )
            self.infos[plugin].components.setdefault(key, []).append(name)

        return register

    def _call_register_hooks(self, strict: bool) -> None:
        # Each implementation is called on its own, so one that raises loses only itself.
        for hook_name, (_kind, key) in HOOKS.items():
            for impl in getattr(self.pm.hook, hook_name).get_hookimpls():
                info = self.infos[impl.plugin_name]

                register = self._register_function(key, impl.plugin_name)
                try:
                    impl.function(register=register)
                except Exception as exc:
                    info.errors.append(f"{hook_name} failed: {type(exc).__name__}: {exc}")
                    if strict:
                        raise
        for registry in self.registries.values():
            for name, plugins in registry.conflicts().items():
                for plugin in sorted(set(plugins)):
                    others = ", ".join(sorted({p for p in plugins if p != plugin}))
                    also = (
                        f"also registered by {others}"
                        if others
                        else "registered twice by this plugin"
                    )
                    message = f"duplicate {registry.kind} name {name!r} ({also}); it is not usable"
                    if plugin in self.infos:
                        self.infos[plugin].errors.append(message)
                    if strict:
                        raise RuntimeError(message)


def _installed_entry_points() -> list[metadata.EntryPoint]:
    return sorted(metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda ep: ep.name)


def _selected_entry_points() -> list[metadata.EntryPoint]:
    eps = _installed_entry_points()
    wanted = os.environ.get("RSBENCH_LOAD_PLUGINS")
    if wanted is None:
        return eps
    names = {n.strip() for n in wanted.split(",") if n.strip()}
    return [ep for ep in eps if ep.name in names or (ep.dist is not None and ep.dist.name in names)]


def _note_requests(plugins: Plugins) -> None:
    """Remember the names of ``RSBENCH_LOAD_PLUGINS`` that select nothing (for a warning)."""
    eps = _installed_entry_points()
    known = {ep.name for ep in eps} | {ep.dist.name for ep in eps if ep.dist is not None}
    wanted = os.environ.get("RSBENCH_LOAD_PLUGINS") or ""
    plugins.installed = sorted(known)
    plugins.unmatched_requests = sorted({n.strip() for n in wanted.split(",") if n.strip()} - known)


_plugins: Plugins | None = None


def get_plugins() -> Plugins:
    """The loaded plugins (loaded on first call)."""
    global _plugins
    if _plugins is None:
        plugins = Plugins()
        plugins.load(_selected_entry_points())
        _note_requests(plugins)
        _plugins = plugins
    return _plugins


def load_plugins(entry_points: Iterable[metadata.EntryPoint] | None = None) -> Plugins:
    """(Re)load plugins, from the given entry points or from the environment's."""
    global _plugins
    plugins = Plugins()
    plugins.load(_selected_entry_points() if entry_points is None else entry_points)
    if entry_points is None:
        _note_requests(plugins)
    _plugins = plugins
    return plugins


def reset_plugins() -> None:
    """Forget loaded plugins, so the next `get_plugins()` reads the environment again."""
    global _plugins
    _plugins = None

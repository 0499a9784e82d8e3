"""Component registries: name -> entry with provenance, resolved lazily.

One `Registry` per component kind. Entries keep the plugin that registered them, so that a
duplicate name is reported with both plugins, and an entry whose target fails to import is
reported with the plugin at fault.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any

from rsbench.io.errors import RsbenchError, UnknownComponentError
from rsbench.plugin.names import name_problem


class RegistrationError(Exception):
    """A plugin called `register` wrongly; recorded as that plugin's failure."""


@dataclass
class Entry:
    """One registered component, before or after its target is imported."""

    kind: str
    name: str
    target: Any  # a class, or a "module:Class" string until resolved
    version: str
    description: str
    plugin: str
    #: the plugin's distribution and version (``rsbench-foo 0.2``), for messages and records
    source: str = ""
    _resolved: Any = field(default=None, repr=False)

    @property
    def origin(self) -> str:
        """``plugin foo, rsbench-foo 0.2``: who to blame for a failure."""
        return f"plugin {self.plugin}, {self.source}" if self.source else f"plugin {self.plugin}"

    @property
    def lazy(self) -> bool:
        return isinstance(self.target, str)

    def resolve(self) -> type:
        """Import the target (once) and return the class."""
        if self._resolved is not None:
            return self._resolved
        if not self.lazy:
            self._resolved = self.target
            return self._resolved
        module_name, _, attr = self.target.partition(":")
        try:
            module = importlib.import_module(module_name)
            cls = getattr(module, attr)
        except Exception as exc:  # any import-time failure belongs to the plugin
            raise RsbenchError(
                f"{self.kind} {self.name!r} ({self.origin}) failed to load "
                f"{self.target!r}: {type(exc).__name__}: {exc}"
            ) from exc
        self._resolved = cls
        return cls

    def create(self, options: dict[str, Any] | None = None) -> Any:
        """Instantiate the component with its options; stamp name and version on it."""
        cls = self.resolve()
        try:
            instance = cls(**(options or {}))
        except RsbenchError as exc:
            raise RsbenchError(f"{self.kind} {self.name!r}: {exc}") from None
        except (Exception, SystemExit) as exc:  # a plugin's own bug, reported as the plugin's
            raise RsbenchError(
                f"{self.kind} {self.name!r} ({self.origin}) failed to start: "
                f"{type(exc).__name__}: {exc}"
            ) from None
        instance.name = self.name
        instance.version = self.version
        return instance


class Registry:
    """Components of one kind (``method``, ``dataset`` or ``noise model``)."""

    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, Entry] = {}
        self._conflicts: dict[str, list[str]] = {}

    def add(
        self,
        name: str,
        target: Any,
        *,
        plugin: str,
        version=None,
        description=None,
        source: str = "",
    ) -> None:
        problem = name_problem(name)
        if problem:  # names become file names (runs/noise/<dataset>/, leaderboards/<dataset>.md)
            raise RegistrationError(f"{self.kind} name {problem}")
        if isinstance(target, str):
            if ":" not in target:
                raise RegistrationError(
                    f"lazy target for {self.kind} {name!r} must be 'module:Class', got {target!r}"
                )
            if version is None or description is None:
                raise RegistrationError(
                    f"{self.kind} {name!r}: a lazy 'module:Class' target needs version= and description="
                )
        elif isinstance(target, type):
            version = version if version is not None else getattr(target, "version", None)
            if description is None:
                doc = (target.__doc__ or "").strip()
                description = doc.splitlines()[0] if doc else ""
            if version is None:
                raise RegistrationError(
                    f"{self.kind} {name!r}: give version= or a class attribute `version`"
                )
        else:
            raise RegistrationError(
                f"{self.kind} {name!r}: target must be a class or a 'module:Class' string"
            )
        if name in self._conflicts:
            self._conflicts[name].append(plugin)
            return
        if name in self._entries:
            # Neither wins: which plugin loads first must never decide what runs.
            first = self._entries.pop(name)
            self._conflicts[name] = [first.plugin, plugin]
            return
        self._entries[name] = Entry(
            self.kind, name, target, str(version), str(description), plugin, source
        )

    def get(self, name: str) -> Entry:
        if name in self._conflicts:
            plugins = sorted(set(self._conflicts[name]))
            who = f"both {' and '.join(plugins)}" if len(plugins) > 1 else f"{plugins[0]} twice"
            raise RsbenchError(
                f"{self.kind} {name!r} is registered by {who}; uninstall one of them "
                "or restrict loading with RSBENCH_LOAD_PLUGINS"
            )
        try:
            return self._entries[name]
        except KeyError:
            raise UnknownComponentError(self.kind, name, self._entries) from None

    def names(self) -> list[str]:
        return sorted(self._entries)

    def entries(self) -> list[Entry]:
        return [self._entries[name] for name in self.names()]

    def conflicts(self) -> dict[str, list[str]]:
        return {name: sorted(plugins) for name, plugins in sorted(self._conflicts.items())}

    def __contains__(self, name: str) -> bool:
        return name in self._entries

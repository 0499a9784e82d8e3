"""``rsbench new-plugin NAME --kind method|dataset|noise``: write a ready plugin package.

The package is what docs/plugins.md describes, in the smallest form that works: a
``pyproject.toml`` with the ``rsbench`` entry point, the module that registers the component
(lazily, so registration never imports torch), one module with the component, one test that
runs rsbench's conformance checks on it, and a README. Installed with ``pip install -e .``,
it shows in ``rsbench plugins`` and runs in a grid unchanged.

Names: ``NAME`` is the component's name and the entry point's; the distribution is
``rsbench-NAME``, the import package ``rsbench_NAME`` (the convention of llm and datasette
plugins). The package is written into a temporary sibling and renamed into place, so nothing
is left half-written, and an existing folder is never touched.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from string import Template

from rsbench import __version__
from rsbench.io.errors import RsbenchError
from rsbench.io.files import atomic_directory, atomic_write_text

TEMPLATES = Path(__file__).parent / "templates"
KINDS = ("method", "dataset", "noise")
_NAME = re.compile(r"[a-z][a-z0-9]*(?:[-_][a-z0-9]+)*")
MAX_NAME = 40

#: per kind: the words used in the package, the class-name suffix, the registry key
_KIND = {
    "method": ("method", "Method", "methods"),
    "dataset": ("dataset", "Dataset", "datasets"),
    "noise": ("noise model", "Noise", "noise"),
}
#: names the templates import: a class may not take one of them
_TAKEN = {
    "Batch",
    "Corruption",
    "Dataset",
    "DatasetSplits",
    "DualEncoderMethod",
    "NoiseModel",
    "Path",
    "RsbenchError",
    "Split",
}


@dataclass(frozen=True)
class PluginNames:
    """Every name a new plugin package uses, derived from NAME and the kind."""

    name: str  # the component and the entry point
    kind: str  # method | dataset | noise
    dist: str  # rsbench-NAME
    module: str  # rsbench_NAME
    cls: str  # CamelCase class

    @property
    def kind_words(self) -> str:
        return _KIND[self.kind][0]

    @property
    def files(self) -> dict[str, str]:
        """Template (under `TEMPLATES`) → path in the package."""
        return {
            "pyproject.toml.tmpl": "pyproject.toml",
            f"{self.kind}/README.md.tmpl": "README.md",
            f"{self.kind}/__init__.py.tmpl": f"{self.module}/__init__.py",
            f"{self.kind}/component.py.tmpl": f"{self.module}/{self.kind}.py",
            f"{self.kind}/test.py.tmpl": f"tests/test_{self.kind}.py",
        }

    def substitutions(self) -> dict[str, str]:
        major_minor = ".".join(__version__.split(".")[:2])
        return {
            "name": self.name,
            "kind": self.kind_words,
            "dist": self.dist,
            "module": self.module,
            "cls": self.cls,
            "description": f"{self.cls}: describe the {self.kind_words} in one line",
            "rsbench_version": major_minor,
        }


def plugin_names(name: str, kind: str) -> PluginNames:
    """The names of a new plugin, or a `RsbenchError` saying what is wrong with NAME."""
    if kind not in KINDS:
        raise RsbenchError(f"unknown plugin kind {kind!r}; valid: {', '.join(KINDS)}")
    if name.startswith("rsbench"):
        raise RsbenchError(
            f"plugin name {name!r}: leave out the 'rsbench' prefix (NAME 'foo' makes the "
            "package rsbench-foo)"
        )
    if not _NAME.fullmatch(name) or len(name) > MAX_NAME:
        raise RsbenchError(
            f"plugin name {name!r} is not valid: use lower-case letters and digits, words "
            f"joined by '-' or '_', starting with a letter, at most {MAX_NAME} characters "
            "(e.g. my-method)"
        )
    suffix = _KIND[kind][1]
    camel = "".join(part.capitalize() for part in re.split(r"[-_]", name))
    cls = camel if camel.endswith(suffix) else camel + suffix
    if cls in _TAKEN:
        raise RsbenchError(
            f"plugin name {name!r} makes the class name {cls}, which the package imports; "
            "choose another name"
        )
    return PluginNames(name, kind, f"rsbench-{name}", "rsbench_" + name.replace("-", "_"), cls)


def new_plugin(name: str, kind: str, parent: Path | str = ".") -> tuple[Path, PluginNames]:
    """Write the package ``parent/rsbench-NAME`` and return its folder and names.

    Refuses a NAME already registered for that kind (both would become unusable), and a
    folder that exists (nothing is overwritten).
    """
    names = plugin_names(name, kind)
    from rsbench.plugin.manager import get_plugins

    registry = get_plugins().registries[_KIND[kind][2]]
    if name in registry or name in registry.conflicts():
        raise RsbenchError(
            f"a {names.kind_words} named {name!r} is already registered "
            f"(see 'rsbench list {_KIND[kind][2]}'); two plugins with one name make it "
            "unusable, so choose another name"
        )
    parent = Path(parent)
    if parent.exists() and not parent.is_dir():
        raise RsbenchError(f"--dir {parent} is a file, not a folder")
    target = parent / names.dist
    if target.exists() or target.is_symlink():
        raise RsbenchError(f"{target} already exists; refusing to overwrite it")
    values = names.substitutions()
    try:
        with atomic_directory(target) as folder:
            for template, relative in names.files.items():
                text = Template((TEMPLATES / template).read_text(encoding="utf-8"))
                atomic_write_text(folder / relative, text.substitute(values))
    except FileExistsError:
        raise RsbenchError(f"{target} already exists; refusing to overwrite it") from None
    except OSError as exc:
        raise RsbenchError(f"cannot write {target}: {exc.strerror or exc}") from None
    return target, names

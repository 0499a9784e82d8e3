"""The plugin surface: every hook, base class member and helper a plugin author codes against,
with its exact signature as docs/plugins.md spells it.

The surface is found, not listed by hand: every public member a surface class defines itself
is part of it, so a hook added to `TrainableMethod` (or a changed signature) shows up here and
test_plugin_docs.py fails until docs/plugins.md documents it.

Spelling: ``Class.member(params) -> return`` without ``self`` / ``cls``, annotations as
written in the source, defaults as ``repr`` gives them (a dataclass default factory as
``...``); a property is ``Class.member -> type``; a data class is its constructor,
``Class(fields)``; a hook is ``hook(params)``.
"""

from __future__ import annotations

import inspect
from typing import Any

from rsbench import testing
from rsbench.engine import (
    DualEncoderMethod,
    EngineState,
    Features,
    RetrievalModel,
    TextBatch,
    TrainableMethod,
)
from rsbench.engine import trainer as trainer_module
from rsbench.io import cache
from rsbench.plugin import components, hookspecs
from rsbench.plugin.manager import HOOKS, PluginInfo, Plugins

#: classes whose own public members are part of the surface
CLASSES: list[type] = [
    components.Component,
    components.Method,
    components.Dataset,
    components.NoiseModel,
    components.TrainTask,
    components.FitResult,
    components.CleanEstimate,
    components.Retriever,
    components.Scorer,
    TrainableMethod,
    DualEncoderMethod,
    EngineState,
    RetrievalModel,
    Features,
    TextBatch,
]
#: data classes documented by their constructor (their fields)
DATA_CLASSES: list[type] = [
    components.TrainTask,
    components.TrainPairs,
    components.FitResult,
    components.CleanEstimate,
    components.Corruption,
    trainer_module.Batch,
    trainer_module.LossOutput,
    trainer_module.Optim,
    EngineState,
    Features,
    TextBatch,
]
#: functions of the surface
FUNCTIONS: list[Any] = [
    cache.cached_array,
    cache.fingerprint_items,
    cache.cache_dir,
    *(getattr(testing, name) for name in testing.__all__ if name.startswith(("check_", "write_"))),
    testing.tiny_split,
]


class _Text:
    """An annotation or default spelled as given."""

    def __init__(self, text: str):
        self.text = text

    def __repr__(self) -> str:
        return self.text


def _annotation(value: Any) -> Any:
    if value is inspect.Parameter.empty:
        return value
    if isinstance(value, str):
        return _Text(value)
    return _Text(inspect.formatannotation(value))


def _default(value: Any) -> Any:
    if value is inspect.Parameter.empty:
        return value
    if type(value).__name__ == "_HAS_DEFAULT_FACTORY_CLASS":
        return _Text("...")
    return value


def signature_text(func: Any, drop_first: bool) -> str:
    sig = inspect.signature(func)
    params = list(sig.parameters.values())
    if drop_first and params and params[0].name in ("self", "cls"):
        params = params[1:]
    params = [
        p.replace(annotation=_annotation(p.annotation), default=_default(p.default)) for p in params
    ]
    return str(sig.replace(parameters=params, return_annotation=_annotation(sig.return_annotation)))


def _members(cls: type) -> dict[str, str]:
    """``Class.member`` → its documented spelling, for each public member ``cls`` defines."""
    out = {}
    for name, raw in vars(cls).items():
        if name.startswith("_"):
            continue
        qual = f"{cls.__name__}.{name}"
        if isinstance(raw, property):
            ret = inspect.signature(raw.fget).return_annotation
            out[qual] = f"{qual} -> {_annotation(ret)!r}"
        elif isinstance(raw, (staticmethod, classmethod)):
            drop = isinstance(raw, classmethod)
            out[qual] = qual + signature_text(raw.__func__, drop_first=drop)
        elif inspect.isfunction(raw):
            out[qual] = qual + signature_text(raw, drop_first=True)
    return out


def register_signature() -> str:
    """The ``register`` callable each hook is given."""
    plugins = Plugins()
    plugins.infos["doc"] = PluginInfo("doc", None, None)
    register = plugins._register_function("methods", "doc")
    return "register" + signature_text(register, drop_first=False)


def hook_signatures() -> dict[str, str]:
    out = {}
    for name in HOOKS:
        spec = getattr(hookspecs, name)
        out[name] = name + signature_text(spec, drop_first=False)
    return out


def surface() -> dict[str, str]:
    """Every documented name → its exact spelling."""
    out = dict(hook_signatures())
    out["register"] = register_signature()
    for cls in DATA_CLASSES:
        fields = signature_text(cls, drop_first=False).removesuffix(" -> None")
        out[cls.__name__] = cls.__name__ + fields
    for cls in CLASSES:
        out.update(_members(cls))
    for func in FUNCTIONS:
        out[func.__name__] = func.__name__ + signature_text(func, drop_first=False)
    return out


def owners() -> set[str]:
    """Names that own members (``Class`` of ``Class.member``): a documented member of one of
    them that the code lacks is an error."""
    return {cls.__name__ for cls in CLASSES} | {cls.__name__ for cls in DATA_CLASSES}


if __name__ == "__main__":  # print the surface, for writing the docs
    for text in surface().values():
        print(text)

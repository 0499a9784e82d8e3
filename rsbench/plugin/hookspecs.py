"""The whole plugin contract: four hooks, each handed a `register` callable.

A plugin module (found through the ``rsbench`` entry-point group) implements any of these
with ``@rsbench.hookimpl``. Each call of ``register`` adds one component::

    register(name, target, *, version=None, description=None)

``target`` is the component class, or a lazy ``"module:Class"`` string that is imported only
when the component is used (then ``version`` and ``description`` are required, so that
``rsbench list`` never imports torch). For a class, ``version`` and ``description`` default
to its ``version`` attribute and the first line of its docstring.
"""

from __future__ import annotations

import pluggy

hookspec = pluggy.HookspecMarker("rsbench")


@hookspec
def register_methods(register):
    """Register training methods (subclasses of `rsbench.plugin.components.Method`)."""


@hookspec
def register_datasets(register):
    """Register datasets (subclasses of `rsbench.plugin.components.Dataset`)."""


@hookspec
def register_noise_models(register):
    """Register noise models (subclasses of `rsbench.plugin.components.NoiseModel`)."""


@hookspec
def register_executors(register):
    """Register executors (subclasses of `rsbench.run.executors.Executor`): how a grid's cells run
    (``local`` worker processes, ``slurm`` job arrays; Ray or Kubernetes the same way)."""

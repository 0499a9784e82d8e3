"""The grid flags of ``rsbench run`` and ``rsbench tune``, and the grid a command line asks for.

The command line's share of the settings pass (`rsbench.run.settings`): the flags come from its
table of settings (`add_flags`), plus the flags that set one option of an executor
(`EXECUTOR_FLAGS`: ``--workers`` is the local executor's ``workers``); `settings_of` lays the
flags given over the ``--config`` file and hands both to `parse_settings`, which checks them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, NamedTuple

from rsbench.io.errors import RsbenchError
from rsbench.run.settings import (
    BY_KEY,
    SETTINGS,
    executor_setting,
    integer_setting,
    parse_settings,
    read_config,
)

if TYPE_CHECKING:
    from rsbench.run.grid import ComponentRef, GridSpec


class ExecutorFlag(NamedTuple):
    """A flag that sets one option of one executor (``--workers`` sets local's ``workers``)."""

    executor: str
    option: str
    help: str
    metavar: str | None = None
    low: int | None = None  # an integer option: its least value; None: the text as it is


EXECUTOR_FLAGS = {
    "gpus": ExecutorFlag(
        "local",
        "gpus",
        "local: GPUs to use, e.g. 0,1,2,3 [all visible], one worker process each",
        "LIST",
    ),
    "cells_per_gpu": ExecutorFlag(
        "local", "cells_per_gpu", "local: cells run at once on each GPU [1]", "N", 1
    ),
    "workers": ExecutorFlag(
        "local",
        "workers",
        "local, CPU runs: worker processes [1: one cell after another]",
        "N",
        1,
    ),
    "partition": ExecutorFlag("slurm", "partition", "slurm: partition", "NAME"),
    "time": ExecutorFlag("slurm", "time", "slurm: time per task (minutes or HH:MM:SS) [24:00:00]"),
    "gpus_per_task": ExecutorFlag("slurm", "gpus_per_task", "slurm: GPUs per task [1]", "N", 0),
    "mem": ExecutorFlag("slurm", "mem", "slurm: memory per task, e.g. 64G", "SIZE"),
    "array_parallelism": ExecutorFlag(
        "slurm", "array_parallelism", "slurm: array tasks running at once [64]", "N", 1
    ),
}


def flag_of(key: str) -> str:
    return "--" + key.replace("_", "-")


def add_flags(
    parser,
    keys: tuple[str, ...] | None = None,
    help: Mapping[str, str] | None = None,
    defaults: Mapping[str, str] | None = None,
) -> None:
    """Put the flags of these settings (all but the executor's by default) on ``parser``.

    A flag left out stays ``None``, so that a config file's value is not overridden; a
    command may give a flag a ``default`` of its own (``rsbench tune --out runs/tune``).
    """
    help, defaults = help or {}, defaults or {}
    for key in keys or [s.key for s in SETTINGS if s.flags and s.key != "executor"]:
        s = BY_KEY[key]
        text = help.get(key, s.help)
        if s.switch:
            parser.add_argument(*s.flags, dest=key, action="store_const", const=True, help=text)
        else:
            parser.add_argument(
                *s.flags, dest=key, metavar=s.metavar, default=defaults.get(key), help=text
            )


def add_executor_flags(parser) -> None:
    """The group of flags that choose where cells run and set the executor's options."""
    group = parser.add_argument_group(
        "where cells run", "local: this machine (default); slurm: a Slurm job array"
    )
    s = BY_KEY["executor"]
    group.add_argument(*s.flags, dest="executor", metavar=s.metavar, help=s.help)
    for dest, flag in EXECUTOR_FLAGS.items():
        group.add_argument(flag_of(dest), dest=dest, metavar=flag.metavar, help=flag.help)
    group.add_argument(
        "-x",
        "--executor-option",
        dest="executor_options",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="any option of the executor (YAML value), e.g. -x wait=true; repeatable",
    )


def settings_of(args) -> GridSpec:
    """The grid of a command: its ``--config`` file with the flags given laid over it."""
    config_path = getattr(args, "config", None)
    config = read_config(config_path) if config_path else {}
    flags = {
        s.key: getattr(args, s.key)
        for s in SETTINGS
        if s.flags and s.key != "executor" and getattr(args, s.key, None) is not None
    }
    executor = _executor_from_flags(args, config.get("executor"))
    if executor is not None:
        flags["executor"] = executor
    where = f"config file {config_path}" if config_path else ""
    return parse_settings(config, flags, where)


def _executor_from_flags(args, configured: Any) -> ComponentRef | None:
    """The config's executor with the executor flags given laid over it (None: no flag)."""
    given = {k: getattr(args, k) for k in EXECUTOR_FLAGS if getattr(args, k, None) is not None}
    extra = list(getattr(args, "executor_options", []) or [])
    name = getattr(args, "executor", None)
    if name is None and not given and not extra:
        return None
    if name is not None and not name.strip():
        raise RsbenchError("--executor is empty; valid: local, slurm or an installed executor")
    base = executor_setting(configured) if configured is not None else None
    name = name.strip() if name else (base.name if base else "local")
    options = dict(base.options) if base is not None and base.name == name else {}
    for dest, value in given.items():
        flag = EXECUTOR_FLAGS[dest]
        if flag.executor != name:
            raise RsbenchError(
                f"{flag_of(dest)} is an option of the {flag.executor} executor, and this run "
                f"uses {name!r} (add --executor {flag.executor})"
            )
        options[flag.option] = (
            value if flag.low is None else integer_setting(value, flag_of(dest), flag.low)
        )
    for item in extra:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise RsbenchError(f"executor option {item!r} must be KEY=VALUE, e.g. -x wait=true")
        options[key.strip()] = _yaml_value(text)
    from rsbench.run.grid import ComponentRef

    return ComponentRef(name, options)


def _yaml_value(text: str) -> Any:
    import yaml

    from rsbench.io import yamltext

    try:
        return yamltext.load(text) if text.strip() else ""
    except yaml.YAMLError:
        return text

"""The settings of a grid from the command line: a config file with the flags laid over it.

Shared by ``rsbench run`` and ``rsbench tune``, which take the same grid flags.
"""

from __future__ import annotations

from rsbench.io.errors import RsbenchError

#: flag -> (the executor it belongs to, its option, whether the value is an integer)
EXECUTOR_FLAGS = {
    "gpus": ("local", "gpus", False),
    "cells_per_gpu": ("local", "cells_per_gpu", True),
    "workers": ("local", "workers", True),
    "partition": ("slurm", "partition", False),
    "time": ("slurm", "time", False),
    "gpus_per_task": ("slurm", "gpus_per_task", True),
    "mem": ("slurm", "mem", False),
    "array_parallelism": ("slurm", "array_parallelism", True),
}


def settings_from_args(args) -> dict:
    from rsbench.run.grid import CONFIG_KEYS, read_config

    settings = read_config(args.config) if args.config else {}
    for key in CONFIG_KEYS:
        value = getattr(args, key, None)
        if value is not None and key != "executor":
            settings[key] = value
    executor = executor_setting(args, settings.get("executor"))
    if executor is not None:
        settings["executor"] = executor
    return settings


def executor_setting(args, configured):
    """The config's executor with the command line's executor flags laid over it."""
    from rsbench.run.grid import parse_executor
    from rsbench.run.validation import integer_setting

    flags = {k: getattr(args, k) for k in EXECUTOR_FLAGS if getattr(args, k, None) is not None}
    extra = list(getattr(args, "executor_options", []) or [])
    if args.executor is None and not flags and not extra:
        return configured
    if args.executor is not None and not args.executor.strip():
        raise RsbenchError("--executor is empty; valid: local, slurm or an installed executor")
    base = parse_executor(configured) if configured is not None else None
    name = args.executor or (base.name if base else "local")
    options = dict(base.options) if base is not None and base.name == name else {}
    for dest, value in flags.items():
        owner, option, integer = EXECUTOR_FLAGS[dest]
        flag = "--" + dest.replace("_", "-")
        if owner != name:
            raise RsbenchError(
                f"{flag} is an option of the {owner} executor, and this run uses {name!r} "
                f"(add --executor {owner})"
            )
        options[option] = (
            integer_setting(value, flag, 1 if dest != "gpus_per_task" else 0) if integer else value
        )
    for item in extra:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise RsbenchError(f"executor option {item!r} must be KEY=VALUE, e.g. -x wait=true")
        options[key.strip()] = _yaml_value(text)
    return {name: options}


def _yaml_value(text: str):
    import yaml

    from rsbench.io import yamltext

    try:
        return yamltext.load(text) if text.strip() else ""
    except yaml.YAMLError:
        return text

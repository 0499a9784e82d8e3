"""The ``data`` and ``noise`` commands: looking at datasets and noise before training."""

from __future__ import annotations

import sys
from typing import Any

from rsbench.io.errors import RsbenchError


def _dataset(name: str, data_root: str | None, **options: Any):
    from rsbench.data.root import fill_options
    from rsbench.plugin.manager import get_plugins

    entry = get_plugins().datasets.get(name)
    return entry.create(fill_options(entry.resolve(), {}, data_root=data_root, **options))


def data_check(args) -> int:
    from rsbench.data.check import check_dataset, format_report, unusable_reason
    from rsbench.io import progress

    options = {"split": args.split} if args.split else {}
    if args.follow_symlinks:
        options["follow_symlinks"] = True
    dataset = _dataset(args.dataset, args.data_root, **options)
    splits = dataset.read()
    reports = check_dataset(splits, deep=not args.quick, progress=progress.bar)
    print(format_report(args.dataset, splits, reports, dataset.locate()))
    reason = unusable_reason(reports, args.skip_bad_images)
    if reason:
        raise RsbenchError(f"{args.dataset} is not usable: {reason}")
    print(f"\n{args.dataset}: usable")
    return 0


def data_where(args) -> int:
    from rsbench.plugin.manager import get_plugins

    registry = get_plugins().datasets
    names = args.datasets or registry.names()
    width = max(len(n) for n in names)
    for name in names:
        try:
            folder = _dataset(name, args.data_root).locate()
            where = str(folder) if folder is not None else "(needs no folder)"
        except RsbenchError as exc:
            where = f"not found: {exc}"
        print(f"{name:<{width}}  {where}")
    return 0


def noise_show(args) -> int:
    import yaml

    from rsbench.cli.noise_show import noise_summary
    from rsbench.data.noise_file import build_noise_file
    from rsbench.io import yamltext
    from rsbench.plugin.manager import get_plugins
    from rsbench.run.settings import parse_ratio, seed_setting

    options = {}
    for item in args.option:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise RsbenchError(
                f"malformed option {item!r}: expected KEY=VALUE, e.g. -o mode=rrsitr"
            )
        try:
            options[key.strip()] = yamltext.load(value)
        except yaml.YAMLError:
            raise RsbenchError(
                f"option {key.strip()!r}: {value!r} is not a valid YAML value"
            ) from None
    ratio, seed = parse_ratio(args.ratio), seed_setting(args.noise_seed, "noise seed")
    if args.n < 0:
        raise RsbenchError("--n must be >= 0")
    model = get_plugins().noise_models.get(args.noise_model).create(options)
    splits = _dataset(args.dataset, args.data_root).load()
    spec = {
        "name": args.dataset,
        "split_definition": splits.split_name,
        "split": "train",
        "fingerprint": splits.train.fingerprint(),
    }
    nf = build_noise_file(splits.train, model, ratio, seed, spec)
    print(noise_summary(args.dataset, splits.train, nf, model, args.n))
    sys.stdout.flush()
    return 0

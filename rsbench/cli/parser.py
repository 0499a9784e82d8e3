"""The ``rsbench`` command line's parser: every command, its flags and its help.

Only the standard library: building the parser is part of every start-up, ``--help``
included. ``run`` and ``tune`` take their grid flags from `rsbench.run.settings` when they are
used. A usage error is one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from rsbench import __version__

EXAMPLES = """examples:
  rsbench run --methods infonce,vse --datasets synthrs --noise 0,0.2,0.4,0.6,0.8 --seeds 0
  rsbench run --config grid.yaml --device cuda --gpus 0,1,2,3 --cells-per-gpu 2
  rsbench run --config experiments/rrsitr-table.yaml --dry-run
  rsbench run --config experiments/rrsitr-table.yaml --executor slurm --partition gpu --time 12:00:00
  rsbench status runs/
  rsbench list methods
  rsbench leaderboard runs/ --out leaderboards/ --format md,html
  rsbench leaderboard --check
  rsbench data check rsitmd --data-root ~/data
  rsbench noise show --dataset synthrs --noise-model caption_shuffle --ratio 0.4
  rsbench new-plugin my-method --kind method
"""


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line, and a command's flags may be added when the
    command is used (`later`): ``rsbench --help`` and the other commands do not load the table
    of grid settings that gives ``run`` and ``tune`` their flags."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")

    def later(self, add: Callable[[argparse.ArgumentParser], None]) -> None:
        self.__dict__.setdefault("_later", []).append(add)

    def complete(self) -> None:
        """Add the flags left for later now (for tools that read the parser's actions)."""
        for add in self.__dict__.pop("_later", []):
            add(self)

    def parse_known_args(self, args=None, namespace=None):
        self.complete()
        return super().parse_known_args(args, namespace)

    def format_usage(self) -> str:
        self.complete()
        return super().format_usage()

    def format_help(self) -> str:
        self.complete()
        return super().format_help()


def add_run_flags(run: argparse.ArgumentParser) -> None:
    """``rsbench run``'s grid flags and where its cells run, from the table of settings."""
    from rsbench.cli.flags import add_executor_flags, add_flags

    add_flags(run)
    add_executor_flags(run)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="rsbench",
        description="Robust remote-sensing image-text retrieval bench: run method × dataset × noise grids "
        "and write Markdown leaderboards.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"rsbench {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)

    run = sub.add_parser(
        "run",
        help="run an experiment grid and update the leaderboards",
        description="Train and evaluate every cell of methods × datasets × noise models × "
        "ratios × seeds. Cells already done in --out are skipped.",
    )
    run.later(add_run_flags)
    run.add_argument(
        "--config", type=Path, help="YAML file with the same settings (flags override it)"
    )
    run.add_argument(
        "--no-leaderboard", action="store_true", help="do not update leaderboards at the end"
    )
    run.add_argument(
        "--multi-positive",
        action="store_true",
        help="also show multi-positive retrieval tables (identical captions count as correct)",
    )
    run.add_argument("--force", action="store_true", help="recompute cells that are already done")
    run.add_argument(
        "--dry-run",
        action="store_true",
        help="list the cells and their state, what is missing (data, weights) and an estimate "
        "of the time; run nothing",
    )

    from rsbench.cli.tune import add_tune_parser

    add_tune_parser(sub)
    lst = sub.add_parser("list", help="list registered methods, datasets and noise models")
    lst.add_argument(
        "kind",
        nargs="?",
        choices=("methods", "datasets", "noise", "executors"),
        help="only this kind",
    )

    status = sub.add_parser(
        "status",
        help="the state of every cell of a run folder: done, running, queued, failed, pending",
        description="Per cell: done, running (and who runs it), queued (and which job), failed "
        "(with its one-line error) or pending (in a grid run there, not started).",
    )
    status.add_argument(
        "run_dir", nargs="?", type=Path, default=Path("runs"), help="run folder [runs]"
    )
    status.add_argument("--all", action="store_true", help="also list done and pending cells")

    plugins = sub.add_parser("plugins", help="show loaded plugins as JSON (with load failures)")
    plugins.add_argument(
        "--all", action="store_true", help="include rsbench's own built-in plugins"
    )

    board = sub.add_parser(
        "leaderboard",
        help="write leaderboards (Markdown, plots, exports, HTML) from run records",
        description="Write <out>/<dataset>.md with its plots (plots/<dataset>/) and the records "
        "behind it (records/<dataset>.jsonl), plus the exports asked for with --format. "
        "--check regenerates instead and compares with the files on disk.",
    )
    board.add_argument(
        "run_dirs",
        nargs="*",
        type=Path,
        metavar="RUN_DIR",
        help="run directories, or leaderboard record exports (records/<dataset>.jsonl) [runs; "
        "with --check: the records committed in --out and its subfolders]",
    )
    board.add_argument(
        "--out", type=Path, default=Path("leaderboards"), help="output directory [leaderboards]"
    )
    board.add_argument(
        "--format",
        dest="formats",
        metavar="FORMATS",
        help="comma-separated: md, csv, json, latex, html [md]; html writes one page per "
        "dataset and index.html",
    )
    board.add_argument(
        "--check",
        action="store_true",
        help="regenerate in memory and exit 1 if any file on disk differs; write nothing",
    )
    board.add_argument(
        "--multi-positive",
        action="store_true",
        help="also show multi-positive retrieval tables (identical captions count as correct)",
    )
    board.add_argument(
        "--track",
        dest="tracks",
        action="append",
        default=[],
        metavar="[NAME=]CONFIG",
        help="show the cells of this grid config as a track (repeatable: e.g. the paper grid "
        "and rsbench tune's tuned-noisy.yaml and tuned-clean.yaml); kept in the record export",
    )

    data = sub.add_parser("data", help="check local datasets and where they are read from")
    data_sub = data.add_subparsers(dest="data_command", metavar="SUBCOMMAND", parser_class=Parser)
    data_sub.required = True
    check = data_sub.add_parser("check", help="statistics of a dataset and whether it is usable")
    check.add_argument("dataset", help="dataset name (see 'rsbench list datasets')")
    check.add_argument("--data-root", dest="data_root", help="the dataset's folder or its parent")
    check.add_argument("--split", help="split definition (karpathy, rrsitr, amfmn ...)")
    check.add_argument(
        "--skip-bad-images", action="store_true", help="bad images do not make it unusable"
    )
    check.add_argument(
        "--quick", action="store_true", help="read image headers only, not every pixel"
    )
    check.add_argument(
        "--follow-symlinks",
        action="store_true",
        help="read images through symbolic links that lead outside the dataset folder",
    )
    where = data_sub.add_parser("where", help="the folder each dataset would be read from")
    where.add_argument("datasets", nargs="*", help="dataset names [all]")
    where.add_argument("--data-root", dest="data_root", help="the data folder to try")

    noise = sub.add_parser("noise", help="inspect noise models")
    noise_sub = noise.add_subparsers(
        dest="noise_command", metavar="SUBCOMMAND", parser_class=Parser
    )
    noise_sub.required = True
    show = noise_sub.add_parser(
        "show", help="statistics and sample corrupted pairs of a noise file"
    )
    show.add_argument("--dataset", required=True, help="dataset name")
    show.add_argument("--noise-model", required=True, dest="noise_model", help="noise model name")
    show.add_argument("--ratio", required=True, help="noise ratio in [0, 1)")
    show.add_argument("--noise-seed", dest="noise_seed", default="42", help="noise seed [42]")
    show.add_argument("--n", type=int, default=10, help="sample corrupted pairs to show [10]")
    show.add_argument("--data-root", dest="data_root", help="folder of local datasets")
    show.add_argument(
        "-o",
        "--option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a noise-model option (YAML value), e.g. -o mode=rrsitr; repeatable",
    )
    new = sub.add_parser(
        "new-plugin",
        help="write a ready plugin package (method, dataset or noise model)",
        description="Write ./rsbench-NAME/: pyproject.toml with the rsbench entry point, the "
        "module that registers the component, the component, a test that runs rsbench's "
        "conformance checks, and a README. See docs/plugins.md.",
    )
    new.add_argument("name", metavar="NAME", help="the component's name, e.g. my-method")
    new.add_argument(
        "--kind", choices=("method", "dataset", "noise"), default="method", help="[method]"
    )
    new.add_argument(
        "--dir", type=Path, default=Path("."), help="folder to write rsbench-NAME/ into [.]"
    )
    return parser

"""The ``rsbench`` command line (argparse).

Start-up stays fast: this module imports only the standard library at the top; torch and
pandas load inside the commands that need them. Bad input ends with one line on stderr
(``rsbench: error: ...``) and exit code 2; a grid with a failed cell exits 1.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from rsbench import __version__
from rsbench.errors import RsbenchError

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
    """argparse, but a usage error is one line."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


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
    run.add_argument("--methods", help="comma-separated method names (see 'rsbench list methods')")
    run.add_argument("--datasets", help="comma-separated dataset names [synthrs]")
    run.add_argument(
        "--noise-model",
        "--noise-models",
        dest="noise_models",
        metavar="NAMES",
        help="comma-separated noise models [caption_shuffle]",
    )
    run.add_argument(
        "--noise",
        metavar="RATIOS",
        help="comma-separated noise ratios in [0, 1) [0,0.2,0.4,0.6,0.8]",
    )
    run.add_argument("--seeds", help="comma-separated training seeds [0]")
    run.add_argument(
        "--noise-seed", dest="noise_seed", type=str, help="seed of the noise files [42]"
    )
    run.add_argument("--epochs", type=str, help="override every method's number of epochs")
    run.add_argument(
        "--validation", choices=("clean", "noisy"), help="checkpoint selection split [clean]"
    )
    run.add_argument("--device", help="auto, cpu or cuda [auto]")
    run.add_argument(
        "--profile",
        help="method profile: small (small encoders), paper (published backbones) or auto "
        "(small on synthrs, paper on real datasets) [auto]",
    )
    run.add_argument(
        "--weights-dir",
        dest="weights_dir",
        help="folder of pretrained checkpoints (or RSBENCH_WEIGHTS; the HF cache is also read)",
    )
    run.add_argument("--out", help="run directory for records and noise files [runs]")
    run.add_argument(
        "--data-root", dest="data_root", help="folder of local datasets (or RSBENCH_DATA)"
    )
    run.add_argument(
        "--config", type=Path, help="YAML file with the same settings (flags override it)"
    )
    run.add_argument(
        "--leaderboard-dir",
        dest="leaderboard_dir",
        help="where the run's leaderboards go [OUT/leaderboards: inside the run folder]",
    )
    run.add_argument(
        "--no-leaderboard", action="store_true", help="do not update leaderboards at the end"
    )
    run.add_argument(
        "--skip-bad-images",
        dest="skip_bad_images",
        action="store_const",
        const=True,
        help="skip missing or unreadable images of local datasets (counted in the records)",
    )
    run.add_argument(
        "--follow-symlinks",
        dest="follow_symlinks",
        action="store_const",
        const=True,
        help="read images through symbolic links that lead outside the dataset folder",
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
    run.add_argument(
        "--keep-checkpoints",
        dest="keep_checkpoints",
        action="store_const",
        const=True,
        help="keep each cell's last per-epoch checkpoint (<out>/work/<cell>/) when it finishes",
    )
    where = run.add_argument_group(
        "where cells run", "local: this machine (default); slurm: a Slurm job array"
    )
    where.add_argument(
        "--executor", metavar="NAME", help="local, slurm or an executor plugin [local]"
    )
    where.add_argument(
        "--gpus",
        metavar="LIST",
        help="local: GPUs to use, e.g. 0,1,2,3 [all visible], one worker process each",
    )
    where.add_argument(
        "--cells-per-gpu",
        dest="cells_per_gpu",
        metavar="N",
        help="local: cells run at once on each GPU [1]",
    )
    where.add_argument(
        "--workers",
        metavar="N",
        help="local, CPU runs: worker processes [1: one cell after another]",
    )
    where.add_argument("--partition", metavar="NAME", help="slurm: partition")
    where.add_argument("--time", help="slurm: time per task (minutes or HH:MM:SS) [24:00:00]")
    where.add_argument(
        "--gpus-per-task", dest="gpus_per_task", metavar="N", help="slurm: GPUs per task [1]"
    )
    where.add_argument("--mem", metavar="SIZE", help="slurm: memory per task, e.g. 64G")
    where.add_argument(
        "--array-parallelism",
        dest="array_parallelism",
        metavar="N",
        help="slurm: array tasks running at once [64]",
    )
    where.add_argument(
        "-x",
        "--executor-option",
        dest="executor_options",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="any option of the executor (YAML value), e.g. -x wait=true; repeatable",
    )

    from rsbench.cli_tune import add_tune_parser

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


def warn_plugin_failures(plugins) -> None:
    for info in plugins.failures():
        source = f" ({info.source})" if info.source else ""
        print(
            f"rsbench: warning: plugin {info.name!r}{source} is broken ({info.errors[0]}); "
            "see 'rsbench plugins'",
            file=sys.stderr,
        )
    if plugins.unmatched_requests:
        print(
            f"rsbench: warning: RSBENCH_LOAD_PLUGINS names {', '.join(plugins.unmatched_requests)}, "
            f"which no installed plugin is called; installed: {', '.join(plugins.installed) or 'none'}",
            file=sys.stderr,
        )


def cmd_list(args) -> int:
    from rsbench.plugins import get_plugins

    plugins = get_plugins()
    kinds = [args.kind] if args.kind else ["methods", "datasets", "noise", "executors"]
    for n, key in enumerate(kinds):
        registry = plugins.registries[key]
        if len(kinds) > 1:
            print(("\n" if n else "") + f"{key}:")
        entries = registry.entries()
        if not entries:
            selected = os.environ.get("RSBENCH_LOAD_PLUGINS")
            print(
                f"  (none registered; RSBENCH_LOAD_PLUGINS={selected!r} selects the plugins loaded)"
                if selected is not None
                else "  (none registered; is rsbench installed with 'pip install -e .'?)"
            )
        width = max((len(e.name) for e in entries), default=0)
        for e in entries:
            print(f"  {e.name:<{width}}  v{e.version:<4} {e.description}  [{e.plugin}]")
    return 0


def cmd_plugins(args) -> int:
    from rsbench.plugins import get_plugins

    plugins = get_plugins()
    infos = [i for i in plugins.infos.values() if args.all or i.distribution != "rsbench"]
    print(json.dumps([i.as_dict() for i in sorted(infos, key=lambda i: i.name)], indent=2))
    return 0


def cmd_run(args) -> int:
    from rsbench.cli_settings import settings_from_args
    from rsbench.grid import build_grid
    from rsbench.plugins import get_plugins

    grid = build_grid(settings_from_args(args))
    plugins = get_plugins()
    from rsbench.runner import Runner

    runner = Runner(grid, plugins, force=args.force)
    if args.dry_run:
        from rsbench.dryrun import dry_run

        return dry_run(runner, args.config)
    check_run_start(grid, leaderboard=not args.no_leaderboard)
    try:
        result = runner.run()
    except KeyboardInterrupt:
        print(
            f"\nrsbench: interrupted; finished cells are saved in {grid.out}; rerun the same command to resume",
            file=sys.stderr,
        )
        return 130
    if result.submitted:
        print(
            f"rsbench: {len(result.submitted)} cells submitted, {len(result.skipped)} already done; "
            f"follow them with 'rsbench status {grid.out}'; run this command again to submit "
            "what is missing and write the leaderboard once they are done",
            file=sys.stderr,
        )
        return 0
    if not args.no_leaderboard:
        from rsbench.report.board import refresh_folder

        for path in refresh_folder(
            grid.out, grid.leaderboard_dir, result.datasets, args.multi_positive
        ):
            if path.suffix == ".md":
                print(f"rsbench: wrote {path} (with its plots and records)", file=sys.stderr)
    others = ""
    if result.held:
        others += f", {len(result.held)} being run by another process"
    if result.queued:
        others += f", {len(result.queued)} waiting in a queue"
    print(
        f"rsbench: {len(result.done)} cells run, {len(result.skipped)} skipped (already done), "
        f"{len(result.failed)} failed{others}; records in {grid.out / 'cells'}",
        file=sys.stderr,
    )
    left = runner.abandoned(result)
    if left:
        print(
            f"rsbench: {len(left)} cells were being run by another process that stopped without "
            f"finishing them ({', '.join(left[:5])}{', …' if len(left) > 5 else ''}); rerun the "
            "same command to run them",
            file=sys.stderr,
        )
        return 1
    return 1 if result.failed else 0


def check_run_start(grid, leaderboard: bool) -> None:
    """Before training: every output location, and the records the leaderboard will read."""
    from rsbench.cache import cache_dir
    from rsbench.cleanup import clean_run_outputs
    from rsbench.names import name_problem
    from rsbench.records import load_records
    from rsbench.validation import check_run_outputs

    datasets = [d.name for d in grid.datasets if name_problem(d.name) is None]
    board_dir = grid.leaderboard_dir if leaderboard else None
    check_run_outputs(grid.out, board_dir, datasets, cache_dir())
    if leaderboard:
        load_records([grid.out])  # a malformed record fails now, not after the training
    clean_run_outputs(grid.out, board_dir, cache_dir())


def cmd_leaderboard(args) -> int:
    from rsbench.leaderboard import group_by_dataset
    from rsbench.records import load_records, warn_left_out
    from rsbench.report import board
    from rsbench.validation import check_output_dir

    formats = board.parse_formats(args.formats)
    if args.check and not args.run_dirs:
        if not args.out.is_dir():
            raise RsbenchError(f"leaderboard folder not found: {args.out}")
        result = board.check_folder(args.out, formats if args.formats else ())
        return _report_check(result, args.out)
    run_dirs = args.run_dirs or [Path("runs")]
    for d in run_dirs:
        if not d.exists():
            raise RsbenchError(f"run directory not found: {d}")
    if not args.check:
        check_output_dir(args.out, "leaderboard folder (--out)")
    loaded = load_records(run_dirs)
    warn_left_out(loaded)
    records = loaded.records
    tracks = board_tracks(board.loaded_tracks(loaded), args.tracks)
    if not records:
        raise RsbenchError(
            f"no cell records found in {', '.join(map(str, run_dirs))} "
            "(expected <dir>/cells/*.json or records/<dataset>.jsonl)"
        )
    if args.check:
        by_dataset = group_by_dataset(records)
        multi = dict.fromkeys(by_dataset, args.multi_positive)
        result = board.check_boards(
            args.out,
            by_dataset,
            multi,
            formats if args.formats else (),
            dict.fromkeys(by_dataset, tracks or board.folder_tracks(args.out, by_dataset)),
        )
        return _report_check(result, args.out)
    from rsbench.cleanup import clean_folders
    from rsbench.fileio import folder_lock

    clean_folders([args.out])
    with folder_lock(args.out):  # one writer at a time (see board.refresh_folder)
        written = board.write_folder(  # no tracks given or read: the folder's own stay
            records,
            args.out,
            multi_positive=args.multi_positive,
            formats=formats,
            tracks=tracks or None,
        )
    for path in written:
        if path.suffix != ".png" and path.suffix != ".svg":
            print(path)
    figures = sum(p.suffix in (".png", ".svg") for p in written)
    print(f"rsbench: {len(written)} files in {args.out} ({figures} figure files)", file=sys.stderr)
    return 0


def board_tracks(loaded: list, specs: list[str]) -> list:
    """The tracks of a board: those kept in the record exports read, then each ``--track``
    (a config given again replaces its name's cells with what the config runs now)."""
    from rsbench.plugins import get_plugins
    from rsbench.report.tracks import merge_tracks, track_from_config

    given = [track_from_config(spec, get_plugins()) for spec in specs]
    names = {t.name for t in given}
    return merge_tracks([*given, *(t for t in loaded if t.name not in names)])


def _report_check(result, out: Path) -> int:
    if result.ok and not result.checked and not result.unchecked:
        raise RsbenchError(
            f"nothing to check in {out}: no leaderboard pages or records (records/*.jsonl) there"
        )
    for rel in result.unchecked:
        print(
            f"rsbench: warning: {out / rel} has no committed records beside it "
            f"(records/{Path(rel).stem}.jsonl); not checked",
            file=sys.stderr,
        )
    if result.ok:
        print(
            f"rsbench: {len(result.checked)} leaderboard files up to date in {out}", file=sys.stderr
        )
        return 0
    for kind in ("changed", "missing", "unexpected"):
        for rel in getattr(result, kind):
            print(f"rsbench: {kind}: {out / rel}", file=sys.stderr)
    print(
        f"rsbench: leaderboards out of date; regenerate with 'rsbench leaderboard "
        f"{out / 'records'} --out {out}' (likewise in a subfolder; figures are compared byte "
        "for byte, so another matplotlib version can change them too)",
        file=sys.stderr,
    )
    return 1


def cmd_new_plugin(args) -> int:
    from rsbench.scaffold import new_plugin

    folder, names = new_plugin(args.name, args.kind, args.dir)
    print(f"rsbench: wrote the {names.kind_words} plugin {names.dist} in {folder}")
    width = max(len(relative) for relative in names.files.values())
    roles = {
        "pyproject.toml": f"the package, with the entry point {names.name} = {names.module}",
        "README.md": "install, test, run",
        f"{names.module}/__init__.py": f"registers the {names.kind_words} {names.name!r}",
        f"{names.module}/{names.kind}.py": f"{names.cls}: the {names.kind_words}",
        f"tests/test_{names.kind}.py": "rsbench's conformance checks (rsbench.testing)",
    }
    for relative in names.files.values():
        print(f"  {relative:<{width}}  {roles[relative]}")
    print("next:")
    print(f"  cd {folder} && pip install -e '.[test]' && pytest")
    print(f"  rsbench plugins            # {names.name} with its hooks and no errors")
    return 0


def cmd_status(args) -> int:
    from rsbench.runstate import status_lines

    for line in status_lines(args.run_dir, show_all=args.all):
        print(line)
    return 0


def cmd_data(args) -> int:
    from rsbench import cli_data

    return cli_data.data_check(args) if args.data_command == "check" else cli_data.data_where(args)


def cmd_tune(args) -> int:
    from rsbench.cli_tune import cmd_tune as tune

    return tune(args)


def cmd_noise(args) -> int:
    from rsbench import cli_data

    return cli_data.noise_show(args)


#: the commands that load plugins, and so warn about broken ones
PLUGIN_COMMANDS = ("run", "tune", "list", "data", "noise", "new-plugin")
COMMANDS = {
    "run": cmd_run,
    "tune": cmd_tune,
    "list": cmd_list,
    "plugins": cmd_plugins,
    "leaderboard": cmd_leaderboard,
    "status": cmd_status,
    "data": cmd_data,
    "noise": cmd_noise,
    "new-plugin": cmd_new_plugin,
}


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)  # what a command re-launches
    if args.command is None:
        parser.print_help()
        return 0
    try:
        if args.command in PLUGIN_COMMANDS:
            from rsbench.plugins import get_plugins

            warn_plugin_failures(get_plugins())
        return COMMANDS[args.command](args)
    except RsbenchError as exc:
        print(f"rsbench: error: {exc}", file=sys.stderr)
        return 2
    except PermissionError as exc:  # a shared folder of another user, a read-only disk
        where = f": {exc.filename}" if exc.filename else ""
        print(
            f"rsbench: error: permission denied{where}; check the folder's owner and mode",
            file=sys.stderr,
        )
        return 2
    except BrokenPipeError:
        return 0

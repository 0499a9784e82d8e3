"""The ``rsbench`` commands, and `main`, which parses the command line and runs one.

Start-up stays fast: this module imports only the standard library and the parser at the top;
torch and pandas load inside the commands that need them. Bad input ends with one line on stderr
(``rsbench: error: ...``) and exit code 2; a grid with a failed cell exits 1.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from rsbench.cli.parser import build_parser
from rsbench.io.errors import RsbenchError


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
    from rsbench.plugin.manager import get_plugins

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
    from rsbench.plugin.manager import get_plugins

    plugins = get_plugins()
    infos = [i for i in plugins.infos.values() if args.all or i.distribution != "rsbench"]
    print(json.dumps([i.as_dict() for i in sorted(infos, key=lambda i: i.name)], indent=2))
    return 0


def cmd_run(args) -> int:
    from rsbench.cli.flags import settings_of
    from rsbench.plugin.manager import get_plugins

    grid = settings_of(args)
    plugins = get_plugins()
    from rsbench.run.runner import Runner

    runner = Runner(grid, plugins, force=args.force)
    if args.dry_run:
        from rsbench.cli.dryrun import dry_run

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
    from rsbench.io.cache import cache_dir
    from rsbench.io.cleanup import clean_run_outputs
    from rsbench.plugin.names import name_problem
    from rsbench.records.read import load_records
    from rsbench.run.outputs import check_run_outputs

    datasets = [d.name for d in grid.datasets if name_problem(d.name) is None]
    board_dir = grid.leaderboard_dir if leaderboard else None
    check_run_outputs(grid.out, board_dir, datasets, cache_dir())
    if leaderboard:
        load_records([grid.out])  # a malformed record fails now, not after the training
    clean_run_outputs(grid.out, board_dir, cache_dir())


def cmd_leaderboard(args) -> int:
    from rsbench.records.read import load_records, warn_left_out
    from rsbench.report import board
    from rsbench.report.markdown import group_by_dataset
    from rsbench.run.outputs import check_output_dir

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
    from rsbench.io.cleanup import clean_folders
    from rsbench.io.files import folder_lock

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
    from rsbench.plugin.manager import get_plugins
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
    from rsbench.run.state import status_lines

    for line in status_lines(args.run_dir, show_all=args.all):
        print(line)
    return 0


def cmd_data(args) -> int:
    from rsbench.cli import data as cli_data

    return cli_data.data_check(args) if args.data_command == "check" else cli_data.data_where(args)


def cmd_tune(args) -> int:
    from rsbench.cli.tune import cmd_tune as tune

    return tune(args)


def cmd_noise(args) -> int:
    from rsbench.cli import data as cli_data

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
            from rsbench.plugin.manager import get_plugins

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
